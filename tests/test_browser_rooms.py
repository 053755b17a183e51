"""Closed rooms and direct conversations, as their members and a stranger see them."""

import asyncio
import concurrent.futures
from pathlib import Path

import pytest
import websockets
from playwright.sync_api import Page, expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1100, "height": 800}}
SHOTS = Path("/tmp/shots")
REMOVED = "You are no longer a member of this room."
CLOSED_KIND = "Closed: only the members it is shared with"


def in_thread(coroutine):
    """Run a coroutine on its own loop: Playwright's sync API holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def person(new_page, base: str) -> tuple[Page, str]:
    page = new_page(**WIDE)
    name = unique("p")
    sign_up(page, base, name)
    return page, name


def create_closed_room(page: Page, name: str) -> str:
    page.fill("input[name=name]", name)
    page.get_by_label(CLOSED_KIND).check()
    page.click("form.create-room button[type=submit]")
    page.wait_for_url("**/chat/**")
    wait_live(page)
    return page.url


def texts(page: Page):
    """The messages people wrote (not the lines saying who was added or removed)."""
    return page.locator("#chat-log .message:not(.membership-line) .message-body")


def room_id(page: Page) -> str:
    return page.locator("#chat-room").get_attribute("data-room") or ""


def session_of(page: Page) -> str:
    return next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "sessionid")


def raw_socket_to(server, session: str, slug: str) -> tuple[int | None, list[str]]:
    """Connect to a room's socket as a page would (own Origin, session cookie); what it was sent, and the close
    code (None: still open after 3 s)."""

    async def listen():
        frames: list[str] = []
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/chat/{slug}/",
            origin=server.url,
            additional_headers={"Cookie": f"sessionid={session}"},
        ) as ws:
            try:
                async with asyncio.timeout(3):
                    async for frame in ws:
                        frames.append(str(frame))
            except TimeoutError:
                return None, frames
            except websockets.ConnectionClosed:
                pass  # closed with a code of ours: returned below
            return ws.close_code, frames

    return in_thread(listen())


def test_a_closed_room_is_seen_only_by_its_members_and_removal_takes_effect_live(server, new_page):
    base = server.url
    owner, owner_name = person(new_page, base)
    member, member_name = person(new_page, base)
    stranger, _ = person(new_page, base)
    seen = watch(member)

    # The member sits in an open room of their own.
    open_url = create_room(member, unique("Open "))
    member.evaluate("window.__samePage = true")  # gone if the page reloads

    room_name = unique("Secret ")
    room_url = create_closed_room(owner, room_name)
    slug = room_url.rstrip("/").rsplit("/", 1)[1]
    closed_id = room_id(owner)
    expect(owner.locator("#room-name")).to_have_text(room_name)
    expect(owner.locator(".room-kind")).to_have_text("Closed room: only its members see it.")
    panel = owner.locator("details.room-members")
    expect(panel).to_have_attribute("open", "")  # the admin's panel starts open
    expect(panel.locator("summary")).to_have_text("Members (1)")

    # The owner adds the member: the member's open page lists the room at once, without a reload.
    member_entry = member.locator(f"#sidebar-rooms #sidebar-room-{closed_id}")
    expect(member_entry).to_have_count(0)
    owner.select_option("#add-member-user", label=f"{member_name} ({member_name})")
    owner.get_by_role("button", name="Add", exact=True).click()
    expect(owner).to_have_url(room_url)
    wait_live(owner)
    expect(panel.locator("summary")).to_have_text("Members (2)")
    expect(panel.locator(".member-list li")).to_have_count(2)
    expect(panel.locator(".member-list li", has_text=member_name)).to_be_visible()
    expect(owner.locator("#add-member-user option", has_text=f"({member_name})")).to_have_count(0)
    expect(member_entry.locator("a")).to_have_text(room_name, timeout=3000)
    assert member.evaluate("window.__samePage") is True
    assert member.url == open_url

    expect(owner.locator("#presence li")).to_have_text([owner_name], timeout=5000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    owner.set_viewport_size({"width": 1280, "height": 800})
    owner.screenshot(path=str(SHOTS / "closed-room-owner-members-1280x800.png"))

    # A stranger: no such room anywhere.
    stranger.goto(f"{base}/")
    expect(stranger.locator(".room-list a", has_text=room_name)).to_have_count(0)
    stranger.fill("#room-search-input", room_name)
    stranger.click("form.room-search button[type=submit]")
    expect(stranger.locator(".room-list")).to_have_count(0)
    expect(stranger.locator("main .empty")).to_have_text(f"No room's name contains “{room_name}”.")
    response = stranger.goto(room_url)
    assert response is not None and response.status == 404
    expect(stranger.locator("body")).not_to_contain_text(room_name)
    response = stranger.goto(room_url + "history/?before=999999")
    assert response is not None and response.status == 404

    # The member opens it from the sidebar and talks with the owner live.
    member_entry.locator("a").click()
    expect(member).to_have_url(room_url)
    wait_live(member)
    expect(member.locator("#room-name")).to_have_text(room_name)
    expect(member.locator("details.room-members summary")).to_have_text("Members (2)")
    expect(member.locator("#add-member-user")).to_have_count(0)  # not an admin
    expect(member.get_by_role("button", name="Remove")).to_have_count(0)
    expect(member.locator("#chat-log .membership-line")).to_contain_text([f"{owner_name} added {member_name}"])
    send(owner, "welcome in")
    expect(texts(member)).to_have_text(["welcome in"], timeout=3000)

    # A second tab of the member's, in their open room, lists the closed room too.
    other_tab = member.context.new_page()
    other_tab.goto(open_url)
    wait_live(other_tab)
    other_entry = other_tab.locator(f"#sidebar-rooms #sidebar-room-{closed_id}")
    expect(other_entry.locator("a")).to_have_text(room_name)

    # The owner removes the member: the member's page of the room says so and stops being live.
    panel.locator(".member-list li", has_text=member_name).get_by_role("button", name="Remove").click()
    expect(owner).to_have_url(room_url)
    wait_live(owner)
    expect(panel.locator("summary")).to_have_text("Members (1)")
    expect(owner.locator("#chat-log .membership-line").last).to_contain_text(f"{owner_name} removed {member_name}")
    expect(member.locator("#composer-error")).to_have_text(REMOVED, timeout=2000)
    expect(other_entry).to_have_count(0, timeout=3000)  # gone from the other tab's sidebar too
    # The refusal says so at once, for good: not "Live", nor "Reconnecting…" later (the page does not retry 4403).
    expect(member.locator("#connection-status .status-ended")).to_be_visible(timeout=2000)
    expect(member.locator("#connection-status .status-live")).not_to_be_visible()

    send(owner, "after removal")
    send(member, "anyone there?", acknowledged=False)  # into a closed socket: it goes nowhere
    member.wait_for_timeout(1500)
    expect(texts(owner)).to_have_text(["welcome in", "after removal"])
    assert not any("after removal" in body for body in bodies(member))
    expect(texts(member)).to_have_text(["welcome in"])
    expect(member.locator("#chat-message-input")).to_have_value("anyone there?")  # not sent, not lost
    expect(member.locator("#composer-error")).to_have_text(REMOVED)

    member.set_viewport_size({"width": 375, "height": 667})
    member.screenshot(path=str(SHOTS / "closed-room-member-removed-375x667.png"))

    # Nor does a new socket of theirs get anything: it is closed as for a room that does not exist.
    code, frames = raw_socket_to(server, session_of(member), slug)
    assert code == 4404
    assert not any("message-body" in frame or "after removal" in frame for frame in frames)

    assert seen.console_errors == []

    # And a reload is a 404.
    response = member.reload()
    assert response is not None and response.status == 404


def test_a_direct_conversation_shows_for_its_two_people_and_nobody_else(server, new_page):
    base = server.url
    alice, alice_name = person(new_page, base)
    bob, bob_name = person(new_page, base)
    carol, _ = person(new_page, base)

    alice.click("text=Start a direct conversation")
    expect(alice).to_have_url(f"{base}/direct/")
    alice.get_by_label(f"{bob_name} ({bob_name})", exact=True).check()
    alice.get_by_role("button", name="Open the conversation").click()
    alice.wait_for_url("**/chat/**")
    wait_live(alice)
    dm_url = alice.url
    dm_id = room_id(alice)
    send(alice, "just us")
    expect(texts(alice)).to_have_text(["just us"])
    expect(alice.locator("details.room-members summary")).to_have_text("Members (2)")
    expect(alice.get_by_role("button", name="Leave this room")).to_have_count(0)

    bob.goto(f"{base}/direct/")
    bob.get_by_label(f"{alice_name} ({alice_name})", exact=True).check()
    bob.get_by_role("button", name="Open the conversation").click()
    expect(bob).to_have_url(dm_url)  # the same conversation, found again
    wait_live(bob)
    expect(texts(bob)).to_have_text(["just us"])
    expect(bob.locator(f"#sidebar-rooms #sidebar-room-{dm_id}")).to_be_visible()
    send(bob, "indeed")
    expect(texts(alice)).to_have_text(["just us", "indeed"], timeout=3000)

    # Carol: no such page, and nothing of it in her sidebar or on the index.
    response = carol.goto(dm_url)
    assert response is not None and response.status == 404
    expect(carol.locator("body")).not_to_contain_text("just us")
    response = carol.goto(dm_url + "history/?before=999999")
    assert response is not None and response.status == 404
    carol.goto(f"{base}/")
    expect(carol.locator("main h1")).to_have_text("Rooms")
    for name in (alice_name, bob_name):
        expect(carol.locator("main")).not_to_contain_text(name)
    create_room(carol, unique("Carol "))
    expect(carol.locator("#sidebar-rooms .sidebar-room")).to_have_count(1)
    expect(carol.locator(f"#sidebar-room-{dm_id}")).to_have_count(0)
    for name in (alice_name, bob_name):
        expect(carol.locator("#sidebar-rooms")).not_to_contain_text(name)
