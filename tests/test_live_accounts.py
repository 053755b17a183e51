"""Accounts against live daphne processes: sign-out and a password change close sockets everywhere; a Redis
outage never turns a login into an error."""

import asyncio
import json
import time

import pytest

from .browser import unique
from .live import Daphne, HttpUser, Listener, server_env

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery 42"


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


async def test_signing_out_closes_that_sessions_sockets_on_every_process(chat_servers):
    alice, talker, listeners = await set_up(chat_servers)
    status, _ = await asyncio.to_thread(alice.post, "/accounts/logout/", {}, "/")
    assert status == 200  # redirected to the login page
    await assert_closed_and_deaf(talker, listeners, time.monotonic())


async def test_a_password_change_closes_the_sockets_of_the_sessions_it_ends_on_every_process(chat_servers):
    alice, talker, listeners = await set_up(chat_servers)
    fields = {
        "old_password": PASSWORD,
        "new_password1": "a new battery staple 43",
        "new_password2": "a new battery staple 43",
    }
    status, page = await asyncio.to_thread(alice.post, "/accounts/password_change/", fields)
    assert status == 200 and "Password change successful" in page
    await assert_closed_and_deaf(talker, listeners, time.monotonic())


def test_logging_in_and_signing_up_while_redis_is_down_never_answers_500(private_redis, live_db, live_dir):
    server = Daphne(server_env(live_db, REDIS_URL=private_redis.url), live_dir).start()
    try:
        name = unique("outage")
        assert HttpUser(server.url).sign_up(name, PASSWORD)[0] == 200  # signed up, then shown the index
        private_redis.stop()
        guesser = HttpUser(server.url)
        statuses = [guesser.post("/accounts/login/", {"username": name, "password": "wrong"})[0] for _ in range(6)]
        assert statuses == [200, 200, 200, 200, 429, 429]
        status, _ = HttpUser(server.url).post("/accounts/login/", {"username": name, "password": PASSWORD})
        assert status == 429  # the same address, still locked: counts live in the database
        assert HttpUser(server.url).sign_up(unique("during"), PASSWORD)[0] == 200
        assert "Internal Server Error" not in server.log() and "Traceback" not in server.log()
    finally:
        server.stop()
        private_redis.start()  # the fixture stops it at the end
