"""The chat's own Redis client (flood control, presence), besides the channel layer's."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio
from django.conf import settings

# A reconnect storm asks Redis something for every socket at once; past this many
# connections a call waits (up to WAIT_SECONDS) for a free one instead of failing
# (redis-py's default pool raises "Too many connections" at 100). Callers treat a
# failure as Redis being away.
MAX_CONNECTIONS = 32
WAIT_SECONDS = 5

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = weakref.WeakKeyDictionary()


def client() -> redis.asyncio.Redis:
    """This event loop's client: one pool per loop, shared by everything the chat asks Redis."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=MAX_CONNECTIONS,
            timeout=WAIT_SECONDS,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        found = _clients[loop] = redis.asyncio.Redis(connection_pool=pool)
    return found
