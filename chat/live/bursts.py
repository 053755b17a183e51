"""Garbage collection while sockets pour in.

CPython collects its oldest generation each time it has grown by a quarter since the last full
collection. A process whose sockets all come back at once (a deploy, a network blip) grows from a
few thousand tracked objects to hundreds of thousands within seconds, and so walks all of them again
and again: 25 full collections, 19 s of CPU, in a 5,000-socket storm (bench/README.md, "Issue 17");
when they all leave, what they leave behind while it waits for the database does the same.

So in a burst, full collections wait (young ones go on, and reference counting frees nearly
everything anyway). A burst is sockets opening or closing faster than BURST_SOCKETS a second, or two
full collections within FULL_SPACING_SECONDS: daphne handshakes a wave of sockets before the
application hears of any of them. Once BURST_CALM_SECONDS pass without either, Python's threshold
is back, and its next full collection walks what the burst left, once; after BURST_HOLD_SECONDS at
most, even in a storm that goes on, so that one full collection runs before the next hold.

Process-wide, as the collector is, and watching from import on. There is no timer (the collector
runs in whichever thread allocates): the hold ends at the first socket or collection after its time.
"""

from __future__ import annotations

import gc
import time

BURST_SOCKETS = 100  # sockets opened or closed within one second
FULL_SPACING_SECONDS = 5.0  # full collections closer than this: the heap grows fast
BURST_CALM_SECONDS = 10.0
BURST_HOLD_SECONDS = 30.0
# The oldest generation's threshold while held: it counts collections of the middle one, which come every
# ~7,000 net allocations, so full collections wait about 70 million.
HELD_THRESHOLD = 10_000


class Bursts:
    def __init__(self) -> None:
        self.second = 0  # the whole second (monotonic) being counted
        self.sockets = 0  # sockets opened or closed in it
        self.full_at = -FULL_SPACING_SECONDS  # when the last full collection began
        self.busy_at = 0.0  # the last sign of a burst
        self.held_since: float | None = None
        self.threshold = 0  # the oldest generation's threshold before holding
        self.holds = 0  # bursts so far
        self.waiting_for_full = False

    @property
    def holding(self) -> bool:
        return self.held_since is not None

    def churn(self) -> None:
        """A socket opened or closed (consumers.ChatConsumer)."""
        now = time.monotonic()
        if int(now) != self.second:
            self.second, self.sockets = int(now), 0
        self.sockets += 1
        if self.sockets >= BURST_SOCKETS:
            self.busy(now)
        else:
            self.maybe_release(now)

    def collecting(self, phase: str, info: dict) -> None:
        """gc.callbacks: every collection starts and stops here."""
        if phase != "start" or (info["generation"] == 0 and self.held_since is None):
            return
        now = time.monotonic()
        if info["generation"] == 2:
            self.waiting_for_full = False
            if now - self.full_at < FULL_SPACING_SECONDS:
                self.busy(now)
            self.full_at = now
        else:
            self.maybe_release(now)

    def busy(self, now: float) -> None:
        self.busy_at = now
        self.maybe_release(now)
        if self.held_since is None and not self.waiting_for_full:
            self.held_since = now
            self.holds += 1
            young, middle, self.threshold = gc.get_threshold()
            gc.set_threshold(young, middle, HELD_THRESHOLD)

    def maybe_release(self, now: float) -> None:
        if self.held_since is None:
            return
        if now - self.held_since >= BURST_HOLD_SECONDS:
            self.release()
            self.waiting_for_full = True  # no new hold before one full collection has run
        elif now - self.busy_at >= BURST_CALM_SECONDS:
            self.release()

    def release(self) -> None:
        if self.held_since is None:
            return
        self.held_since = None
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, self.threshold)


bursts = Bursts()
# From the start: after a deploy, the first wave of sockets is handshaken before any of them reaches the consumer.
gc.callbacks.append(bursts.collecting)
