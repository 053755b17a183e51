"""The room with JavaScript off: every control is a plain form or link (chat/views.py answers a plain post with a
redirect or a page); and with JavaScript on, the same controls still go over the socket and htmx, never reloading
the page. The forms themselves: test_nojs.py."""

import re

import pytest
from playwright.sync_api import Page, expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

AT_A_MESSAGE = re.compile(r"/chat/[^/]+/#message-\d+$")


def create_room_without_js(page: Page, name: str, closed: bool = False) -> str:
    page.fill("input[name=name]", name)
    if closed:
        page.get_by_label("Closed: only the members it is shared with").check()
    page.click("form.create-room button[type=submit]")
    page.wait_for_url("**/chat/**")
    return page.url


def send_without_js(page: Page, text: str) -> None:
    """Type and press Enter: the form posts, and the browser lands on the room page at the new message."""
    page.fill("#chat-message-input", text)
    with page.expect_navigation():
        page.press("#chat-message-input", "Enter")
    expect(page).to_have_url(AT_A_MESSAGE)


def message_menu(page: Page, text: str):
    message = page.locator("#chat-log .message", has_text=text)
    message.locator(".message-menu summary").click()
    return message


def test_without_javascript_a_room_is_a_page_of_plain_forms(server, new_page):
    page = new_page(java_script_enabled=False)
    sign_up(page, server.url, unique("plain"))
    room_url = create_room_without_js(page, unique("Plain room "))
    slug = room_url.rstrip("/").rsplit("/", 1)[1]
    # No socket: no "Connecting…" for ever, but a note and a way to see what is new.
    expect(page.locator("#connection-status")).to_be_hidden()
    note = page.locator(".noscript-note")
    expect(note).to_contain_text("Live updates need JavaScript; this page shows messages as of when it loaded.")
    expect(note.get_by_role("link", name="Check for new messages")).to_have_attribute("href", f"/chat/{slug}/")

    secret = unique("secret plans ")
    send_without_js(page, secret)
    assert "secret" not in page.url
    expect(page.locator("#chat-log .message-body")).to_have_text([secret])
    target = page.url.rsplit("#", 1)[1]
    expect(page.locator(f"#{target}")).to_contain_text(secret)  # the page is at the message it sent
    expect(page.locator("#chat-message-input")).to_have_value("")  # and the composer is empty again
    note.get_by_role("link", name="Check for new messages").click()
    expect(page).to_have_url(f"{server.url}/chat/{slug}/")
    assert bodies(page) == [secret]  # stored once
    log = server.log()
    assert f'"POST /chat/{slug}/send/" 302' in log and "secret" not in log  # posted: the text is in no log

    # A refusal is shown where the composer is, with the text given back.
    page.fill("#chat-message-input", "   ")
    page.press("#chat-message-input", "Enter")
    expect(page.locator("#composer-error")).to_have_text("Type a message before sending.")
    expect(page.locator("#chat-message-input")).to_have_value("   ")

    # Several lines, from the multi-line composer.
    page.get_by_text("More lines").click()
    page.fill("#chat-lines-input", "first line\nsecond line")
    with page.expect_navigation():
        page.click(".lines-send-button")
    expect(page.locator("#chat-log .message-body").last).to_have_text("first line\nsecond line")

    # A reaction: the picker opens (a <details>), and a button posts.
    page.locator("#chat-log .message", has_text=secret).locator(".add-reaction summary").click()
    with page.expect_navigation():
        page.locator("#chat-log .message", has_text=secret).locator(".reaction-picker .reaction").first.click()
    reacted = page.locator("#chat-log .message", has_text=secret).locator(".reactions .reaction")
    expect(reacted).to_have_count(1)
    expect(reacted.locator(".count")).to_have_text("1")
    with page.expect_navigation():
        reacted.click()  # pressed again: taken back
    expect(page.locator("#chat-log .message", has_text=secret).locator(".reactions")).to_have_count(0)

    # Edit: a page with the form, then back to the room at the message.
    message_menu(page, secret).locator(".edit-action").click()
    expect(page).to_have_url(re.compile(r"/messages/\d+/edit/$"))
    expect(page.locator("h1")).to_contain_text("Edit a message in")
    edited = unique("edited plans ")
    page.get_by_label("Edit your message").fill(edited)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(AT_A_MESSAGE)
    changed = page.locator("#chat-log .message", has_text=edited)
    expect(changed.locator(".message-body")).to_have_text(edited)
    expect(changed.locator(".edited")).to_have_text("edited")

    # Delete: a post of the page's form, back to the room.
    with page.expect_navigation():
        message_menu(page, edited).locator(".delete-action").click()
    expect(page).to_have_url(AT_A_MESSAGE)
    expect(page.locator("#chat-log .message-body.deleted")).to_have_text(["message deleted"])
    expect(page.locator("#chat-log")).not_to_contain_text(edited)

    # Search: a plain GET form; its hit links to the message.
    page.fill("#message-search-input", "second line")
    page.press("#message-search-input", "Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=second"))
    hit = page.locator("#search-results .search-hit")
    expect(hit).to_have_count(1)
    hit.locator("a").click()
    expect(page).to_have_url(AT_A_MESSAGE)
    assert "secret" not in server.log()


