"""Reliability against real processes: daphne restarts, a Redis restart, long idle sockets."""

import asyncio
import concurrent.futures
import contextlib
import json
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .browser import bodies, create_room, send, sign_up, unique, wait_live
from .live import Daphne, chat_socket, create_room_over_http, server_env, sign_up_over_http

pytestmark = pytest.mark.browser


def test_a_page_cut_off_by_a_restart_catches_up_on_every_message(live_db, live_dir, new_page):
    env = server_env(live_db)
    bobs_server = Daphne(env, live_dir).start()
    alices_server = Daphne(env, live_dir).start()  # a second process on the same database
    try:
        alice, bob = new_page(), new_page()
        sign_up(alice, alices_server.url, unique("alice"))
        room_path = create_room(alice, unique("Restart ")).removeprefix(alices_server.url)
        send(alice, "before")
        sign_up(bob, bobs_server.url, unique("bob"))
        bob.goto(bobs_server.url + room_path)
        wait_live(bob)
        expect(bob.locator(".message-body")).to_have_text(["before"])

        bobs_server.stop()
        lines = [f"while away {i}" for i in range(30)]
        for line in lines:
            send(alice, line)
        bobs_server.start()
        back = time.monotonic()
        expect(bob.locator(".message")).to_have_count(31, timeout=15_000)
        assert time.monotonic() - back < 15
        assert bodies(bob) == ["before", *lines]
        ids = bob.locator(".message").evaluate_all("els => els.map(e => e.id)")
        assert len(set(ids)) == 31
    finally:
        bobs_server.stop()
        alices_server.stop()


def test_redis_restart_mid_chat(private_redis, live_db, live_dir, new_page):
    env = server_env(live_db, REDIS_URL=private_redis.url)
    servers = [Daphne(env, live_dir).start(), Daphne(env, live_dir).start()]
    try:
        alice, bob = new_page(), new_page()
        sign_up(alice, servers[0].url, unique("alice"))
        room_path = create_room(alice, unique("Blink ")).removeprefix(servers[0].url)
        sign_up(bob, servers[1].url, unique("bob"))
        bob.goto(servers[1].url + room_path)
        wait_live(bob)
        send(alice, "before the blink")
        expect(bob.locator(".message-body")).to_have_text(["before the blink"], timeout=2000)

        private_redis.stop()
        send(alice, "during the blink")  # accepted (stored), or queued by the page until it reconnects
        time.sleep(2)
        private_redis.start()
        back = time.monotonic()
        send(alice, "after the blink")
        expected = ["before the blink", "during the blink", "after the blink"]
        for page in (alice, bob):
            expect(page.locator(".message-body")).to_have_text(expected, timeout=10_000)
        assert time.monotonic() - back < 10
    finally:
        for server in servers:
            server.stop()


@pytest.mark.timeout(180)
def test_an_idle_socket_on_the_redis_layer_stays_open(live_db, live_dir, private_redis):
    env = server_env(live_db, REDIS_URL=private_redis.url)
    server = Daphne(env, live_dir).start()
    try:
        session = sign_up_over_http(server.url, unique("idle"))
        room_path = create_room_over_http(server.url, session, unique("Idle "))
        slug = room_path.split("/")[2]

        async def idle_then_talk():
            async with chat_socket(server, session, slug) as ws:
                await ws.send(json.dumps({"last_change": "0", "HEADERS": {"HX-Trigger": "catch-up"}}))
                frames: list[str] = []

                async def read():  # as a browser does, so heartbeats do not back up
                    async for frame in ws:
                        frames.append(frame)

                reader = asyncio.create_task(read())
                await asyncio.sleep(60)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                heartbeats = sum('id="connection-status"' in frame for frame in frames)
                assert heartbeats >= 20  # every 2 s in these tests
                marker = f"still open {uuid.uuid4()}"
                await ws.send(json.dumps({"message": marker, "HEADERS": {"HX-Trigger": "chat-form"}}))
                async with asyncio.timeout(5):
                    while marker not in await ws.recv():
                        pass

        # Its own thread: Playwright's sync API keeps an event loop on this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, idle_then_talk()).result()
    finally:
        server.stop()
    assert "Exception inside application" not in server.log()


def test_servers_log_no_exceptions(live_dir):
    logs = "".join(path.read_text(errors="replace") for path in Path(live_dir).glob("daphne-*.log"))
    assert "Exception inside application" not in logs


def status_label(page) -> str:
    return page.locator("#connection-status > span:visible").inner_text()


def test_the_page_shows_when_it_is_live_and_when_it_is_reconnecting(live_db, live_dir, new_page):
    server = Daphne(server_env(live_db), live_dir).start()
    try:
        page = new_page()
        sign_up(page, server.url, unique("status"))
        create_room(page, unique("Status "))
        assert status_label(page) == "Live"
        # Each heartbeat (every 2 s here) swaps in a new status element, restarting its countdown.
        page.locator("#connection-status").evaluate("el => el.dataset.marked = 'yes'")
        expect(page.locator("#connection-status[data-marked]")).to_have_count(0, timeout=5000)
        server.stop()
        # Heartbeats stopped: when the countdown (40 s) runs out, the label says so.
        page.evaluate("document.getAnimations().forEach(a => a.currentTime = 40_001)")
        assert status_label(page) == "Reconnecting…"
        server.start()
        expect(page.locator("#connection-status .status-live")).to_be_visible(timeout=15_000)
        assert status_label(page) == "Live"
    finally:
        server.stop()
