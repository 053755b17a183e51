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

    async def publish(self, rooms: dict[int, Counter]) -> None:
        """Nothing to share: `names` reads this process's own sockets."""

    async def names(self, rooms: dict[int, Counter]) -> dict[int, list[str]]:
        return {room_id: sorted({name for _, name in local}, key=str.casefold) for room_id, local in rooms.items()}


class RedisPresence:
    """Several processes: a hash per room of "process|user|name" -> expiry time.

    Every call covers many rooms in one round trip: a process refreshes all of
    its rooms every few seconds.
    """

    def __init__(self, process_id: str) -> None:
        from . import shared_redis

        self.process_id = process_id
        self.redis = shared_redis.client()
        self.published: dict[int, set[str]] = {}

    def key(self, room_id: int) -> str:
        return f"chat:presence:{room_id}"

    async def publish(self, rooms: dict[int, Counter]) -> None:
        """Replace this process's entries in each room with its current users, expiring ENTRY_TTL from now."""
        expires = str(time.time() + ENTRY_TTL)
        fields_of = {
            room_id: {f"{self.process_id}|{user}|{name}" for user, name in users} for room_id, users in rooms.items()
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id, fields in fields_of.items():
                key = self.key(room_id)
                if gone := self.published.get(room_id, set()) - fields:
                    pipe.hdel(key, *gone)
                if fields:
                    pipe.hset(key, mapping=dict.fromkeys(fields, expires))
                pipe.expire(key, int(ENTRY_TTL) + 5)
            await pipe.execute()
        for room_id, fields in fields_of.items():
            if fields:
                self.published[room_id] = fields
            else:
                self.published.pop(room_id, None)

    async def names(self, rooms: dict[int, Counter]) -> dict[int, list[str]]:
        """Everyone in each room: entries of every process that have not expired, and this process's own."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in rooms:
                pipe.hgetall(self.key(room_id))
            replies = await pipe.execute()
        result, expired = {}, {}
        for (room_id, local), reply in zip(rooms.items(), replies, strict=True):
            entries = {field.decode(): float(expiry) for field, expiry in reply.items()}
            if stale := [field for field, expiry in entries.items() if expiry < now]:
                expired[self.key(room_id)] = stale
            names = {field.split("|", 2)[2] for field, expiry in entries.items() if expiry >= now}
            result[room_id] = sorted(names | {name for _, name in local}, key=str.casefold)
        if expired:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, fields in expired.items():
                    pipe.hdel(key, *fields)
                await pipe.execute()
        return result


def presence_store(process_id: str) -> LocalPresence | RedisPresence:
    return RedisPresence(process_id) if settings.REDIS_URL else LocalPresence(process_id)
