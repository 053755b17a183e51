"""project/drain.py: on SIGTERM a server process stops listening, drops its sockets (the page sees 1006, which the
htmx ws extension retries, and reconnects elsewhere), lets requests in flight finish, and exits within 5 s."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from .browser import unique
from .live import Daphne, HttpUser, Listener, server_env

pytestmark = pytest.mark.live


def answer(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_sigterm_drops_every_socket_with_1006_stops_listening_and_exits(live_db, live_dir):
    server = Daphne(server_env(live_db), live_dir).start()
    try:
        person = HttpUser(server.url)
        await asyncio.to_thread(person.sign_up, unique("ann"))
        _, page = await asyncio.to_thread(person.post, "/", {"name": unique("Drain ")})
        slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
        pages = [await Listener(server, person.cookie(), slug).open() for _ in range(5)]
        for listener in pages:
            await listener.until('id="connection-status"')

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        codes = await asyncio.wait_for(asyncio.gather(*(listener.closed for listener in pages)), 2)
        assert set(codes) == {1006}  # no close frame: the one code of those the page retries a server can cause
        assert refuses(server.port)
        await asyncio.to_thread(server.process.wait, 5)
        assert time.monotonic() - signalled < 5
        assert server.process.returncode == 0
        assert "Draining: stopped listening, dropped 5 sockets." in server.log()
    finally:
        server.stop()


def test_a_request_in_flight_when_sigterm_arrives_is_answered(live_db, live_dir):
    # 192.0.2.1 (TEST-NET-1) never answers: /readyz waits about a second for Redis, then says it is down.
    server = Daphne(server_env(live_db, REDIS_URL="redis://192.0.2.1:6379/0"), live_dir).start()
    try:
        answers: list[tuple[int, str]] = []
        request = threading.Thread(target=lambda: answers.append(answer(server.url + "/readyz")))
        request.start()
        time.sleep(0.3)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        assert refuses(server.port)  # a proxy's next connection goes to another process
        request.join(5)
        assert answers == [(503, "redis down\n")]  # daphne alone cancels it: the connection drops unanswered
        server.process.wait(5)
        assert time.monotonic() - signalled < 5
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("ss") is None, reason="no ss (iproute2) here")
def test_the_server_queues_a_reconnect_storm_instead_of_resetting_it(live_db, live_dir):
    """When a process stops, its pages all reconnect to the others at once: Twisted's default listen backlog (50)
    overflowed with 200 and nginx got resets (502). `ss` shows a listening socket's backlog as its Send-Q."""
    server = Daphne(server_env(live_db), live_dir).start()
    try:
        listing = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True).stdout
        assert listing.split()[2] == "1024", listing
    finally:
        server.stop()
