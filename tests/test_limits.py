"""Flood control (chat/limits.py): sends per second, sockets per user, sign-ups per address, rooms per user."""

import asyncio
import os
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.test import Client, override_settings

from chat import limits
from chat.models import Message

from .conftest import signed_in_client
from .sockets import closed_with, open_socket, pytest_async, receive_all, receive_until, send_frame


@pytest_async
async def test_fifty_sends_in_a_second_store_at_most_the_limit(make_user, lobby):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    a, _, _ = await open_socket(lobby.slug, alice)
    b, _, _ = await open_socket(lobby.slug, bob)
    for i in range(50):
        await a.send_to(text_data=send_frame(f"flood {i}"))
    frames = await receive_all(a, "flood 0")
    while frames.count("sending too fast") + frames.count('<article id="message-') < 50:
        frames += await a.receive_from(timeout=3)
    stored = await sync_to_async(Message.objects.count)()
    # A burst of 10 (the page's catch-up frame took one), plus 5 a second for the
    # time the 50 frames took (under a second).
    assert 9 <= stored <= 15
    assert frames.count("sending too fast") == 50 - stored
    # Bob was not slowed down by Alice: he can talk at once.
    await b.send_to(text_data=send_frame("bob is fine"))
    assert "bob is fine" in await receive_until(b, "bob is fine")
    await a.disconnect()
    await b.disconnect()


@pytest.mark.redis
def test_the_send_budget_is_shared_across_processes_through_redis():
    """Two event loops (as two processes would) drawing on one user's bucket in Redis."""
    allowed = []
    user_id = int.from_bytes(os.urandom(4), "big")

    def process():
        async def burst():
            return sum([await limits.allow_frame(user_id) for _ in range(20)])

        allowed.append(asyncio.run(burst()))

    with override_settings(REDIS_URL="redis://127.0.0.1:6379/3", CHAT_RATE_PER_SECOND=0.001, CHAT_RATE_BURST=10):
        threads = [threading.Thread(target=process) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(allowed) == 10


async def test_flood_control_waits_briefly_on_a_silent_redis_then_limits_per_process_for_a_while(
    settings, private_redis, caplog
):
    settings.REDIS_URL = private_redis.url
    settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST = 0.001, 3
    assert await limits.allow_frame(7)  # a token from the bucket in Redis
    private_redis.pause()
    try:
        started = time.monotonic()
        first = await limits.allow_frame(7)
        waited = time.monotonic() - started
        started = time.monotonic()
        rest = [await limits.allow_frame(7) for _ in range(4)]
        meanwhile = time.monotonic() - started
    finally:
        private_redis.resume()
    # One wait of FRAME_TIMEOUT_SECONDS, not the client's 2 s; then no wait while the outage lasts.
    assert limits.FRAME_TIMEOUT_SECONDS - 0.05 < waited < limits.FRAME_TIMEOUT_SECONDS + 0.5 and meanwhile < 0.1
    assert [first, *rest] == [True, True, True, False, False]  # this process's own bucket of 3
    assert caplog.text.count("rate limiter cannot reach Redis") == 1
    assert limits._outage.ongoing()
    limits._outage.end()  # as AWAY_SECONDS later: Redis is asked again
    assert await limits.allow_frame(7)
    assert caplog.text.count("rate limiter cannot reach Redis") == 1


@pytest_async
@override_settings(CHAT_MAX_SOCKETS_PER_USER=3)
async def test_a_user_has_at_most_the_cap_of_sockets(make_user, lobby):
    alice = await sync_to_async(make_user)("alice")
    tabs = [(await open_socket(lobby.slug, alice))[0] for _ in range(3)]
    extra, connected, _ = await open_socket(lobby.slug, alice, catch_up=None)
    assert connected
    assert "Too many open chat tabs" in await extra.receive_from()
    assert await closed_with(extra) == 4429
    await tabs[0].disconnect()
    again, _, _ = await open_socket(lobby.slug, alice)  # a slot is free again
    await again.send_to(text_data=send_frame("fits"))
    assert "fits" in await receive_until(again, "<article")
    for tab in [*tabs[1:], again]:
        await tab.disconnect()


@pytest_async
async def test_a_hundred_simultaneous_sockets_of_one_user_leave_at_most_the_cap_open(make_user, lobby):
    from channels.testing import WebsocketCommunicator
    from django.conf import settings

    from project.asgi import application

    from .sockets import ORIGIN

    tab = await sync_to_async(signed_in_client)(await sync_to_async(make_user)("alice"))
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"origin", ORIGIN),
        (b"cookie", f"sessionid={tab.cookies['sessionid'].value}".encode()),
    ]
    sockets = [WebsocketCommunicator(application, f"/ws/chat/{lobby.slug}/", headers=headers) for _ in range(100)]
    # All at once; each loads the session and the sidebar in the one database thread, so some wait a while.
    assert all(connected for connected, _ in await asyncio.gather(*(s.connect(timeout=30) for s in sockets)))
    outcomes = []
    for communicator in sockets:  # each either says it is live or is refused with 4429
        while True:
            output = await communicator.receive_output(timeout=30)
            if output["type"] == "websocket.close":
                outcomes.append(output["code"])
                break
            if 'class="connection-status live"' in output["text"]:  # a refusal says "ended"
                outcomes.append("open")
                break
    assert outcomes.count("open") == settings.CHAT_MAX_SOCKETS_PER_USER
    assert outcomes.count(4429) == 100 - settings.CHAT_MAX_SOCKETS_PER_USER
    for communicator in sockets:
        await communicator.disconnect()


@pytest.mark.django_db
@override_settings(CHAT_SIGNUPS_BURST=3)
def test_sign_ups_from_one_address_are_limited_with_a_clear_message():
    client = Client(REMOTE_ADDR="203.0.113.66")
    for i in range(3):
        fields = {"username": f"new{i}", "password1": "correct horse 42!", "password2": "correct horse 42!"}
        assert Client(REMOTE_ADDR="203.0.113.66").post("/accounts/signup/", fields).status_code == 302
    fields = {"username": "new3", "password1": "correct horse 42!", "password2": "correct horse 42!"}
    refused = client.post("/accounts/signup/", fields)
    assert refused.status_code == 429
    assert "Many accounts were created from your network" in refused.content.decode()
    assert Client(REMOTE_ADDR="198.51.100.7").post("/accounts/signup/", fields).status_code == 302


@pytest.mark.django_db
@override_settings(CHAT_ROOMS_BURST=3)
def test_room_creation_is_limited_with_a_clear_message(make_user):
    client = signed_in_client(make_user("busy"))
    for i in range(3):
        assert client.post("/", {"name": f"room {i}"}).status_code == 302
    refused = client.post("/", {"name": "room 3"})
    assert refused.status_code == 429
    assert "You have created many rooms" in refused.content.decode()
    assert signed_in_client(make_user("other")).post("/", {"name": "room 3"}).status_code == 302
