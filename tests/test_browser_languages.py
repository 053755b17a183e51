"""A Japanese reader in Tokyo and an English reader in New York in one room: each sees the chat in their own
language and their own time, live (chat/looks.py)."""

import pytest
from playwright.sync_api import Page, expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


def wall_clock_of(page: Page, text: str, zone: str) -> tuple[str, str]:
    """(the time shown on the message holding `text`, the same instant on the wall clock of `zone`, by the
    browser's own clock library)."""
    time = page.locator("#chat-log .message", has_text=text).locator("time")
    shown = time.inner_text()
    instant = time.get_attribute("datetime")
    clock = page.evaluate(
        """([instant, zone]) => new Date(instant).toLocaleTimeString("en-GB",
               {timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false})""",
        [instant, zone],
    )
    return shown, clock


def open_drawer_if_narrow(page: Page) -> None:
    if page.locator(".drawer-button").is_visible():
        page.locator(".drawer-button").click()


def test_japanese_and_english_readers_share_a_room_each_in_their_language_and_zone(server, new_page):
    hanako = new_page(locale="ja-JP", timezone_id=TOKYO)
    seen = watch(hanako)
    hanako_name = unique("hanako")
    sign_up(hanako, server.url, hanako_name)  # the sign-up form offered Tokyo's zone for a Japanese browser
    expect(hanako.locator("html")).to_have_attribute("lang", "ja")
    room_url = create_room(hanako, unique("教室"))
    expect(hanako.locator("#connection-status .status-live")).to_have_text("接続済み")
    expect(hanako.locator("#chat-form button[type=submit]")).to_have_text("送信")

    bob = new_page(locale="en-US", timezone_id=NEW_YORK)
    bob_name = unique("bob")
    sign_up(bob, server.url, bob_name)
    expect(bob.locator("html")).to_have_attribute("lang", "en")
    bob.goto(f"{server.url}/accounts/profile/")
    bob.select_option("#id_time_zone", NEW_YORK)
    bob.click("form.stacked-form button[type=submit]")
    bob.goto(room_url)
    wait_live(bob)
    expect(bob.locator("#connection-status .status-live")).to_have_text("Live")

    # Presence and typing, each rendered in the reader's language.
    expect(hanako.locator("#presence li")).to_have_count(2, timeout=5000)
    bob.locator("#chat-message-input").press_sequentially("hel")
    expect(hanako.locator("#typing-indicator")).to_have_text(f"{bob_name}が入力中…", timeout=3000)
    hanako.locator("#chat-message-input").press_sequentially("こん")
    expect(bob.locator("#typing-indicator")).to_have_text(f"{hanako_name} is typing…", timeout=3000)
    hanako.fill("#chat-message-input", "")

    # One message, each reader's time: the wall clock of Tokyo and of New York.
    send(hanako, "こんにちは、皆さん")
    expect(bob.locator("#chat-log .message-body")).to_have_text(["こんにちは、皆さん"], timeout=3000)
    shown, clock = wall_clock_of(hanako, "こんにちは、皆さん", TOKYO)
    assert shown == clock
    shown, clock = wall_clock_of(bob, "こんにちは、皆さん", NEW_YORK)
    assert shown == clock

    # "edited", live, in each language.
    message = hanako.locator("#chat-log .message").first
    message.hover()
    message.locator(".message-menu summary").click()
    message.locator(".edit-action").click()
    expect(hanako.locator("form.message.editing:not(.htmx-added)")).to_be_visible()
    hanako.wait_for_timeout(20)  # htmx wires the swapped-in form after its settle delay
    hanako.fill(".message.editing input[name=message]", "こんにちは、皆さん!")
    hanako.click(".message.editing button[type=submit]")
    expect(hanako.locator("#chat-log .message .edited")).to_have_text("編集済み", timeout=3000)
    expect(bob.locator("#chat-log .message .edited")).to_have_text("edited", timeout=3000)

    # A refusal from the socket, in the sender's language.
    send(hanako, "   ", acknowledged=False)
    expect(hanako.locator("#composer-error")).to_have_text("メッセージを入力してから送信してください。")

    # Switching to English: remembered across reloads, and the live fragments follow.
    open_drawer_if_narrow(hanako)
    with hanako.expect_navigation():
        hanako.locator(".language-switch button[lang=en]").click()
    wait_live(hanako)
    expect(hanako.locator("html")).to_have_attribute("lang", "en")
    hanako.reload()
    wait_live(hanako)
    expect(hanako.locator("html")).to_have_attribute("lang", "en")
    expect(hanako.locator("#connection-status .status-live")).to_have_text("Live")
    bob.wait_for_timeout(2100)  # "typing" goes at most once per 2 s, and bob typed "hel" less than 2 s ago
    bob.locator("#chat-message-input").press_sequentially("lo")
    expect(hanako.locator("#typing-indicator")).to_have_text(f"{bob_name} is typing…", timeout=3000)
    send(bob, "good morning from New York")
    expect(hanako.locator("#chat-log .message-body")).to_have_text(
        ["こんにちは、皆さん!", "good morning from New York"], timeout=3000
    )
    shown, clock = wall_clock_of(hanako, "good morning from New York", TOKYO)  # her zone did not change
    assert shown == clock
    expect(hanako.locator("#chat-log .message .edited")).to_have_text("edited")
    assert bodies(bob) == ["こんにちは、皆さん!", "good morning from New York"]
    assert seen.console_errors == []
