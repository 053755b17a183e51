"""Management commands for whoever deploys the site: chat_first_admin and chat_stats."""

from __future__ import annotations

import http.server
import threading
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from prometheus_client import generate_latest

from chat import invitations, rooms, services
from chat.metrics import REGISTRY

PASSWORD = "a-long-admin-password-42"


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_first_admin_is_made_and_the_join_link_printed():
    output = run(
        "chat_first_admin", "--username", "admin", "--password", PASSWORD, "--url", "https://chat.example.com/"
    )
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(PASSWORD)
    assert f"https://chat.example.com/join/{invitations.join_code()}/" in output


@pytest.mark.django_db
def test_first_admin_takes_its_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHAT_ADMIN_PASSWORD", PASSWORD)
    run("chat_first_admin", "--username", "admin")
    assert get_user_model().objects.get(username="admin").check_password(PASSWORD)


@pytest.mark.django_db
def test_first_admin_run_again_only_prints_the_link():
    run("chat_first_admin", "--username", "admin", "--password", PASSWORD)
    output = run("chat_first_admin", "--username", "admin")
    assert "already the site admin" in output and invitations.join_code() in output
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_first_admin_refuses_a_site_that_has_accounts(make_user):
    make_user("someone")
    with pytest.raises(CommandError, match="already has accounts"):
        run("chat_first_admin", "--username", "admin", "--password", PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "password", "error"),
    [("admin", "", "Give a password"), ("admin", "admin", "password"), ("\u0430dmin", PASSWORD, "username")],
)
def test_first_admin_follows_the_sign_up_rules(monkeypatch, username, password, error):
    monkeypatch.delenv("CHAT_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match=error):
        run("chat_first_admin", "--username", username, "--password", password)
    assert not get_user_model().objects.exists()


class Metrics(http.server.BaseHTTPRequestHandler):
    """A server process's /metrics, as chat/health.py answers it."""

    def do_GET(self) -> None:
        body = generate_latest(REGISTRY)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def metrics_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


@pytest.mark.django_db
def test_stats_count_rooms_people_messages_and_each_process_sockets(make_user, metrics_url):
    owner = make_user("owner")
    room = rooms.create_room("Stats", owner)
    for text in ("one", "two"):
        services.post_message(room, owner, text)
    output = run("chat_stats", "--metrics", metrics_url, "http://127.0.0.1:1/metrics")
    assert "rooms: 1\npeople: 1\nmessages: 2\n" in output
    assert f"{metrics_url}: sockets=0 rooms_with_sockets=0 messages_stored=" in output
    assert "http://127.0.0.1:1/metrics: error:" in output  # a process that does not answer is named
    assert "sockets: 0 over 1 processes" in output
