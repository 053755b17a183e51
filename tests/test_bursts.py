"""Full garbage collections wait while sockets pour in (chat/live/bursts.py), and presence settles less often."""

import asyncio
import gc

import pytest

from chat.live import bursts as bursts_module
from chat.live import presence as presence_module
from chat.live.bursts import BURST_CALM_SECONDS, BURST_HOLD_SECONDS, BURST_SOCKETS, HELD_THRESHOLD, Bursts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(bursts_module.time, "monotonic", clock)
    return clock


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_a_storm_of_sockets_holds_full_collections_until_it_calms_down(clock, thresholds):
    bursts = Bursts()
    for _ in range(BURST_SOCKETS - 1):
        bursts.churn()
    assert not bursts.holding and gc.get_threshold() == thresholds  # a busy second, not a storm
    bursts.churn()
    assert bursts.holding and gc.get_threshold() == (*thresholds[:2], HELD_THRESHOLD)
    clock.now += BURST_CALM_SECONDS - 0.5
    bursts.churn()  # one socket: not a storm, but not calm for long enough either
    bursts.collecting("start", {"generation": 0})
    assert bursts.holding
    clock.now += 1.0
    bursts.collecting("start", {"generation": 1})  # the first collection after the calm releases it
    assert not bursts.holding and gc.get_threshold() == thresholds
    assert bursts.holds == 1


def test_a_hold_lasts_at_most_its_limit_then_one_full_collection_runs(clock, thresholds):
    bursts = Bursts()
    for second in range(int(BURST_HOLD_SECONDS) + 1):
        clock.now = 1000.0 + second
        for _ in range(BURST_SOCKETS):
            bursts.churn()
        assert bursts.holding == (second < BURST_HOLD_SECONDS)
    assert gc.get_threshold() == thresholds  # the storm goes on, but a full collection may run now
    clock.now += 1.0
    for _ in range(BURST_SOCKETS):
        bursts.churn()
    assert not bursts.holding
    bursts.collecting("start", {"generation": 2})  # it ran: the next busy second holds again
    for _ in range(BURST_SOCKETS):
        bursts.churn()
    assert bursts.holding and bursts.holds == 2


def test_full_collections_in_quick_succession_are_a_burst(clock, thresholds):
    """daphne handshakes a whole wave of sockets before the consumer hears of any: the collector notices first."""
    bursts = Bursts()
    bursts.collecting("start", {"generation": 2})
    bursts.collecting("stop", {"generation": 2})
    assert not bursts.holding
    clock.now += 1.0
    bursts.collecting("start", {"generation": 2})
    assert bursts.holding and gc.get_threshold()[2] == HELD_THRESHOLD
    clock.now += BURST_CALM_SECONDS
    bursts.collecting("start", {"generation": 0})
    assert not bursts.holding and gc.get_threshold() == thresholds


def test_the_process_watches_its_collections():
    assert bursts_module.bursts.collecting in gc.callbacks


async def test_presence_settles_less_often_in_a_storm(monkeypatch, thresholds):
    """Joins and leaves are shown after the usual second, or after BURST_DEBOUNCE_SECONDS in a storm."""
    delays = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "call_later", lambda delay, callback: delays.append(delay))

    class Hub:
        process_id = "test"
        viewers: dict = {}

    presence = presence_module.Presence(Hub())  # type: ignore[arg-type]
    presence.changed(1)
    monkeypatch.setattr(bursts_module.bursts, "held_since", 1.0)  # a storm is on
    presence.pending["record"].clear()
    presence.changed(2)
    assert delays == [presence_module.PRESENCE_DEBOUNCE_SECONDS, presence_module.BURST_DEBOUNCE_SECONDS]
