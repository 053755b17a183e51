"""The process's hub (chat/live/hub.py) against a real Redis that stops answering, as on a host cut from it: a
broadcast gives up within events.PUBLISH_TIMEOUT_SECONDS and the process's own pages get the message at once."""

import time

import pytest
from asgiref.sync import sync_to_async

from chat import limits, rooms
from chat.live import events, hub

from .sockets import open_socket, pytest_async, receive_all, receive_until, send_frame

pytestmark = pytest_async
COMPOSER = '<form id="chat-form"'  # the fresh composer that answers a post


def redis_layer(url: str) -> dict:
    """The channel layer as project/settings.py configures it when there is Redis (it reaches REDIS_URL)."""
    return {"default": {"BACKEND": "chat.live.bus.RedisPubSubLayer"}}


async def test_posts_on_a_process_whose_redis_went_silent_are_answered_and_shown_here_within_a_second_or_two(
    settings, private_redis, make_user, caplog
):
    settings.REDIS_URL = private_redis.url
    settings.CHANNEL_LAYERS = redis_layer(private_redis.url)
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    room = await sync_to_async(rooms.create_room)("Cut off", alice)
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob)
    await a.send_to(text_data=send_frame("before"))
    await receive_all(b, "before")
    await receive_all(a, "before", COMPOSER)

    private_redis.pause()  # a silent link: the layer's connections have no socket timeout and would wait forever
    try:
        started = time.monotonic()
        await a.send_to(text_data=send_frame("first while cut"))
        await receive_all(a, "first while cut", COMPOSER)
        first = time.monotonic() - started
        await receive_until(b, "first while cut")  # a page of this process: from the hub, not from the layer
        started = time.monotonic()
        await a.send_to(text_data=send_frame("second while cut"))
        await receive_all(a, "second while cut", COMPOSER)
        second = time.monotonic() - started
        await receive_until(b, "second while cut")
    finally:
        private_redis.resume()
    # Flood control's wait and the broadcast's, once; then neither is asked while the outage lasts. Before: the
    # first post waited until Redis answered again.
    assert first < limits.FRAME_TIMEOUT_SECONDS + events.PUBLISH_TIMEOUT_SECONDS + 0.5
    assert second < 0.3
    assert caplog.text.count("handling events locally") == 1
    assert caplog.text.count("rate limiter cannot reach Redis") == 1

    # Redis answers again: once the outage is over (AWAY_SECONDS, or the reader hearing from the layer), posts
    # cross the layer again.
    hub.get_hub().layer_outage.end()
    await a.send_to(text_data=send_frame("after"))
    await receive_all(b, "after")
    await receive_all(a, "after", COMPOSER)
    assert caplog.text.count("handling events locally") == 1
    await a.disconnect()
    await b.disconnect()


@pytest.mark.django_db
def test_a_view_broadcast_gives_up_on_a_silent_redis_within_the_bound(settings, private_redis):
    """A view (a post without JavaScript, an upload, an edit) answers its page even when the layer does not."""
    settings.REDIS_URL = private_redis.url
    settings.CHANNEL_LAYERS = redis_layer(private_redis.url)
    private_redis.pause()
    try:
        started = time.monotonic()
        events.publish_from_sync(events.room_presence(1))
        waited = time.monotonic() - started
    finally:
        private_redis.resume()
    assert waited < events.PUBLISH_TIMEOUT_SECONDS + 0.5
