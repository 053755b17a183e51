"""The process's writer: one task that sends each page whatever is queued for it.

Each feed queues frames in its outbox; the writer sends each outbox it is woken for,
packed into frames under the size limit (htmx swaps every top-level element of a
frame out of band, so frames concatenate). When the process keeps up that is one
frame per message; under load, messages that arrive while the writer goes round the
pages share a frame, so the cost per delivery falls as the rate rises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

logger = logging.getLogger(__name__)

# The writer returns to the event loop after this many pages: written frames leave,
# and incoming messages move on and join the frames still to be written. A pass over
# 1,000 sockets without a break holds the loop for ~80 ms and the messages behind it
# stall (bench: 14,000 deliveries/s with 100, 28,000 with 10).
WRITE_SLICE = 10


class Writable(Protocol):
    async def write(self) -> None: ...


class Writer:
    def __init__(self) -> None:
        self.dirty: list[Writable] = []  # feeds with something in their outbox
        self.task: asyncio.Task | None = None

    def wake(self, feed: Writable) -> None:
        """A feed's outbox is no longer empty: send it on the next round."""
        self.dirty.append(feed)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._write(), name="chat-writer")

    async def _write(self) -> None:
        try:
            while self.dirty:
                feeds, self.dirty = self.dirty, []
                for index, feed in enumerate(feeds, 1):
                    try:
                        await feed.write()
                    except Exception:
                        logger.exception("writing to a page failed")
                    if index % WRITE_SLICE == 0:
                        await asyncio.sleep(0)
        finally:
            self.task = None
