"""Sign-out and a password change close that session's sockets on every process at once (live daphne, Redis)."""

import asyncio
import json
import time

import pytest
import websockets

from .browser import unique
from .live import Daphne, HttpUser, server_env

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery 42"


@pytest.fixture
def two_servers(private_redis, live_db, live_dir):
    env = server_env(live_db, REDIS_URL=private_redis.url)
    servers = [Daphne(env, live_dir).start(), Daphne(env, live_dir).start()]
    yield servers
    for server in servers:
        server.stop()
    for server in servers:
        assert "Traceback" not in server.log()


class Listener:
    """A raw socket that sends its page's catch-up and nothing else, and records all it is sent."""

    def __init__(self, server: Daphne, session: str, slug: str) -> None:
        self.server, self.session, self.slug = server, session, slug
        self.frames: list[str] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()

    async def open(self) -> "Listener":
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.server.port}/ws/chat/{self.slug}/",
            origin=self.server.url,
            additional_headers={"Cookie": f"sessionid={self.session}"},
        )
        await self.ws.send(json.dumps({"last_change": "0", "HEADERS": {"HX-Trigger": "catch-up"}}))
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.frames.append(frame)
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass  # closed with a code of ours: recorded below
        finally:
            self.closed.set_result(self.ws.close_code)

    async def until(self, text: str, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not self.received(text):
                self.arrived.clear()
                await self.arrived.wait()

    def received(self, text: str) -> bool:
        return any(text in frame for frame in self.frames)


async def set_up(servers):
    alice, bob = HttpUser(servers[0].url), HttpUser(servers[0].url)
    await asyncio.to_thread(alice.sign_up, unique("alice"), PASSWORD)
    await asyncio.to_thread(bob.sign_up, unique("bob"))
    _, page = await asyncio.to_thread(bob.post, "/", {"name": unique("Sessions ")})
    slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    listeners = [await Listener(server, alice.cookie(), slug).open() for server in servers]
    talker = await Listener(servers[1], bob.cookie(), slug).open()
    await talker.ws.send(json.dumps({"message": "before", "HEADERS": {"HX-Trigger": "chat-form"}}))
    for listener in listeners:
        await listener.until(">before<")
    return alice, talker, listeners


async def assert_closed_and_deaf(talker, listeners, ended_at: float) -> None:
    """Both sockets close with 4401 within 2 s; a message sent right after the sign-out reaches neither."""
    await talker.ws.send(json.dumps({"message": "after", "HEADERS": {"HX-Trigger": "chat-form"}}))
    await talker.until(">after<")
    for listener in listeners:
        async with asyncio.timeout(max(0.1, ended_at + 2 - time.monotonic())):
            assert await listener.closed == 4401
        assert listener.received("You have been signed out")
        assert not listener.received(">after<")
    await talker.ws.close()


async def test_signing_out_closes_that_sessions_sockets_on_every_process(two_servers):
    alice, talker, listeners = await set_up(two_servers)
    status, _ = await asyncio.to_thread(alice.post, "/accounts/logout/", {}, "/")
    assert status == 200  # redirected to the login page
    await assert_closed_and_deaf(talker, listeners, time.monotonic())


async def test_a_password_change_closes_the_sockets_of_the_sessions_it_ends_on_every_process(two_servers):
    alice, talker, listeners = await set_up(two_servers)
    fields = {
        "old_password": PASSWORD,
        "new_password1": "a new battery staple 43",
        "new_password2": "a new battery staple 43",
    }
    status, page = await asyncio.to_thread(alice.post, "/accounts/password_change/", fields)
    assert status == 200 and "Password change successful" in page
    await assert_closed_and_deaf(talker, listeners, time.monotonic())
