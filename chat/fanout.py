"""Per-process fan-out of rendered frames to the sockets of this process.

Each server process has one channel-layer channel. It joins the group of
every room that a socket here shows or lists in its sidebar, and the group of
every user with a socket here; it never gives a socket a channel of its own.
A message is rendered once by the process that stored it, crosses the channel
layer once per process, and is queued for every local socket of the room as
the same frame. Presence, typing and sidebar badges are rendered once per
room (or per distinct count) in each process, never per socket.

Writing: each socket has an outbox; one writer task per process sends each
socket everything queued for it as one frame (htmx swaps every top-level
element of a frame out of band, so frames concatenate). When the process
keeps up, that is one frame per message; under load, messages that arrive
while the writer goes round the sockets share a frame, so the cost per
delivery falls as the rate rises. An outbox that grows past
consumers.MAX_OUTBOX_FRAMES is dropped and its page refilled from the database
in one frame: a page that fell behind costs one query, not a backlog.

The database is the record and the layer only the fast path: if the layer
fails (Redis restarts), sockets stay open; the hub subscribes again with
backoff, then fills in from the database what the layer lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
import weakref
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

from . import frames, services
from .presence import presence_store

logger = logging.getLogger(__name__)

ROOM_CHANGE = "room.change"
ROOM_TYPING = "room.typing"
ROOM_PRESENCE = "room.presence"
USER_SIGNED_OUT = "user.signed_out"
USER_READ = "user.read"
# Channels' groups expire after a day; refresh our memberships well before.
GROUP_REFRESH_SECONDS = 3600
RESUBSCRIBE_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
TYPING_SECONDS = 4.0
PRESENCE_REFRESH_SECONDS = 5.0
# Joins and leaves within this window are recorded and shown together: a
# thousand reconnecting sockets cost a few presence updates, not a thousand.
PRESENCE_DEBOUNCE_SECONDS = 1.0
PRESENCE_SHOWN = 100
# Heartbeats go out a slice of the sockets at a time, not all at once.
HEARTBEAT_SLICES = 10
# The writer returns to the event loop after this many sockets: written frames
# leave, and incoming messages move on and join the frames still to be written.
# A pass over 1,000 sockets without a break holds the loop for ~80 ms and the
# messages behind it stall (bench: 14,000 deliveries/s with 100, 28,000 with 10).
WRITE_SLICE = 10
# A catch-up computed for (room, change) serves every socket of this process that
# asks the same within this time (a reconnect storm), until the room changes.
CATCH_UP_REUSE_SECONDS = 5.0
# Channel-layer calls (group joins, leaves, sends) a process makes at once.
LAYER_CALLS = 32
# How often a process checks its rooms' newest changes against what its sockets have.
RECONCILE_SECONDS = 5.0
CATCH_UP_CACHE_SIZE = 256


class LocalSocket(Protocol):
    user_id: int
    username: str
    room_id: int
    synced_change: int
    catching_up: bool
    # room id -> [unread messages, unread mentions] for the sidebar
    sidebar_counts: dict[int, list[int]]
    heartbeat_phase: int

    def offer(self, change: int, frame: str) -> None:
        """A room change: queue it unless the page has it (or repair a gap first)."""

    def push(self, frame: str) -> None:
        """Queue a frame for the writer."""

    async def write_outbox(self) -> None: ...

    session_digest: str

    async def sign_out(self) -> None: ...

    def apply_catch_up(self, from_change: int, pieces: list[frames.Piece], synced: int) -> None: ...


def room_group(room_id: int) -> str:
    """Channel-layer group of a room: from its primary key, never from user text."""
    return f"chat.room.{room_id}"


def user_group(user_id: int) -> str:
    return f"chat.user.{user_id}"


def change_event(room_id: int, message, frame: str, new: bool) -> dict:
    event = {"type": ROOM_CHANGE, "room": room_id, "change": message.change, "frame": frame}
    if new:
        event.update(seq=message.seq, author=message.author_id, mentions=[int(i) for i in message.mention_ids.split()])
    return event


def capped(*counts: int) -> tuple[int, ...]:
    """Counts as the page shows them: past 99 they all read "99+" (and share one cached rendering)."""
    return tuple(min(count, services.UNREAD_COUNTED) for count in counts)


@lru_cache(maxsize=4096)
def badge_frame(room_id: int, room_name: str, slug: str, unread: int, mentions: int) -> str:
    return render_to_string(
        "chat/_room_badge.html",
        {
            "item": {"room": {"pk": room_id, "name": room_name, "slug": slug}, "unread": unread, "mentions": mentions},
            "oob": True,
        },
    )


@lru_cache(maxsize=4096)
def title_frame(room_name: str, unread: int) -> str:
    return render_to_string("chat/_title.html", {"title": room_name, "unread": unread, "oob": True})


@lru_cache(maxsize=1)
def live_status_frame() -> str:
    return render_to_string("chat/_status.html", {"state": "live", "oob": True})


class Hub:
    """This process's channel, its group memberships and its local sockets (one hub per event loop)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.process_id = uuid.uuid4().hex
        self.viewers: dict[int, set[LocalSocket]] = defaultdict(set)  # room -> sockets showing it
        self.watchers: dict[int, set[LocalSocket]] = defaultdict(set)  # room -> sockets listing it
        self.users: dict[int, set[LocalSocket]] = defaultdict(set)
        self.slots: Counter[int] = Counter()  # user -> sockets opened here and not yet closed
        self.typing: dict[int, dict[int, tuple[str, float]]] = defaultdict(dict)  # room -> user -> (name, until)
        self.presence = presence_store(self.process_id)
        self.presence_shown: dict[int, list[str]] = {}
        self.presence_frames: dict[int, str] = {}
        self.presence_pending: dict[str, set[int]] = {"record": set(), "show": set()}
        self.room_names: dict[int, tuple[str, str]] = {}
        self.channel = ""
        self.subscribed = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.joined = 0
        # channels-redis takes a pooled connection per call and fails past 100 at once
        # (redis-py's default): a reconnect storm joins a group for every socket. Joins,
        # leaves and broadcasts wait here instead (the reader's receive is not counted).
        self.layer_calls = asyncio.Semaphore(LAYER_CALLS)
        self.dirty: list[LocalSocket] = []  # sockets with something in their outbox
        self.writer: asyncio.Task | None = None
        # (room, claimed change) -> (reusable until, the catch-up being computed or computed)
        self.catch_ups: dict[tuple[int, int | None], tuple[float, asyncio.Future]] = {}

    # Membership ----------------------------------------------------------------

    def _groups(self) -> list[str]:
        rooms = set(self.viewers) | set(self.watchers)
        return [*map(room_group, rooms), *map(user_group, self.users)]

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
        socket.heartbeat_phase = self.joined % HEARTBEAT_SLICES
        self.joined += 1
        self.viewers[socket.room_id].add(socket)
        for room_id in socket.sidebar_counts:
            self.watchers[room_id].add(socket)
        self.users[socket.user_id].add(socket)
        for group in new_groups:
            await self._group_add(group)
        await self._presence_changed(socket.room_id)

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
            self.presence_shown.pop(socket.room_id, None)
            self.presence_frames.pop(socket.room_id, None)
        for group in gone_groups:
            await self._group_discard(group)
        await self._presence_changed(socket.room_id)

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

    # Publishing ----------------------------------------------------------------

    async def publish(self, group: str, event: dict) -> None:
        """Send an event to every process; handle it here at least if the layer is down."""
        try:
            async with self.layer_calls:
                await self.layer.group_send(group, event)
        except Exception:
            logger.warning("broadcast to %s failed; handling it locally", group, exc_info=True)
            await self._dispatch(event)

    def deliver(self, room_id: int, change: int, frame: str) -> None:
        self._forget_catch_ups(room_id)
        for socket in self.viewers.get(room_id, ()):
            try:
                socket.offer(change, frame)
            except Exception:
                logger.exception("delivery to a socket failed")

    def push_all(self, room_id: int, frame: str) -> None:
        for socket in self.viewers.get(room_id, ()):
            try:
                socket.push(frame)
            except Exception:
                logger.exception("queueing a frame for a socket failed")

    # Writing -------------------------------------------------------------------

    def wake_writer(self, socket: LocalSocket) -> None:
        """A socket's outbox is no longer empty: the writer sends it on its next round."""
        self.dirty.append(socket)
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write(), name="chat-writer")

    async def _write(self) -> None:
        try:
            while self.dirty:
                sockets, self.dirty = self.dirty, []
                for index, socket in enumerate(sockets, 1):
                    try:
                        await socket.write_outbox()
                    except Exception:
                        logger.exception("writing to a socket failed")
                    if index % WRITE_SLICE == 0:
                        await asyncio.sleep(0)
        finally:
            self.writer = None

    def restore_frame(self, socket: LocalSocket) -> str:
        """What a socket's dropped outbox may have carried besides room changes, as it is now."""
        parts = [self.presence_frames.get(socket.room_id, ""), self._typing_frame(socket.room_id, socket.user_id)]
        for room_id, (unread, mentions) in socket.sidebar_counts.items():
            if room_id != socket.room_id:
                name, slug = self.room_names.get(room_id, ("", ""))
                parts.append(badge_frame(room_id, name, slug, *capped(unread, mentions)))
        total = sum(count for count, _ in socket.sidebar_counts.values())
        parts.append(title_frame(self.room_names.get(socket.room_id, ("", ""))[0], *capped(total)))
        return "".join(parts)

    # Catching up -----------------------------------------------------------------

    async def catch_up(self, room_id: int, claimed: int | None) -> tuple[list[frames.Piece], int]:
        """What a page showing the room up to `claimed` lacks, as pieces, and the change it then shows.

        Sockets asking the same at about the same time (everyone reconnecting after a
        deploy) share one query and one rendering.
        """
        now, key = time.monotonic(), (room_id, claimed)
        entry = self.catch_ups.get(key)
        if entry is None or entry[0] < now:
            if len(self.catch_ups) >= CATCH_UP_CACHE_SIZE:  # claims come from pages: keep only fresh ones
                self.catch_ups = {k: v for k, v in self.catch_ups.items() if v[0] >= now}
                if len(self.catch_ups) >= CATCH_UP_CACHE_SIZE:
                    self.catch_ups.clear()
            future = asyncio.ensure_future(database_sync_to_async(frames.catch_up)(room_id, claimed))
            entry = self.catch_ups[key] = (now + CATCH_UP_REUSE_SECONDS, future)
            future.add_done_callback(lambda done: self._forget_failed_catch_up(key, entry))
        return await asyncio.shield(entry[1])

    def _forget_failed_catch_up(self, key: tuple[int, int | None], entry: tuple[float, asyncio.Future]) -> None:
        future = entry[1]
        if (future.cancelled() or future.exception() is not None) and self.catch_ups.get(key) is entry:
            del self.catch_ups[key]

    def _forget_catch_ups(self, room_id: int) -> None:
        """A catch-up computed before a change of its room is out of date."""
        if self.catch_ups:
            self.catch_ups = {key: entry for key, entry in self.catch_ups.items() if key[0] != room_id}

    # Reading -------------------------------------------------------------------

    def _start(self) -> None:
        if not self.tasks or any(task.done() for task in self.tasks):
            for task in self.tasks:
                task.cancel()
            self.tasks = [
                asyncio.create_task(self._read(), name="chat-hub-reader"),
                asyncio.create_task(self._beat(), name="chat-heartbeat"),
                asyncio.create_task(self._refresh_presence(), name="chat-presence"),
                asyncio.create_task(self._reconcile(), name="chat-reconcile"),
            ]

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
            try:
                await self._dispatch(event)
            except Exception:
                logger.exception("could not handle %s", event.get("type"))

    async def _dispatch(self, event: dict) -> None:
        kind = event.get("type")
        if kind == ROOM_CHANGE:
            self.deliver(event["room"], event["change"], event["frame"])
            if "seq" in event:
                self._count_unread(event)
                await self._stop_typing(event["room"], event["author"])
        elif kind == ROOM_TYPING:
            self.typing[event["room"]][event["user"]] = (event["name"], time.monotonic() + TYPING_SECONDS)
            await self._show_typing(event["room"])
            asyncio.get_running_loop().call_later(
                TYPING_SECONDS + 0.05, lambda: asyncio.ensure_future(self._show_typing(event["room"]))
            )
        elif kind == ROOM_PRESENCE:
            self._soon("show", event["room"])
        elif kind == USER_SIGNED_OUT:
            # Closed before the next event is handled: nothing later reaches these sockets.
            ended = event.get("session")
            for socket in list(self.users.get(event["user"], ())):
                if ended is None or socket.session_digest == ended:
                    await socket.sign_out()
        elif kind == USER_READ:
            self._reset_unread(event["user"], event["room"])

    async def _fill_in(self, rooms: dict[int, int] | None = None) -> None:
        """Bring sockets up to the database: every room after a layer outage, or the rooms given
        (room -> change) for sockets short of that change. One catch-up per room and distinct
        sync point, shared by its sockets."""
        self.catch_ups.clear()  # computed before the changes the layer lost
        for room_id, sockets in list(self.viewers.items()):
            if rooms is not None and room_id not in rooms:
                continue
            below = rooms[room_id] if rooms is not None else None
            by_change: dict[int, list[LocalSocket]] = defaultdict(list)
            for socket in sockets:
                if not socket.catching_up and (below is None or socket.synced_change < below):
                    by_change[socket.synced_change].append(socket)
            for change, group in by_change.items():
                pieces, synced = await self.catch_up(room_id, change)
                for socket in group:
                    socket.apply_catch_up(change, pieces, synced)

    async def _reconcile(self) -> None:
        """Fill in what the layer lost without a word.

        Channels' layers drop an event for a channel that is full (or that waited past
        its expiry) with no error, and a page only notices a missing change when a
        later one arrives. So every RECONCILE_SECONDS the process reads each room's
        newest change; sockets still short of what the database had one round
        earlier (time enough for any live frame) are filled in from the database.
        """
        expected: dict[int, int] = {}
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            try:
                behind = {room: change for room, change in expected.items() if room in self.viewers}
                if any(socket.synced_change < behind[room] for room in behind for socket in self.viewers[room]):
                    logger.warning("filling in changes the channel layer lost in rooms %s", sorted(behind))
                    await self._fill_in(behind)
                expected = await database_sync_to_async(services.newest_changes)(list(self.viewers))
            except Exception:
                logger.warning("could not compare this process's rooms with the database", exc_info=True)

    # Sidebar: unread counts of rooms the user is not looking at ---------------------

    def _count_unread(self, event: dict) -> None:
        room_id = event["room"]
        name, slug = self.room_names.get(room_id, ("", ""))
        for socket in list(self.watchers.get(room_id, ())):
            if socket.room_id == room_id or socket.user_id == event["author"]:
                continue
            counts = socket.sidebar_counts[room_id]
            counts[0] += 1
            counts[1] += socket.user_id in event["mentions"]
            self._send_sidebar(socket, room_id, name, slug)

    def _reset_unread(self, user_id: int, room_id: int) -> None:
        name, slug = self.room_names.get(room_id, ("", ""))
        for socket in list(self.users.get(user_id, ())):
            if room_id in socket.sidebar_counts and socket.sidebar_counts[room_id] != [0, 0]:
                socket.sidebar_counts[room_id] = [0, 0]
                self._send_sidebar(socket, room_id, name, slug)

    def _send_sidebar(self, socket: LocalSocket, room_id: int, name: str, slug: str) -> None:
        unread, mentions = socket.sidebar_counts[room_id]
        total = sum(count for count, _ in socket.sidebar_counts.values())
        current_name = self.room_names.get(socket.room_id, ("", ""))[0]
        socket.push(
            badge_frame(room_id, name, slug, *capped(unread, mentions)) + title_frame(current_name, *capped(total))
        )

    # Typing ------------------------------------------------------------------

    async def _stop_typing(self, room_id: int, user_id: int) -> None:
        if self.typing.get(room_id, {}).pop(user_id, None) is not None:
            await self._show_typing(room_id)

    async def _show_typing(self, room_id: int) -> None:
        """One indicator for the room, plus one for each typist that leaves them out."""
        now = time.monotonic()
        typing = {user: entry for user, entry in self.typing.get(room_id, {}).items() if entry[1] > now}
        if typing:
            self.typing[room_id] = typing
        else:
            self.typing.pop(room_id, None)
        frames: dict[int | None, str] = {}
        for socket in list(self.viewers.get(room_id, ())):
            key = socket.user_id if socket.user_id in typing else None
            if key not in frames:
                frames[key] = self._typing_frame(room_id, socket.user_id)
            socket.push(frames[key])

    def _typing_frame(self, room_id: int, viewer: int) -> str:
        """Who is typing in the room, as `viewer` sees it (leaving them out)."""
        others = [name for user, (name, _) in self.typing.get(room_id, {}).items() if user != viewer]
        return render_to_string("chat/_typing.html", {"text": services.typing_text(others), "oob": True})

    # Presence ----------------------------------------------------------------

    def _local_presence(self, room_id: int) -> Counter:
        return Counter((socket.user_id, socket.username) for socket in self.viewers.get(room_id, ()))

    def _soon(self, kind: str, room_id: int) -> None:
        """Record ("record") or show ("show") a room's presence after the debounce window."""
        pending = self.presence_pending[kind]
        if not pending:
            asyncio.get_running_loop().call_later(
                PRESENCE_DEBOUNCE_SECONDS, lambda: asyncio.ensure_future(self._flush_presence(kind))
            )
        pending.add(room_id)

    async def _flush_presence(self, kind: str) -> None:
        rooms, self.presence_pending[kind] = self.presence_pending[kind], set()
        if kind == "show":
            await self._show_presence(rooms)
            return
        await self._record_presence(rooms)
        for room_id in rooms:
            await self.publish(room_group(room_id), {"type": ROOM_PRESENCE, "room": room_id})

    async def _record_presence(self, rooms: set[int] | list[int]) -> None:
        """Store this process's users of these rooms where every process reads them."""
        try:
            await self.presence.publish({room_id: self._local_presence(room_id) for room_id in rooms})
        except Exception:
            logger.warning("could not record presence in rooms %s", sorted(rooms), exc_info=True)

    async def _presence_changed(self, room_id: int) -> None:
        self._soon("record", room_id)

    async def _show_presence(self, rooms: set[int] | list[int], only_if_changed: bool = False) -> None:
        local = {room_id: self._local_presence(room_id) for room_id in rooms if room_id in self.viewers}
        if not local:
            return
        try:
            names_of = await self.presence.names(local)
        except Exception:
            logger.warning("could not read presence in rooms %s", sorted(local), exc_info=True)
            return
        for room_id, names in names_of.items():
            if room_id not in self.viewers or (only_if_changed and self.presence_shown.get(room_id) == names):
                continue
            self.presence_shown[room_id] = names
            frame = render_to_string(
                "chat/_presence.html",
                {"names": names[:PRESENCE_SHOWN], "more": len(names) - PRESENCE_SHOWN, "oob": True},
            )
            self.presence_frames[room_id] = frame
            self.push_all(room_id, frame)

    async def _refresh_presence(self) -> None:
        """Keep this process's entries alive, and notice other processes' users leaving or dying."""
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            rooms = list(self.viewers)
            await self._record_presence(rooms)
            await self._show_presence(rooms, only_if_changed=True)

    # Heartbeat ----------------------------------------------------------------

    async def _beat(self) -> None:
        """Tell every page it is live once per heartbeat interval, a slice of the sockets at a time."""
        tick = settings.CHAT_HEARTBEAT_SECONDS / HEARTBEAT_SLICES
        frame = live_status_frame()
        since_refresh = 0.0
        for beat in itertools.count():
            await asyncio.sleep(tick)
            since_refresh += tick
            phase = beat % HEARTBEAT_SLICES
            for sockets in list(self.viewers.values()):
                for socket in sockets:
                    if socket.heartbeat_phase == phase:
                        try:
                            socket.push(frame)
                        except Exception:
                            logger.exception("queueing a heartbeat failed")
            if since_refresh >= GROUP_REFRESH_SECONDS and self.channel:
                since_refresh = 0.0
                for group in self._groups():
                    await self._group_add(group)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub


def publish_from_sync(group: str, event: dict) -> None:
    """Send an event to every process from sync code (views, signals)."""
    from asgiref.sync import async_to_sync

    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:  # sockets re-check the session on every frame they send, and catch up from the database
        logger.warning("could not publish %s to %s", event.get("type"), group, exc_info=True)


def notify_signed_out(user_id: int, session: str | None = None) -> None:
    """Tell every process that one session of a user ended (`session`: its digest), or all of them (None)."""
    publish_from_sync(user_group(user_id), {"type": USER_SIGNED_OUT, "user": user_id, "session": session})
