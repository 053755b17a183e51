import re

import pytest
from playwright.sync_api import expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser


def two_users_in_a_room(new_page, base: str, **options):
    alice, bob = new_page(**options), new_page(**options)
    seen = {"alice": watch(alice), "bob": watch(bob)}
    sign_up(alice, base, unique("alice"))
    room_name = unique("Room ")
    room_url = create_room(alice, room_name)
    sign_up(bob, base, unique("bob"))
    bob.click(f"text={room_name}")
    expect(bob).to_have_url(room_url)
    wait_live(bob)
    return alice, bob, seen


def test_two_users_chat_live(server, new_page):
    alice, bob, seen = two_users_in_a_room(new_page, server.url)
    send(alice, "hello from alice")
    expect(bob.locator("#chat-log .message-body", has_text="hello from alice")).to_be_visible(timeout=2000)
    send(bob, "hi alice")
    expect(alice.locator("#chat-log .message-body", has_text="hi alice")).to_be_visible(timeout=2000)
    # The sender's composer came back empty, with the caret still in it.
    expect(alice.locator("#chat-message-input")).to_have_value("")
    expect(alice.locator("#chat-message-input")).to_be_focused()
    assert bodies(alice) == bodies(bob) == ["hello from alice", "hi alice"]
    for page in ("alice", "bob"):
        assert seen[page].console_errors == []
        loaded = {re.sub(r"^http://[^/]+", "", url) for url in seen[page].scripts}
        assert loaded == {"/static/vendor/htmx.min.js", "/static/vendor/htmx-ext-ws.min.js"}


def test_markup_in_messages_is_shown_as_text(server, new_page):
    alice, bob, seen = two_users_in_a_room(new_page, server.url)
    payloads = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
    for payload in payloads:
        send(alice, payload)
    expect(bob.locator("#chat-log .message")).to_have_count(2, timeout=3000)
    for page in (alice, bob):
        assert bodies(page) == payloads
        assert page.locator("#chat-log img, #chat-log script").count() == 0
    assert seen["alice"].dialogs == seen["bob"].dialogs == []
    assert not any(url.endswith("/x") for url in seen["bob"].requests)


def test_reload_shows_history_in_order(server, new_page):
    alice, bob, _ = two_users_in_a_room(new_page, server.url)
    lines = [f"line {i}" for i in range(5)]
    for line in lines:
        send(alice, line)
        expect(alice.locator("#chat-log .message-body", has_text=line)).to_be_visible()
    bob.reload()
    wait_live(bob)
    assert bodies(bob) == lines


def test_multiline_body_keeps_line_breaks(server, new_page):
    # The composer is a single line (Enter sends); other clients may send newlines.
    alice, bob, _ = two_users_in_a_room(new_page, server.url)
    send(alice, "one")
    expect(bob.locator(".message-body")).to_have_text("one")


def test_phone_viewport_has_no_horizontal_scroll(server, new_page):
    alice, _, _ = two_users_in_a_room(new_page, server.url, viewport={"width": 375, "height": 667})
    send(alice, "a-very-long-word-" * 20)
    expect(alice.locator("#chat-log .message")).to_have_count(1)
    overflow = alice.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    composer = alice.locator("#chat-form").bounding_box()
    assert composer["y"] + composer["height"] <= 667 + 1  # composer on screen at the bottom
    assert composer["y"] > 667 - 150
    send_button = alice.locator(".send-button").bounding_box()
    assert send_button["height"] >= 44 and send_button["width"] >= 44


def test_load_older_prepends_in_order(server, new_page):
    alice, bob, _ = two_users_in_a_room(new_page, server.url)
    for i in range(55):
        send(alice, f"n{i}")
    expect(bob.locator("#chat-log .message")).to_have_count(55, timeout=10_000)
    bob.reload()
    wait_live(bob)
    expect(bob.locator("#chat-log .message")).to_have_count(50)
    bob.click("#load-older button")
    expect(bob.locator("#chat-log .message")).to_have_count(55)
    assert bodies(bob) == [f"n{i}" for i in range(55)]
    expect(bob.locator("#load-older")).to_have_count(0)


def test_a_frame_that_carries_several_messages_shows_each_once_in_order(server, new_page):
    """Under load the server sends a page everything queued for it as one frame: htmx must show it all."""
    alice, bob = new_page(), new_page()
    sign_up(alice, server.url, unique("alice"))
    room_name = unique("Room ")
    room_url = create_room(alice, room_name)
    sign_up(bob, server.url, unique("bob"))
    held: list[str] = []

    def join_message_frames(ws) -> None:
        """Between bob's page and the server: hold frames with messages, pass them on joined in twos."""
        to_server = ws.connect_to_server()

        def from_server(message) -> None:
            if isinstance(message, str) and "<article" in message:
                held.append(message)
                if "".join(held).count("<article") >= 2:
                    ws.send("".join(held))
                    held.clear()
                return
            ws.send(message)

        to_server.on_message(from_server)

    bob.route_web_socket(re.compile(r"/ws/chat/"), join_message_frames)
    bob.goto(room_url)
    wait_live(bob)
    send(alice, "first")
    send(alice, "second")
    expect(bob.locator("#chat-log .message")).to_have_count(2, timeout=5000)
    assert bodies(bob) == ["first", "second"]
    # The page's catch-up field holds the newest change (a reconnect asks for what follows it).
    expect(bob.locator("#catch-up-last-change")).to_have_value("2")
    send(alice, "third")
    send(alice, "fourth")
    expect(bob.locator("#chat-log .message")).to_have_count(4, timeout=5000)
    assert bodies(bob) == ["first", "second", "third", "fourth"]
