"""Security: who may connect, who stays connected, flood control, limits and deploy settings."""

import asyncio
import os
import subprocess
import sys
import threading

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from chat import limits, services
from chat.models import Message

from .live import ROOT
from .sockets import open_socket, receive_all, receive_until, send_frame

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def parse_csp(header: str) -> dict[str, str]:
    """Directives are unordered: compare them as a mapping, each with its exact sources."""
    directives = [part.strip().split(" ", 1) for part in header.split(";") if part.strip()]
    return {name: sources for name, sources in directives}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/signup/", "/", "/chat/lobby/"])
def test_every_page_has_the_strict_csp(client, make_user, url):
    client.force_login(make_user())
    services.create_room("Lobby", make_user())
    response = client.get(url)
    assert response.status_code == 200
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_templates_carry_no_inline_script_or_style(client, make_user):
    user = make_user()
    room = services.create_room("Lobby", user)
    services.post_message(room, user, "hi")
    client.force_login(user)
    html = client.get(room.get_absolute_url()).content.decode()
    assert "<script>" not in html and "<script " not in html.replace('<script src="/static/vendor/', "")
    assert " style=" not in html and "<style" not in html
    assert "hx-on" not in html and "javascript:" not in html
    assert '"allowEval": false' in html and '"allowScriptTags": false' in html and '"selfRequestsOnly": true' in html


# Who stays connected ---------------------------------------------------------

pytest_async = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lobby(make_user):
    return services.create_room("Lobby", make_user("owner"))


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def socket_for(client: Client, slug: str):
    """A socket on the same session as `client` (as a second tab of that browser would be)."""
    from channels.testing import WebsocketCommunicator

    from project.asgi import application

    from .sockets import ORIGIN, catch_up_frame

    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", ORIGIN)]
    headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/chat/{slug}/", headers=headers)
    assert (await communicator.connect())[0]
    await receive_until(communicator, 'id="connection-status"')
    await communicator.send_to(text_data=catch_up_frame(0))
    return communicator


async def closed_with(communicator, timeout: float = 2) -> int:
    """The close code the socket gets within `timeout` seconds (frames before it are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            output = await communicator.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return output["code"]


@pytest_async
async def test_logout_closes_every_socket_of_that_session_within_two_seconds(make_user, lobby):
    alice = await sync_to_async(make_user)("alice")
    laptop = await sync_to_async(signed_in_client)(alice)
    phone = await sync_to_async(signed_in_client)(alice)
    tabs = [await socket_for(laptop, lobby.slug), await socket_for(laptop, lobby.slug)]
    phone_tab = await socket_for(phone, lobby.slug)
    await sync_to_async(laptop.post)("/accounts/logout/")
    for tab in tabs:
        assert await closed_with(tab) == 4401
    # The phone's session is still signed in: its socket stays and works.
    await phone_tab.send_to(text_data=send_frame("phone still here"))
    assert "phone still here" in await receive_until(phone_tab, "<article")
    await phone_tab.disconnect()


@pytest_async
async def test_deactivated_user_is_disconnected(make_user, lobby):
    mallory = await sync_to_async(make_user)("mallory")
    tab = await socket_for(await sync_to_async(signed_in_client)(mallory), lobby.slug)
    mallory.is_active = False
    await sync_to_async(mallory.save)()
    assert await closed_with(tab) == 4401


@pytest_async
async def test_every_frame_checks_the_session(make_user, lobby):
    alice = await sync_to_async(make_user)("alice")
    tab = await socket_for(await sync_to_async(signed_in_client)(alice), lobby.slug)
    await sync_to_async(Session.objects.all().delete)()  # signed out with no event to tell us
    await tab.send_to(text_data=send_frame("after sign-out"))
    assert await closed_with(tab) == 4401
    assert not await sync_to_async(Message.objects.exists)()


# Flood control -----------------------------------------------------------------


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
            if "connection-status" in output["text"]:
                outcomes.append("open")
                break
    assert outcomes.count("open") == settings.CHAT_MAX_SOCKETS_PER_USER
    assert outcomes.count(4429) == 100 - settings.CHAT_MAX_SOCKETS_PER_USER
    for communicator in sockets:
        await communicator.disconnect()


RIGHT = "a-long-test-password"


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/", **headers) -> int:
    return client.post(path, {"username": username, "password": password}, **headers).status_code


@pytest.mark.django_db
def test_failed_logins_lock_that_name_from_that_address_only(make_user):
    make_user("dave")
    attacker, dave = Client(REMOTE_ADDR="203.0.113.66"), Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):  # as DAVE: the same name to count
        assert log_in(attacker, "DAVE", "wrong") == 200
    assert log_in(attacker, "Dave", "wrong") == 429  # the fifth failure locks
    response = attacker.post("/accounts/login/", {"username": "dave", "password": RIGHT})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert log_in(dave, "dave", RIGHT) == 302  # the real dave, elsewhere, is not locked out


@pytest.mark.django_db
@override_settings(CHAT_LOGIN_FAILURES_PER_ADDRESS=12)
def test_failed_logins_lock_an_address_that_guesses_many_names(make_user):
    make_user("innocent")
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    for i in range(11):
        log_in(guesser, f"guess{i}", "wrong")
    assert log_in(guesser, "innocent", "wrong") == 429  # the 12th failure, each name below its own limit
    assert log_in(guesser, "innocent", RIGHT) == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.7"), "innocent", RIGHT) == 302


@pytest.mark.django_db
def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(make_user):
    make_user("victim")
    client = Client(REMOTE_ADDR="203.0.113.66")
    for i in range(5):  # a new "client address" each time, which nobody vouches for
        log_in(client, "victim", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert log_in(client, "victim", RIGHT, HTTP_X_FORWARDED_FOR="10.0.0.99") == 429


@pytest.mark.django_db
@override_settings(CHAT_TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(make_user):
    make_user("victim")
    proxy = Client(REMOTE_ADDR="127.0.0.1")
    for i in range(5):  # the client prepends what it likes; the proxy appends the address it saw
        log_in(proxy, "victim", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.66")
    assert log_in(proxy, "victim", RIGHT, HTTP_X_FORWARDED_FOR="10.0.0.99, 203.0.113.66") == 429
    assert log_in(proxy, "victim", RIGHT, HTTP_X_FORWARDED_FOR="198.51.100.7") == 302


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(make_user):
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(4):
        assert log_in(client, "boss", "wrong", path="/admin/login/") == 200
    assert log_in(client, "boss", "wrong", path="/admin/login/") == 429
    assert log_in(client, "boss", RIGHT, path="/admin/login/") == 429
    assert log_in(client, "boss", RIGHT) == 429  # one count for every login form


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


# Deploy settings ---------------------------------------------------------------

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "error"),
    [({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"), ({"DJANGO_ALLOWED_HOSTS": "*"}, "not '*'")],
)
def test_production_refuses_unsafe_settings(override, error):
    result = manage("check", **{**PRODUCTION, **override})
    assert result.returncode != 0
    assert error in result.stderr
