"""What each page showed its reader, and the "New messages" divider kept true to it.

A room page marks as new the messages after the reader's read position, and opening
the room moves that position to the newest message at once. What a page showed live
is recorded only when its socket closes (or when the reader opens the room elsewhere),
and a browser reloading a page loads the new one before it closes the old: without
more, the new page's divider stands above messages the old page showed (measured: on
every reload). So the page sends, with its catch-up, the message number its divider
follows (`unread_after`); once the old page has recorded what it showed
(Membership.shown_seq), the divider moves below that or goes:

- when the new page claims, if the old page recorded it before;
- on `user.shown`, published by a page that recorded it after the claim.

When the reader opens a room (the view publishes `user.read`), their pages already
showing it record what they showed, so a second tab's divider does not mark as new what
the first tab showed either.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from .. import memberships
from ..looks import rendering
from . import events, frames

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

logger = logging.getLogger(__name__)


@dataclass
class Divider:
    """A page's divider: it stands above the first message by someone else after `unread_after`,
    among those the page showed when it claimed `page_change`."""

    unread_after: int
    page_change: int


class Reading:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.dividers: dict[LocalSocket, Divider] = {}  # pages showing a divider
        self.tasks: set[asyncio.Task] = set()

    async def page_claimed(self, socket: LocalSocket, unread_after: int | None, claimed: int | None) -> None:
        """The page said what it shows and where its divider stands: move the divider if it is behind."""
        if unread_after is None or claimed is None:
            return
        self.dividers[socket] = Divider(unread_after, claimed)
        await self._check(socket)

    async def page_closed(self, socket: LocalSocket, shown_change: int) -> None:
        """Record what the closing page showed; the reader's other pages of the room hear of it."""
        self.dividers.pop(socket, None)
        await self._record(socket.user_id, socket.room_id, shown_change)

    async def user_read(self, event: dict) -> None:
        """The reader opened the room somewhere: their pages showing it record what they showed."""
        shown = max(
            (s.feed.written for s in self.hub.users.get(event["user"], ()) if s.room_id == event["room"]), default=0
        )
        if shown:
            self._spawn(self._record(event["user"], event["room"], shown))

    async def user_shown(self, event: dict) -> None:
        """A page of the reader recorded what it showed: dividers behind it move."""
        for socket in list(self.hub.users.get(event["user"], ())):
            divider = self.dividers.get(socket)
            if divider is not None and socket.room_id == event["room"] and event["seq"] > divider.unread_after:
                self._spawn(self._check(socket))

    async def _record(self, user_id: int, room_id: int, shown_change: int) -> None:
        if not shown_change:
            return
        try:
            seq = await database_sync_to_async(memberships.record_shown)(user_id, room_id, shown_change)
        except Exception:  # the read position stays where opening the room put it
            logger.warning("could not record what a page of room %s showed", room_id, exc_info=True)
            return
        if seq:
            await self.hub.publish(events.user_shown(user_id, room_id, seq))

    async def _check(self, socket: LocalSocket) -> None:
        divider = self.dividers.get(socket)
        if divider is None:
            return
        try:
            shown, first_unread = await database_sync_to_async(memberships.first_unshown)(
                socket.user_id, socket.room_id, divider.unread_after, divider.page_change
            )
        except Exception:  # the divider stays where the page put it
            logger.warning("could not check the divider of a page in room %s", socket.room_id, exc_info=True)
            return
        if self.dividers.get(socket) is not divider or shown <= divider.unread_after:
            return  # the page closed, or nothing it marks as new was shown elsewhere
        divider.unread_after = shown
        if first_unread is None:  # everything on the page was shown: the divider goes, for good
            del self.dividers[socket]
        with rendering(socket.look):
            socket.feed.push(frames.new_messages_moved(first_unread, shown if first_unread else None))

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
