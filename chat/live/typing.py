"""Who is typing: "alice is typing…", for each room, leaving out the reader.

The composer's input sends a `typing` frame (throttled to one per 2 s) while someone
types; every process shows them for TYPING_SECONDS after the last one, or until their
message arrives. One frame per room and look, plus one per typist (who does not see themself).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from ..looks import Look, rendering
from . import frames

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

TYPING_SECONDS = 4.0


class Typing:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.typists: dict[int, dict[int, tuple[str, float]]] = defaultdict(dict)  # room -> user -> (name, until)

    async def room_typing(self, event: dict) -> None:
        room_id = event["room"]
        self.typists[room_id][event["user"]] = (event["name"], time.monotonic() + TYPING_SECONDS)
        self._show(room_id)
        asyncio.get_running_loop().call_later(TYPING_SECONDS + 0.05, self._show, room_id)

    async def room_change(self, event: dict) -> None:
        """Their message arrived: they stopped typing."""
        if "seq" in event and self.typists.get(event["room"], {}).pop(event["author"], None) is not None:
            self._show(event["room"])

    def _show(self, room_id: int) -> None:
        now = time.monotonic()
        typing = {user: entry for user, entry in self.typists.get(room_id, {}).items() if entry[1] > now}
        if typing:
            self.typists[room_id] = typing
        else:
            self.typists.pop(room_id, None)
        rendered: dict[tuple[int | None, Look], str] = {}
        for socket in list(self.hub.viewers.get(room_id, ())):
            key = (socket.user_id if socket.user_id in typing else None, socket.look)
            if key not in rendered:
                with rendering(socket.look):
                    rendered[key] = self._frame(room_id, socket.user_id)
            socket.feed.push(rendered[key])

    def _frame(self, room_id: int, viewer: int) -> str:
        return frames.typing([name for user, (name, _) in self.typists.get(room_id, {}).items() if user != viewer])

    def frame_for(self, socket: LocalSocket) -> str:
        return self._frame(socket.room_id, socket.user_id)
