"""Delivery guarantees over the socket: idempotent sends, gap repair, hostile input, concurrent writers."""

import asyncio
import json
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import looks, rooms, services
from chat.live import frames
from chat.models import Message, Room

from .sockets import drain, htmx_frame, open_socket, receive_all, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room(make_user):
    return rooms.create_room("Reliable", make_user("owner"))


async def test_same_client_id_three_times_is_one_row_and_one_delivery(make_user, room):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob)
    client_id = str(uuid.uuid4())
    for _ in range(3):
        await a.send_to(text_data=send_frame("only once", client_id))
    frames_a = await receive_all(a, "only once")
    frames_a += "".join(await drain(a, timeout=0.5))
    frames_b = "".join(await drain(b, timeout=0.5))
    assert frames_a.count("<article") == 1
    assert frames_b.count("<article") == 1
    assert await sync_to_async(Message.objects.filter(body="only once").count)() == 1
    await a.disconnect()
    await b.disconnect()


async def test_a_skipped_sequence_makes_the_consumer_send_the_missing_ones_first(make_user, room):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    b, _, _ = await open_socket(room.slug, bob)
    a, _, _ = await open_socket(room.slug, alice)
    # Stored but never broadcast, as when a channel was over capacity or Redis blinked.
    for i in (1, 2, 3):
        await sync_to_async(services.post_message)(room, alice, f"lost {i}")
    await a.send_to(text_data=send_frame("live 4"))
    frames = await receive_all(b, "live 4")
    order = [frames.index(text) for text in ("lost 1", "lost 2", "lost 3", "live 4")]
    assert order == sorted(order)
    assert frames.count("<article") == 4
    assert 'value="4"' in frames  # the page's catch-up field follows
    await a.disconnect()
    await b.disconnect()


async def test_a_stale_live_frame_is_not_shown_twice(make_user, room):
    alice = await sync_to_async(make_user)("alice")
    message = (await sync_to_async(services.post_message)(room, alice, "already here")).message
    a, _, _ = await open_socket(room.slug, alice, catch_up=1)
    frame = await sync_to_async(frames.render_new_message_frame)(message)
    from chat.live.hub import get_hub

    get_hub().changes.deliver(room.pk, 1, {looks.default().key: frame})  # a late copy of seq 1
    assert not any("already here" in f for f in await drain(a))
    await a.disconnect()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
field_values = st.one_of(st.text(max_size=3000), json_values)
form_frames = st.fixed_dictionaries(
    {},
    optional={
        "message": field_values,
        "client_id": st.one_of(st.uuids().map(str), field_values),
        "last_change": st.one_of(st.integers().map(str), field_values),
        "HEADERS": st.one_of(json_values, st.just({"HX-Trigger": "chat-form"}), st.just({"HX-Trigger": "catch-up"})),
        "extra": json_values,
    },
).map(json.dumps)
raw_frames = st.one_of(
    form_frames,
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(min_size=1, max_size=200),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(raw_frames, min_size=1, max_size=20))
def test_fuzzed_frames_never_crash_the_consumer(room, frames):
    user = room.created_by

    async def run():
        a, _, _ = await open_socket(room.slug, user)  # (rate limit lifted below: this is about input)
        for raw in frames:
            message = {"type": "websocket.receive"}
            message["bytes" if isinstance(raw, bytes) else "text"] = raw
            await a.send_input(message)
        # Frames are handled in order: the marker's delivery proves every one before it was survived.
        marker = f"alive {uuid.uuid4()}"
        await a.send_to(text_data=send_frame(marker))
        await receive_until(a, marker)
        assert not a.future.done(), "the consumer stopped"
        await a.disconnect()

    with override_settings(CHAT_RATE_BURST=10_000):
        asyncio.run(run())


@pytest.mark.timeout(120)
def test_twenty_concurrent_writers_get_gap_free_sequences(make_user, room):
    writers = [make_user() for _ in range(20)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(writers))

    def write(user):
        try:
            start.wait()
            for i in range(50):
                services.post_message(room, user, f"{user.username} {i}", uuid.uuid4())
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(user,)) for user in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 1001))
    assert Room.objects.get(pk=room.pk).last_seq == 1000
    for user in writers:  # each writer's own messages kept their order
        bodies = list(Message.objects.filter(author=user).order_by("seq").values_list("body", flat=True))
        assert bodies == [f"{user.username} {i}" for i in range(50)]


def test_frames_from_the_ws_extension_are_understood():
    # The exact shape htmx-ext-ws 2.0.4 sends (see node_modules/htmx-ext-ws/ws.js).
    from chat.consumers import frame_action, parse_frame

    fields = parse_frame(htmx_frame({"client_id": "x", "message": "hi"}, "chat-form"), None)
    assert frame_action(fields) == "send"  # handled by ChatConsumer.on_send
    assert frame_action(parse_frame(htmx_frame({"last_change": "3"}, "catch-up"), None)) == "catch_up"
