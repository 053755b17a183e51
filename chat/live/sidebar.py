"""The sidebar: each page's rooms with unread messages and mentions, the total in the title, room names.

Counts are per page (a pair of integers per room, replaced when they move: rooms without unread
messages all share memberships.NO_UNREAD) and move with the room's new messages; a
badge or title is rendered once per distinct value (frames.badge and frames.title are
cached), never per page.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .. import memberships
from ..looks import PerLook
from . import frames

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket


def capped(*counts: int) -> tuple[int, ...]:
    """Counts as the page shows them: past 99 they all read "99+" (and share one cached rendering)."""
    return tuple(min(count, memberships.UNREAD_COUNTED) for count in counts)


class Sidebar:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def name_of(self, room_id: int) -> tuple[str, str]:
        return self.hub.room_names.get(room_id, ("", ""))

    async def room_change(self, event: dict) -> None:
        """A new message counts as unread on the pages of other rooms that list this one."""
        if "seq" not in event:
            return  # an edit or a reaction
        room_id = event["room"]
        for socket in list(self.hub.watchers.get(room_id, ())):
            if socket.room_id == room_id or socket.user_id == event["author"]:
                continue
            unread, mentions = socket.sidebar_counts[room_id]
            socket.sidebar_counts[room_id] = (unread + 1, mentions + (socket.user_id in event["mentions"]))
            self._send(socket, room_id)

    async def user_read(self, event: dict) -> None:
        """The user opened the room somewhere: its badges reset on their other pages."""
        room_id = event["room"]
        for socket in list(self.hub.users.get(event["user"], ())):
            if room_id in socket.sidebar_counts and socket.sidebar_counts[room_id] != memberships.NO_UNREAD:
                socket.sidebar_counts[room_id] = memberships.NO_UNREAD
                self._send(socket, room_id)

    async def room_renamed(self, event: dict) -> None:
        """A new name: on the room's own pages (heading, title) and in every sidebar that lists it."""
        room_id = event["room"]
        self.hub.room_names[room_id] = (event["name"], event["slug"])
        heading = PerLook(partial(frames.room_name, event["name"]))
        for socket in list(self.hub.viewers.get(room_id, ())):
            socket.feed.push(heading(socket.look) + self._title(socket))
        for socket in list(self.hub.watchers.get(room_id, ())):
            socket.feed.push(self._badge(socket, room_id))

    def _send(self, socket: LocalSocket, room_id: int) -> None:
        socket.feed.push(self._badge(socket, room_id) + self._title(socket))

    def _badge(self, socket: LocalSocket, room_id: int) -> str:
        unread, mentions = socket.sidebar_counts[room_id]
        return frames.badge(socket.look.language, room_id, *self.name_of(room_id), *capped(unread, mentions))

    def _title(self, socket: LocalSocket) -> str:
        total = sum(count for count, _ in socket.sidebar_counts.values())
        return frames.title(socket.look.language, self.name_of(socket.room_id)[0], *capped(total))

    def frame_for(self, socket: LocalSocket) -> str:
        """The page's sidebar badges and title as they stand (for a refill)."""
        badges = [self._badge(socket, room_id) for room_id in socket.sidebar_counts if room_id != socket.room_id]
        return "".join(badges) + self._title(socket)
