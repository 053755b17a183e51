"""This process's channel on the channel layer, its group memberships and its local sockets.

Each server process has one channel-layer channel. It joins the group of every room
that a socket here shows or lists in its sidebar, and the group of every user with a
socket here; it never gives a socket a channel of its own. An event crosses the layer
once per process and is dispatched by its `type` to the features (events.py): a
message is rendered once by the process that stored it and queued for every local
page of the room as the same frame.

The database is the record and the layer only the fast path: if the layer fails
(Redis restarts), sockets stay open; the hub subscribes again with backoff, then the
features fill in from the database what the layer lost (changes.Changes).

About 320 lines, a little over the ~300 we aim at: the Hub class (its reason below) and the LocalSocket protocol
every feature reads.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
import weakref
from collections import Counter, defaultdict
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from chat.looks import Look, rendering
from chat.memberships import NO_UNREAD
from chat.metrics import LAYER_RECONNECTS, measure_event_loop_lag
from chat.shared_redis import Outage

from .changes import Changes
from .events import PUBLISH_TIMEOUT_SECONDS, group_of, room_group, user_group
from .feed import Feed
from .heartbeat import Heartbeat
from .members import Members
from .presence import Presence
from .reading import Reading
from .sessions import Sessions
from .sidebar import Sidebar
from .typing import Typing
from .writer import Writer

logger = logging.getLogger(__name__)

# The in-memory layer's groups expire after a day; refresh our memberships well before (a Pub/Sub subscription,
# chat/live/bus.py, does not expire, and subscribing again costs nothing).
GROUP_REFRESH_SECONDS = 3600
RESUBSCRIBE_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
# Channel-layer calls (group joins, leaves, sends) a process makes at once: a send takes a
# pooled connection (shared_redis.MAX_CONNECTIONS), and a reconnect storm joins a group for
# every socket. The reader's receive is not counted.
LAYER_CALLS = 32


class LocalSocket(Protocol):
    """A page's socket as the hub and the features see it (consumers.ChatConsumer)."""

    user_id: int
    display_name: str  # what others see of the reader (presence, typing)
    room_id: int
    session_digest: str
    # room id -> (unread messages, unread mentions) for the sidebar; replaced when they move
    sidebar_counts: dict[int, tuple[int, int]]
    heartbeat_phase: int
    room_is_open: bool  # an open room: anyone may see it, so nobody's access to it is re-checked
    look: Look  # the reader's language and zone: every frame the page is sent is rendered in it
    feed: Feed

    async def send_frame(self, frame: str) -> None: ...

    async def sign_out(self) -> None: ...

    async def revoke(self, reason: str) -> None: ...


