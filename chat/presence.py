"""Who is in a room now: counted by sockets, shared through Redis when there is one.

Each process records its own sockets' users per room. With Redis, every entry
carries an expiry that its process keeps pushing forward; a process that dies
stops doing so and its users drop out within ENTRY_TTL seconds.
"""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings

ENTRY_TTL = 20.0


class LocalPresence:
    """One process (no Redis): this process's sockets are everyone's."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id

    async def publish(self, room_id: int, users: Counter) -> None:
        """Nothing to share: `names` reads this process's own sockets."""

    async def names(self, room_id: int, local: Counter) -> list[str]:
        return sorted({name for _, name in local}, key=str.casefold)


class RedisPresence:
    """Several processes: a sorted set per room of "process|user|name", scored by expiry."""

    def __init__(self, process_id: str) -> None:
        import redis.asyncio

        self.process_id = process_id
        self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)

    def key(self, room_id: int) -> str:
        return f"chat:presence:{room_id}"

    async def publish(self, room_id: int, users: Counter) -> None:
        """Replace this process's entries for a room with its current users, expiring ENTRY_TTL from now."""
        key, prefix = self.key(room_id), f"{self.process_id}|"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebylex(key, f"[{prefix}", f"[{prefix}\xff")
            expires = time.time() + ENTRY_TTL
            if users:
                pipe.zadd(key, {f"{prefix}{user}|{name}": expires for user, name in users})
            pipe.expire(key, int(ENTRY_TTL) + 5)
            await pipe.execute()

    async def names(self, room_id: int, local: Counter) -> list[str]:
        key = self.key(room_id)
        await self.redis.zremrangebyscore(key, "-inf", time.time())
        entries = await self.redis.zrange(key, 0, -1)
        names = {entry.decode().split("|", 2)[2] for entry in entries}
        return sorted(names | {name for _, name in local}, key=str.casefold)


def presence_store(process_id: str) -> LocalPresence | RedisPresence:
    return RedisPresence(process_id) if settings.REDIS_URL else LocalPresence(process_id)
