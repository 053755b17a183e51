"""Who may see what (chat/rooms.py, chat/live/members.py): closed rooms, direct conversations, members and
roles, checked on every path: pages, fragments, socket connect and frames, sidebars, catch-up."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat import rooms, services
from chat.live import members
from chat.models import Membership, Message, Room

from .sockets import closed_with, drain, htmx_frame, open_socket, receive_all, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(make_user):
    return make_user("owner"), make_user("member"), make_user("stranger")


@pytest.fixture
def closed(people):
    owner, member, _ = people
    room = rooms.create_room("Staff room", owner, Room.Kind.CLOSED)
    rooms.add_member(room, owner, member)
    return room


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_closed_room_does_not_exist_for_a_non_member_on_any_page(people, closed):
    owner, member, stranger = people
    secret = services.post_message(closed, owner, "the plan").message
    outsider = browser(stranger)
    index = outsider.get("/").content.decode()
    assert "Staff room" not in index and "Staff room" in browser(member).get("/").content.decode()
    assert "Staff room" not in outsider.get("/?q=Staff").content.decode()
    base = closed.get_absolute_url()
    for url in (
        base,
        f"{base}history/?before=999",
        f"{base}messages/{secret.pk}/",
        f"{base}messages/{secret.pk}/edit/",
    ):
        assert outsider.get(url, headers={"HX-Request": "true"}).status_code == 404, url
    for url in (f"{base}messages/{secret.pk}/delete/", f"{base}leave/", f"{base}members/"):
        assert outsider.post(url, {"user": stranger.pk, "action": "add"}).status_code == 404, url
    assert outsider.get("/chat/no-such-room/").status_code == 404  # the same answer as a room that is not there
    assert browser(member).get(base).status_code == 200
    assert not Membership.objects.filter(room=closed, user=stranger).exists()


async def test_a_non_member_socket_is_refused_and_nothing_reaches_or_is_stored(people, closed):
    owner, _, stranger = people
    inside, _, _ = await open_socket(closed.slug, owner)
    await drain(inside)
    outside, connected, _ = await open_socket(closed.slug, stranger, catch_up=None)
    assert connected and await closed_with(outside) == 4404
    assert await sync_to_async(Message.objects.filter(room=closed).count)() == 1  # the owner's "added member" line
    assert not any("stranger" in frame for frame in await drain(inside))  # not even in presence
    await inside.disconnect()


async def test_a_removed_member_is_closed_at_once_and_gets_nothing_after(people, closed):
    owner, member, _ = people
    page, _, _ = await open_socket(closed.slug, member)
    await drain(page)
    owners = await sync_to_async(browser)(owner)
    removed = await sync_to_async(owners.post)(
        f"{closed.get_absolute_url()}members/", {"user": member.pk, "action": "remove"}
    )
    assert removed.status_code == 302
    assert await closed_with(page) == 4403
    await sync_to_async(services.post_message)(closed, owner, "after you left")
    again, connected, _ = await open_socket(closed.slug, member, catch_up=None)
    assert connected and await closed_with(again) == 4404  # and a new socket cannot see the room either
    assert (await sync_to_async(Client().get)(closed.get_absolute_url())).status_code == 302  # to the login page
    members_browser = await sync_to_async(browser)(member)
    assert (await sync_to_async(members_browser.get)(closed.get_absolute_url())).status_code == 404


async def test_a_frame_from_a_member_removed_meanwhile_is_refused(people, closed, settings):
    settings.CHAT_ACCESS_RECHECK_SECONDS = 0.3
    member = people[1]
    page, _, _ = await open_socket(closed.slug, member)
    await drain(page)
    # Removed in the database only: the event that closes the socket was lost; the next frame after the recheck
    # time finds it out.
    await sync_to_async(Membership.objects.filter(room=closed, user=member).delete)()
    await asyncio.sleep(0.4)
    for frame in (
        send_frame("forged"),
        htmx_frame({"action": "typing", "message": "x"}, "chat-message-input"),
        htmx_frame({"action": "react", "message_id": "1", "emoji": "👍"}, "react"),
    ):
        await page.send_to(text_data=frame)
    assert "no longer a member" in await receive_until(page, "no longer a member")
    assert await closed_with(page) == 4403
    assert not await sync_to_async(Message.objects.filter(body="forged").exists)()


async def test_adding_a_member_lists_the_room_live_and_removing_unlists_it(people, closed):
    owner, _, stranger = people
    elsewhere = await sync_to_async(rooms.create_room)("Lobby", owner)
    page, _, _ = await open_socket(elsewhere.slug, stranger)
    await drain(page)
    await sync_to_async(members.publish)(closed, await sync_to_async(rooms.add_member)(closed, owner, stranger))
    added = await receive_until(page, f"sidebar-room-{closed.pk}")
    assert 'hx-swap-oob="afterbegin:#sidebar-rooms"' in added and "Staff room" in added
    owner_page, _, _ = await open_socket(closed.slug, owner)
    await owner_page.send_to(text_data=send_frame(f"hello @{stranger.username}"))
    assert 'class="unread"' in await receive_until(page, f"sidebar-room-{closed.pk}")  # counted now
    change = await sync_to_async(rooms.remove_member)(closed, owner, stranger)
    await sync_to_async(members.publish)(closed, change)
    assert f'<li id="sidebar-room-{closed.pk}" hx-swap-oob="delete">' in await receive_until(page, "delete")
    await owner_page.send_to(text_data=send_frame("not for the stranger"))
    await receive_until(owner_page, "not for the stranger")
    assert not any(f"sidebar-room-{closed.pk}" in frame for frame in await drain(page))
    await page.disconnect()
    await owner_page.disconnect()


async def test_a_page_catching_up_gets_a_membership_change_made_while_it_was_away(people, closed):
    owner, member, stranger = people
    room = await sync_to_async(Room.objects.get)(pk=closed.pk)
    await sync_to_async(rooms.add_member)(room, owner, stranger)
    page, _, _ = await open_socket(closed.slug, member, catch_up=room.last_change)  # saw up to before the add
    frames = await receive_all(page, "added stranger")
    assert "owner added stranger" in frames and 'class="message membership-line"' in frames
    await page.disconnect()


def test_only_a_closed_rooms_admins_manage_its_members(people, closed):
    owner, member, stranger = people
    members_url = f"{closed.get_absolute_url()}members/"
    assert browser(member).post(members_url, {"user": stranger.pk, "action": "add"}).status_code == 403
    assert browser(owner).post(members_url, {"user": member.pk, "action": "make_admin"}).status_code == 302
    assert browser(member).post(members_url, {"user": stranger.pk, "action": "add"}).status_code == 302
    assert closed.is_admin(member) and not closed.is_admin(stranger)
    open_room = rooms.create_room("Open", owner)
    assert (
        browser(owner).post(f"{open_room.get_absolute_url()}members/", {"user": member.pk, "action": "add"}).status_code
        == 403
    )


def test_leaving_takes_a_room_out_of_the_sidebar_and_a_closed_one_out_of_reach(people, closed):
    owner, member, _ = people
    lobby = rooms.create_room("Lobby", owner)
    client = browser(member)
    client.get(lobby.get_absolute_url())
    assert client.post(f"{lobby.get_absolute_url()}leave/").status_code == 302
    assert not Membership.objects.filter(room=lobby, user=member).exists()
    assert client.get(lobby.get_absolute_url()).status_code == 200  # an open room: still there to rejoin
    assert client.post(f"{closed.get_absolute_url()}leave/").status_code == 302
    assert client.get(closed.get_absolute_url()).status_code == 404
    assert Message.objects.filter(room=closed, kind=Message.Kind.LEFT, member=member).exists()


def test_a_direct_conversation_is_found_again_and_seen_by_its_people_only(people):
    owner, member, stranger = people
    client = browser(owner)
    first = client.post("/direct/", {"people": [member.pk]})
    second = browser(member).post("/direct/", {"people": [owner.pk]})
    assert first.status_code == second.status_code == 302 and first.url == second.url
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert room.name == "member, owner" and Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1
    assert browser(stranger).get(first.url).status_code == 404
    assert "member, owner" not in browser(stranger).get("/").content.decode()
    assert "member, owner" not in client.get("/").content.decode()  # conversations live in the sidebar
    assert "member, owner" in client.get(first.url).content.decode()
    assert client.post("/direct/", {"people": []}).status_code == 400
    assert client.post(f"{first.url}leave/").status_code == 403


def test_a_direct_conversation_has_two_to_eight_people(people, make_user):
    owner = people[0]
    others = [make_user() for _ in range(8)]
    too_many = browser(owner).post("/direct/", {"people": [p.pk for p in others]})
    assert too_many.status_code == 400 and "at most 7 people" in too_many.content.decode()
    assert browser(owner).post("/direct/", {"people": [p.pk for p in others[:7]]}).status_code == 302
