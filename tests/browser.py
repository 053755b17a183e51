"""What a person does in the chat, in Playwright terms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery 42"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class Watch:
    """Everything a page did that a user or a reviewer would object to."""

    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def watch(page: Page) -> Watch:
    seen = Watch()
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))

    def on_dialog(dialog):
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def on_request(request):
        seen.requests.append(request.url)
        if request.resource_type == "script":
            seen.scripts.append(request.url)

    page.on("request", on_request)
    return seen


def sign_up(page: Page, base: str, username: str, join_url: str | None = None) -> None:
    """Sign up through /accounts/signup/ (open on the tests' servers: CHAT_OPEN_SIGNUP) or a site's join link."""
    page.goto(join_url or f"{base}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/")


def create_room(page: Page, name: str) -> str:
    page.fill("input[name=name]", name)
    page.click("form.create-room button[type=submit]")
    page.wait_for_url("**/chat/**")
    wait_live(page)
    return page.url


def wait_live(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#connection-status.live")).to_be_visible(timeout=timeout)


def send(page: Page, text: str, acknowledged: bool = True) -> None:
    """Type and press Enter; by default wait, as a person would, for the composer to come back empty."""
    page.fill("#chat-message-input", text)
    page.press("#chat-message-input", "Enter")
    if acknowledged:
        expect(page.locator("#chat-message-input")).to_have_value("", timeout=5000)


def bodies(page: Page) -> list[str]:
    return page.locator("#chat-log .message-body").all_inner_texts()
