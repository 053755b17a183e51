"""A room that feels alive: presence, typing, unread counts, mentions, edits, deletes and reactions."""

import pytest
from playwright.sync_api import Page, expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live, watch
from .live import Daphne, server_env

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1100, "height": 800}}


def presence(page: Page):
    return page.locator("#presence li")


def people_in_a_room(new_page, base: str, count: int):
    """`count` people, each in their own browser, in one new room; returns pages, names and the room's URL."""
    pages, names = [], []
    for _ in range(count):
        page = new_page(**WIDE)
        name = unique("u")
        sign_up(page, base, name)
        pages.append(page)
        names.append(name)
    room_url = create_room(pages[0], unique("Life "))
    for page in pages[1:]:
        page.goto(room_url)
        wait_live(page)
    return pages, names, room_url


def test_presence_counts_tabs_and_updates_live(server, new_page, browser):
    (alice, bob), (alice_name, bob_name), room_url = people_in_a_room(new_page, server.url, 2)
    expect(presence(alice)).to_have_text(sorted([alice_name, bob_name], key=str.casefold))
    second_tab = bob.context.new_page()
    second_tab.goto(room_url)
    wait_live(second_tab)
    second_tab.close()  # one of bob's two tabs: bob is still here
    alice.wait_for_timeout(1000)
    expect(presence(alice)).to_have_text(sorted([alice_name, bob_name], key=str.casefold))
    bob.close()  # his last tab
    expect(presence(alice)).to_have_text([alice_name], timeout=5000)


def test_typing_indicator_appears_and_goes(server, new_page):
    (alice, bob, carol), (alice_name, bob_name, _), _ = people_in_a_room(new_page, server.url, 3)
    alice.locator("#chat-message-input").press_sequentially("hel")
    expect(bob.locator("#typing-indicator")).to_have_text(f"{alice_name} is typing…", timeout=3000)
    expect(alice.locator("#typing-indicator")).to_have_text("")  # not told about herself
    bob.locator("#chat-message-input").press_sequentially("hi")
    both = " and ".join(sorted([alice_name, bob_name], key=str.casefold))
    expect(carol.locator("#typing-indicator")).to_have_text(f"{both} are typing…", timeout=3000)
    expect(alice.locator("#typing-indicator")).to_have_text(f"{bob_name} is typing…")
    alice.locator("#chat-message-input").press_sequentially("lo")
    alice.press("#chat-message-input", "Enter")
    expect(carol.locator("#typing-indicator")).to_have_text(f"{bob_name} is typing…", timeout=3000)
    expect(carol.locator("#typing-indicator")).to_have_text("", timeout=8000)  # bob stopped a while ago


def test_unread_count_rises_in_another_room_and_resets_on_opening(server, new_page):
    (alice, bob), (_, bob_name), room_url = people_in_a_room(new_page, server.url, 2)
    bob.get_by_role("link", name="All rooms").click()
    other_url = create_room(bob, unique("Elsewhere "))  # bob sits in another room
    room_id = alice.locator("#chat-room").get_attribute("data-room")
    badge = bob.locator(f"#sidebar-room-{room_id} .unread")
    mentions = bob.locator(f"#sidebar-room-{room_id} .unread-mentions")
    expect(badge).to_have_count(0)
    send(alice, "one")
    send(alice, "two")
    send(alice, f"three for @{bob_name}")
    expect(badge).to_have_text("3", timeout=3000)
    expect(mentions).to_have_text("@1")
    expect(bob).to_have_title(f"(3) {bob.locator('#room-name').inner_text()} · Chat")
    bob.locator(f"#sidebar-room-{room_id} a").click()
    expect(bob).to_have_url(room_url)
    wait_live(bob)
    expect(bob.locator("#new-messages + .message .message-body")).to_have_text("one")
    expect(bob.locator(f"#sidebar-room-{room_id} .unread")).to_have_count(0)
    bob.goto(other_url)
    wait_live(bob)
    expect(bob.locator(f"#sidebar-room-{room_id} .unread")).to_have_count(0)
    expect(bob).to_have_title(f"{bob.locator('#room-name').inner_text()} · Chat")


def background(page: Page, selector: str) -> str:
    return page.locator(selector).evaluate("el => getComputedStyle(el).backgroundColor")


def test_mentions_highlight_for_the_mentioned_user_only(server, new_page):
    (alice, bob, carol), (_, bob_name, _), _ = people_in_a_room(new_page, server.url, 3)
    send(alice, f"ping @{bob_name}, see this")
    send(alice, "no mention here")
    for page in (bob, carol):
        expect(page.locator(".message")).to_have_count(2, timeout=3000)
        expect(page.locator(".message").first.locator(".mention")).to_have_text(f"@{bob_name}")
    assert background(bob, ".message >> nth=0") != background(bob, ".message >> nth=1")
    assert background(carol, ".message >> nth=0") == background(carol, ".message >> nth=1")
    # Own messages look like own messages, to their author only.
    assert background(alice, ".message >> nth=1") != background(carol, ".message >> nth=1")


