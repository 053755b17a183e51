"""One page's feed: what it has been shown of its room, and what is on its way to it.

A page follows its room's numbered changes. Its feed is in one of four states:

- AWAITING_CLAIM: the socket is open, the page has not said what it shows yet; live
  changes wait (in `held`).
- FILLING: the database is being read for what the page lacks (its claim, a gap in
  the live changes, a refill); live changes wait.
- LIVE: each next change goes to the outbox as it comes; a skipped number starts a fill.
- CLOSED: the socket is gone; nothing more is queued.

`shown` is the change the page will show once everything queued is written;
`written` is the change it shows after the last frame that was sent. The outbox holds
frames.Piece pairs (HTML, the change the page shows once it has it); the writer packs
them into frames under the size limit, and `written` moves only when a frame was sent.
A page that falls too far behind (MAX_OUTBOX_FRAMES live frames not yet written) or
whose frame could not be sent is refilled from the database, from `written`.

The feed knows no socket, channel layer or database: it is given `send` (write one
frame), `wake` (ask the writer to come by), a Source of what the database says,
`restore` (the page's presence, typing and badges as they stand) and for a closed
room a `guard` (may the reader still see it?): tests drive it alone. It counts what it
does in chat.metrics (plain prometheus-client counters, no Django).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from django.conf import settings

from chat import looks
from chat.looks import Look
from chat.metrics import CATCH_UPS, DELIVERIES, OUTBOX_REFILLS

from . import frames

logger = logging.getLogger(__name__)

# Live changes held while the page is not LIVE; past this, they are dropped and read
# from the database instead.
MAX_HELD = 1000
# Live frames queued and not yet written. More means the process is far behind: the page
# is refilled from the database in one go.
MAX_OUTBOX_FRAMES = 100
# What the database says a page lacks: pieces, and the change the page shows once it has them.
Read = tuple[list[frames.Piece], int]
# After a frame could not be sent, the page is refilled from the database this much later.
WRITE_RETRY_SECONDS = 1.0


class State(enum.Enum):
    AWAITING_CLAIM = "awaiting the page's claim"
    FILLING = "filling in from the database"
    LIVE = "live"
    CLOSED = "closed"


class Source(Protocol):
    """What the database says a page lacks (changes.Changes), rendered in the page's look."""

    async def catch_up(self, room_id: int, claimed: int | None, look: Look) -> tuple[list[frames.Piece], int]: ...

    async def gap(self, room_id: int, after: int, before: int, look: Look) -> tuple[list[frames.Piece], int]: ...


