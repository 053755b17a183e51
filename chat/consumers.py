"""The chat socket: one consumer per browser tab in a room."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from . import limits, services
from .accounts import session_is_signed_in
from .fanout import ROOM_TYPING, change_event, get_hub, room_group
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
    sidebar_counts: dict[int, list[int]]
    # Newest room change this page shows; until the page has told us (catch-up)
    # live frames wait in `pending`.
    synced_change: int = 0
    pending: list[tuple[int, str]] | None = None
    fell_behind = False

    async def connect(self) -> None:
        # Accept first, then refuse with a 4xxx code: a refused handshake looks
        # like 1006 to the browser, which the ws extension retries forever.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        room = await Room.objects.filter(slug=self.scope["url_route"]["kwargs"]["slug"]).afirst()
        if room is None:
            await self.close(code=CLOSE_UNKNOWN_ROOM)
            return
        hub = get_hub()
        if hub.sockets_of(user.pk) >= settings.CHAT_MAX_SOCKETS_PER_USER:
            await self.refuse("Too many open chat tabs: close some and reload this one.", CLOSE_TOO_MANY_SOCKETS)
            return
        self.user_id, self.username, self.room_id = user.pk, user.get_username(), room.pk
        self.sidebar_counts, room_names = await database_sync_to_async(services.socket_state)(room, user)
        self.pending = []
        self.room = room
        await hub.join(self, room_names)
        await self.send(text_data=render_to_string("chat/_status.html", {"state": "live", "oob": True}))

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            self.room = None
            await get_hub().leave(self)
            if self.synced_change:  # the page showed everything up to here
                await database_sync_to_async(services.mark_read_up_to)(self.user_id, self.room_id, self.synced_change)

    # Frames from the page ----------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room is None:
            return
        if not await self.signed_in():
            await self.sign_out()
            return
        if not await limits.allow_frame(self.user_id):
            await self.send(text_data=services.render_error("You are sending too fast. Wait a moment and try again."))
            return
        try:
            data = parse_frame(text_data, bytes_data)
            action = frame_action(data)
            if action == CATCH_UP:
                await self.catch_up(data)
            elif action == TYPING:
                await self.typing()
            elif action in (REACT, DELETE):
                await self.change_message(action, data)
            else:
                await self.post(data)
        except (FrameError, services.NotAllowed) as error:
            await self.send(text_data=services.render_error(str(error)))

    async def post(self, data: dict[str, Any]) -> None:
        form = MessageForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        message, frame, created = await database_sync_to_async(self._store)(
            form.cleaned_data["message"], form.cleaned_data["client_id"]
        )
        if created:
            await get_hub().publish(room_group(self.room_id), change_event(self.room_id, message, frame, new=True))
        else:
            # A retried send: already stored and broadcast; show it here if this page lacks it.
            await self.deliver(message.change, frame)
        await self.send(text_data=services.render_composer(self.room))

    def _store(self, body: str, client_id):
        result = services.post_message(self.room, self.scope["user"], body, client_id)
        return result.message, services.render_new_message_frame(result.message), result.created

    async def change_message(self, action: str, data: dict[str, Any]) -> None:
        message = await database_sync_to_async(self._change)(action, data)
        frame = await database_sync_to_async(services.render_update_frame)(message)
        await get_hub().publish(room_group(self.room_id), change_event(self.room_id, message, frame, new=False))

    def _change(self, action: str, data: dict[str, Any]):
        message = services.get_message(self.room, data.get("message_id"))
        if action == DELETE:
            return services.delete_message(message, self.scope["user"])
        return services.toggle_reaction(message, self.scope["user"], data.get("emoji", ""))

    async def typing(self) -> None:
        event = {"type": ROOM_TYPING, "room": self.room_id, "user": self.user_id, "name": self.username}
        await get_hub().publish(room_group(self.room_id), event)

    async def catch_up(self, data: dict[str, Any]) -> None:
        if self.pending is None or self.synced_change:
            return  # already caught up on this socket
        form = CatchUpForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        claimed = form.cleaned_data["last_change"] or 0
        frame, synced = await database_sync_to_async(services.catch_up)(self.room_id, claimed)
        await self.apply_catch_up(self.synced_change, frame, synced)

    async def apply_catch_up(self, from_change: int, frame: str, synced: int) -> None:
        """Send a catch-up computed from `from_change`, unless this socket moved on meanwhile."""
        if self.synced_change != from_change:
            return
        if frame:
            await self.send(text_data=frame)
        self.synced_change = max(self.synced_change, synced)
        if self.pending is not None:
            await self.drain()

    # Live frames from the hub ------------------------------------------------

    async def deliver(self, change: int, frame: str) -> None:
        """Send a room frame unless this page has it; repair the gap if some are missing."""
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
            await self.send(text_data=frame)
            return
        self.pending = [(change, frame)]
        self._repair = asyncio.create_task(self.repair_gap(change))

    async def repair_gap(self, up_to: int | None) -> None:
        """Send from the database what this page lacks before `up_to` (or everything newer)."""
        while self.room is not None:
            after = self.synced_change
            try:
                if up_to is None:
                    frame, newest = await database_sync_to_async(services.catch_up)(self.room_id, after)
                else:
                    frame, newest = await database_sync_to_async(services.gap_frame)(self.room_id, after, up_to)
                break
            except Exception:  # the database is unreachable: live frames keep waiting
                logger.warning("gap repair failed for room %s; retrying", self.room_id, exc_info=True)
                await asyncio.sleep(1)
        else:
            return
        if frame:
            await self.send(text_data=frame)
            self.synced_change = newest
        await self.drain()

    @property
    def catching_up(self) -> bool:
        return self.pending is not None

    async def drain(self) -> None:
        buffered, self.pending = self.pending or [], None
        if self.fell_behind:  # frames were dropped: the database has them all
            self.fell_behind = False
            self.pending = []
            self._repair = asyncio.create_task(self.repair_gap(None))
            return
        for index, (change, frame) in enumerate(buffered):
            await self.deliver(change, frame)
            if self.pending is not None:  # a gap repair started: it takes the rest
                self.pending.extend(buffered[index + 1 :])
                return

    async def send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    # Who is on the other end -------------------------------------------------

    async def signed_in(self) -> bool:
        session_key = self.scope["session"].session_key
        return await database_sync_to_async(session_is_signed_in)(session_key, self.user_id)

    async def recheck_sign_in(self) -> None:
        """The user signed out or was deactivated somewhere: close this socket if it was that session."""
        if self.room is not None and not await self.signed_in():
            await self.sign_out()

    async def sign_out(self) -> None:
        await self.refuse("You have been signed out. Reload the page to sign in again.", CLOSE_UNAUTHENTICATED)

    async def refuse(self, reason: str, code: int) -> None:
        await self.send(text_data=services.render_error(reason))
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
