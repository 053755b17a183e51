"""Files in the browser: an image sent by one person appears on another's screen live and opens full size; an
HTML file is downloaded, never shown on the site's origin."""

import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from .browser import create_room, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1100, "height": 800}, "accept_downloads": True}


def two_people_in_a_room(new_page, base: str) -> tuple[Page, Page, dict]:
    alice, bob = new_page(**WIDE), new_page(**WIDE)
    seen = {"alice": watch(alice), "bob": watch(bob)}
    sign_up(alice, base, unique("alice"))
    room_name = unique("Files ")
    room_url = create_room(alice, room_name)
    sign_up(bob, base, unique("bob"))
    bob.goto(room_url)
    wait_live(bob)
    return alice, bob, seen


def attach(page: Page, path: Path, text: str = "") -> None:
    """Open "Attach files", choose the file, type the text and send, as a person would."""
    page.locator("#attach-files summary").click()
    page.set_input_files("#attach-files-input", str(path))
    if text:
        page.fill("#attach-files-message", text)
    page.locator("#attach-files button[type=submit]").click()


def test_an_image_appears_live_on_another_screen_as_a_thumbnail_and_opens_full_size(server, new_page, tmp_path):
    alice, bob, seen = two_people_in_a_room(new_page, server.url)
    photo = tmp_path / "夕焼け.png"
    Image.new("RGB", (1200, 900), (230, 120, 40)).save(photo)
    attach(alice, photo, "きれいな夕焼け")

    message = bob.locator("#chat-log .message", has_text="きれいな夕焼け")
    expect(message).to_be_visible(timeout=5000)
    thumb = message.locator(".attachment-image img")
    expect(thumb).to_have_attribute("width", "640")
    expect(thumb).to_have_attribute("height", "480")
    expect(thumb).to_have_attribute("alt", "夕焼け.png")
    bob.wait_for_function("img => img.complete && img.naturalWidth === 640", arg=thumb.element_handle())
    shown = thumb.bounding_box()
    assert shown and round(shown["width"] / shown["height"], 2) == 1.33  # laid out at its own proportions

    # The sender's form came back fresh and closed; the message reached their own log over the socket too.
    expect(alice.locator("#attach-files")).not_to_have_attribute("open", re.compile(".*"))
    expect(alice.locator("#chat-log .attachment-image img")).to_have_count(1)

    with bob.context.expect_page() as opened:
        message.locator(".attachment-image").click()
    full = opened.value
    full.wait_for_load_state()
    assert re.search(r"/files/\d+/%E5%A4%95%E7%84%BC%E3%81%91\.png$", full.url)
    full.wait_for_function("() => document.images.length && document.images[0].naturalWidth > 0")
    assert full.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]") == [1200, 900]
    expect(bob.locator("#connection-status.live")).to_be_visible()  # the room stayed open behind it
    assert seen["alice"].console_errors == seen["bob"].console_errors == []


def test_an_html_file_is_downloaded_not_rendered(server, new_page, tmp_path):
    alice, bob, seen = two_people_in_a_room(new_page, server.url)
    page = tmp_path / "invitation.html"
    page.write_text("<!doctype html><script>alert(document.cookie)</script><p>Party!</p>")
    attach(alice, page)

    link = bob.locator("#chat-log a.attachment-file", has_text="invitation.html")
    expect(link).to_be_visible(timeout=5000)
    expect(bob.locator("#chat-log .attachment-size")).to_have_text(re.compile(r"^\d+\sbytes$"))
    response = bob.request.get(server.url + (link.get_attribute("href") or ""))
    assert response.status == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="invitation.html"'
    assert response.headers["x-content-type-options"] == "nosniff"

    room_url = bob.url
    with bob.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "invitation.html"
    assert bob.url == room_url and seen["bob"].dialogs == []
