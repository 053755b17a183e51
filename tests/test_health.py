"""/healthz, /readyz and /metrics (chat/health.py, chat/metrics.py): what they answer, to whom, and that the
counters count what happens on the sockets."""

import asyncio
import time
import urllib.error
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat import rooms
from chat.metrics import REGISTRY
from project.redis_env import sentinel_settings

from .live import Daphne, server_env
from .sockets import open_socket, receive_all, receive_until, send_frame

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
OUTSIDE = "203.0.113.9"


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@pytest.mark.django_db
def test_healthz_answers_ok_without_a_session_or_caching():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies  # no session, no CSRF cookie
    assert Client().head("/healthz").status_code == 200
    assert Client().post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ready_when_the_database_answers_and_there_is_no_redis(settings):
    settings.REDIS_URL = ""
    response = Client().get("/readyz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


@pytest.mark.django_db
def test_readyz_says_redis_is_down_while_it_is_and_recovers(settings, private_redis):
    settings.REDIS_URL = private_redis.url
    assert Client().get("/readyz").status_code == 200
    private_redis.stop()
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.content == b"redis down\n"
    assert response["Cache-Control"] == "no-store"
    assert Client().get("/healthz").status_code == 200  # the process itself is fine
    private_redis.start()
    assert Client().get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_waits_at_most_about_a_second_for_redis(settings):
    # 192.0.2.1 (TEST-NET-1) never answers: the connection attempt times out.
    settings.REDIS_URL = "redis://192.0.2.1:6379/0"
    started = time.monotonic()
    response = Client().get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and b"redis down" in response.content
    assert elapsed < 3


@pytest.mark.django_db
def test_readyz_answers_503_within_a_second_and_a_half_when_the_sentinels_do_not_answer(settings, private_redis):
    # Three sentinels that accept connections and answer nothing (a paused server), as on a host cut from them.
    settings.REDIS_URL = ""
    settings.REDIS_SENTINELS = [private_redis.address] * 3
    settings.REDIS_SENTINEL_KWARGS = sentinel_settings({"REDIS_SENTINELS": "x"})["REDIS_SENTINEL_KWARGS"]
    private_redis.pause()
    try:
        started = time.monotonic()
        response = Client().get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        private_redis.resume()
    assert (response.status_code, response.content) == (503, b"redis down\n")
    assert elapsed < 1.5  # measured before redis-py's retries were turned off for sentinels: 22.8 s


@pytest.mark.django_db
def test_metrics_are_for_this_machine_only(settings):
    settings.CHAT_METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR=OUTSIDE).get("/metrics").status_code == 404
    for local in ("127.0.0.1", "::1"):
        response = Client(REMOTE_ADDR=local).get("/metrics")
        assert response.status_code == 200, local
        assert response["Content-Type"] == PROMETHEUS_TEXT
        assert response["Cache-Control"] == "no-store"
        body = response.content.decode()
        for name in ("chat_messages_stored_total", "chat_deliveries_total", "chat_open_sockets"):
            assert f"# TYPE {name.removesuffix('_total')}" in body and f"\n{name} " in body
        assert "chat_event_loop_lag_seconds" in body and "chat_layer_reconnects_total" in body
    # A proxy on this machine that is not one of CHAT_TRUSTED_PROXIES: the request came from elsewhere.
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    # A trusted one: the client it names decides.
    settings.CHAT_TRUSTED_PROXIES = ["127.0.0.1"]
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


@pytest.mark.django_db
def test_the_metrics_token_opens_metrics_from_anywhere(settings):
    settings.CHAT_METRICS_TOKEN = "s3cret-scrape-token"
    outside = Client(REMOTE_ADDR=OUTSIDE)
    response = outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert response.status_code == 200 and response["Content-Type"] == PROMETHEUS_TEXT
    for wrong in ("Bearer wrong", "Bearer s3cret-scrape-token2", "s3cret-scrape-token", "Basic s3cret", ""):
        assert outside.get("/metrics", HTTP_AUTHORIZATION=wrong).status_code == 404, wrong
    assert outside.get("/metrics").status_code == 404
    assert Client().get("/metrics").status_code == 200  # the machine itself still needs none


@pytest.mark.django_db(transaction=True)
async def test_a_message_counts_once_stored_and_once_per_frame_delivered(make_user):
    alice, bob, carol = [await sync_to_async(make_user)(name) for name in ("alice", "bob", "carol")]
    lobby = await sync_to_async(rooms.create_room)("Lobby", alice)
    sockets_before = sample("chat_open_sockets")
    catch_ups_before = sample("chat_catch_ups_total")
    sockets = [(await open_socket(lobby.slug, user))[0] for user in (alice, bob, carol)]
    await until(lambda: sample("chat_catch_ups_total") == catch_ups_before + 3)  # each page claimed, once
    assert sample("chat_open_sockets") == sockets_before + 3
    assert sample("chat_rooms_with_sockets") >= 1

    stored, delivered = sample("chat_messages_stored_total"), sample("chat_deliveries_total")
    await sockets[0].send_to(text_data=send_frame("counted"))
    await receive_all(sockets[0], "counted", 'id="chat-form"')
    for socket in sockets[1:]:
        await receive_until(socket, "counted")
    assert sample("chat_messages_stored_total") == stored + 1
    assert sample("chat_deliveries_total") >= delivered + len(sockets)

    for socket in sockets:
        await socket.disconnect()
    assert sample("chat_open_sockets") == sockets_before


async def until(condition, timeout: float = 3) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (a counter, polled: nothing to wait on)
            await asyncio.sleep(0.01)


@pytest.mark.django_db(transaction=True)
async def test_the_hub_measures_how_late_the_event_loop_wakes(make_user):
    alice = await sync_to_async(make_user)("alice")
    lobby = await sync_to_async(rooms.create_room)("Lobby", alice)
    socket, _, _ = await open_socket(lobby.slug, alice)  # starts the hub's loops
    # Hold the loop for longer than the probe's 1 s sleep: whenever that sleep began, it wakes >= 0.5 s late.
    time.sleep(1.5)  # noqa: ASYNC251 (the point: a blocking call that holds the event loop)
    await asyncio.sleep(0.05)
    assert sample("chat_event_loop_lag_seconds") >= 0.45
    await socket.disconnect()


@pytest.mark.live
def test_a_real_daphne_answers_probes_and_metrics(private_redis, live_db, live_dir):
    daphne = Daphne(server_env(live_db, REDIS_URL=private_redis.url), live_dir).start()
    try:
        assert get(daphne.url + "/healthz") == (200, "ok\n")
        assert get(daphne.url + "/readyz") == (200, "ok\n")
        status, body = get(daphne.url + "/metrics")
        assert status == 200
        assert "\nchat_open_sockets 0.0\n" in body and "process_cpu_seconds_total" in body
        private_redis.stop()
        assert get(daphne.url + "/readyz") == (503, "redis down\n")
        assert get(daphne.url + "/healthz") == (200, "ok\n")
        private_redis.start()
        assert get(daphne.url + "/readyz") == (200, "ok\n")
    finally:
        daphne.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Cache-Control"] == "no-store"
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
