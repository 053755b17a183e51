"""Accessibility: axe-core on every page in both colour schemes, and what a keyboard alone can do.

axe-core (tests/vendor/, a test-only tool the site never serves) is injected into pages of a context made with
bypass_csp=True: the site's CSP rightly refuses any script that is not its own. Every page is checked in English
and in Japanese (a browser asking for ja-JP), in both colour schemes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .browser import create_room, send, sign_up, unique, wait_live
from .live import SITE_ADMIN, SITE_ADMIN_PASSWORD

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = {"serious", "critical"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
    target: v.nodes[0].target.join(" "), html: v.nodes[0].html, summary: v.nodes[0].failureSummary,
  }));
}"""


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE, TAGS)


def explain(found: dict[str, list[dict]]) -> str:
    lines = []
    for where, violations in found.items():
        for v in violations:
            lines.append(f"{where}: {v['id']} ({v['impact']}, {v['nodes']} nodes): {v['help']}")
            lines.append(f"    first: {v['target']}  {v['html'][:300]}")
            lines.append(f"    {v['summary']}".replace("\n", "\n    "))
    return "\n".join(lines)


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def open_message_menu(page: Page, message) -> None:
    message.hover()
    message.locator(".message-menu summary").click()


@pytest.mark.parametrize("locale", ["en-US", "ja-JP"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_a_serious_accessibility_violation(server, new_page, scheme, locale):
    base = server.url
    options = {"bypass_csp": True, "color_scheme": scheme, "viewport": DESKTOP, "locale": locale}
    found: dict[str, list[dict]] = {}
    minor: dict[str, list[dict]] = {}

    def check(page: Page, where: str) -> None:
        violations = axe_violations(page)
        found[where] = [v for v in violations if v["impact"] in BLOCKING]
        minor[where] = [v for v in violations if v["impact"] not in BLOCKING]

    stranger = new_page(**options)
    stranger.goto(f"{base}/accounts/signup/")
    check(stranger, "sign-up")
    stranger.goto(f"{base}/accounts/login/")
    check(stranger, "login")

    alice, bob = new_page(**options), new_page(**options)
    alice_name, bob_name = unique("alice"), unique("bob")
    sign_up(alice, base, alice_name)
    sign_up(bob, base, bob_name)
    # A closed room: adding bob writes a membership line, and its admin sees the members' controls.
    alice.fill("input[name=name]", unique("Room "))
    alice.check("form.create-room input[name=kind][value=closed]")
    alice.click("form.create-room button[type=submit]")
    alice.wait_for_url("**/chat/**")
    room_url = alice.url
    alice.select_option("#add-member-user", label=f"{bob_name} ({bob_name})")
    alice.click("button[name=action][value=add]")
    wait_live(alice)
    bob.goto(room_url)
    wait_live(bob)
    send(alice, "teh first message")
    send(alice, f"hello @{bob_name}, a **bold** word and `code`")
    send(bob, f"hi @{alice_name}")
    expect(bob.locator("#chat-log .message:not(.membership-line)")).to_have_count(3, timeout=3000)
    # bob reacts to alice's first message; alice edits it.
    first = bob.locator("#chat-log .message:not(.membership-line)").first
    first.hover()
    first.locator(".add-reaction summary").click()
    first.locator(".reaction-picker .reaction").first.click()
    expect(alice.locator("#chat-log .reactions .reaction .count")).to_have_text("1", timeout=3000)
    own = alice.locator("#chat-log .message:not(.membership-line)").first
    open_message_menu(alice, own)
    own.locator(".edit-action").click()
    alice.fill(".message.editing input[name=message]", "the first message")
    alice.click(".message.editing button[type=submit]")
    expect(alice.locator("#chat-log .edited")).to_have_count(1, timeout=3000)
    expect(alice.locator(".membership-line")).to_have_count(1)

    alice.reload()
    wait_live(alice)
    check(alice, "room (its admin)")
    alice.set_viewport_size(PHONE)
    check(alice, "room (a phone)")
    alice.set_viewport_size(DESKTOP)
    bob.reload()
    wait_live(bob)
    check(bob, "room (a member)")
    own = alice.locator("#chat-log .message:not(.membership-line)").first
    open_message_menu(alice, own)
    own.locator(".edit-action").click()
    expect(alice.locator(".message.editing")).to_be_visible()
    check(alice, "a message's edit form")

    for where, path in [
        ("index", "/"),
        ("search results", "/search/?q=message"),
        ("profile", "/accounts/profile/"),
        ("direct conversation", "/direct/"),
    ]:
        alice.goto(base + path)
        check(alice, where)

    admin = new_page(**options)
    log_in(admin, base, SITE_ADMIN, SITE_ADMIN_PASSWORD)
    admin.goto(f"{base}/people/")
    check(admin, "people (site admin)")

    for where, violations in minor.items():  # shown with -s; not failures
        for v in violations:
            print(f"[{scheme}, {locale}] minor: {where}: {v['id']} ({v['impact']}): {v['help']} — {v['target']}")
    found = {where: violations for where, violations in found.items() if violations}
    assert not found, f"serious or critical accessibility violations ({scheme}, {locale}):\n" + explain(found)


# Keyboard.

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {
    what: el.outerHTML.slice(0, 160),
    width: box.width, height: box.height,
    visible: el.checkVisibility({opacityProperty: true, visibilityProperty: true}),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
  };
}"""


def room_with_a_message(new_page, base: str, viewport: dict) -> Page:
    page = new_page(viewport=viewport)
    sign_up(page, base, unique("keys"))
    create_room(page, unique("Room "))
    send(page, "a message to tab past")
    return page


def test_tab_lands_only_on_visible_controls_that_show_focus(server, new_page):
    page = room_with_a_message(new_page, server.url, DESKTOP)
    page.reload()
    wait_live(page)
    expect(page.locator("#drawer-toggle")).to_be_hidden()  # the phone's drawer: no tab stop on a desktop
    page.locator("body").focus()
    stops = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        stops.append(focused["what"])
        assert focused["width"] > 1 and focused["height"] > 1 and focused["visible"], f"invisible stop: {focused}"
        assert focused["outline"], f"no focus indicator: {focused}"
    assert len(stops) >= 10  # the header, the sidebar, the log and the composer


def test_the_drawer_opens_from_the_keyboard_on_a_phone(server, new_page):
    page = room_with_a_message(new_page, server.url, PHONE)
    expect(page.locator("#sidebar")).to_be_hidden()
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "drawer-toggle":
            break
    else:
        pytest.fail("Tab never reached the drawer's control")
    # The ☰ label shows the focus ring of its visually hidden checkbox.
    expect(page.locator(".drawer-button")).not_to_have_css("outline-style", "none")
    page.keyboard.press("Space")
    expect(page.locator("#sidebar")).to_be_visible()
    page.keyboard.press("Tab")  # into the drawer, next in the tab order
    assert page.evaluate("document.activeElement.closest('#sidebar') !== null")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")
    expect(page.locator("#sidebar")).to_be_hidden()


def test_reactions_and_the_message_menu_work_from_the_keyboard(server, new_page):
    page = room_with_a_message(new_page, server.url, DESKTOP)
    message = page.locator("#chat-log .message").first
    message.locator(".permalink").focus()
    page.keyboard.press("Tab")
    expect(message.locator(".add-reaction summary")).to_be_focused()
    expect(message.locator(".add-reaction summary")).to_have_css("opacity", "1")
    page.keyboard.press("Enter")
    expect(message.locator(".reaction-picker")).to_be_visible()
    page.keyboard.press("Tab")
    expect(message.locator(".reaction-picker .reaction").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(message.locator(".reactions .reaction .count")).to_have_text("1", timeout=3000)

    message = page.locator("#chat-log .message").first
    message.locator(".permalink").focus()
    page.keyboard.press("Tab")  # the reaction given
    page.keyboard.press("Tab")  # add a reaction
    page.keyboard.press("Tab")  # the author's menu
    expect(message.locator(".message-menu summary")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(message.locator(".edit-action")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".message.editing input[name=message]")).to_be_visible(timeout=3000)


def test_rename_room_shows_a_disclosure_marker_that_turns_when_open(server, new_page):
    page = room_with_a_message(new_page, server.url, DESKTOP)
    summary = page.locator(".room-admin summary")
    marker = """(el) => {
      const s = getComputedStyle(el, "::before");
      return [s.content, parseFloat(s.borderInlineStartWidth), s.transform];
    }"""
    content, drawn, closed = summary.evaluate(marker)
    assert content not in ("none", "normal") and (content != '""' or drawn > 0), content  # text or a triangle
    summary.click()
    expect(page.locator(".room-admin")).to_have_attribute("open", "")
    page.wait_for_timeout(300)  # its turn is animated
    _, _, opened = summary.evaluate(marker)
    assert opened != closed
