"""What each page showed its reader (chat/live/reading.py): the "New messages" divider marks only what
none of the reader's pages showed, whichever closes or loads first."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat import memberships, rooms, services
from chat.models import Room

from .sockets import drain, open_socket, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)

DIVIDER_GONE = '<div id="new-messages" hx-swap-oob="delete"></div>'


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


@pytest.fixture
def room(people):
    room = rooms.create_room("Reading", people[0])
    memberships.open_room(room, people[1])  # Bob has had the room open before
    return room


def last_change(room: Room) -> int:
    room.refresh_from_db()
    return room.last_change


async def bob_was_shown_live(room, alice, bob, *bodies: str):
    """Bob's page is open; Alice's messages reach it live. Returns both sockets."""
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob, catch_up=await sync_to_async(last_change)(room))
    for body in bodies:
        await a.send_to(text_data=send_frame(body))
        await receive_until(b, body)
    await drain(b)
    return a, b


async def test_a_divider_goes_when_the_page_before_it_closes_after_it_claimed(people, room):
    alice, bob = people
    first = await sync_to_async(lambda: services.post_message(room, alice, "read before").message)()
    a, old_page = await bob_was_shown_live(room, alice, bob, "shown live one", "shown live two")
    changes = await sync_to_async(last_change)(room)
    new_page, _, _ = await open_socket(room.slug, bob, catch_up=changes, unread_after=first.seq)
    assert not any("new-messages" in frame for frame in await drain(new_page))  # nothing recorded yet
    await old_page.disconnect()  # the reload's old page closes last
    assert DIVIDER_GONE in await receive_until(new_page, "new-messages")
    await new_page.disconnect()
    await a.disconnect()


async def test_a_reloaded_page_loses_the_divider_above_what_the_open_page_showed(people, room):
    alice, bob = people
    await sync_to_async(services.post_message)(room, alice, "read before")
    a, old_page = await bob_was_shown_live(room, alice, bob, "shown live")
    browser = Client()
    await sync_to_async(browser.force_login)(bob)
    page = (await sync_to_async(browser.get)(room.get_absolute_url())).content.decode()  # the old page is open
    assert 'id="new-messages"' in page  # placed before the old page recorded anything
    unread_after = int(re.search(r'name="unread_after" value="(\d+)"', page)[1])
    changes = int(re.search(r'name="last_change" value="(\d+)"', page)[1])
    new_page, _, _ = await open_socket(room.slug, bob, catch_up=changes, unread_after=unread_after)
    assert DIVIDER_GONE in await receive_until(new_page, "new-messages")
    await old_page.disconnect()
    assert not any("new-messages" in frame for frame in await drain(new_page))  # moved once
    for socket in (new_page, a):
        await socket.disconnect()


async def test_the_divider_moves_above_the_first_message_no_page_showed(people, room):
    alice, bob = people
    first = await sync_to_async(lambda: services.post_message(room, alice, "read before").message)()
    a, old_page = await bob_was_shown_live(room, alice, bob, "shown live")
    await old_page.disconnect()
    await drain(a)
    unseen = await sync_to_async(lambda: services.post_message(room, alice, "not shown").message)()
    changes = await sync_to_async(last_change)(room)
    new_page, _, _ = await open_socket(room.slug, bob, catch_up=changes, unread_after=first.seq)
    frame = await receive_until(new_page, "new-messages")
    assert DIVIDER_GONE in frame
    assert f'<div hx-swap-oob="beforebegin:#message-{unseen.pk}"><div id="new-messages"' in frame
    assert f'name="unread_after" value="{unseen.seq - 1}"' in frame  # a reconnect claims the new place
    await new_page.disconnect()
    await a.disconnect()


async def test_a_page_without_a_divider_is_sent_none(people, room):
    alice, bob = people
    a, old_page = await bob_was_shown_live(room, alice, bob, "shown live")
    changes = await sync_to_async(last_change)(room)
    new_page, _, _ = await open_socket(room.slug, bob, catch_up=changes)
    await old_page.disconnect()
    assert not any("new-messages" in frame for frame in await drain(new_page, timeout=0.5))
    await new_page.disconnect()
    await a.disconnect()
