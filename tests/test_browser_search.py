"""Search and permalinks in Chromium: a two-character Japanese word is found as one types, its result opens the
message's permalink marked by CSS :target, and a window of older messages goes live once read to the newest."""

import re

import pytest
from playwright.sync_api import expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

TARGET = "明日の宿題は三番です"
FILLERS = 55  # more than a page (50) after it: its permalink opens a window that is not the newest


def marked(page) -> dict:
    """The element CSS :target selects, its outline, and whether it is on screen."""
    return page.evaluate(
        """() => {
            const element = document.querySelector(':target');
            if (!element) return {};
            const box = element.getBoundingClientRect();
            return {
                id: element.id,
                hash: location.hash,
                outline: getComputedStyle(element).outlineStyle,
                visible: box.bottom > 0 && box.top < window.innerHeight,
            };
        }"""
    )


def test_a_two_character_word_is_found_and_its_permalink_opens_marked_then_goes_live(server, new_page):
    alice, bob = new_page(), new_page()
    seen = watch(alice)
    sign_up(alice, server.url, unique("alice"))
    room_name = unique("Search ")
    room_url = create_room(alice, room_name)
    send(alice, TARGET)
    for i in range(FILLERS):
        send(alice, f"filler {i}")
    sign_up(bob, server.url, unique("bob"))
    bob.goto(room_url)
    wait_live(bob)

    # Typing in the sidebar's box searches this room, 300 ms after the last key, without leaving the page.
    alice.fill("#message-search-input", "宿題")
    hit = alice.locator("#search-results .search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("宿題")
    expect(hit.locator(".search-hit-room")).to_have_text(room_name)
    expect(hit.locator(".search-hit-snippet")).to_have_text(TARGET)
    assert alice.url == room_url

    hit.locator("a").click()
    expect(alice).to_have_url(re.compile(r"/around/\d+/#message-\d+$"))
    message_id = alice.url.rsplit("#", 1)[1]
    target = alice.locator(f"#{message_id}")
    expect(target).to_be_in_viewport()
    assert marked(alice) == {"id": message_id, "hash": f"#{message_id}", "outline": "solid", "visible": True}
    wait_live(alice)
    assert bodies(alice)[0] == TARGET and len(bodies(alice)) == 50
    expect(alice.locator("#chat-form.composer-paused")).to_be_visible()

    # While the page shows an older window, what others post does not land below it.
    send(bob, "posted while alice reads")
    alice.wait_for_timeout(1000)
    assert "posted while alice reads" not in bodies(alice)

    # Load newer reaches the newest: the composer comes back, and what was posted meanwhile arrives after it.
    alice.click("#load-newer a")
    expect(alice.locator("#chat-message-input")).to_be_visible()
    expect(alice.locator("#chat-log .message-body").last).to_have_text("posted while alice reads")
    expected = [TARGET, *[f"filler {i}" for i in range(FILLERS)], "posted while alice reads"]
    assert bodies(alice) == expected
    expect(alice.locator("#load-newer")).to_have_count(0)

    # Live as any room page: both ways.
    send(alice, "alice is live again")
    expect(bob.locator("#chat-log .message-body").last).to_have_text("alice is live again")
    send(bob, "and bob sees it")
    expect(alice.locator("#chat-log .message-body").last).to_have_text("and bob sees it")
    assert bodies(alice) == [*expected, "alice is live again", "and bob sees it"]

    assert seen.console_errors == []
    loaded = {re.sub(r"^http://[^/]+", "", url) for url in seen.scripts}
    assert loaded == {"/static/vendor/htmx.min.js", "/static/vendor/htmx-ext-ws.min.js"}


def test_without_javascript_search_is_a_plain_form_and_the_permalink_still_marks_the_message(server, new_page):
    alice = new_page()
    sign_up(alice, server.url, unique("alice"))
    word = unique("講義")  # unique across the module's rooms
    create_room(alice, unique("Plain "))
    send(alice, f"{word}は十時から")
    send(alice, "after it")

    reader = new_page(java_script_enabled=False)
    sign_up(reader, server.url, unique("reader"))
    reader.fill("#message-search-input", word)
    reader.press("#message-search-input", "Enter")
    expect(reader).to_have_url(re.compile(r"/search/\?q="))
    expect(reader.locator("h1")).to_have_text("Search messages")
    hit = reader.locator("#search-results .search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(word)
    hit.locator("a").click()
    expect(reader).to_have_url(re.compile(r"/chat/[^/]+/#message-\d+$"))
    message_id = reader.url.rsplit("#", 1)[1]
    expect(reader.locator(f"#{message_id} .message-body")).to_have_text(f"{word}は十時から")
    expect(reader.locator(f"#{message_id}")).to_be_in_viewport()
    assert reader.locator(f"#{message_id}").evaluate("element => getComputedStyle(element).outlineStyle") == "solid"
