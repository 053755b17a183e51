"""The chat socket: one consumer per browser tab in a room."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import frames, limits, services
from .accounts import session_digest, session_is_signed_in
from .fanout import ROOM_TYPING, Hub, change_event, get_hub, live_status_frame, room_group
from .forms import CatchUpForm, MessageForm
from .models import Room

logger = logging.getLogger(__name__)

# Close codes: 4xxx are refusals the ws extension does not retry. (daphne,
# through autobahn, cannot send 1011-1013 itself; transient trouble is healed
# without closing: see fanout.py.)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNKNOWN_ROOM = 4404
CLOSE_TOO_MANY_SOCKETS = 4429

# Live frames held while the socket catches up or repairs a gap; past this the
# socket drops them and refills from the database instead.
MAX_PENDING_FRAMES = 1000
# Frames queued for a page that the writer has not sent yet. More means the
# process is far behind: the page is refilled from the database in one frame.
MAX_OUTBOX_FRAMES = 100
# After a frame could not be sent, the page is refilled from the database this much later.
WRITE_RETRY_SECONDS = 1.0

# What a frame asks for: the id of the ws-send form that sent it, or an
# "action" field (hx-vals) on the smaller controls.
SEND = "chat-form"
CATCH_UP = "catch-up"
TYPING = "typing"
REACT = "react"
DELETE = "delete"
ACTIONS = {SEND, CATCH_UP, TYPING, REACT, DELETE}
FIELDS = ("message", "client_id", "last_change", "action", "message_id", "emoji")


class FrameError(Exception):
    """A frame we cannot act on; the message is shown to the sender."""


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub (fanout.py) has one
    # for all. Channels skips a consumer's own channel when its alias names no layer.
    channel_layer_alias = "chat-no-per-socket-channel"

    room: Room | None = None
    room_id: int = 0
    user_id: int = 0
    username: str = ""
    session_digest: str = ""
    hub: Hub
    sidebar_counts: dict[int, list[int]]
    # Newest room change this page shows (once the outbox is written); until the
    # page has told us (catch-up), live frames wait in `pending`.
    synced_change: int = 0
    pending: list[tuple[int, str]] | None = None
    fell_behind = False
    # Pieces for the writer (fanout.Hub), each with the change the page shows once it is
    # written (frames.Piece), and the change the page shows after the last written frame.
    outbox: list[frames.Piece]
    written_change: int = 0
    # Bumped when the outbox is dropped: a gap repair begun before then starts over.
    resets: int = 0
    # Catch-up pieces in the outbox: a bounded batch from the database, not a backlog,
    # so they do not count against MAX_OUTBOX_FRAMES.
    outbox_catch_up = 0
    # A refill starts with the page's presence, typing and badges as they stand.
    restore_needed = False
    _repair: asyncio.Task | None = None
    # The user whose socket count this socket holds a place in (fanout.Hub.take_slot).
    _slot_of: int | None = None

    async def connect(self) -> None:
        # Accept first, then refuse with a 4xxx code: a refused handshake looks
        # like 1006 to the browser, which the ws extension retries forever.
        self.outbox = []
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        hub = get_hub()
        # Counted before the first await: a burst of sockets cannot all pass the check.
        if not hub.take_slot(user.pk):
            await self.refuse("Too many open chat tabs: close some and reload this one.", CLOSE_TOO_MANY_SOCKETS)
            return
        self._slot_of, self.hub = user.pk, hub
        slug = self.scope["url_route"]["kwargs"]["slug"]
        room, self.sidebar_counts, room_names = await database_sync_to_async(services.socket_state)(slug, user)
        if room is None:
            await self.close(code=CLOSE_UNKNOWN_ROOM)
            return
        self.user_id, self.username, self.room_id = user.pk, user.get_username(), room.pk
        self.session_digest = session_digest(self.scope["session_key"])
        self.pending = []
        self.room = room
        await hub.join(self, room_names)
        await self.reply(live_status_frame())

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            self.room = None
            shown, self.outbox = self.written_change, []
            if self._repair is not None:
                self._repair.cancel()
            await self.hub.leave(self)
            if shown:  # the page was sent everything up to here
                await database_sync_to_async(services.mark_read_up_to)(self.user_id, self.room_id, shown)
        if self._slot_of is not None:
            self.hub.free_slot(self._slot_of)
            self._slot_of = None

    # Frames from the page ----------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room is None:
            return
        if not await limits.allow_frame(self.user_id):
            await self.reply(services.render_error("You are sending too fast. Wait a moment and try again."))
            return
        try:
            data = parse_frame(text_data, bytes_data)
            action = frame_action(data)
            # Every frame re-checks the session, but a catch-up: it only reads what this
            # socket is sent anyway, and signing out closes the socket on every process.
            if action != CATCH_UP and not await self.signed_in():
                await self.sign_out()
                return
            if action == CATCH_UP:
                await self.catch_up(data)
            elif action == TYPING:
                await self.typing()
            elif action in (REACT, DELETE):
                await self.change_message(action, data)
            else:
                await self.post(data)
        except (FrameError, services.NotAllowed) as error:
            await self.reply(services.render_error(str(error)))

    async def post(self, data: dict[str, Any]) -> None:
        form = MessageForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        message, frame, created = await database_sync_to_async(self._store)(
            form.cleaned_data["message"], form.cleaned_data["client_id"]
        )
        if created:
            await self.hub.publish(room_group(self.room_id), change_event(self.room_id, message, frame, new=True))
        else:
            # A retried send: already stored and broadcast; show it here if this page lacks it.
            self.offer(message.change, frame)
        await self.reply(services.render_composer(self.room))

    def _store(self, body: str, client_id):
        result = services.post_message(self.room, self.scope["user"], body, client_id)
        return result.message, frames.render_new_message_frame(result.message), result.created

    async def change_message(self, action: str, data: dict[str, Any]) -> None:
        message = await database_sync_to_async(self._change)(action, data)
        frame = await database_sync_to_async(frames.render_update_frame)(message)
        await self.hub.publish(room_group(self.room_id), change_event(self.room_id, message, frame, new=False))

    def _change(self, action: str, data: dict[str, Any]):
        message = services.get_message(self.room, data.get("message_id"))
        if action == DELETE:
            return services.delete_message(message, self.scope["user"])
        return services.toggle_reaction(message, self.scope["user"], data.get("emoji", ""))

    async def typing(self) -> None:
        event = {"type": ROOM_TYPING, "room": self.room_id, "user": self.user_id, "name": self.username}
        await self.hub.publish(room_group(self.room_id), event)

    async def catch_up(self, data: dict[str, Any]) -> None:
        if self.pending is None or self.synced_change:
            return  # already caught up on this socket
        form = CatchUpForm(data)
        # A page that cannot say what it shows is sent the newest page of the log.
        claimed = (form.cleaned_data["last_change"] or 0) if form.is_valid() else None
        pieces, synced = await self.hub.catch_up(self.room_id, claimed)
        if claimed is not None:  # the page itself shows the room up to its claim
            self.written_change = max(self.written_change, min(claimed, synced))
        self.apply_catch_up(self.synced_change, pieces, synced)

    def apply_catch_up(self, from_change: int, pieces: list[frames.Piece], synced: int) -> None:
        """Queue a catch-up computed from `from_change`, unless this socket moved on meanwhile."""
        if self.synced_change != from_change:
            return
        self.synced_change = max(self.synced_change, synced)
        self.push_catch_up(pieces)
        if self.pending is not None:
            self.drain()

    # Live frames from the hub ------------------------------------------------

    def offer(self, change: int, frame: str) -> None:
        """Queue a room frame unless this page has it; repair the gap if some are missing."""
        if self.pending is not None:
            if len(self.pending) < MAX_PENDING_FRAMES:
                self.pending.append((change, frame))
            else:
                self.fell_behind = True
            return
        if change <= self.synced_change:
            return
        if change == self.synced_change + 1:
            self.synced_change = change
            self.push(frame)
            return
        self.pending = [(change, frame)]
        self._repair = asyncio.create_task(self.repair_gap(change))

    async def repair_gap(self, up_to: int | None, delay: float = 0.0) -> None:
        """Queue from the database what this page lacks before `up_to` (or everything newer)."""
        if delay:
            await asyncio.sleep(delay)
        while self.room is not None:
            resets, after = self.resets, self.synced_change
            try:
                if up_to is None:
                    pieces, newest = await self.hub.catch_up(self.room_id, after)
                else:
                    pieces, newest = await database_sync_to_async(frames.gap_frame)(self.room_id, after, up_to)
            except Exception:  # the database is unreachable: live frames keep waiting
                logger.warning("gap repair failed for room %s; retrying", self.room_id, exc_info=True)
                await asyncio.sleep(1)
                continue
            if resets == self.resets:
                break
            up_to = None  # the outbox was dropped meanwhile: fill in from where the page is now
        else:
            return
        if self.restore_needed:
            self.restore_needed = False
            self.push(self.hub.restore_frame(self))
        self.synced_change = max(self.synced_change, newest)
        self.push_catch_up(pieces)
        self.drain()

    @property
    def catching_up(self) -> bool:
        return self.pending is not None

    def drain(self) -> None:
        buffered, self.pending = self.pending or [], None
        if self.fell_behind:  # frames were dropped: the database has them all
            self.fell_behind = False
            self.pending = []
            self._repair = asyncio.create_task(self.repair_gap(None))
            return
        for index, (change, frame) in enumerate(buffered):
            self.offer(change, frame)
            if self.pending is not None:  # a gap repair started: it takes the rest
                self.pending.extend(buffered[index + 1 :])
                return

    # Writing -----------------------------------------------------------------

    def push(self, frame: str) -> None:
        """Queue a frame; the hub's writer sends it with whatever else is queued for this page."""
        outbox = self.outbox
        if not outbox:
            self.hub.wake_writer(self)
        outbox.append((frame, self.synced_change))
        if len(outbox) - self.outbox_catch_up > MAX_OUTBOX_FRAMES:
            logger.info("socket in room %s fell %s frames behind; refilling it", self.room_id, len(outbox))
            self.refill()

    def push_catch_up(self, pieces: list[frames.Piece]) -> None:
        """Queue what the database says the page lacks, each piece with the change the page shows after it."""
        if pieces:
            if not self.outbox:
                self.hub.wake_writer(self)
            self.outbox.extend(pieces)
            self.outbox_catch_up += len(pieces)

    async def write_outbox(self) -> None:
        """Send what is queued, in frames under the size limit; the page's position moves only once a frame is sent."""
        queued, self.outbox, self.outbox_catch_up = self.outbox, [], 0
        for frame, shown in frames.pack(queued, settings.CHAT_MAX_SENT_FRAME_BYTES):
            try:
                await self.send(text_data=frame)
            except Exception:
                if self.room is not None:
                    logger.warning(
                        "a frame to a socket in room %s was not sent; refilling it", self.room_id, exc_info=True
                    )
                    self.refill(delay=WRITE_RETRY_SECONDS)
                return
            self.written_change = max(self.written_change, shown)

    async def reply(self, frame: str) -> None:
        """A frame for this page alone (its composer, an error): sent now, after what was queued before it."""
        self.outbox.append((frame, self.synced_change))  # written here and now: the writer need not come by
        await self.write_outbox()

    def refill(self, delay: float = 0.0) -> None:
        """Forget what is queued and refill the page from the database, from what it was last sent."""
        self.outbox, self.outbox_catch_up = [], 0
        self.synced_change = self.written_change
        self.resets += 1
        self.restore_needed = True
        if self.pending is None:
            self.pending = []
            self._repair = asyncio.create_task(self.repair_gap(None, delay))
        else:  # a catch-up or a repair is under way: it refills when it is done
            self.fell_behind = True

    # Who is on the other end -------------------------------------------------

    async def signed_in(self) -> bool:
        return await database_sync_to_async(session_is_signed_in)(self.scope["session_key"], self.user_id)

    async def sign_out(self) -> None:
        """This socket's session ended (signed out, password changed, deactivated)."""
        if self.room is None:
            return
        await self.refuse("You have been signed out. Reload the page to sign in again.", CLOSE_UNAUTHENTICATED)

    async def refuse(self, reason: str, code: int) -> None:
        await self.reply(services.render_error(reason))
        await self.disconnect(code)
        await self.close(code=code)


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    if text_data is None:
        raise FrameError("Binary frames are not accepted.")
    if len(text_data) > settings.CHAT_MAX_FRAME_BYTES:
        raise FrameError("That frame is too large.")
    try:
        data = json.loads(text_data)
    except (ValueError, RecursionError):
        raise FrameError("That frame was not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError("That frame was not a form.")
    fields = {}
    for name in FIELDS:
        if name in data:
            value = data[name]
            if not isinstance(value, str):
                raise FrameError(f"The field {name!r} must be text.")
            if not value.isascii():
                try:
                    value.encode()  # JSON can carry lone surrogates ("\ud800"), which no database stores
                except UnicodeEncodeError:
                    raise FrameError("That text contains characters that are not valid Unicode.") from None
            fields[name] = value
    headers = data.get("HEADERS")
    if isinstance(headers, dict) and isinstance(headers.get("HX-Trigger"), str):
        fields["_trigger"] = headers["HX-Trigger"]
    return fields


def frame_action(fields: dict[str, str]) -> str:
    for candidate in (fields.get("action"), fields.get("_trigger")):
        if candidate in ACTIONS:
            return candidate
    if "last_change" in fields and "message" not in fields:
        return CATCH_UP
    return SEND


def first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return "Invalid input."
