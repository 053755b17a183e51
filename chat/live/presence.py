"""Who is in a room now: counted by sockets, shared through Redis when there is one.

Each process records its own sockets' users per room. With Redis, every entry
carries an expiry time that its process keeps pushing forward; a process that dies
stops doing so and its users drop out within ENTRY_TTL seconds. Joins and leaves are
recorded and shown together (PRESENCE_DEBOUNCE_SECONDS), and rendered once per room
and look. Each entry also carries its page's look (language and zone, looks.py): what
every process reads here tells the process that stores a message which looks to
render it in (hub.Hub.looks_of).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

from .. import shared_redis
from ..looks import Look, PerLook
from . import frames
from .bursts import bursts
from .events import room_presence

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

logger = logging.getLogger(__name__)

ENTRY_TTL = 20.0
REFRESH_SECONDS = 5.0
# Joins and leaves within this window are recorded and shown together: a
# thousand reconnecting sockets cost a few presence updates, not a thousand.
PRESENCE_DEBOUNCE_SECONDS = 1.0
# While sockets pour in by the thousand (bursts.py), each room's presence would be shown to all its pages
# every second; they see it settle a few times instead (bench/README.md, "Issue 17").
BURST_DEBOUNCE_SECONDS = 4.0
PRESENCE_SHOWN = 100


class Presence:
    """This process's side of presence: record its users, show everyone's, debounced."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.store = presence_store(hub.process_id)
        self.shown: dict[int, list[str]] = {}
        self.frames: dict[int, PerLook] = {}
        self.looks: dict[int, set[Look]] = {}  # room -> the looks of its pages in every process, as last read
        self.pending: dict[str, set[int]] = {"record": set(), "show": set()}

    def changed(self, room_id: int) -> None:
        """A socket of this process joined or left the room."""
        self._soon("record", room_id)

    def forget(self, room_id: int) -> None:
        """The room's last local socket left."""
        self.shown.pop(room_id, None)
        self.frames.pop(room_id, None)
        self.looks.pop(room_id, None)

    async def room_presence(self, event: dict) -> None:
        self._soon("show", event["room"])

    def frame_for(self, socket: LocalSocket) -> str:
        frame = self.frames.get(socket.room_id)
        return frame(socket.look) if frame else ""

    def _local(self, room_id: int) -> Counter:
        viewers = self.hub.viewers.get(room_id, ())
        return Counter((socket.user_id, socket.look.key, socket.display_name) for socket in viewers)

    def _soon(self, kind: str, room_id: int) -> None:
        """Record ("record") or show ("show") a room's presence after the debounce window."""
        pending = self.pending[kind]
        if not pending:
            delay = BURST_DEBOUNCE_SECONDS if bursts.holding else PRESENCE_DEBOUNCE_SECONDS
            asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self._flush(kind)))
        pending.add(room_id)

    async def _flush(self, kind: str) -> None:
        rooms, self.pending[kind] = self.pending[kind], set()
        if kind == "show":
            await self._show(rooms)
            return
        await self._record(rooms)
        for room_id in rooms:
            await self.hub.publish(room_presence(room_id))

    async def _record(self, rooms: set[int] | list[int]) -> None:
        """Store this process's users of these rooms where every process reads them."""
        try:
            await self.store.publish({room_id: self._local(room_id) for room_id in rooms})
        except Exception:
            logger.warning("could not record presence in rooms %s", sorted(rooms), exc_info=True)

    async def _show(self, rooms: set[int] | list[int], only_if_changed: bool = False) -> None:
        viewers = self.hub.viewers
        local = {room_id: self._local(room_id) for room_id in rooms if room_id in viewers}
        if not local:
            return
        try:
            read = await self.store.read(local)
        except Exception:
            logger.warning("could not read presence in rooms %s", sorted(local), exc_info=True)
            return
        for room_id, (names, looks) in read.items():
            if room_id not in viewers:
                continue
            self.looks[room_id] = looks
            if only_if_changed and self.shown.get(room_id) == names:
                continue
            self.shown[room_id] = names
            frame = self.frames[room_id] = PerLook(partial(frames.presence, names, PRESENCE_SHOWN))
            for socket in viewers.get(room_id, ()):
                socket.feed.push(frame(socket.look))

    async def run(self) -> None:
        """Keep this process's entries alive, and notice other processes' users leaving or dying."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            rooms = list(self.hub.viewers)
            await self._record(rooms)
            await self._show(rooms, only_if_changed=True)


class LocalPresence:
    """One process (no Redis): this process's sockets are everyone's."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id

    async def publish(self, rooms: dict[int, Counter]) -> None:
        """Nothing to share: `names` reads this process's own sockets."""

    async def read(self, rooms: dict[int, Counter]) -> dict[int, tuple[list[str], set[Look]]]:
        return {room_id: _names_and_looks(local) for room_id, local in rooms.items()}


class RedisPresence:
    """Several processes: a hash per room of "process|user|look|name" -> expiry time.

    Every call covers many rooms in one round trip: a process refreshes all of
    its rooms every few seconds.
    """

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self.redis = shared_redis.client()
        self.published: dict[int, set[str]] = {}

    def key(self, room_id: int) -> str:
        return f"chat:presence:{room_id}"

    async def publish(self, rooms: dict[int, Counter]) -> None:
        """Replace this process's entries in each room with its current users, expiring ENTRY_TTL from now."""
        expires = str(time.time() + ENTRY_TTL)
        fields_of = {
            room_id: {f"{self.process_id}|{user}|{look}|{name}" for user, look, name in users}
            for room_id, users in rooms.items()
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

    async def read(self, rooms: dict[int, Counter]) -> dict[int, tuple[list[str], set[Look]]]:
        """Everyone in each room and their pages' looks: entries of every process that have not expired, and this
        process's own."""
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
            others = Counter(_entry(field) for field, expiry in entries.items() if expiry >= now)
            result[room_id] = _names_and_looks(local + others)
        if expired:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, fields in expired.items():
                    pipe.hdel(key, *fields)
                await pipe.execute()
        return result


def _entry(field: str) -> tuple[str, str, str]:
    """(user, look key, name) of a field "process|user|look|name"; a process of the version before looks (during
    a rolling restart) writes "process|user|name", whose name may hold a "|": it has no look ("")."""
    _process, user, rest = field.split("|", 2)
    key, _, name = rest.partition("|")
    if name and Look.from_key(key).is_real():
        return user, key, name
    return user, "", rest


def _names_and_looks(users: Counter) -> tuple[list[str], set[Look]]:
    """(user, look key, name) entries: the names, sorted, and the looks."""
    names = sorted({name for _, _, name in users}, key=str.casefold)
    return names, {Look.from_key(key) for _, key, _ in users if key}


def presence_store(process_id: str) -> LocalPresence | RedisPresence:
    return RedisPresence(process_id) if shared_redis.configured() else LocalPresence(process_id)
