"""A denser log (chat/log_layout.py): one author's run shares a header, days are separated, reactions and
actions wait behind small controls; a phone shows at least 10 short messages and a desktop 15."""

import pytest
from playwright.sync_api import Page, expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

FULLY_SHOWN = """() => {
  const view = document.querySelector('.chat-scroller').getBoundingClientRect();
  return [...document.querySelectorAll('#chat-log .message')].filter(m => {
    const r = m.getBoundingClientRect();
    return r.top >= view.top && r.bottom <= view.bottom;
  }).length;
}"""


def conversation(new_page, base: str, viewport: dict) -> tuple[Page, Page]:
    """Two people trade short messages in turns of three and two, 25 in all."""
    alice, bob = new_page(viewport=viewport), new_page(viewport=viewport)
    sign_up(alice, base, unique("alice"))
    room_url = create_room(alice, unique("Dense "))
    sign_up(bob, base, unique("bob"))
    bob.goto(room_url)
    wait_live(bob)
    for turn in range(5):
        for i in range(3):
            send(alice, f"alice {turn}.{i}")
        for i in range(2):
            send(bob, f"bob {turn}.{i}")
    expect(bob.locator("#chat-log .message")).to_have_count(25, timeout=5000)
    return alice, bob


@pytest.mark.parametrize(
    ("viewport", "at_least"), [({"width": 375, "height": 667}, 10), ({"width": 1280, "height": 800}, 15)]
)
def test_a_screen_holds_many_short_messages_and_runs_share_a_header(server, new_page, viewport, at_least):
    alice, bob = conversation(new_page, server.url, viewport)
    for page in (alice, bob):
        page.reload()  # as rendered by the page, and (above) as sent live
        wait_live(page)
        assert page.evaluate(FULLY_SHOWN) >= at_least
        headers = page.locator("#chat-log .message:not(.continues) .message-author")
        expect(headers).to_have_count(10)  # one per turn: alice, bob, alice, ...
        expect(page.locator("#chat-log .day-separator")).to_have_text(["Today"])


def test_reactions_and_actions_wait_behind_controls_that_keyboards_reach(server, new_page):
    alice, bob = conversation(new_page, server.url, {"width": 1280, "height": 800})
    seen = watch(bob)
    alices = bob.locator("#chat-log .message").nth(2)  # alice's third message, as bob sees it
    expect(alices.locator(".reaction:visible")).to_have_count(0)  # no faded row of five
    expect(alices.locator(".message-menu")).to_be_hidden()  # nothing bob may do to alice's message
    expect(bob.locator("#chat-log .message").last.locator(".message-menu")).to_be_attached()  # his own
    expect(alices.locator(".add-reaction summary")).to_have_css("opacity", "0")
    alices.locator(".add-reaction summary").focus()  # keyboard: the control shows when focused
    expect(alices.locator(".add-reaction summary")).to_have_css("opacity", "1")
    bob.keyboard.press("Enter")
    alices.locator(".reaction-picker .reaction").first.click()
    reacted = alice.locator("#chat-log .message").nth(2).locator(".reactions .reaction .count")
    expect(reacted).to_have_text("1", timeout=3000)
    own = alice.locator("#chat-log .message").nth(0)
    own.hover()
    own.locator(".message-menu summary").click()
    own.locator(".edit-action").click()
    expect(alice.locator("form.message.editing:not(.htmx-added)")).to_be_visible()  # wired up by htmx
    alice.fill(".message.editing input[name=message]", "alice, edited")
    alice.click(".message.editing button[type=submit]")
    expect(bob.locator("#chat-log .message-body").first).to_have_text("alice, edited", timeout=3000)
    assert bodies(bob)[1] == "alice 0.1"
    assert seen.console_errors == []
