"""Room changes reaching pages: frames queued together leave as one, a page too far behind is refilled, and what
the layer dropped is filled in."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat import looks, rooms, services
from chat.live.feed import MAX_OUTBOX_FRAMES
from chat.live.frames import render_new_message_frames
from chat.live.hub import get_hub
from chat.models import Membership, Room

from .sockets import drain, open_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room(make_user):
    return rooms.create_room("Busy", make_user("owner"))


def stored_unsent(room, author, count: int) -> list[tuple[int, dict[str, str]]]:
    """Messages stored as a busy room would, with the frames the hub would carry; nothing is broadcast."""
    frames = []
    for i in range(1, count + 1):
        message = services.post_message(room, author, f"busy {i}").message
        frames.append((message.change, render_new_message_frames(message, {looks.default()})))
    return frames


def bodies(frame: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="message-body">busy (\d+)<', frame)]


async def test_changes_queued_before_the_writer_runs_reach_the_page_as_one_frame_in_order(make_user, room):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)  # caught up on the empty room
    frames = await sync_to_async(stored_unsent)(room, alice, 3)
    hub = get_hub()
    for change, frame in frames:  # three messages arrive while the writer waits for its turn
        hub.changes.deliver(room.pk, change, frame)
    received = await drain(b)
    with_messages = [frame for frame in received if "<article" in frame]
    assert len(with_messages) == 1
    assert bodies(with_messages[0]) == [1, 2, 3]
    # The page's catch-up field ends at the newest change: its last copy in the frame wins.
    assert with_messages[0].rsplit('id="catch-up-last-change"', 1)[1].startswith(' name="last_change" value="3"')
    await b.disconnect()


def join_rooms(user, count: int) -> None:
    rooms = Room.objects.bulk_create([Room(name=f"other {i}", slug=f"other-{i}") for i in range(count)])
    Membership.objects.bulk_create([Membership(user=user, room=other) for other in rooms])


# With many rooms in the sidebar, what the refill re-sends (badges, title) must not overflow again.
@pytest.mark.parametrize("other_rooms", [0, MAX_OUTBOX_FRAMES + 50])
async def test_a_page_too_far_behind_gets_one_refill_from_the_database_not_the_backlog(make_user, room, other_rooms):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    await sync_to_async(join_rooms)(bob, other_rooms)
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)
    count = MAX_OUTBOX_FRAMES + 20
    frames = await sync_to_async(stored_unsent)(room, alice, count)
    hub = get_hub()
    for change, frame in frames:  # more than the outbox holds, all before the writer runs
        hub.changes.deliver(room.pk, change, frame)
    frames = await drain(b, timeout=1)
    received = "".join(frames)
    # Each message once, in order, from one catch-up query (not the backlog), in frames under the limit.
    assert bodies(received) == list(range(1, count + 1))
    assert max(len(frame.encode()) for frame in frames) <= settings.CHAT_MAX_SENT_FRAME_BYTES
    assert received.rsplit('name="last_change" value="', 1)[1].startswith(f'{count}"')
    assert received.count('class="sidebar-room"') >= other_rooms  # the sidebar as it stands, once more
    await b.disconnect()


async def test_changes_whose_events_the_layer_dropped_reach_the_page_unasked(make_user, room, monkeypatch):
    from chat.live import changes

    monkeypatch.setattr(changes, "RECONCILE_SECONDS", 0.2)
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)
    # Stored, but their events never arrive: a full channel drops them without an error.
    await sync_to_async(stored_unsent)(room, alice, 3)
    received = await receive_until(b, "busy 3", timeout=3)
    assert bodies(received) == [1, 2, 3]
    await b.disconnect()
