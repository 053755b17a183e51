"""The sidebar (chat/live/sidebar.py): unread counts, and renames reaching open pages and sidebars."""

import pytest
from asgiref.sync import sync_to_async

from chat import memberships, rooms, services

from .conftest import logged_in
from .sockets import drain, open_socket, pytest_async, receive_all, receive_until


@pytest_async
async def test_a_rename_reaches_open_pages_and_sidebars_live(people, room):
    admin, alice, bob = people
    elsewhere = await sync_to_async(rooms.create_room)("Elsewhere", alice)
    await sync_to_async(memberships.open_room)(room, alice)  # the room is in Alice's sidebar
    b, _, _ = await open_socket(room.slug, bob)
    a, _, _ = await open_socket(elsewhere.slug, alice)
    await drain(b)
    await drain(a)
    admins = await sync_to_async(logged_in)(admin)
    renamed = await sync_to_async(admins.post)(room.get_absolute_url(), {"rename-name": "Règles"})
    assert renamed.status_code == 302
    seen_by_bob = await receive_all(b, 'id="room-name"', "Règles &middot; Chat")
    assert '<h1 id="room-name" class="room-name" hx-swap-oob="true">Règles</h1>' in seen_by_bob
    seen_by_alice = await receive_until(a, f'id="sidebar-room-{room.pk}"')
    assert ">Règles</a>" in seen_by_alice
    await a.disconnect()
    await b.disconnect()


@pytest.mark.django_db
def test_unread_counts_past_99_read_99_plus(client, make_user):
    reader, writer = make_user("reader"), make_user("writer")
    busy, quiet = rooms.create_room("Busy", writer), rooms.create_room("Quiet", reader)
    client.force_login(reader)
    client.get(busy.get_absolute_url())  # a member now, with everything read
    for i in range(3):
        services.post_message(busy, writer, f"early {i}")
    page = client.get(quiet.get_absolute_url()).content.decode()
    assert '<span class="unread" title="unread messages">3</span>' in page
    assert '<title id="page-title">(3) Quiet' in page
    for i in range(120):
        services.post_message(busy, writer, f"later {i}")
    page = client.get(quiet.get_absolute_url()).content.decode()
    assert '<span class="unread" title="unread messages">99+</span>' in page
    assert '<title id="page-title">(99+) Quiet' in page
