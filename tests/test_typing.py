"""Who is typing (chat/live/typing.py)."""

import pytest

from .sockets import htmx_frame, open_socket, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_typing_frames_reach_others_but_not_the_typist(people, room):
    _, alice, bob = people
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob)
    await a.send_to(text_data=htmx_frame({"action": "typing", "message": "hel"}, "chat-message-input"))
    assert "alice is typing…" in await receive_until(b, "is typing")
    await b.disconnect()
    await a.disconnect()
