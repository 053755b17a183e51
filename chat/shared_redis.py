"""The chat's own Redis clients (flood control, presence), besides the channel layer's."""

from __future__ import annotations

import redis.asyncio
from django.conf import settings

# A reconnect storm asks Redis something for every socket at once; past this many
# connections a call waits for a free one instead of failing (redis-py's default
# pool raises "Too many connections" at 100).
MAX_CONNECTIONS = 32


def connect() -> redis.asyncio.Redis:
    """A client for this event loop, on a pool that makes callers wait rather than fail."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.REDIS_URL, max_connections=MAX_CONNECTIONS, timeout=5, socket_timeout=2, socket_connect_timeout=2
    )
    return redis.asyncio.Redis(connection_pool=pool)
