import asyncio
import itertools
import signal
import subprocess
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.utils import timezone, translation
from playwright.sync_api import sync_playwright

from chat import limits, message_html, rooms

from .live import CHROMIUM, CHROMIUM_ARGS, Daphne, create_site_admin, free_port, migrate, server_env

_names = itertools.count(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked `deploy` (tests/deploy/: minutes, nginx, a rolling restart) run only when asked for by
    name, `-m deploy` (make test-deploy), never as part of `pytest` or another -m selection."""
    if "deploy" in (config.option.markexpr or ""):
        return
    deploy = [item for item in items if item.get_closest_marker("deploy")]
    if deploy:
        config.hook.pytest_deselected(items=deploy)
        items[:] = [item for item in items if not item.get_closest_marker("deploy")]


@pytest.fixture(autouse=True)
def fresh_channel_layer_and_cache():
    """Each test gets its own channel layer (and so its own event-loop-bound queues), an empty cache, fresh
    rate limits and no kept message HTML."""
    channel_layers.backends.clear()
    cache.clear()
    limits._local.buckets.clear()  # this process's token buckets: user ids repeat from test to test
    limits._outage.end()  # a test that stopped Redis leaves flood control without it for a while
    message_html.kept.clear()  # and so do message ids
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def site_language_and_zone():
    """A request through the test client leaves its reader's language and zone active in this thread (as
    LocaleMiddleware does: a server runs each request in a context of its own); the next test starts from the
    site's."""
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture(autouse=True)
def open_sign_up(settings):
    """Tests sign people up through /accounts/signup/ on a site that has accounts, as CHAT_OPEN_SIGNUP allows;
    the tests of the invitation gate (test_people.py) turn it off."""
    settings.CHAT_OPEN_SIGNUP = True


@pytest.fixture(scope="session", autouse=True)
def server_logs_hold_no_traceback(tmp_path_factory):
    """Every daphne the suite started logged no traceback: expected trouble (Redis away, a closed peer) is
    logged in one line (chat/logs.py), so a traceback means a bug."""
    yield
    logs = sorted(tmp_path_factory.getbasetemp().rglob("daphne-*.log"))
    bad = [path for path in logs if "Traceback" in path.read_text(errors="replace")]
    assert not bad, "tracebacks in server logs: " + ", ".join(map(str, bad))


@pytest.fixture(scope="session", autouse=True)
def close_kept_connections(django_db_setup, django_db_blocker):
    """Sockets' database calls keep their connection (CONN_MAX_AGE) in asgiref's one
    thread for them; close it before the test database is dropped."""
    yield
    with django_db_blocker.unblock():
        asyncio.run(database_sync_to_async(connections.close_all)())


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **extra):
        username = username or f"user{next(_names)}"
        return get_user_model().objects.create_user(username=username, password="a-long-test-password", **extra)

    return make


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def logged_in(user) -> Client:
    """A browser whose requests come from htmx, as the page's buttons send them."""
    client = Client(headers={"HX-Request": "true"})
    client.force_login(user)
    return client


@pytest.fixture
def lobby(make_user):
    return rooms.create_room("Lobby", make_user("owner"))


@pytest.fixture
def people(make_user):
    """A room's admin and two others (a test file may define its own `people` and `room`)."""
    return make_user("admin"), make_user("alice"), make_user("bob")


@pytest.fixture
def room(people):
    return rooms.create_room("Rules", people[0])


# Browser tests: a live daphne on a fresh SQLite file, and Chromium.


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def live_db(live_dir):
    db = live_dir / "chat.sqlite3"
    migrate(server_env(db))
    create_site_admin(server_env(db))
    return db


@pytest.fixture(scope="module")
def server(live_db, live_dir):
    daphne = Daphne(server_env(live_db), live_dir).start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(**options):
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of our own on its own port: never the machine's shared one."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp_path)]

    class PrivateRedis:
        url = f"redis://127.0.0.1:{port}/0"
        address = ("127.0.0.1", port)
        process: subprocess.Popen

        def start(self):
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            for _ in range(100):
                if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout == b"PONG\n":
                    return
                time.sleep(0.05)
            raise RuntimeError("private redis did not start")

        def pause(self):
            """A silent link: connections are still accepted (by the kernel), nothing is answered."""
            self.process.send_signal(signal.SIGSTOP)

        def resume(self):
            self.process.send_signal(signal.SIGCONT)

        def stop(self):
            self.resume()
            self.process.terminate()
            self.process.wait(10)

    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def chat_servers(private_redis, live_db, live_dir):
    """Two daphne processes sharing a private Redis and one database: one chat, as in production."""
    env = server_env(live_db, REDIS_URL=private_redis.url)
    servers = [Daphne(env, live_dir).start(), Daphne(env, live_dir).start()]
    yield servers
    for server in servers:
        server.stop()
