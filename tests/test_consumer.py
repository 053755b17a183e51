import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chat import rooms, services
from chat.models import Message

from .sockets import catch_up_frame, drain, open_socket, receive_all, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def lobby(alice):
    return rooms.create_room("Lobby", alice)


async def test_two_sockets_in_a_room_both_receive_a_message(alice, bob, lobby):
    a, _, _ = await open_socket(lobby.slug, alice)
    b, _, _ = await open_socket(lobby.slug, bob)
    await a.send_to(text_data=send_frame("hello <b>bob</b>"))
    received = {a: await receive_all(a, "<article", 'id="chat-form"'), b: await receive_until(b, "<article")}
    for frame in received.values():
        assert 'id="chat-log" hx-swap-oob="beforeend"' in frame
        assert "hello &lt;b&gt;bob&lt;/b&gt;" in frame
        assert '<span class="message-author" title="alice">alice</span>' in frame
    composer = received[a].split('id="chat-form"')[1]
    assert 'hx-swap-oob="true"' in composer and "autofocus" in composer
    assert await sync_to_async(Message.objects.count)() == 1
    await a.disconnect()
    await b.disconnect()


async def test_socket_in_another_room_receives_nothing(alice, bob, lobby):
    other = await sync_to_async(rooms.create_room)("Other", bob)
    a, _, _ = await open_socket(lobby.slug, alice)
    b, _, _ = await open_socket(other.slug, bob)
    await a.send_to(text_data=send_frame("only lobby"))
    await receive_until(a, "only lobby")
    assert not any("only lobby" in frame for frame in await drain(b))
    await a.disconnect()
    await b.disconnect()


async def test_anonymous_socket_is_closed_with_4401(lobby):
    communicator, connected, _ = await open_socket(lobby.slug, None)
    assert connected
    assert (await communicator.receive_output())["code"] == 4401


async def test_unknown_room_is_closed_with_4404(alice):
    communicator, connected, _ = await open_socket("no-such-room", alice, catch_up=None)
    assert connected
    assert (await communicator.receive_output())["code"] == 4404


async def test_japanese_room_socket_works(alice):
    room = await sync_to_async(rooms.create_room)("講義", alice)
    a, _, _ = await open_socket(room.slug, alice)
    await a.send_to(text_data=send_frame("こんにちは"))
    assert "こんにちは" in await receive_until(a, "<article")
    await a.disconnect()


BAD_FRAMES = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "not a form"),
    ("", "not valid JSON"),
    (json.dumps({"message": ""}), "Type a message"),
    (json.dumps({"message": "   "}), "Type a message"),
    (json.dumps({"message": "x" * 2001}), "at most 2000 characters"),
    (json.dumps({"message": 42}), "must be text"),
    (json.dumps({"message": ["a", "b"]}), "must be text"),
    (json.dumps({"message": "hi", "client_id": "not-a-uuid"}), "valid UUID"),
    ("[" * 100000 + "]" * 100000, "too large"),
    ("[" * 20000 + "]" * 20000, "not valid JSON"),
]


@pytest.mark.parametrize(("raw", "error"), BAD_FRAMES)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(alice, bob, lobby, raw, error):
    a, _, _ = await open_socket(lobby.slug, alice)
    b, _, _ = await open_socket(lobby.slug, bob)
    await a.send_input({"type": "websocket.receive", "text": raw})  # send_to refuses an empty frame
    frame = await receive_until(a, 'id="composer-error"')
    assert error in frame
    assert not any("<article" in f for f in await drain(b))
    assert await sync_to_async(Message.objects.count)() == 0
    await a.send_to(text_data=send_frame("still here"))
    assert "still here" in await receive_until(b, "<article")
    await a.disconnect()
    await b.disconnect()


async def test_binary_frame_gets_an_error(alice, lobby):
    a, _, _ = await open_socket(lobby.slug, alice)
    await a.send_to(bytes_data=b"\x00\x01")
    assert "Binary frames" in await receive_until(a, 'id="composer-error"')
    await a.disconnect()


async def test_catch_up_sends_what_the_page_missed(alice, lobby):
    for i in range(3):
        await sync_to_async(services.post_message)(lobby, alice, f"missed {i}")
    a, _, _ = await open_socket(lobby.slug, alice, catch_up=1)
    frame = await receive_until(a, "<article")
    assert "missed 0" not in frame
    assert frame.index("missed 1") < frame.index("missed 2")
    assert 'value="3"' in frame
    await a.disconnect()


@override_settings(CHAT_CATCH_UP_MAX_MESSAGES=55)
async def test_catch_up_after_a_longer_absence_than_it_covers_resets_the_log(alice, lobby):
    for i in range(60):
        await sync_to_async(services.post_message)(lobby, alice, f"m{i}")
    a, _, _ = await open_socket(lobby.slug, alice, catch_up=2)
    frame = "".join(await drain(a, timeout=1))
    assert frame.index('<div id="chat-log" hx-swap-oob="innerHTML">') < frame.index("<article")
    assert 'id="load-older"' in frame
    assert re.findall(r">(m\d+)</p>", frame) == [f"m{i}" for i in range(10, 60)]
    await a.disconnect()


async def test_live_messages_wait_for_catch_up_and_are_not_doubled(alice, bob, lobby):
    b, _, _ = await open_socket(lobby.slug, bob, catch_up=None)
    a, _, _ = await open_socket(lobby.slug, alice)
    await a.send_to(text_data=send_frame("raced"))
    await receive_until(a, "raced")
    assert not any("raced" in f for f in await drain(b))  # held until the page says what it has
    await b.send_to(text_data=catch_up_frame(0))
    frames = await drain(b, timeout=0.5)
    assert sum(f.count("raced") for f in frames) == 1
    await a.disconnect()
    await b.disconnect()