class Hub:
    """One per event loop (get_hub). Features hold their own state; the hub holds who is where.

    About 215 lines, over the ~200 we aim at: who is where (viewers, watchers, users), the
    groups that follow from it and the reader that dispatches into it change together;
    split, each half would write the other's indexes.
    """

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.process_id = uuid.uuid4().hex
        self.channel = ""
        self.subscribed = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.layer_calls = asyncio.Semaphore(LAYER_CALLS)
        self.layer_outage = Outage()  # publish skips the layer while it is ongoing
        # Sockets' access checks from before this (time.monotonic()) are not trusted: announcements of sessions or
        # access that ended may have been lost while the layer was away (consumers.ChatConsumer.access_is_fresh).
        self.access_trusted_since = 0.0
        self.viewers: dict[int, set[LocalSocket]] = defaultdict(set)  # room -> sockets showing it
        self.watchers: dict[int, set[LocalSocket]] = defaultdict(set)  # room -> sockets listing it
        self.users: dict[int, set[LocalSocket]] = defaultdict(set)
        self.slots: Counter[int] = Counter()  # user -> sockets opened here and not yet closed
        self.room_names: dict[int, tuple[str, str]] = {}  # room -> (name, slug)
        self.writer = Writer()
        self.changes = Changes(self)
        self.sidebar = Sidebar(self)
        self.typing = Typing(self)
        self.presence = Presence(self)
        self.heartbeat = Heartbeat(self)
        self.sessions = Sessions(self)
        self.reading = Reading(self)
        self.members = Members(self)
        # In this order for each event: a page gets a change before its badges and typing move.
        self.features: tuple[Any, ...] = (self.changes, self.members, self.sidebar, self.typing, self.presence)
        self.features += (self.heartbeat, self.sessions, self.reading)

    # Who is where --------------------------------------------------------------

    def take_slot(self, user_id: int) -> bool:
        """Count a socket of the user from the moment it opens; False once they have CHAT_MAX_SOCKETS_PER_USER."""
        if self.slots[user_id] >= settings.CHAT_MAX_SOCKETS_PER_USER:
            return False
        self.slots[user_id] += 1
        return True

    def free_slot(self, user_id: int) -> None:
        self.slots[user_id] -= 1
        if self.slots[user_id] <= 0:
            del self.slots[user_id]

    def feed(self, socket: LocalSocket) -> Feed:
        """A new feed for a socket of this process, written by its writer and filled by its catch-ups."""
        restore = lambda: self.restore(socket)  # noqa: E731
        guard = self.members.guard(socket)
        return Feed(socket.room_id, socket.send_frame, self.writer.wake, self.changes, restore, guard, socket.look)

    def restore(self, socket: LocalSocket) -> str:
        """What a refilled page may have missed besides room changes, as it stands now."""
        with rendering(socket.look):
            return "".join(feature.frame_for(socket) for feature in self.features if hasattr(feature, "frame_for"))

    def looks_of(self, room_id: int) -> set[Look]:
        """The looks a change of the room is rendered in: its pages' here, and elsewhere as presence last read."""
        return {socket.look for socket in self.viewers.get(room_id, ())} | self.presence.looks.get(room_id, set())

    def _listened_rooms(self, socket: LocalSocket) -> set[int]:
        return {socket.room_id, *socket.sidebar_counts}

    async def join(self, socket: LocalSocket, room_names: dict[int, tuple[str, str]]) -> None:
        """Add a socket; returns once this process listens to its rooms, so catch-up cannot miss anything."""
        self._start()
        await self.subscribed.wait()
        self.room_names.update(room_names)
        new_groups = [
            room_group(room_id)
            for room_id in self._listened_rooms(socket)
            if room_id not in self.viewers and room_id not in self.watchers
        ]
        if socket.user_id not in self.users:
            new_groups.append(user_group(socket.user_id))
        self.heartbeat.add(socket)
        self.viewers[socket.room_id].add(socket)
        for room_id in socket.sidebar_counts:
            self.watchers[room_id].add(socket)
        self.users[socket.user_id].add(socket)
        for group in new_groups:
            await self._group_add(group)
        self.presence.changed(socket.room_id)

    async def leave(self, socket: LocalSocket) -> None:
        for index, room_id in [(self.viewers, socket.room_id), *((self.watchers, r) for r in socket.sidebar_counts)]:
            index[room_id].discard(socket)
            if not index[room_id]:
                del index[room_id]
        self.users[socket.user_id].discard(socket)
        gone_groups = [
            room_group(room_id)
            for room_id in self._listened_rooms(socket)
            if room_id not in self.viewers and room_id not in self.watchers
        ]
        if not self.users[socket.user_id]:
            del self.users[socket.user_id]
            gone_groups.append(user_group(socket.user_id))
        if socket.room_id not in self.viewers:
            self.presence.forget(socket.room_id)
        for group in gone_groups:
            await self._group_discard(group)
        self.presence.changed(socket.room_id)

    async def watch(self, socket: LocalSocket, room_id: int, name: str, slug: str) -> None:
        """The room joined the socket's sidebar: count its unread messages there from now on."""
        self.room_names[room_id] = (name, slug)
        socket.sidebar_counts[room_id] = NO_UNREAD
        listened = room_id in self.viewers or room_id in self.watchers
        self.watchers[room_id].add(socket)
        if not listened:
            await self._group_add(room_group(room_id))

    async def unwatch(self, socket: LocalSocket, room_id: int) -> None:
        socket.sidebar_counts.pop(room_id, None)
        self.watchers[room_id].discard(socket)
        if not self.watchers[room_id]:
            del self.watchers[room_id]
            if room_id not in self.viewers:
                await self._group_discard(room_group(room_id))

    def _groups(self) -> list[str]:
        rooms = set(self.viewers) | set(self.watchers)
        return [*map(room_group, rooms), *map(user_group, self.users)]

    async def _group_add(self, group: str) -> None:
        try:
            async with self.layer_calls:
                await self.layer.group_add(group, self.channel)
        except Exception:  # the reader notices too, resubscribes everything and fills in
            logger.warning("could not join %s", group, exc_info=True)

    async def _group_discard(self, group: str) -> None:
        try:
            async with self.layer_calls:
                await self.layer.group_discard(group, self.channel)
        except Exception:  # the membership expires on its own
            logger.info("could not leave %s", group, exc_info=True)

    # Events ----------------------------------------------------------------------

    async def publish(self, event: Any) -> None:
        """Send an event to every process listening to its room or user; handle it here at least if the layer
        is down or does not answer within PUBLISH_TIMEOUT_SECONDS."""
        group = group_of(event)
        if not self.layer_outage.ongoing():
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):  # no task per event, as wait_for makes
                    await self._group_send(group, event)
                return
            except Exception:  # a timeout too: the send is cancelled, and redis-py drops its connection
                self.layer_outage.begin()
                self.access_trusted_since = time.monotonic() + self.layer_outage.seconds
                logger.warning("broadcast to %s failed; handling events locally for a while", group, exc_info=True)
        await self.dispatch(event)

    async def _group_send(self, group: str, event: Any) -> None:
        async with self.layer_calls:
            await self.layer.group_send(group, event)

    async def dispatch(self, event: dict) -> None:
        """Hand an event to each feature that has a handler named after its type ("room.change": room_change)."""
        kind = str(event.get("type", ""))
        if not kind.startswith(("room.", "user.")):
            return
        name = kind.replace(".", "_")
        for feature in self.features:
            handler = getattr(feature, name, None)
            if handler is not None:
                await handler(event)

    def _start(self) -> None:
        if not self.tasks or any(task.done() for task in self.tasks):
            for task in self.tasks:
                task.cancel()
            loops = [self._read(), self._refresh_groups(), measure_event_loop_lag()]
            loops += [feature.run() for feature in self.features if hasattr(feature, "run")]
            # In a context of their own, not the joining consumer's: its reader's look is not the hub's.
            self.tasks = [asyncio.create_task(loop, context=contextvars.Context()) for loop in loops]

    async def _subscribe(self) -> None:
        # The default prefix matters: channels-redis polls one Redis key per
        # layer instance for all of its process-specific channels.
        channel = await self.layer.new_channel()
        for group in self._groups():
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
                        self.access_trusted_since = time.monotonic()
                        logger.warning("channel layer back; filling in from the database")
                        self.layer_outage.end()
                        LAYER_RECONNECTS.inc()
                        await self.changes.fill_in()
                event = await self.layer.receive(self.channel)
                self.layer_outage.end()  # the layer answers: broadcast through it again
            except asyncio.CancelledError:
                raise
            except Exception:
                self.access_trusted_since = float("inf")  # until subscribed again: every frame checks
                if failures == 0:
                    logger.warning("channel layer failed; resubscribing", exc_info=True)
                delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
                failures += 1
                self.channel = ""
                self.subscribed.set()  # sockets may join meanwhile; they are filled in later
                await asyncio.sleep(delay)
                continue
            failures = 0
            try:
                await self.dispatch(event)
            except Exception:
                logger.exception("could not handle %s", event.get("type"))

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            if self.channel:
                for group in self._groups():
                    await self._group_add(group)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
