"""Per-process fan-out of rendered frames to the sockets of this process.

Each server process has one channel-layer channel. It joins the group of
every room that has a socket here, and the group of every user who has a
socket here; it never gives a socket a channel of its own. A message is
rendered once by the process that stored it, crosses the channel layer once
per process, and is written to every local socket of the room as the same
frame.

The database is the record and the layer only the fast path: if the layer
fails (Redis restarts), sockets stay open; the hub subscribes again with
backoff, then fills in from the database what the layer lost.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

from . import services

logger = logging.getLogger(__name__)

ROOM_MESSAGE = "room.message"
USER_SIGNED_OUT = "user.signed_out"
# Channels' groups expire after a day; refresh our memberships well before.
GROUP_REFRESH_SECONDS = 3600
RESUBSCRIBE_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


class LocalSocket(Protocol):
    user_id: int
    synced_seq: int
    catching_up: bool

    async def deliver(self, seq: int, frame: str) -> None: ...

    async def send_frame(self, frame: str) -> None: ...

    async def recheck_sign_in(self) -> None: ...


def room_group(room_id: int) -> str:
    """Channel-layer group of a room: from its primary key, never from user text."""
    return f"chat.room.{room_id}"


def user_group(user_id: int) -> str:
    return f"chat.user.{user_id}"


class Hub:
    """This process's channel, its group memberships and its local sockets (one hub per event loop)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.rooms: dict[int, set[LocalSocket]] = {}
        self.users: dict[int, set[LocalSocket]] = defaultdict(set)
        self.channel = ""
        self.subscribed = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.heartbeat: asyncio.Task | None = None

    # Membership ----------------------------------------------------------------

    async def join(self, room_id: int, socket: LocalSocket) -> None:
        """Add a socket; returns once this process listens to the room, so catch-up cannot miss anything."""
        self._start()
        await self.subscribed.wait()
        new_groups = []
        if room_id not in self.rooms:
            self.rooms[room_id] = set()
            new_groups.append(room_group(room_id))
        if not self.users[socket.user_id]:
            new_groups.append(user_group(socket.user_id))
        self.rooms[room_id].add(socket)
        self.users[socket.user_id].add(socket)
        for group in new_groups:
            await self._group_add(group)

    async def leave(self, room_id: int, socket: LocalSocket) -> None:
        sockets = self.rooms.get(room_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.rooms[room_id]
                await self._group_discard(room_group(room_id))
        user_sockets = self.users.get(socket.user_id)
        if user_sockets is not None:
            user_sockets.discard(socket)
            if not user_sockets:
                del self.users[socket.user_id]
                await self._group_discard(user_group(socket.user_id))

    def sockets_of(self, user_id: int) -> int:
        return len(self.users.get(user_id, ()))

    async def _group_add(self, group: str) -> None:
        try:
            await self.layer.group_add(group, self.channel)
        except Exception:  # the reader notices too, resubscribes everything and fills in
            logger.warning("could not join %s", group, exc_info=True)

    async def _group_discard(self, group: str) -> None:
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception:  # the membership expires on its own
            logger.info("could not leave %s", group, exc_info=True)

    # Publishing ----------------------------------------------------------------

    async def publish(self, room_id: int, seq: int, frame: str) -> None:
        """Send a stored message's frame to every process; locally at least if the layer is down."""
        event = {"type": ROOM_MESSAGE, "room": room_id, "seq": seq, "frame": frame}
        try:
            await self.layer.group_send(room_group(room_id), event)
        except Exception:
            logger.warning("broadcast of room %s seq %s failed; delivering locally", room_id, seq, exc_info=True)
            await self.deliver(room_id, seq, frame)

    async def deliver(self, room_id: int, seq: int, frame: str) -> None:
        for socket in list(self.rooms.get(room_id, ())):
            try:
                await socket.deliver(seq, frame)
            except Exception:
                logger.exception("delivery to a socket failed")

    # Reading -------------------------------------------------------------------

    def _start(self) -> None:
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(self._read(), name="chat-hub-reader")
        if self.heartbeat is None or self.heartbeat.done():
            self.heartbeat = asyncio.create_task(self._beat(), name="chat-heartbeat")

    async def _subscribe(self) -> None:
        # The default prefix matters: channels-redis polls one Redis key per
        # layer instance for all of its process-specific channels.
        channel = await self.layer.new_channel()
        for group in [*map(room_group, self.rooms), *map(user_group, self.users)]:
            await self.layer.group_add(group, channel)
        self.channel = channel

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                if not self.channel:
                    await self._subscribe()
                    self.subscribed.set()
                    if failures:
                        logger.warning("channel layer back; filling in from the database")
                        await self._fill_in()
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if failures == 0:
                    logger.warning("channel layer failed; resubscribing", exc_info=True)
                delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
                failures += 1
                self.channel = ""
                self.subscribed.set()  # sockets may join meanwhile; they are filled in later
                await asyncio.sleep(delay)
                continue
            failures = 0
            await self._dispatch(event)

    async def _dispatch(self, event: dict) -> None:
        kind = event.get("type")
        if kind == ROOM_MESSAGE:
            await self.deliver(event["room"], event["seq"], event["frame"])
        elif kind == USER_SIGNED_OUT:
            for socket in list(self.users.get(event["user"], ())):
                await socket.recheck_sign_in()

    async def _fill_in(self) -> None:
        """Deliver from the database what the sockets may have missed while the layer was down."""
        for room_id, sockets in list(self.rooms.items()):
            synced = [socket.synced_seq for socket in sockets if not socket.catching_up]
            if synced:
                for seq, frame in await database_sync_to_async(services.frames_after)(room_id, min(synced)):
                    await self.deliver(room_id, seq, frame)

    async def _beat(self) -> None:
        interval = settings.CHAT_HEARTBEAT_SECONDS
        frame = render_to_string("chat/_status.html", {"state": "live", "oob": True})
        since_refresh = 0.0
        while True:
            await asyncio.sleep(interval)
            since_refresh += interval
            for sockets in list(self.rooms.values()):
                for socket in list(sockets):
                    await socket.send_frame(frame)
            if since_refresh >= GROUP_REFRESH_SECONDS and self.channel:
                since_refresh = 0.0
                for group in [*map(room_group, self.rooms), *map(user_group, self.users)]:
                    await self._group_add(group)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub


def notify_signed_out(user_id: int) -> None:
    """Tell every process that a user's sessions changed (logout, deactivation); from sync code."""
    from asgiref.sync import async_to_sync

    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": USER_SIGNED_OUT, "user": user_id})
    except Exception:  # each socket still re-checks its session on every frame it receives
        logger.warning("could not announce sign-out of user %s", user_id, exc_info=True)