class Feed:
    # One per open socket: slots instead of an attribute dict (bench.memory).
    __slots__ = (
        "_fill",
        "guard",
        "held",
        "look",
        "outbox",
        "outbox_pieces",
        "overflowed",
        "resets",
        "restore",
        "restore_needed",
        "room_id",
        "send",
        "shown",
        "source",
        "state",
        "wake",
        "written",
    )

    def __init__(
        self,
        room_id: int,
        send: Callable[[str], Awaitable[None]],
        wake: Callable[[Feed], None],
        source: Source,
        restore: Callable[[], str],
        guard: Callable[[], Awaitable[bool]] | None = None,
        look: Look | None = None,
    ) -> None:
        self.room_id = room_id
        self.look = look or looks.default()  # what the database's pieces are rendered in
        self.send, self.wake, self.source, self.restore = send, wake, source, restore
        # Asked after each read from the database, before queuing it: may the page still see the room?
        # (None: always; members.Members.guard closes the page of someone who lost access.)
        self.guard = guard
        self.state = State.AWAITING_CLAIM
        self.shown = 0
        self.written = 0
        self.outbox: list[frames.Piece] = []
        # Catch-up pieces in the outbox: a bounded batch from the database, not a backlog,
        # so they do not count against MAX_OUTBOX_FRAMES.
        self.outbox_pieces = 0
        self.held: list[tuple[int, str | None]] = []
        self.overflowed = False  # held changes were dropped: fill from the database once done
        self.resets = 0  # bumped by each refill: a fill begun before it starts over
        self.restore_needed = False
        self._fill: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"<Feed room={self.room_id} {self.state.name} shown={self.shown} written={self.written}>"

    # Room changes --------------------------------------------------------------

    async def claim(self, claimed: int | None) -> None:
        """The page says which change it shows (None: it cannot say): send what it lacks, then go live."""
        if self.state is not State.AWAITING_CLAIM:
            return  # a page claims once per socket
        CATCH_UPS.inc()
        self.state = State.FILLING
        self._fill = asyncio.create_task(self._catch_up(claimed))

    async def _catch_up(self, claimed: int | None) -> None:
        read = await self._read_database(lambda: self.source.catch_up(self.room_id, claimed, self.look))
        if read is None:
            return
        pieces, synced = read
        if claimed is not None:  # the page itself shows the room up to its claim
            self.written = max(self.written, min(claimed, synced))
        self.apply_catch_up(self.shown, pieces, synced)

    async def _read_database(self, read: Callable[[], Awaitable[Read]]) -> Read | None:
        """What `read` gives once the database answers, asked again every second while it does not (live
        changes keep waiting); None if the page closed meanwhile or its reader may no longer see the room."""
        while self.state is not State.CLOSED:
            try:
                result = await read()
            except Exception:
                logger.warning("reading room %s for a page failed; retrying", self.room_id, exc_info=True)
                await asyncio.sleep(1)
                continue
            try:
                allowed = self.guard is None or await self.guard()
            except Exception:
                logger.warning("checking access to room %s failed; retrying", self.room_id, exc_info=True)
                await asyncio.sleep(1)
                continue
            return result if allowed else None
        return None

    def apply_catch_up(self, from_change: int, pieces: list[frames.Piece], synced: int) -> None:
        """Queue what a page showing `from_change` lacks, unless this page moved on meanwhile."""
        if self.state is State.CLOSED or self.shown != from_change:
            return
        self.shown = max(self.shown, synced)
        self.push_pieces(pieces)
        if self.state is not State.LIVE:
            self._release()

    def offer(self, change: int, frame: str | None) -> None:
        """A live room change: queue it unless the page has it; fill a gap first if some are missing. Without its
        frame (not rendered in the page's look), the page reads it and whatever else it lacks from the database."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.LIVE:
            if len(self.held) < MAX_HELD:
                self.held.append((change, frame))
            else:
                self.overflowed = True
            return
        if change <= self.shown:
            return
        if frame is None:
            self.held = []
            self._start_fill(up_to=None)
            return
        if change == self.shown + 1:
            self.shown = change
            self.push(frame)
            return
        self.held = [(change, frame)]
        self._start_fill(up_to=change)

    def _release(self) -> None:
        """The page is up to date with the database: go live with the changes held meanwhile."""
        held, self.held = self.held, []
        if self.overflowed:  # some were dropped: the database has them all
            self.overflowed = False
            self._start_fill(up_to=None)
            return
        self.state = State.LIVE
        for index, (change, frame) in enumerate(held):
            self.offer(change, frame)
            if self.state is State.FILLING:  # a gap: the fill takes the rest
                self.held.extend(held[index + 1 :])
                return

    def _start_fill(self, up_to: int | None, delay: float = 0.0) -> None:
        self.state = State.FILLING
        self._fill = asyncio.create_task(self._fill_from_database(up_to, delay))

    async def _fill_from_database(self, up_to: int | None, delay: float) -> None:
        """Queue what the page lacks before `up_to` (a gap), or everything newer (None)."""
        if delay:
            await asyncio.sleep(delay)
        while True:
            resets, after = self.resets, self.shown
            if up_to is None:
                read = await self._read_database(partial(self.source.catch_up, self.room_id, after, self.look))
            else:
                read = await self._read_database(partial(self.source.gap, self.room_id, after, up_to, self.look))
            if read is None:
                return
            if resets == self.resets:
                break
            up_to = None  # refilled meanwhile: fill in from where the page is now
        pieces, newest = read
        if self.restore_needed:
            self.restore_needed = False
            self.push(self.restore())
        self.shown = max(self.shown, newest)
        self.push_pieces(pieces)
        self._release()

    # Writing -------------------------------------------------------------------

    def push(self, frame: str) -> None:
        """Queue a frame (a live change, presence, a badge...); the writer sends it with whatever else is queued."""
        if self.state is State.CLOSED:
            return
        if not self.outbox:
            self.wake(self)
        self.outbox.append((frame, self.shown))
        if len(self.outbox) - self.outbox_pieces > MAX_OUTBOX_FRAMES:
            logger.info("a page in room %s fell %s frames behind; refilling it", self.room_id, len(self.outbox))
            self.refill()

    def push_pieces(self, pieces: list[frames.Piece]) -> None:
        """Queue what the database says the page lacks, each piece with the change the page shows after it."""
        if pieces and self.state is not State.CLOSED:
            if not self.outbox:
                self.wake(self)
            self.outbox.extend(pieces)
            self.outbox_pieces += len(pieces)

    async def write(self) -> None:
        """Send what is queued, in frames under the size limit; `written` moves only once a frame is sent."""
        queued, self.outbox, self.outbox_pieces = self.outbox, [], 0
        # One piece (a quiet room: each message is its own write) leaves as it is, as pack would leave it.
        packed = queued if len(queued) == 1 else frames.pack(queued, settings.CHAT_MAX_SENT_FRAME_BYTES)
        for frame, shown in packed:
            try:
                await self.send(frame)
            except Exception:
                if self.state is not State.CLOSED:
                    logger.warning(
                        "a frame to a page in room %s was not sent; refilling it", self.room_id, exc_info=True
                    )
                    self.refill(delay=WRITE_RETRY_SECONDS)
                return
            DELIVERIES.inc()  # one per frame, never per piece or byte: this is the hot path
            self.written = max(self.written, shown)

    async def reply(self, frame: str) -> None:
        """A frame for this page alone (its composer, an error): sent now, after what was queued before it."""
        self.outbox.append((frame, self.shown))  # written here and now: the writer need not come by
        await self.write()

    def refill(self, delay: float = 0.0) -> None:
        """Forget what is queued and refill the page from the database, from what it was last sent."""
        OUTBOX_REFILLS.inc()
        self.outbox, self.outbox_pieces = [], 0
        self.shown = self.written
        self.resets += 1
        self.restore_needed = True
        if self.state is State.LIVE:
            self.held = []
            self._start_fill(up_to=None, delay=delay)
        else:  # a claim or a fill is under way: it refills when it is done
            self.overflowed = True

    def close(self) -> int:
        """The socket closed: queue nothing more. Returns the change the page was last sent."""
        self.state = State.CLOSED
        self.outbox, self.held = [], []
        if self._fill is not None:
            self._fill.cancel()
        return self.written
