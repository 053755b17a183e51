"""This process's metrics, in Prometheus's text format at /metrics (chat/health.py).

Each server process counts only what it did itself: a scrape reads one process, and
Prometheus adds the processes up. The metrics live in a registry of our own
(`REGISTRY`), not prometheus-client's global one, so a library that registers
metrics of its own there never shows up here by accident.

This module knows nothing of Django or the channel layer: the live modules call one
line each (`DELIVERIES.inc()`), and feed.py stays testable alone. What is already
counted elsewhere (the hub's sockets and rooms) is read when scraped, not updated on
every join and leave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
# CPU seconds, resident memory, open files (Linux) and the Python version, as any Prometheus target has.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)


class Tally:
    """A counter bumped for every frame a socket is sent: a plain integer, read when scraped (TallyCollector).

    prometheus-client's Counter takes a lock on every `inc` (0.6 µs here, a tenth of what writing a frame on a
    socket now costs). Only the event loop's thread bumps a tally; a scrape (in a thread) reads one integer.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class TallyCollector(Collector):
    def __init__(self, name: str, documentation: str, tally: Tally) -> None:
        self.name, self.documentation, self.tally = name, documentation, tally

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.tally.value)


def tally(name: str, documentation: str) -> Tally:
    """A counter of the hot path, shown as `<name>_total` like the others."""
    counter = Tally()
    REGISTRY.register(TallyCollector(name, documentation, counter))
    return counter


# Counters get "_total" appended by prometheus-client (chat_messages_stored_total).
MESSAGES_STORED = Counter(
    "chat_messages_stored", "New messages stored by this process (services.post_message).", registry=REGISTRY
)
DELIVERIES = tally("chat_deliveries", "Frames written to this process's sockets (each may pack several pieces).")
FRAMES_WRITTEN_STRAIGHT = tally(
    "chat_frames_written_straight",
    "Of those, frames written straight on the socket (project/socket_frames.py), not through ASGI's send.",
)
OUTBOX_REFILLS = Counter(
    "chat_outbox_refills",
    "Pages refilled from the database: fell too far behind, or a frame could not be sent.",
    registry=REGISTRY,
)
CATCH_UPS = Counter("chat_catch_ups", "Pages that claimed what they show (each socket once).", registry=REGISTRY)
RECONCILIATION_FILLS = Counter(
    "chat_reconciliation_fills",
    "Catch-ups that filled in changes the channel layer lost (after an outage, or found by reconciliation).",
    registry=REGISTRY,
)
LAYER_RECONNECTS = Counter(
    "chat_layer_reconnects", "Times the hub subscribed again after the channel layer failed.", registry=REGISTRY
)
EVENT_LOOP_LAG = Gauge(
    "chat_event_loop_lag_seconds",
    "How late the event loop last woke from a 1 s sleep: time the loop was busy with other work.",
    registry=REGISTRY,
)


class HubCollector(Collector):
    """Sockets and rooms as the hub(s) of this process hold them at scrape time.

    One hub per event loop: daphne runs one, tests may run several. The scrape runs in
    a thread (a sync view): each read below is one C-level copy or len() of a dict,
    which the event loop's thread cannot change halfway through.
    """

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without this the registry would collect once to learn the names, importing the hub too early.
        yield GaugeMetricFamily("chat_open_sockets", "")
        yield GaugeMetricFamily("chat_rooms_with_sockets", "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from chat.live.hub import _hubs  # imported here: the hub imports the live modules, which import this

        hubs = list(_hubs.values())
        # Each joined socket shows exactly one room, so the viewers hold every socket once.
        sockets = sum(len(viewing) for hub in hubs for viewing in list(hub.viewers.values()))
        yield GaugeMetricFamily("chat_open_sockets", "Sockets open on this process (joined to the hub).", sockets)
        rooms = sum(len(hub.viewers) for hub in hubs)
        yield GaugeMetricFamily("chat_rooms_with_sockets", "Rooms that a socket on this process shows.", rooms)


REGISTRY.register(HubCollector())


async def measure_event_loop_lag() -> None:
    """How late the loop wakes from a 1 s sleep: time it spent on work that held it (run by each hub)."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(1)
        EVENT_LOOP_LAG.set(max(0.0, loop.time() - started - 1))
