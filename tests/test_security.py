"""Security: the strict CSP on every page, templates without inline script or style, and deploy settings."""

import os
import subprocess
import sys

import pytest

from chat import rooms, services

from .live import ROOT

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
    rooms.create_room("Lobby", make_user())
    response = client.get(url)
    assert response.status_code == 200
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_templates_carry_no_inline_script_or_style(client, make_user):
    user = make_user()
    room = rooms.create_room("Lobby", user)
    services.post_message(room, user, "hi")
    client.force_login(user)
    html = client.get(room.get_absolute_url()).content.decode()
    assert "<script>" not in html and "<script " not in html.replace('<script src="/static/vendor/', "")
    assert " style=" not in html and "<style" not in html
    assert "hx-on" not in html and "javascript:" not in html
    assert '"allowEval": false' in html and '"allowScriptTags": false' in html and '"selfRequestsOnly": true' in html


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
