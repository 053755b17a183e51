"""Per-process fan-out of rendered frames to the sockets of a room.

Each server process subscribes to a room's channel-layer group once, with one
channel, however many of its sockets are in that room. A message is rendered
once by the process that stored it, crosses the channel layer once per
process, and is written to every local socket of the room as the same frame.

The database is the record and the layer only the fast path: if the layer
fails (Redis restarts), the subscription keeps its sockets open, subscribes
again with backoff, then fills in from the database what the layer lost.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

from . import services

logger = logging.getLogger(__name__)

ROOM_MESSAGE = "room.message"
# Channels' groups expire after a day; refresh our memberships well before.
GROUP_REFRESH_SECONDS = 3600
RESUBSCRIBE_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


class LocalSocket(Protocol):
    synced_seq: int
    catching_up: bool

    async def deliver(self, seq: int, frame: str) -> None: ...

    async def send_frame(self, frame: str) -> None: ...


def room_group(room_id: int) -> str:
    return f"chat.room.{room_id}"


class RoomSubscription:
    """One room's channel-layer channel in this process, and its local sockets."""

    def __init__(self, hub: Hub, room_id: int) -> None:
        self.hub = hub
        self.room_id = room_id
        self.group = room_group(room_id)
        self.sockets: set[LocalSocket] = set()
        self.channel = ""
        # Set once the first subscription attempt is over, so that a socket's
        # catch-up from the database cannot miss what was sent before we listened.
        self.ready = asyncio.Event()
        self.reader = asyncio.create_task(self._read(), name=f"room-{room_id}-reader")

    async def stop(self) -> None:
        self.reader.cancel()
        if self.channel:
            try:
                await self.hub.layer.group_discard(self.group, self.channel)
            except Exception:  # the layer may be down; the membership then expires
                logger.info("could not leave %s", self.group, exc_info=True)

    async def subscribe(self) -> None:
        # The default prefix matters: channels-redis polls one Redis key per
        # layer instance for all of its process-specific channels.
        channel = await self.hub.layer.new_channel()
        await self.hub.layer.group_add(self.group, channel)
        self.channel = channel

    async def refresh(self) -> None:
        if self.channel:
            await self.hub.layer.group_add(self.group, self.channel)

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                if not self.channel:
                    await self.subscribe()
                    self.ready.set()
                    if failures:
                        logger.warning("resubscribed to %s; filling in from the database", self.group)
                        await self.fill_in()
                event = await self.hub.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
                if failures == 0:
                    logger.warning("channel layer failed for %s; resubscribing", self.group, exc_info=True)
                failures += 1
                self.channel = ""
                self.ready.set()
                await asyncio.sleep(delay)
                continue
            failures = 0
            if event.get("type") == ROOM_MESSAGE:
                await self.deliver(event["seq"], event["frame"])

    async def deliver(self, seq: int, frame: str) -> None:
        for socket in list(self.sockets):
            try:
                await socket.deliver(seq, frame)
            except Exception:
                logger.exception("delivery to a socket failed")

    async def fill_in(self) -> None:
        """Deliver from the database what the sockets may have missed while the layer was down."""
        synced = [socket.synced_seq for socket in self.sockets if not socket.catching_up]
        if not synced:
            return
        oldest = min(synced)
        for seq, frame in await database_sync_to_async(services.frames_after)(self.room_id, oldest):
            await self.deliver(seq, frame)


class Hub:
    """All room subscriptions of this process (one hub per event loop)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.rooms: dict[int, RoomSubscription] = {}
        self.heartbeat: asyncio.Task | None = None

    async def join(self, room_id: int, socket: LocalSocket) -> None:
        subscription = self.rooms.get(room_id)
        if subscription is None:
            subscription = self.rooms[room_id] = RoomSubscription(self, room_id)
        subscription.sockets.add(socket)
        if self.heartbeat is None or self.heartbeat.done():
            self.heartbeat = asyncio.create_task(self._beat(), name="chat-heartbeat")
        await subscription.ready.wait()

    async def leave(self, room_id: int, socket: LocalSocket) -> None:
        subscription = self.rooms.get(room_id)
        if subscription is None:
            return
        subscription.sockets.discard(socket)
        if not subscription.sockets:
            del self.rooms[room_id]
            await subscription.stop()

    async def publish(self, room_id: int, seq: int, frame: str) -> None:
        """Send a stored message's frame to every process; locally at least if the layer is down."""
        event = {"type": ROOM_MESSAGE, "seq": seq, "frame": frame}
        try:
            await self.layer.group_send(room_group(room_id), event)
        except Exception:
            logger.warning("broadcast of room %s seq %s failed; delivering locally", room_id, seq, exc_info=True)
            subscription = self.rooms.get(room_id)
            if subscription is not None:
                await subscription.deliver(seq, frame)

    async def _beat(self) -> None:
        interval = settings.CHAT_HEARTBEAT_SECONDS
        frame = render_to_string("chat/_status.html", {"state": "live", "oob": True})
        since_refresh = 0.0
        while self.rooms:
            await asyncio.sleep(interval)
            since_refresh += interval
            refresh = since_refresh >= GROUP_REFRESH_SECONDS
            if refresh:
                since_refresh = 0.0
            for subscription in list(self.rooms.values()):
                for socket in list(subscription.sockets):
                    await socket.send_frame(frame)
                if refresh:
                    try:
                        await subscription.refresh()
                    except Exception:
                        logger.warning("could not refresh %s", subscription.group, exc_info=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
