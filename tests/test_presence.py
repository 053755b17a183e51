"""Who is in a room (chat/live/presence.py)."""

import pytest

from .sockets import open_socket, receive_all, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_presence_frames_list_who_is_here(people, room):
    _, alice, bob = people
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob)
    assert "<li>alice</li><li>bob</li>" in await receive_all(a, "<li>bob</li>")
    await b.disconnect()
    assert "<li>bob</li>" not in await receive_until(a, 'id="presence"')
    await a.disconnect()
