"""The heartbeat: every page is told it is live once per CHAT_HEARTBEAT_SECONDS.

Each "Live" status restarts the page's countdown (a CSS animation); a page that hears
nothing for two intervals shows "Reconnecting…". Sockets are beaten a slice at a
time, not all at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from django.conf import settings

from . import frames

if TYPE_CHECKING:
    from .hub import Hub, LocalSocket

logger = logging.getLogger(__name__)

HEARTBEAT_SLICES = 10


class Heartbeat:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.joined = 0

    def add(self, socket: LocalSocket) -> None:
        """Give a new socket its slice."""
        socket.heartbeat_phase = self.joined % HEARTBEAT_SLICES
        self.joined += 1

    async def run(self) -> None:
        tick = settings.CHAT_HEARTBEAT_SECONDS / HEARTBEAT_SLICES
        for beat in itertools.count():
            await asyncio.sleep(tick)
            phase = beat % HEARTBEAT_SLICES
            for sockets in list(self.hub.viewers.values()):
                for socket in sockets:
                    if socket.heartbeat_phase == phase:
                        try:
                            socket.feed.push(frames.live_status(socket.look.language))
                        except Exception:
                            logger.exception("queueing a heartbeat failed")
