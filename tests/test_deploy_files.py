"""deploy/: the environment file names every setting, production's settings pass `check --deploy` and name static
files by their content. (The deployment itself, under load: tests/deploy/, make test-deploy.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .live import ROOT

EXAMPLE = ROOT / "deploy" / "chat.env.example"


def example_values() -> dict[str, str]:
    """The example's uncommented settings."""
    lines = [line for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_", "DATABASE_URL", "REDIS_URL"))}
    command = [sys.executable, *(["-c", code] if code else []), *args]
    return subprocess.run(command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_the_environment_example_names_every_variable_the_settings_read():
    source = (ROOT / "project" / "settings.py").read_text()
    read = set(re.findall(r'(?:os\.environ\.get|env_bool|env_list)\("([A-Z_]+)"', source))
    assert len(read) > 30
    missing = [name for name in sorted(read) if not re.search(rf"^#? ?{name}=", EXAMPLE.read_text(), re.M)]
    assert not missing


def test_check_deploy_is_clean_with_the_example():
    result = python("", "manage.py", "check", "--deploy", "--fail-level", "WARNING", **example_values())
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_names_static_files_by_their_content_and_debugging_does_not():
    code = "from project import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"
    production = python(code, **example_values()).stdout.strip()
    assert production == "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
    assert python(code).stdout.strip() == "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_the_systemd_unit_runs_one_server_per_port_and_lets_it_drain():
    unit = (ROOT / "deploy" / "chat@.service").read_text()
    assert "-m project.serve -b 127.0.0.1 -p %i project.asgi:application" in unit
    assert "KillSignal=SIGTERM" in unit and "Restart=on-failure" in unit
    assert "EnvironmentFile=" in unit
    stop = int(re.search(r"TimeoutStopSec=(\d+)", unit).group(1))
    assert stop > 5  # project/drain.py exits within 5 s
