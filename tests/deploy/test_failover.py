"""Redis Sentinel failover under traffic: the master is killed, a sentinel promotes the replica, and every page
of both processes ends with every stored message exactly once."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

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

RATE = 20  # messages a second, from one sender on each process (the first page of each)
BEFORE, AFTER = 5.0, 15.0  # seconds of sending before the kill, and after it
LIVE_WITHIN = 15.0  # seconds: every message reaches every page this soon after the kill (or its sending)


async def test_pages_on_both_processes_get_every_message_once_across_a_sentinel_failover(deployment):
    pages = open_pages(deployment.apps.values(), deployment.room)
    try:
        assert await until(lambda: all(p.opens for p in pages), 15), "pages did not open"
        senders = pages[:2]  # one on each process
        sent = [0]
        sending = asyncio.create_task(send_steadily(senders, RATE, BEFORE + AFTER, sent))
        await asyncio.sleep(BEFORE)

        old_master = deployment.redis.master()
        killed_at = time.time()
        old_master.process.send_signal(signal.SIGKILL)
        promoted_after = None
        while time.time() - killed_at < 30:
            try:
                if deployment.redis.master_port() != old_master.port:
                    promoted_after = time.time() - killed_at
                    break
            except RuntimeError:
                pass
            await asyncio.sleep(0.1)
        assert promoted_after is not None, "no sentinel promoted the replica"
        ready_after = None
        while time.time() - killed_at < 30:
            if all(app.probe("/readyz") == 200 for app in deployment.apps.values()):
                ready_after = time.time() - killed_at
                break
            await asyncio.sleep(0.2)
        await sending

        answered, _, stored = await settle(deployment.stored, pages, senders, sent[0], 20)
        assert answered, "sends not all answered"
        figures = compare(pages, stored, since=killed_at)
        print(
            f"\nfailover: {sent[0]} sent at {RATE}/s, {len(stored)} stored; replica promoted "
            f"{promoted_after:.1f} s after the kill; both /readyz 200 again after {ready_after or -1:.1f} s\n"
            f"failover: {figures.line()}"
        )
        print_layer_log("failover", deployment.apps.values())
        assert_each_page_has_each_message_once(figures, stored, sent[0])
        assert figures.worst_delay < LIVE_WITHIN, figures.line()
        assert ready_after is not None, "a process stayed unready"
    finally:
        for page in pages:
            await page.stop()