def test_without_javascript_rooms_are_made_renamed_shared_and_left(server, new_page):
    guest_name = unique("guest")
    guest = new_page(java_script_enabled=False)
    sign_up(guest, server.url, guest_name)
    owner = new_page(java_script_enabled=False)
    sign_up(owner, server.url, unique("owner"))
    create_room_without_js(owner, unique("Closed "), closed=True)
    expect(owner.locator(".room-kind")).to_have_text("Closed room: only its members see it.")

    owner.get_by_text("Rename room").click()
    renamed = unique("Renamed ")
    owner.get_by_label("Room name").fill(renamed)
    owner.get_by_role("button", name="Rename").click()
    expect(owner.locator("#room-name")).to_have_text(renamed)

    guest_id = owner.locator("#add-member-user option", has_text=guest_name).get_attribute("value")
    owner.locator("#add-member-user").select_option(value=guest_id)
    owner.get_by_role("button", name="Add", exact=True).click()
    expect(owner.locator(".member-list")).to_contain_text(guest_name)
    room_url = owner.url

    guest.goto(f"{server.url}/")
    guest.get_by_role("link", name=renamed).click()
    expect(guest).to_have_url(room_url)
    guest.get_by_role("button", name="Leave this room").click()
    expect(guest).to_have_url(f"{server.url}/")
    expect(guest.get_by_role("link", name=renamed)).to_have_count(0)  # a closed room: gone for them


def test_with_javascript_the_same_controls_stay_on_the_socket_and_htmx(server, new_page):
    page = new_page()
    seen = watch(page)
    sign_up(page, server.url, unique("live"))
    create_room(page, unique("Live "))
    page.evaluate("window.notReloaded = true")  # a page load (a form posted natively) would drop it

    send(page, "over the socket")
    expect(page.locator("#chat-log .message-body")).to_have_text(["over the socket"])
    page.get_by_text("More lines").click()
    page.fill("#chat-lines-input", "one\ntwo")
    page.click(".lines-send-button")
    expect(page.locator("#chat-log .message-body").last).to_have_text("one\ntwo")

    message = page.locator("#chat-log .message", has_text="over the socket")
    message.locator(".add-reaction summary").click()
    message.locator(".reaction-picker .reaction").first.click()
    expect(message.locator(".reactions .reaction .count")).to_have_text("1")

    message.locator(".message-menu summary").click()
    message.locator(".edit-action").click()
    # htmx wires a swapped-in form up when it settles (20 ms later): a person is slower than that, a test is not.
    expect(page.locator("form.message.editing:not(.htmx-added)")).to_be_visible()
    page.get_by_label("Edit your message").fill("edited in place")
    page.get_by_label("Edit your message").press("Enter")
    expect(page.locator("#chat-log .message-body").first).to_have_text("edited in place")
    edited = page.locator("#chat-log .message", has_text="edited in place")
    edited.locator(".message-menu summary").click()
    edited.locator(".delete-action").click()
    expect(page.locator("#chat-log .message-body.deleted")).to_have_text(["message deleted"])

    assert page.evaluate("window.notReloaded") is True
    posted = [url for url in seen.requests if re.search(r"/(send|react)/$", url)]
    assert posted == []  # messages and reactions went over the socket
    assert seen.console_errors == []
    wait_live(page)
