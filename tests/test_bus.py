"""The channel layer between processes (chat/live/bus.py) on a real Redis: two layers stand for two processes."""

import asyncio

import pytest
from redis.exceptions import ConnectionError

from chat.live.bus import RedisPubSubLayer

from .sockets import pytest_async

pytestmark = pytest_async


@pytest.fixture
def redis_url(settings, private_redis):
    settings.REDIS_URL = private_redis.url
    return private_redis


async def next_event(layer: RedisPubSubLayer, channel: str, seconds: float = 2.0) -> dict:
    return await asyncio.wait_for(layer.receive(channel), seconds)


async def test_an_event_reaches_every_process_in_its_group_and_only_those(redis_url):
    here, there, elsewhere = RedisPubSubLayer(), RedisPubSubLayer(), RedisPubSubLayer()
    mine, theirs, other = await here.new_channel(), await there.new_channel(), await elsewhere.new_channel()
    await here.group_add("chat.room.1", mine)
    await there.group_add("chat.room.1", theirs)
    await elsewhere.group_add("chat.room.2", other)
    event = {"type": "room.change", "room": 1, "change": 7, "frames": {"en|UTC": "<article>é</article>"}}

    await there.group_send("chat.room.1", event)

    assert await next_event(here, mine) == event
    assert await next_event(there, theirs) == event  # the sender's own process too: its pages are in the room
    with pytest.raises(TimeoutError):
        await next_event(elsewhere, other, 0.3)
    await asyncio.gather(*(layer.flush() for layer in (here, there, elsewhere)))


async def test_a_group_left_is_heard_no_more_and_events_keep_their_order(redis_url):
    here, there = RedisPubSubLayer(), RedisPubSubLayer()
    mine = await here.new_channel()
    await here.group_add("chat.room.1", mine)
    await here.group_add("chat.user.5", mine)
    for change in range(1, 51):
        await there.group_send("chat.room.1", {"type": "room.change", "room": 1, "change": change})
    assert [(await next_event(here, mine))["change"] for _ in range(50)] == list(range(1, 51))

    await here.group_discard("chat.room.1", mine)
    await there.group_send("chat.room.1", {"type": "room.change", "room": 1, "change": 51})
    await there.group_send("chat.user.5", {"type": "user.read", "user": 5, "room": 1})
    assert (await next_event(here, mine))["type"] == "user.read"  # the room's change was not heard
    await here.flush()
    await there.flush()


@pytest.mark.parametrize("back_at_once", [False, True])
async def test_a_lost_subscription_is_an_error_for_the_hub_not_a_silent_gap(redis_url, back_at_once):
    """The hub fills in from the database when its receive fails (hub._read); the layer must not hide the loss, not
    even when Redis is back at once and redis-py could reconnect and subscribe again by itself: what was published
    in between would be lost without the hub hearing of it."""
    layer = RedisPubSubLayer()
    channel = await layer.new_channel()
    await layer.group_add("chat.room.1", channel)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.2)
    redis_url.stop()
    if back_at_once:
        redis_url.start()  # the same port: redis-py's retry would find it
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(waiting, 30)
    assert channel not in layer.subscriptions  # the hub makes a new channel and joins its groups again
