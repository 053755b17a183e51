"""Who is in a room (chat/live/presence.py)."""

import time
from collections import Counter

import pytest

from chat.live.presence import RedisPresence
from chat.looks import Look

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


async def test_every_process_reads_the_others_users_and_the_looks_of_their_pages(private_redis, settings):
    """What hub.looks_of learns of other processes: a message stored in one is rendered in the others' looks."""
    settings.REDIS_URL = private_redis.url
    one, two = RedisPresence("process-one"), RedisPresence("process-two")
    hanako = Counter({(1, "ja Asia/Tokyo", "はなこ"): 1})
    await one.publish({5: hanako})
    await two.publish({5: Counter({(2, "en America/New_York", "bob"): 2})})
    # A process of the version before looks, mid rolling restart: its user is here, with no look (a "|" in a
    # name once read as the look "Mary Ann").
    await one.redis.hset("chat:presence:5", "process-old|3|Mary Ann|x", str(time.time() + 20))
    names, looks = (await one.read({5: hanako}))[5]
    assert names == ["bob", "Mary Ann|x", "はなこ"]
    assert looks == {Look("ja", "Asia/Tokyo"), Look("en", "America/New_York")}
    await two.publish({5: Counter()})  # bob's pages closed
    await one.redis.hdel("chat:presence:5", "process-old|3|Mary Ann|x")  # and the old process stopped
    assert (await one.read({5: hanako}))[5] == (["はなこ"], {Look("ja", "Asia/Tokyo")})