def test_edit_and_delete_show_live_everywhere_and_survive_reload(server, new_page):
    (alice, bob), _, _ = people_in_a_room(new_page, server.url, 2)
    seen = watch(bob)
    send(alice, "teh typo")
    send(alice, "to be removed")
    expect(bob.locator(".message")).to_have_count(2, timeout=3000)
    expect(bob.locator(".message-menu:visible")).to_have_count(0)  # nothing bob may do to alice's messages
    first = alice.locator(".message").first
    first.hover()
    first.locator(".message-menu summary").click()  # the message's actions
    first.locator(".edit-action").click()
    expect(alice.locator("form.message.editing:not(.htmx-added)")).to_be_visible()  # wired up by htmx
    alice.fill(".message.editing input[name=message]", "the typo, fixed")
    alice.click(".message.editing button[type=submit]")
    second = alice.locator(".message").nth(1)
    second.hover()
    second.locator(".message-menu summary").click()
    second.locator(".delete-action").click()
    for page in (alice, bob):
        expect(page.locator(".message-body")).to_have_text(["the typo, fixed", "message deleted"], timeout=3000)
        expect(page.locator(".message").first.locator(".edited")).to_have_text("edited")
    bob.reload()
    wait_live(bob)
    assert bodies(bob) == ["the typo, fixed", "message deleted"]
    assert seen.console_errors == []


def test_reactions_toggle_with_consistent_counts(server, new_page):
    (alice, bob, carol), (alice_name, bob_name, _), _ = people_in_a_room(new_page, server.url, 3)
    send(alice, "react to me")
    expect(bob.locator(".message")).to_have_count(1, timeout=3000)
    thumbs = ".message >> nth=0 >> .reactions .reaction >> nth=0"  # given ones show; the others wait in the picker
    picker = ".message >> nth=0 >> .add-reaction"
    bob.hover(".message >> nth=0")
    bob.click(picker + " summary")
    bob.click(picker + " .reaction >> nth=0")
    alice.click(thumbs)
    for page in (alice, bob, carol):
        expect(page.locator(thumbs + " >> .count")).to_have_text("2", timeout=3000)
        expect(page.locator(thumbs)).to_have_attribute("title", f"{bob_name}, {alice_name}")
    bob.click(thumbs)
    for page in (alice, bob, carol):
        expect(page.locator(thumbs + " >> .count")).to_have_text("1", timeout=3000)
        expect(page.locator(thumbs)).to_have_attribute("title", alice_name)
    alice.click(thumbs)
    for page in (alice, bob, carol):
        expect(page.locator(thumbs + " >> .count")).to_have_count(0, timeout=3000)


# Each multi-process test has a Redis server of its own, so that no other test's presence entries (room ids
# repeat across the tests' databases, and other runs may share the machine) show up before they expire.
def test_presence_and_unread_agree_across_two_processes(live_db, live_dir, new_page, private_redis):
    env = server_env(live_db, REDIS_URL=private_redis.url)
    first, second = Daphne(env, live_dir).start(), Daphne(env, live_dir).start()
    try:
        alice, bob = new_page(**WIDE), new_page(**WIDE)
        alice_name, bob_name = unique("a"), unique("b")
        sign_up(alice, first.url, alice_name)
        room_path = create_room(alice, unique("Shared ")).removeprefix(first.url)
        sign_up(bob, second.url, bob_name)
        bob.goto(second.url + room_path)
        wait_live(bob)
        everyone = sorted([alice_name, bob_name], key=str.casefold)
        expect(presence(alice)).to_have_text(everyone, timeout=5000)
        expect(presence(bob)).to_have_text(everyone, timeout=5000)
        room_id = alice.locator("#chat-room").get_attribute("data-room")
        bob.get_by_role("link", name="All rooms").click()
        create_room(bob, unique("Away "))  # bob moves to another room on his process
        expect(presence(alice)).to_have_text([alice_name], timeout=8000)
        send(alice, f"hey @{bob_name}")
        expect(bob.locator(f"#sidebar-room-{room_id} .unread")).to_have_text("1", timeout=3000)
        expect(bob.locator(f"#sidebar-room-{room_id} .unread-mentions")).to_have_text("@1")
    finally:
        first.stop()
        second.stop()


def test_a_crashed_process_drops_its_users_from_presence(live_db, live_dir, new_page, private_redis):
    import signal

    env = server_env(live_db, REDIS_URL=private_redis.url)
    survivor, doomed = Daphne(env, live_dir).start(), Daphne(env, live_dir).start()
    try:
        alice, bob = new_page(**WIDE), new_page(**WIDE)
        alice_name, bob_name = unique("a"), unique("b")
        sign_up(alice, survivor.url, alice_name)
        room_path = create_room(alice, unique("Crash ")).removeprefix(survivor.url)
        sign_up(bob, doomed.url, bob_name)
        bob.goto(doomed.url + room_path)
        wait_live(bob)
        expect(presence(alice)).to_have_count(2, timeout=5000)
        doomed.stop(signal.SIGKILL)
        expect(presence(alice)).to_have_text([alice_name], timeout=30_000)
    finally:
        survivor.stop()
        doomed.stop()


def test_after_a_reload_new_messages_marks_only_what_the_reader_was_not_shown(server, new_page):
    (alice, bob), _, room_url = people_in_a_room(new_page, server.url, 2)
    send(alice, "seen live one")
    send(alice, "seen live two")
    expect(bob.locator("#chat-log .message-body")).to_have_text(["seen live one", "seen live two"], timeout=3000)
    for _ in range(3):  # the closing socket records what it showed while the new page loads
        bob.reload()
        wait_live(bob)
        bob.wait_for_timeout(300)  # a divider moved by the server moves by now
        expect(bob.locator("#new-messages")).to_have_count(0)
    bob.get_by_role("link", name="All rooms").click()  # away from the room: what comes now was not shown to bob
    send(alice, "sent while bob was away")
    bob.goto(room_url)
    wait_live(bob)
    bob.wait_for_timeout(300)
    expect(bob.locator("#new-messages + .message .message-body")).to_have_text("sent while bob was away")
    expect(bob.locator("#new-messages")).to_have_count(1)
