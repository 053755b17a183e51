"""The chat's own Redis clients (flood control, presence, readiness), besides the channel layer's.

Redis is one server (REDIS_URL) or the master that Redis Sentinel names (REDIS_SENTINELS,
project/redis_env.py): a sentinel-managed connection asks the sentinels where the master is
whenever it connects, so after a failover the next call reaches the new master.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings

# A reconnect storm asks Redis something for every socket at once; past this many
# connections a call waits (up to WAIT_SECONDS) for a free one instead of failing
# (redis-py's default pool raises "Too many connections" at 100). Callers treat a
# failure as Redis being away.
MAX_CONNECTIONS = 32
WAIT_SECONDS = 5
TIMEOUT_SECONDS = 2

# After a call to Redis failed or timed out, a caller that can do without Redis (flood control's per-process
# buckets, the hub's local delivery) skips it for this long instead of waiting on it again for every frame. A
# host cut from Redis (tests/deploy/test_partition.py) had every frame of a page wait on one silent link in
# turn: its posts reached the pages up to 15 s late.
AWAY_SECONDS = 5.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = weakref.WeakKeyDictionary()


class BlockingSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool):
    """Connections to the master Sentinel names, waiting for a free one as BlockingConnectionPool does."""


class Outage:
    """Whether one kind of call to Redis failed lately: its caller then does without Redis for AWAY_SECONDS."""

    def __init__(self, seconds: float = AWAY_SECONDS) -> None:
        self.seconds = seconds
        self.until = 0.0

    def ongoing(self) -> bool:
        return time.monotonic() < self.until

    def begin(self) -> None:
        """A call failed: skip Redis until `seconds` from now (then the next call tries it again)."""
        self.until = time.monotonic() + self.seconds

    def end(self) -> None:
        self.until = 0.0


def configured() -> bool:
    """Whether the chat has Redis (REDIS_URL or REDIS_SENTINELS): otherwise one process, in memory."""
    return bool(settings.REDIS_URL or settings.REDIS_SENTINELS)


def client() -> redis.asyncio.Redis:
    """This event loop's client: one pool per loop, shared by everything the chat asks Redis."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        options: dict[str, Any] = {
            "max_connections": MAX_CONNECTIONS,
            "timeout": WAIT_SECONDS,
            "socket_timeout": TIMEOUT_SECONDS,
            "socket_connect_timeout": TIMEOUT_SECONDS,
        }
        pool: redis.asyncio.ConnectionPool
        if settings.REDIS_SENTINELS:
            sentinel = redis.asyncio.sentinel.Sentinel(
                settings.REDIS_SENTINELS, sentinel_kwargs=settings.REDIS_SENTINEL_KWARGS
            )
            options.update(settings.REDIS_MASTER_KWARGS)
            pool = BlockingSentinelPool(settings.REDIS_SENTINEL_MASTER, sentinel, **options)
        else:
            pool = redis.asyncio.BlockingConnectionPool.from_url(settings.REDIS_URL, **options)
        found = _clients[loop] = redis.asyncio.Redis(connection_pool=pool)
    return found


def sync_client(timeout: float = TIMEOUT_SECONDS) -> redis.Redis:
    """A blocking client (sync views, probes) whose calls give up after `timeout` seconds; `close()` closes its pool.

    With Sentinel, finding the master asks the sentinels in turn: each gets a share of `timeout`, so that a
    host cut from all of them still gives up within it (measured: a 1 s /readyz took 3 s with 1 s each).
    """
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    share = timeout / max(1, len(settings.REDIS_SENTINELS))
    return redis.Redis.from_pool(sync_pool({"socket_timeout": share, "socket_connect_timeout": share}, **options))


def sync_pool(sentinel_timeouts: dict[str, float] | None = None, **options: Any) -> redis.ConnectionPool:
    if settings.REDIS_SENTINELS:
        sentinel_kwargs = {**settings.REDIS_SENTINEL_KWARGS, **(sentinel_timeouts or {})}
        sentinel = redis.sentinel.Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=sentinel_kwargs)
        return redis.sentinel.SentinelConnectionPool(
            settings.REDIS_SENTINEL_MASTER, sentinel, **settings.REDIS_MASTER_KWARGS, **options
        )
    return redis.ConnectionPool.from_url(settings.REDIS_URL, **options)


class CachePool(redis.ConnectionPool):
    """Django's RedisCache `pool_class` with Sentinel (settings.CACHES): its LOCATION is ignored."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Any:
        return sync_pool(**options)
