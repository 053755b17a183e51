"""A network partition: one app host loses Redis (every packet dropped, no reset) for 10 s under traffic, while
it still reaches the database and its pages. Meanwhile that host's own posts are still shown on its pages within
2 s and its /readyz answers 503 within 2 s; afterwards /readyz is 200 again and every page of both hosts has every
stored message exactly once."""

from __future__ import annotations

import asyncio
import time

import pytest

from . import netns
from .pages import (
    assert_each_page_has_each_message_once,
    compare,
    open_pages,
    print_layer_log,
    send_steadily,
    settle,
    until,
)

pytestmark = pytest.mark.deploy

RATE = 20  # messages a second, from one sender on each host
BEFORE, CUT, AFTER = 3.0, 10.0, 10.0  # seconds of sending before the cut, during it, after it
COMPLETE_WITHIN = 20.0  # seconds after the link comes back
SHOWN_WITHIN = 3.0  # seconds from a post on the cut host to its frame on that host's pages, the sender's included
# (measured 1.35-1.5 s: the 1 s broadcast bound plus flood control's 0.25 s once; before the fixes 15 s; the
# margin is for a loaded CI machine)
PROBE_WITHIN = 2.0  # seconds for /readyz to answer (the probe gives up then, as a prober would)
READY_AGAIN_WITHIN = 5.0  # seconds after the link comes back


async def probe(app, path: str) -> tuple[int, float]:
    """The status of a GET (0: no answer within the probe's 2 s) and how long it took; in a thread, so that the
    pages' frames are read meanwhile and their arrival times stay true."""
    started = time.monotonic()
    status = await asyncio.to_thread(app.probe, path)
    return status, time.monotonic() - started


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
            unready, unready_took = await probe(deployment.apps["app1"], "/readyz")
            await asyncio.sleep(cut_at + CUT - time.time())
        finally:
            network.heal("app1", netns.REDIS_ADDRESS)
        healed_at = time.time()
        ready_after = None
        while time.time() - healed_at < READY_AGAIN_WITHIN:
            if (await probe(deployment.apps["app1"], "/readyz"))[0] == 200:
                ready_after = time.time() - healed_at
                break
            await asyncio.sleep(0.2)
        await sending

        answered, done, stored = await settle(deployment.stored, pages, senders, sent[0], COMPLETE_WITHIN)
        completed_after = time.time() - healed_at
        figures = compare(pages, stored, since=cut_at)
        app1_pages = [p for p in pages if p.name.startswith("app1")]
        during = compare(app1_pages, {seq for p in app1_pages for seq, at in p.sent_at.items()}, since=cut_at)
        # Posts from the page on the cut host (sender 0), sent during the cut, on that host's pages: the sender's
        # own message frame comes with its fresh composer, and the others' from the hub, not from the layer.
        cut_posts = [
            (page.seen[seq] - page.sent_at[seq], seq, page.name)
            for page in app1_pages
            for seq in page.seen
            if page.sent_by[seq] == 0 and cut_at <= page.sent_at[seq] <= healed_at
        ]
        slowest = max(cut_posts, default=(0.0, 0, ""))
        print(
            f"\npartition: app1 cut from Redis for {CUT:.0f} s; /readyz during the cut: {unready} after "
            f"{unready_took:.2f} s, 200 again {ready_after or -1:.1f} s after the link came back; "
            f"{sent[0]} sent at {RATE}/s, {len(stored)} stored; every page complete "
            f"{completed_after:.1f} s after the link came back\n"
            f"partition: {figures.line()}\n"
            f"partition: app1's pages alone: worst delay {during.worst_delay:.2f} s; app1's own posts during the "
            f"cut ({len({seq for _, seq, _ in cut_posts})}) on its pages: worst {slowest[0]:.2f} s ({slowest[2]})"
        )
        print_layer_log("partition", deployment.apps.values())
        assert answered, "sends not all answered"
        assert done, f"pages incomplete {COMPLETE_WITHIN} s after the link came back: {figures.missing}"
        assert_each_page_has_each_message_once(figures, stored, sent[0])
        assert cut_posts, "no post from the cut host during the cut"
        assert slowest[0] < SHOWN_WITHIN, f"a post on the cut host took {slowest[0]:.2f} s to show: {slowest}"
        # Before: no answer within the probe's 2 s (redis-py retried each silent sentinel ten times).
        assert (unready, unready_took < PROBE_WITHIN) == (503, True), f"/readyz: {unready} in {unready_took:.2f} s"
        assert ready_after is not None, f"/readyz not 200 within {READY_AGAIN_WITHIN} s after the link came back"
    finally:
        for page in pages:
            await page.stop()
