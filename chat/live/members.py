"""Members: a room's frames reach only the pages of people who may see it, as members come and go.

A membership change in a closed or direct room is a line in its log (rooms.py),
published as the room's next change with `left` naming whoever lost access. Each
process closes that person's pages of the room (4403, which the page does not retry)
when it handles that change: in the order of the room's changes, so nothing later
is queued for them. A page that sees a later change first fills in from the
database; its feed's guard (Members.guard) re-checks access after every fill and
closes the page instead of sending what it read.

Sidebars follow on the person's own group: `user.listed` adds the room to their open
pages (and makes the process listen to it), `user.unlisted` drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from channels.db import database_sync_to_async
from django.utils.translation import gettext_lazy

from .. import looks, rooms
from ..looks import rendering
from ..models import Room
from . import events, frames

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

logger = logging.getLogger(__name__)

# Lazy: in the language active where it is rendered (a str to the sockets that pass it on).
REMOVED = cast(str, gettext_lazy("You are no longer a member of this room."))


class Members:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.closing: set[asyncio.Task] = set()

    async def room_change(self, event: dict) -> None:
        """A membership change: the pages of whoever lost access to the room close."""
        gone = event.get("left")
        if gone is not None:
            for socket in list(self.hub.viewers.get(event["room"], ())):
                if socket.user_id == gone and not socket.room_is_open:
                    await socket.revoke(REMOVED)

    async def user_listed(self, event: dict) -> None:
        """The room joined the user's sidebar (added to it, or opened it elsewhere): their pages list it."""
        room_id = event["room"]
        for socket in list(self.hub.users.get(event["user"], ())):
            if room_id not in socket.sidebar_counts:
                await self.hub.watch(socket, room_id, event["name"], event["slug"])
                with rendering(socket.look):
                    socket.feed.push(frames.sidebar_entry_added(room_id, event["name"], event["slug"]))

    async def user_unlisted(self, event: dict) -> None:
        """The room left the user's sidebar (removed, or they left): their pages drop it, and close if it
        was closed to them."""
        room_id = event["room"]
        for socket in list(self.hub.users.get(event["user"], ())):
            if socket.room_id == room_id:
                if not socket.room_is_open:
                    await socket.revoke(REMOVED)
                continue  # an open room stays readable on the page showing it
            if room_id in socket.sidebar_counts:
                await self.hub.unwatch(socket, room_id)
                socket.feed.push(frames.sidebar_entry_removed(room_id))

    def guard(self, socket: LocalSocket) -> Callable[[], Awaitable[bool]] | None:
        """For the feed of a page of a closed or direct room: after each fill from the database, is its reader
        still a member? If not, the page is closed and the fill is dropped."""
        if socket.room_is_open:
            return None

        async def still_member() -> bool:
            is_member = await database_sync_to_async(rooms.is_member)(socket.room_id, socket.user_id)
            if not is_member:  # closed apart from the fill's task, which closing the page cancels
                task = asyncio.create_task(socket.revoke(REMOVED))
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)
            return is_member

        return still_member


def publish(room: Room, change: rooms.MembershipChange) -> None:
    """Tell every process of a membership change made by a view: the log line to the room, the sidebar change
    to the person."""
    if change.entry is not None:
        frames_by_look = frames.render_new_message_frames(change.entry, looks.of_sync_code())
        event = events.room_change(room.pk, change.entry, frames_by_look, new=True)
        if not change.listed:
            event["left"] = change.user_id
        events.publish_from_sync(event)
    if change.listed:
        events.publish_from_sync(events.user_listed(change.user_id, room.pk, room.name, room.slug))
    else:
        events.publish_from_sync(events.user_unlisted(change.user_id, room.pk))
