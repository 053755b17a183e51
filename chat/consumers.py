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
from .fanout import get_hub
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

SEND_FORM_ID = "chat-form"
CATCH_UP_FORM_ID = "catch-up"


class FrameError(Exception):
    """A frame we cannot act on; the message is shown to the sender."""


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub (fanout.py) holds one
    # per room. Channels skips a consumer's own channel when its alias names no layer.
    channel_layer_alias = "chat-no-per-socket-channel"

    room: Room | None = None
    user_id: int = 0
    # Sequence number of the newest message this page shows; None until the
    # page has told us (catch-up), during which live frames wait in `pending`.
    synced_seq: int = 0
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
        if get_hub().sockets_of(user.pk) >= settings.CHAT_MAX_SOCKETS_PER_USER:
            await self.refuse("Too many open chat tabs: close some and reload this one.", CLOSE_TOO_MANY_SOCKETS)
            return
        self.user_id = user.pk
        self.pending = []
        self.room = room
        await get_hub().join(room.pk, self)
        await self.send(text_data=render_to_string("chat/_status.html", {"state": "live", "oob": True}))

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            await get_hub().leave(self.room.pk, self)
            self.room = None

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
            if action == CATCH_UP_FORM_ID:
                await self.catch_up(data)
            else:
                await self.post(data)
        except FrameError as error:
            await self.send(text_data=services.render_error(str(error)))

    async def post(self, data: dict[str, Any]) -> None:
        form = MessageForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        seq, frame, created = await database_sync_to_async(self._store)(
            form.cleaned_data["message"], form.cleaned_data["client_id"]
        )
        if created:
            await get_hub().publish(self.room.pk, seq, frame)
        else:
            # A retried send: already stored and broadcast; show it here if this page lacks it.
            await self.deliver(seq, frame)
        await self.send(text_data=services.render_composer(self.room))

    def _store(self, body: str, client_id) -> tuple[int, str, bool]:
        result = services.post_message(self.room, self.scope["user"], body, client_id)
        return result.message.seq, services.render_message_frame([result.message]), result.created

    async def catch_up(self, data: dict[str, Any]) -> None:
        if self.pending is None or self.synced_seq:
            return  # already caught up on this socket
        form = CatchUpForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        claimed = form.cleaned_data["last_seq"] or 0
        frame, synced = await database_sync_to_async(services.catch_up)(self.room.pk, claimed)
        if frame:
            await self.send(text_data=frame)
        self.synced_seq = synced
        await self.drain()

    # Live frames from the hub ------------------------------------------------

    async def deliver(self, seq: int, frame: str) -> None:
        """Send a room frame unless this page has it; repair the gap if some are missing."""
        if self.pending is not None:
            if len(self.pending) < MAX_PENDING_FRAMES:
                self.pending.append((seq, frame))
            else:
                self.fell_behind = True
            return
        if seq <= self.synced_seq:
            return
        if seq == self.synced_seq + 1:
            self.synced_seq = seq
            await self.send(text_data=frame)
            return
        self.pending = [(seq, frame)]
        self._repair = asyncio.create_task(self.repair_gap(seq))

    async def repair_gap(self, up_to: int | None) -> None:
        """Send from the database what this page lacks before `up_to` (or everything newer)."""
        while self.room is not None:
            room_id, after = self.room.pk, self.synced_seq
            try:
                if up_to is None:
                    frame, newest = await database_sync_to_async(services.catch_up)(room_id, after)
                else:
                    frame, newest = await database_sync_to_async(services.gap_frame)(room_id, after, up_to)
                break
            except Exception:  # the database is unreachable: live frames keep waiting
                logger.warning("gap repair failed for room %s; retrying", room_id, exc_info=True)
                await asyncio.sleep(1)
        else:
            return
        if frame:
            await self.send(text_data=frame)
            self.synced_seq = newest
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
        for index, (seq, frame) in enumerate(buffered):
            await self.deliver(seq, frame)
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
    for name in ("message", "client_id", "last_seq"):
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
    trigger = fields.get("_trigger")
    if trigger in (SEND_FORM_ID, CATCH_UP_FORM_ID):
        return trigger
    if "last_seq" in fields and "message" not in fields:
        return CATCH_UP_FORM_ID
    return SEND_FORM_ID


def first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return "Invalid input."
