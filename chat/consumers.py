"""The chat socket: one consumer per browser tab in a room.

It handles what the page sends and its own lifecycle. What the page is sent is its
feed's (live/feed.py), fed by the process's hub (live/hub.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import limits, looks, memberships, rooms, services
from .accounts import session_digest, session_is_signed_in, socket_user
from .forms import TOO_FAST, CatchUpForm, MessageForm, ReactionForm, first_error
from .live import events, frames, members
from .live.bursts import bursts
from .live.feed import Feed
from .live.hub import Hub, get_hub
from .models import Room

# Close codes: 4xxx are refusals the ws extension does not retry. (daphne, through
# autobahn, cannot send 1011-1013 itself; transient trouble is healed without closing.)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_A_MEMBER = 4403  # removed from a closed room (or left it) while the page was open
CLOSE_UNKNOWN_ROOM = 4404  # no such room, or none the user may see
CLOSE_TOO_MANY_SOCKETS = 4429

# The scope's extension that writes a frame straight on the socket (project/socket_frames.py, given by project.serve).
FRAMES_EXTENSION = "chat.frames"

SIGNED_OUT = _("You have been signed out. Reload the page to sign in again.")

# What a frame asks for, by the id of the ws-send form that sent it or an "action" field
# (hx-vals) on the smaller controls: the name of the method that handles it (on_...).
ACTIONS = {
    "chat-form": "send",
    "chat-lines-form": "send_lines",  # the multi-line composer (_composer_lines.html)
    "catch-up": "catch_up",
    "typing": "typing",
    "react": "react",
}
# Anything else a form sends is dropped here: the CSRF token the composers and reaction buttons carry for a post
# without JavaScript (views.send_message, views.react), the multi-line composer's "composer".
FIELDS = ("message", "client_id", "last_change", "unread_after", "action", "reaction", "message_id", "emoji")


class FrameError(Exception):
    """A frame we cannot act on; the message is shown to the sender."""


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub has one for all. Channels
    # skips a consumer's own channel when its alias names no layer.
    channel_layer_alias = "chat-no-per-socket-channel"

    room: Room
    joined = False  # in its room: from joining the hub until the socket closes
    room_id = user_id = heartbeat_phase = 0
    access_checked_at = 0.0  # time.monotonic() when the session and room access were last found good
    room_is_open = True
    display_name = session_digest = ""
    look: looks.Look
    sidebar_counts: dict[int, tuple[int, int]]
    hub: Hub
    feed: Feed
    _slot_of: int | None = None  # the user whose socket count this socket holds a place in
    channel_layer = None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' AsyncConsumer.__call__ for a consumer without a channel of its own: each message the server
        hands over is dispatched in turn, awaited right here. Channels' own waits for it in a task of its own
        (await_many_dispatch, for a channel layer beside the socket): a task, a wait and their futures kept
        per idle socket for nothing (bench.memory)."""
        self.scope, self.base_send = scope, send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self) -> None:
        # Accept first, then refuse with a 4xxx code: a refused handshake looks
        # like 1006 to the browser, which the ws extension retries forever.
        await self.accept()
        bursts.churn()  # a storm of sockets holds back full garbage collections
        slug = self.scope["url_route"]["kwargs"]["slug"]
        user, state = await database_sync_to_async(opening)(self.scope.get("session_key"), slug)
        self.scope["user"] = user or AnonymousUser()
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.hub = get_hub()
        # Until the reader's profile is read: the browser's language. Activated for this consumer's task alone: its
        # replies (errors, composers) are rendered in it; what it sends a room, in each look of the room.
        self.use_look(looks.of_scope(self.scope, None))
        if not self.hub.take_slot(user.pk):  # counted and checked with no await between: a burst cannot all pass
            await self.refuse(
                gettext("Too many open chat tabs: close some and reload this one."), CLOSE_TOO_MANY_SOCKETS
            )
            return
        self._slot_of = user.pk
        if state is None:
            await self.close(code=CLOSE_UNKNOWN_ROOM)
            return
        self.room, self.room_id, self.room_is_open = state.room, state.room.pk, state.room.kind == Room.Kind.OPEN
        self.user_id, self.display_name, self.sidebar_counts = user.pk, state.display_name, state.counts
        self.session_digest = session_digest(self.scope["session_key"])
        self.access_checked_at = time.monotonic()  # opening() just read the session and the access
        self.use_look(looks.of_scope(self.scope, state.profile))
        self.feed = self.hub.feed(self)  # after room_is_open: a closed room's feed gets a guard
        self.joined = True
        await self.hub.join(self, state.names)
        await self.feed.reply(frames.live_status(self.look.language))

    def use_look(self, look: looks.Look) -> None:
        self.look = look
        translation.activate(look.language)
        timezone.activate(look.zone)

    async def disconnect(self, code: int) -> None:
        bursts.churn()
        if self.joined:
            self.joined = False
            shown = self.feed.close()  # the page was sent everything up to here
            await self.hub.leave(self)
            await self.hub.reading.page_closed(self, shown)
        if self._slot_of is not None:
            self.hub.free_slot(self._slot_of)
            self._slot_of = None

    async def send_frame(self, frame: str) -> None:
        """A frame to the page: straight on the socket where the server offers that (project/socket_frames.py),
        else (tests, another server, a socket that is closing) through ASGI's send."""
        write = self.scope.get("extensions", {}).get(FRAMES_EXTENSION)
        if write is None or not write(frame):
            await self.send(text_data=frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        if not await limits.allow_frame(self.user_id):
            await self.feed.reply(frames.error(str(TOO_FAST)))
            return
        try:
            data = parse_frame(text_data, bytes_data)
            action = frame_action(data)
            # A frame acts only for a session and access still good: checked again in the database unless
            # checked lately (access_is_fresh). A catch-up needs no check: it only reads what this socket is
            # sent anyway (the feed's guard re-checks access).
            if action != "catch_up" and not self.access_is_fresh():
                refusal = await database_sync_to_async(self._refusal)()
                if refusal is not None:
                    await refusal()
                    return
                self.access_checked_at = time.monotonic()
            await getattr(self, f"on_{action}")(data)
        except (FrameError, services.NotAllowed) as error:
            await self.feed.reply(frames.error(str(error)))

    async def on_send(self, data: dict[str, Any], fresh_composer=frames.composer) -> None:
        form = MessageForm(data)
        if not form.is_valid():
            raise FrameError(first_error(form))
        room_looks = self.hub.looks_of(self.room_id)
        message, frames_by_look, created = await database_sync_to_async(self._store)(
            form.cleaned_data["message"], form.cleaned_data["client_id"], room_looks
        )
        if created:
            await self.hub.publish(events.room_change(self.room_id, message, frames_by_look, new=True))
        else:  # a retried send: already stored and broadcast; show it here if this page lacks it
            self.feed.offer(message.change, frames_by_look[self.look.key])
        await self.feed.reply(fresh_composer(self.room))

    async def on_send_lines(self, data: dict[str, Any]) -> None:
        """A send from the multi-line composer: the same message, answered with that composer afresh (the
        one-line composer keeps whatever it holds)."""
        await self.on_send(data, fresh_composer=frames.composer_lines)

    def _store(self, body: str, client_id, room_looks: set[looks.Look]):
        result = services.post_message(self.room, self.scope["user"], body, client_id)
        return result.message, frames.render_new_message_frames(result.message, room_looks), result.created

    async def on_react(self, data: dict[str, Any]) -> None:
        # A button's "reaction" value (ReactionForm); a page rendered before it had one sends message_id and emoji.
        reaction = data.get("reaction") or f"{data.get('message_id', '')} {data.get('emoji', '')}"
        form = ReactionForm({"reaction": reaction})
        if not form.is_valid():
            raise FrameError(first_error(form))
        room_looks = self.hub.looks_of(self.room_id)
        message, frames_by_look = await database_sync_to_async(self._react)(*form.cleaned_data["reaction"], room_looks)
        await self.hub.publish(events.room_change(self.room_id, message, frames_by_look, new=False))

    def _react(self, message_id: int, emoji: str, room_looks: set[looks.Look]):
        message = services.toggle_reaction(services.get_message(self.room, message_id), self.scope["user"], emoji)
        return message, frames.render_update_frames(message, room_looks)

    async def on_typing(self, data: dict[str, Any]) -> None:
        await self.hub.publish(events.room_typing(self.room_id, self.user_id, self.display_name))

    async def on_catch_up(self, data: dict[str, Any]) -> None:
        form = CatchUpForm(data)
        # A page that cannot say what it shows is sent the newest page of the log.
        claimed = (form.cleaned_data["last_change"] or 0) if form.is_valid() else None
        await self.feed.claim(claimed)
        if claimed is not None:
            await self.hub.reading.page_claimed(self, form.cleaned_data["unread_after"], claimed)

    def access_is_fresh(self) -> bool:
        """Whether the last check of this socket's session and access still holds without asking the database.

        Ending a session or access announces it to every process, which closes the sockets before the next event
        (live/sessions.py, live/members.py): a check then proves nothing new. It cost a thread hop and two queries
        per frame (0.6 ms of the ~7 ms a message cost in 100 rooms of ten, bench.profile --stages). Not trusted
        while announcements may be lost: the layer failed since (hub.access_trusted_since) or is failing."""
        recent = time.monotonic() - self.access_checked_at < settings.CHAT_ACCESS_RECHECK_SECONDS
        return recent and self.access_checked_at > self.hub.access_trusted_since and not self.hub.layer_outage.ongoing()

    def _refusal(self):
        """Why this socket may act no more (its session ended, or its reader lost access), or None."""
        if not session_is_signed_in(self.scope["session_key"], self.user_id):
            return self.sign_out
        if not self.room_is_open and not rooms.is_member(self.room_id, self.user_id):
            return lambda: self.revoke(str(members.REMOVED))
        return None

    async def revoke(self, reason: str) -> None:
        """The reader may see this room no more: closed with a code the page does not retry."""
        if self.joined:
            await self.refuse(reason, CLOSE_NOT_A_MEMBER)

    async def sign_out(self) -> None:
        """This socket's session ended (signed out, password changed, deactivated)."""
        if self.joined:
            await self.refuse(SIGNED_OUT, CLOSE_UNAUTHENTICATED)

    async def refuse(self, reason: str | Promise, code: int) -> None:
        # Also called from the hub's task (sign-outs, removals), where this consumer's look is not active.
        with looks.rendering(self.look):
            frame = frames.error(str(reason)) + frames.ended_status(self.look.language)
        await self.send_frame(frame)
        await self.disconnect(code)
        await self.close(code=code)


def opening(session_key: str | None, slug: str) -> tuple[Any, memberships.SocketState | None]:
    """Who a socket that opens signs in (None: nobody) and, if someone, what it shows of the room at `slug` (None: no
    room they may see): one thread hop for all of it, a reconnect storm's main cost (bench/README.md, "Issue 17")."""
    user = socket_user(session_key)
    return user, (memberships.socket_state(slug, user) if user is not None else None)


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    if text_data is None:
        raise FrameError(gettext("Binary frames are not accepted."))
    if len(text_data) > settings.CHAT_MAX_FRAME_BYTES:
        raise FrameError(gettext("That frame is too large."))
    try:
        data = json.loads(text_data)
    except (ValueError, RecursionError):
        raise FrameError(gettext("That frame was not valid JSON.")) from None
    if not isinstance(data, dict):
        raise FrameError(gettext("That frame was not a form."))
    fields = {}
    for name in FIELDS:
        if name in data:
            value = data[name]
            if not isinstance(value, str):
                raise FrameError(gettext("The field %(name)s must be text.") % {"name": repr(name)})
            if not value.isascii():
                try:
                    value.encode()  # JSON can carry lone surrogates ("\ud800"), which no database stores
                except UnicodeEncodeError:
                    raise FrameError(gettext("That text contains characters that are not valid Unicode.")) from None
            fields[name] = value
    headers = data.get("HEADERS")
    if isinstance(headers, dict) and isinstance(headers.get("HX-Trigger"), str):
        fields["_trigger"] = headers["HX-Trigger"]
    return fields


def frame_action(fields: dict[str, str]) -> str:
    for candidate in (fields.get("action"), fields.get("_trigger")):
        if candidate in ACTIONS:
            return ACTIONS[candidate]
    if "last_change" in fields and "message" not in fields:
        return "catch_up"
    return "send"
