"""Who is in a room now: counted by sockets, shared through Redis when there is one.

Each process records its own sockets' users per room. With Redis, every entry
carries an expiry time that its process keeps pushing forward; a process that dies
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
    """Several processes: a hash per room of "process|user|name" -> expiry time."""

    def __init__(self, process_id: str) -> None:
        import redis.asyncio

        self.process_id = process_id
        self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        self.published: dict[int, set[str]] = {}

    def key(self, room_id: int) -> str:
        return f"chat:presence:{room_id}"

    async def publish(self, room_id: int, users: Counter) -> None:
        """Replace this process's entries for a room with its current users, expiring ENTRY_TTL from now."""
        key = self.key(room_id)
        fields = {f"{self.process_id}|{user}|{name}" for user, name in users}
        gone = self.published.get(room_id, set()) - fields
        async with self.redis.pipeline(transaction=True) as pipe:
            if gone:
                pipe.hdel(key, *gone)
            if fields:
                expires = str(time.time() + ENTRY_TTL)
                pipe.hset(key, mapping=dict.fromkeys(fields, expires))
            pipe.expire(key, int(ENTRY_TTL) + 5)
            await pipe.execute()
        if fields:
            self.published[room_id] = fields
        else:
            self.published.pop(room_id, None)

    async def names(self, room_id: int, local: Counter) -> list[str]:
        key, now = self.key(room_id), time.time()
        entries = {field.decode(): float(expiry) for field, expiry in (await self.redis.hgetall(key)).items()}
        expired = [field for field, expiry in entries.items() if expiry < now]
        if expired:
            await self.redis.hdel(key, *expired)
        names = {field.split("|", 2)[2] for field, expiry in entries.items() if expiry >= now}
        return sorted(names | {name for _, name in local}, key=str.casefold)


def presence_store(process_id: str) -> LocalPresence | RedisPresence:
    return RedisPresence(process_id) if settings.REDIS_URL else LocalPresence(process_id)
