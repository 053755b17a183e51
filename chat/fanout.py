"""Per-process fan-out of rendered frames to the sockets of a room.

Each server process subscribes to a room's channel-layer group once, with one
channel, however many of its sockets are in that room. A message is rendered
once by the process that stored it, crosses the channel layer once per
process, and is written to every local socket of the room as the same frame.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

ROOM_MESSAGE = "room.message"
# Channels' groups expire after a day; refresh our memberships well before.
GROUP_REFRESH_SECONDS = 3600


class LocalSocket(Protocol):
    async def deliver(self, seq: int, frame: str) -> None: ...

    async def send_frame(self, frame: str) -> None: ...

    async def close_retryable(self) -> None: ...


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
        self.reader: asyncio.Task | None = None

    async def start(self) -> None:
        # The default prefix matters: channels-redis polls one Redis key per
        # layer instance for all of its process-specific channels.
        self.channel = await self.hub.layer.new_channel()
        await self.hub.layer.group_add(self.group, self.channel)
        self.reader = asyncio.create_task(self._read(), name=f"room-{self.room_id}-reader")

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        try:
            await self.hub.layer.group_discard(self.group, self.channel)
        except Exception:  # the layer may be the reason we stop
            logger.info("could not leave %s", self.group, exc_info=True)

    async def _read(self) -> None:
        while True:
            try:
                event = await self.hub.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "channel layer failed for %s; closing its sockets to reconnect", self.group, exc_info=True
                )
                await self.hub.drop(self)
                return
            if event.get("type") == ROOM_MESSAGE:
                await self.deliver(event["seq"], event["frame"])

    async def deliver(self, seq: int, frame: str) -> None:
        for socket in list(self.sockets):
            try:
                await socket.deliver(seq, frame)
            except Exception:
                logger.exception("delivery to a socket failed")


class Hub:
    """All room subscriptions of this process (one hub per event loop)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.rooms: dict[int, RoomSubscription] = {}
        self.lock = asyncio.Lock()
        self.heartbeat: asyncio.Task | None = None

    async def join(self, room_id: int, socket: LocalSocket) -> None:
        async with self.lock:
            subscription = self.rooms.get(room_id)
            if subscription is None:
                subscription = RoomSubscription(self, room_id)
                await subscription.start()
                self.rooms[room_id] = subscription
            subscription.sockets.add(socket)
            if self.heartbeat is None or self.heartbeat.done():
                self.heartbeat = asyncio.create_task(self._beat(), name="chat-heartbeat")

    async def leave(self, room_id: int, socket: LocalSocket) -> None:
        async with self.lock:
            subscription = self.rooms.get(room_id)
            if subscription is None:
                return
            subscription.sockets.discard(socket)
            if not subscription.sockets:
                del self.rooms[room_id]
                await subscription.stop()

    async def drop(self, subscription: RoomSubscription) -> None:
        """The layer failed: forget the room and let its sockets reconnect and catch up."""
        async with self.lock:
            if self.rooms.get(subscription.room_id) is subscription:
                del self.rooms[subscription.room_id]
        for socket in list(subscription.sockets):
            await socket.close_retryable()

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
            for subscription in list(self.rooms.values()):
                for socket in list(subscription.sockets):
                    await socket.send_frame(frame)
                if since_refresh >= GROUP_REFRESH_SECONDS:
                    try:
                        await self.layer.group_add(subscription.group, subscription.channel)
                    except Exception:
                        logger.warning("could not refresh %s", subscription.group, exc_info=True)
            if since_refresh >= GROUP_REFRESH_SECONDS:
                since_refresh = 0.0


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
