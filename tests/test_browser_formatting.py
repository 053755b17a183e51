"""Formatted messages in a real browser: links open a new tab that cannot reach back, and the multi-line composer
sends a code block whose indentation another person sees live."""

import pytest
from playwright.sync_api import expect

from .browser import send
from .test_browser_chat import two_users_in_a_room

pytestmark = pytest.mark.browser

CODE = ["def greet(name):", "    if name:", "        return f'hi {name}'", "    return 'hi'"]


def test_a_link_in_a_message_opens_a_new_tab_without_its_opener_or_referrer(server, new_page):
    alice, bob, seen = two_users_in_a_room(new_page, server.url)
    target = f"{server.url}/accounts/login/"
    send(alice, f"**Sign in** here: {target} please")
    link = bob.locator("#chat-log .message-body a", has_text=target)
    expect(link).to_have_attribute("href", target, timeout=3000)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "nofollow noopener noreferrer")
    expect(bob.locator("#chat-log .message-body strong")).to_have_text("Sign in")
    with bob.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url.startswith(server.url)
    assert bob.url != tab.url  # the room stays where it was
    assert tab.evaluate("window.opener") is None and tab.evaluate("document.referrer") == ""
    assert seen["bob"].console_errors == [] and seen["alice"].console_errors == []


def test_a_code_block_from_the_multi_line_composer_keeps_its_indentation_on_another_screen(server, new_page):
    alice, bob, seen = two_users_in_a_room(new_page, server.url)
    expect(alice.locator("#chat-lines-input")).to_be_hidden()
    alice.click("#chat-lines summary")
    lines = alice.locator("#chat-lines-input")
    expect(lines).to_be_visible()
    expect(alice.locator("#chat-message-input")).to_be_hidden()  # one composer at a time
    lines.click()
    # Enter starts a new line here (nothing is sent); the Send button sends.
    for line in ["Try this:", "```python", *CODE, "```"]:
        lines.press_sequentially(line)
        lines.press("Enter")
    expect(bob.locator("#chat-log .message")).to_have_count(0)
    alice.click(".lines-send-button")
    code = bob.locator("#chat-log .message-body pre code")
    expect(code).to_have_text("\n".join(CODE) + "\n", timeout=3000)
    expect(bob.locator("#chat-log .message-body p")).to_have_text("Try this:")
    assert code.evaluate("element => getComputedStyle(element.parentElement).whiteSpace") == "pre"
    # The sender's multi-line composer came back empty, still open, with the caret in it.
    expect(lines).to_have_value("")
    expect(lines).to_be_focused()
    expect(alice.locator("#chat-log .message-body pre code")).to_have_text("\n".join(CODE) + "\n")
    # "One line" goes back to the one-line composer, which sends with Enter as before.
    alice.click("#chat-lines summary")
    expect(alice.locator("#chat-message-input")).to_be_visible()
    send(alice, "back to *one* line")
    expect(bob.locator("#chat-log .message-body em")).to_have_text("one")
    assert seen["alice"].console_errors == [] and seen["bob"].console_errors == []
