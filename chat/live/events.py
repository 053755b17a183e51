"""Every event that crosses the channel layer, built here and nowhere else.

An event's `type` names the handler that receives it in each process: "room.change"
is `room_change` on every feature of the hub that has one (hub.Hub.dispatch), the way
Channels dispatches to consumers. docs/architecture.md lists them with their senders.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NotRequired, TypedDict

from channels.layers import get_channel_layer

from .. import looks

logger = logging.getLogger(__name__)

# A broadcast waits this long at most for the layer; then the hub handles it here only (this process's pages get it at
# once; the others' read it from the database within their reconciliation, changes.RECONCILE_SECONDS), as every
# broadcast is for shared_redis.AWAY_SECONDS after such a failure. The layer's connections have no socket timeout
# (its receive blocks on Redis for 5 s at a time): on a host cut from Redis for 10 s a group_send waited until the
# link came back, holding its socket's frames behind it (its page's posts were shown up to 15 s late).
PUBLISH_TIMEOUT_SECONDS = 1.0
# A view's broadcast (publish_from_sync) gives up after as long: its page is answered, the database has the change.

ROOM_CHANGE = "room.change"
ROOM_TYPING = "room.typing"
ROOM_PRESENCE = "room.presence"
ROOM_RENAMED = "room.renamed"
USER_SIGNED_OUT = "user.signed_out"
USER_READ = "user.read"
USER_SHOWN = "user.shown"
USER_LISTED = "user.listed"
USER_UNLISTED = "user.unlisted"


def room_group(room_id: int) -> str:
    """Channel-layer group of a room: from its primary key, never from user text."""
    return f"chat.room.{room_id}"


def user_group(user_id: int) -> str:
    return f"chat.user.{user_id}"


class RoomChange(TypedDict):
    type: str
    room: int
    change: int
    # The change's frame in each look (looks.Look.key) among the room's pages that the sender knew of; a page of
    # another look is filled in from the database (feed.Feed.offer).
    frames: dict[str, str]
    # Only for a new message (not a membership line): what the sidebar and typing features need.
    seq: NotRequired[int]
    author: NotRequired[int]
    mentions: NotRequired[list[int]]
    # Only for a membership change that took someone's access away (live/members.py).
    left: NotRequired[int]


def room_change(room_id: int, message, frames: dict[str, str], new: bool) -> RoomChange:
    """A new, edited or deleted message, or a reaction: the room's next change, rendered once per look."""
    event: RoomChange = {"type": ROOM_CHANGE, "room": room_id, "change": message.change, "frames": frames}
    if new and message.kind == "text":  # a membership line is no unread message, nor the end of typing
        event["seq"], event["author"] = message.seq, message.author_id
        event["mentions"] = [int(i) for i in message.mention_ids.split()]
    return event


def room_typing(room_id: int, user_id: int, name: str) -> dict:
    return {"type": ROOM_TYPING, "room": room_id, "user": user_id, "name": name}


def room_presence(room_id: int) -> dict:
    """Some process's users in the room changed: every process reads the room's presence again."""
    return {"type": ROOM_PRESENCE, "room": room_id}


def room_renamed(room_id: int, name: str, slug: str) -> dict:
    return {"type": ROOM_RENAMED, "room": room_id, "name": name, "slug": slug}


def user_signed_out(user_id: int, session: str | None) -> dict:
    """One session of the user ended (`session`: its digest), or all of them (None)."""
    return {"type": USER_SIGNED_OUT, "user": user_id, "session": session}


def user_read(user_id: int, room_id: int) -> dict:
    """The user opened the room somewhere: its unread badges reset on their other pages."""
    return {"type": USER_READ, "user": user_id, "room": room_id}


def user_shown(user_id: int, room_id: int, seq: int) -> dict:
    """A page of the user recorded that it showed the room up to message `seq` (live/reading.py)."""
    return {"type": USER_SHOWN, "user": user_id, "room": room_id, "seq": seq}


def user_listed(user_id: int, room_id: int, name: str, slug: str) -> dict:
    """The room joined the user's sidebar (they were added, or opened an open room)."""
    return {"type": USER_LISTED, "user": user_id, "room": room_id, "name": name, "slug": slug}


def user_unlisted(user_id: int, room_id: int) -> dict:
    """The room left the user's sidebar (they were removed, or left it)."""
    return {"type": USER_UNLISTED, "user": user_id, "room": room_id}


def publish_new_message(message) -> None:
    """A new message stored by a view (a form without JavaScript, files) rather than the socket: rendered in the
    site's look and the view's (pages of other looks read it from the database) and published as the consumer's
    on_send publishes it."""
    from .frames import render_new_message_frames

    frames = render_new_message_frames(message, looks.of_sync_code())
    publish_from_sync(room_change(message.room_id, message, frames, new=True))


def publish_message_changed(message) -> None:
    """An edited, deleted or reacted-to message, from sync code (views, Django's admin), to every page of its
    room: rendered as publish_new_message renders."""
    from .frames import render_update_frames

    frames = render_update_frames(message, looks.of_sync_code())
    publish_from_sync(room_change(message.room_id, message, frames, new=False))


def group_of(event: Any) -> str:
    """Where an event goes: a room's events to the room's group, a user's to the user's."""
    return room_group(event["room"]) if event["type"].startswith("room.") else user_group(event["user"])


def publish_from_sync(event: Any) -> None:
    """Send an event to every process from sync code (views, signals); hub.Hub.publish does it from async code."""
    from asgiref.sync import async_to_sync

    group = group_of(event)

    async def send() -> None:
        await asyncio.wait_for(get_channel_layer().group_send(group, event), PUBLISH_TIMEOUT_SECONDS)

    try:
        async_to_sync(send)()
    except Exception:  # sockets re-check the session on every frame they send, and catch up from the database
        logger.warning("could not publish %s to %s", event.get("type"), group, exc_info=True)
