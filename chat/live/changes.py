"""Room changes on their way to pages: live delivery, shared catch-ups, and what the layer lost.

Every new, edited or deleted message and every reaction is one numbered room change
(services.py). A live change goes to every local page of the room (feed.Feed.offer);
a page that connects, skips a number or falls behind is filled in from the database.
Pages reconnecting together (everyone after a deploy) share one catch-up query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from .. import services
from ..looks import Look
from ..metrics import RECONCILIATION_FILLS
from . import frames
from .feed import State

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

logger = logging.getLogger(__name__)

# A catch-up computed for (room, change) serves every page of this process that asks
# the same within this time (a reconnect storm), until the room changes.
CATCH_UP_REUSE_SECONDS = 5.0
CATCH_UP_CACHE_SIZE = 256
CatchUpKey = tuple[int, int | None, Look]
# How often a process checks its rooms' newest changes against what its pages have.
RECONCILE_SECONDS = 5.0


class Changes:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # (room, claimed change, look) -> (reusable until, the catch-up being computed or computed)
        self.catch_ups: dict[CatchUpKey, tuple[float, asyncio.Future]] = {}
        # (room, after, before, look) -> the gap being read: pages that skipped the same changes share one read
        self.gaps: dict[tuple[int, int, int, Look], asyncio.Future] = {}

    async def room_change(self, event: dict) -> None:
        self.deliver(event["room"], event["change"], event["frames"])

    def deliver(self, room_id: int, change: int, frames_by_look: dict[str, str]) -> None:
        """A room change to every local page of the room, each in its look (None if the sender did not render it in
        the page's look: the page reads it from the database)."""
        self._forget_catch_ups(room_id)
        for socket in self.hub.viewers.get(room_id, ()):
            try:
                socket.feed.offer(change, frames_by_look.get(socket.look.key))
            except Exception:
                logger.exception("delivery to a page failed")

    # What the database says a page lacks (feed.Source) ----------------------------------

    async def catch_up(self, room_id: int, claimed: int | None, look: Look) -> tuple[list[frames.Piece], int]:
        """What a page showing the room up to `claimed` lacks, as pieces in its look, and the change it then shows."""
        now, key = time.monotonic(), (room_id, claimed, look)
        entry = self.catch_ups.get(key)
        if entry is None or entry[0] < now:
            if len(self.catch_ups) >= CATCH_UP_CACHE_SIZE:  # claims come from pages: keep only fresh ones
                self.catch_ups = {k: v for k, v in self.catch_ups.items() if v[0] >= now}
                if len(self.catch_ups) >= CATCH_UP_CACHE_SIZE:
                    self.catch_ups.clear()
            future = asyncio.ensure_future(database_sync_to_async(frames.catch_up)(room_id, claimed, look))
            entry = self.catch_ups[key] = (now + CATCH_UP_REUSE_SECONDS, future)
            future.add_done_callback(lambda done: self._forget_failed_catch_up(key, entry))
        return await asyncio.shield(entry[1])

    async def gap(self, room_id: int, after: int, before: int, look: Look) -> tuple[list[frames.Piece], int]:
        """What a live page showing `after` lacks before `before`. Pages of a room that skipped the same changes
        (every page here, when the layer does not bring another process's messages: a host cut from Redis) share
        one read while it runs, instead of each queuing its own in the one thread that sockets read the database
        in."""
        key = (room_id, after, before, look)
        future = self.gaps.get(key)
        if future is None:
            future = self.gaps[key] = asyncio.ensure_future(database_sync_to_async(frames.gap_pieces)(*key))
            future.add_done_callback(lambda done: self.gaps.pop(key, None))
        return await asyncio.shield(future)

    def _forget_failed_catch_up(self, key: CatchUpKey, entry: tuple[float, asyncio.Future]) -> None:
        future = entry[1]
        if (future.cancelled() or future.exception() is not None) and self.catch_ups.get(key) is entry:
            del self.catch_ups[key]

    def _forget_catch_ups(self, room_id: int) -> None:
        """A catch-up computed before a change of its room is out of date."""
        if self.catch_ups:
            self.catch_ups = {key: entry for key, entry in self.catch_ups.items() if key[0] != room_id}

    # What the layer lost ---------------------------------------------------------------

    async def fill_in(self, rooms: dict[int, int] | None = None) -> None:
        """Bring live pages up to the database: every room after a layer outage, or the rooms given
        (room -> change) for pages short of that change. One catch-up per room and distinct
        change, shared by its pages."""
        self.catch_ups.clear()  # computed before the changes the layer lost
        for room_id, sockets in list(self.hub.viewers.items()):
            if rooms is not None and room_id not in rooms:
                continue
            below = rooms[room_id] if rooms is not None else None
            by_change: dict[tuple[int, Look], list[LocalSocket]] = defaultdict(list)
            for socket in sockets:
                feed = socket.feed
                if feed.state is State.LIVE and (below is None or feed.shown < below):
                    by_change[feed.shown, socket.look].append(socket)
            for (change, look), group in by_change.items():
                pieces, synced = await self.catch_up(room_id, change, look)
                if pieces:
                    RECONCILIATION_FILLS.inc()
                for socket in group:
                    socket.feed.apply_catch_up(change, pieces, synced)

    async def run(self) -> None:
        """Fill in what the layer lost without a word.

        Channels' layers drop an event for a channel that is full (or that waited past
        its expiry) with no error, and a page only notices a missing change when a
        later one arrives. So every RECONCILE_SECONDS the process reads each room's
        newest change; pages still short of what the database had one round earlier
        (time enough for any live frame) are filled in from the database.
        """
        expected: dict[int, int] = {}
        viewers = self.hub.viewers
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            try:
                behind = {room: change for room, change in expected.items() if room in viewers}
                if any(socket.feed.shown < behind[room] for room in behind for socket in viewers[room]):
                    logger.warning("filling in changes the channel layer lost in rooms %s", sorted(behind))
                    await self.fill_in(behind)
                expected = await database_sync_to_async(services.newest_changes)(list(viewers))
            except Exception:
                logger.warning("could not compare this process's rooms with the database", exc_info=True)
