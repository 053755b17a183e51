"""Any laptop: which Python `make` builds the virtualenv with, what requirements.txt holds, and the server
without uvloop (Windows, PyPy)."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import websockets
from packaging.requirements import Requirement

from .live import ROOT, Daphne, migrate, server_env

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="no make here (Windows: README's steps without make)")
TEXT: dict = {"capture_output": True, "text": True, "timeout": 60}


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """make in the project, with this machine's PATH but none of the variables the Makefile reads."""
    ignored = {"PYTHON", "HOST", "PORT", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    env = {name: value for name, value in os.environ.items() if name not in ignored}
    return subprocess.run([MAKE or "make", "--no-print-directory", *args], cwd=ROOT, env=env, **TEXT)


# The Makefile's interpreter ----------------------------------------------------------------------------------


def fake_python(directory: Path, name: str, version: str | None) -> Path:
    """A script answering the Makefile's probe as an interpreter of `version` (e.g. "3.12") that can make a
    virtualenv would; None: one that fails, as a pyenv shim of a version not selected does, or a Debian
    Python without its venv package."""
    script = directory / name
    answer = f"echo {version}" if version else f'echo "pyenv: {name}: command not found" >&2; exit 127'
    script.write_text(f"#!/bin/sh\n{answer}\n")
    script.chmod(0o755)
    return script


def print_python(bin_dir: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    """`make print-python` with only `bin_dir` on PATH and no Debian Python unless a variable names one."""
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir)}  # no PYTHON, MAKEFLAGS or PATH of this machine
    command = [MAKE or "make", "-s", "--no-print-directory", "-C", str(ROOT), "print-python"]
    command += [f"DEBIAN_PYTHON={bin_dir / 'no-debian-python3.11'}", *variables]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@needs_make
def test_the_newest_python_is_chosen(tmp_path):
    for version in ("3.11", "3.12", "3.13"):
        fake_python(tmp_path, f"python{version}", version)
    fake_python(tmp_path, "python3", "3.11")
    assert print_python(tmp_path).stdout == "python3.13\n"


@needs_make
def test_an_interpreter_that_fails_is_skipped(tmp_path):
    fake_python(tmp_path, "python3.13", None)  # a pyenv shim for a version that is not selected
    fake_python(tmp_path, "python3.12", "3.12")
    assert print_python(tmp_path).stdout == "python3.12\n"


@needs_make
def test_debians_python_comes_first_when_it_can_make_a_virtualenv(tmp_path):
    fake_python(tmp_path, "python3.13", "3.13")
    debian = fake_python(tmp_path, "debian-python3.11", "3.11")
    assert print_python(tmp_path, f"DEBIAN_PYTHON={debian}").stdout == f"{debian}\n"
    broken = fake_python(tmp_path, "debian-without-venv", None)
    assert print_python(tmp_path, f"DEBIAN_PYTHON={broken}").stdout == "python3.13\n"


@needs_make
@pytest.mark.parametrize(("version", "chosen"), [("3.12", "python3\n"), ("3.11", "python3\n"), ("3.10", "")])
def test_python3_is_the_last_resort_when_it_is_3_11_or_newer(tmp_path, version, chosen):
    fake_python(tmp_path, "python3", version)
    fake_python(tmp_path, "python3.13", None)
    assert print_python(tmp_path).stdout == chosen


@needs_make
def test_without_a_python_make_says_what_to_do(tmp_path):
    fake_python(tmp_path, "python3", "3.9")
    result = print_python(tmp_path)
    assert result.returncode != 0 and result.stdout == ""
    assert "no Python 3.11 or newer" in result.stderr
    assert "python.org" in result.stderr and "make PYTHON=" in result.stderr


@needs_make
def test_python_given_wins_and_is_checked(tmp_path):
    fake_python(tmp_path, "python3.13", "3.13")
    mine = fake_python(tmp_path, "my-python", "3.12")
    assert print_python(tmp_path, f"PYTHON={mine}").stdout == f"{mine}\n"
    old = fake_python(tmp_path, "old-python", "3.10")
    result = print_python(tmp_path, f"PYTHON={old}")
    assert result.returncode != 0 and f"{old} is not a Python 3.11 or newer" in result.stderr


@needs_make
def test_on_this_machine_a_real_python_is_chosen():
    result = make("-s", "print-python")
    assert result.returncode == 0, result.stderr
    version = subprocess.run([result.stdout.strip(), "-c", "import sys; print(sys.version_info >= (3, 11))"], **TEXT)
    assert version.stdout == "True\n"


@needs_make
@pytest.mark.parametrize("target", ["run", "test", "lint", "bench", "migrate", "vendor", "clean", "services"])
def test_every_target_still_makes_sense(target):
    """`make -n` expands each target's commands without running them (the Makefile parses; variables resolve)."""
    result = make("-n", target)
    assert result.returncode == 0, result.stderr
    if target in {"run", "test"}:
        assert "-r requirements-dev.txt" in result.stdout or (ROOT / ".venv/bin/.installed").exists()
    if target == "run":
        assert "-m project.serve -b 127.0.0.1 -p 8000 project.asgi:application" in result.stdout


@needs_make
def test_run_listens_where_host_says():
    result = make("-n", "run", "HOST=0.0.0.0", "PORT=8001")
    assert "-m project.serve -b 0.0.0.0 -p 8001 project.asgi:application" in result.stdout


# requirements.txt: what production installs --------------------------------------------------------------


def requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_runtime_requirements_are_pinned_and_hold_no_test_or_lint_tool():
    runtime = [Requirement(line) for line in requirements("requirements.txt")]
    assert all(str(req.specifier).startswith("==") for req in runtime)
    names = {req.name.lower() for req in runtime}
    tools = {"pytest", "pytest-django", "pytest-asyncio", "pytest-timeout", "hypothesis", "playwright"}
    tools |= {"websockets", "ruff", "mypy", "django-stubs", "django-stubs-ext"}
    assert not names & tools
    assert {"django", "channels", "daphne", "channels-redis", "redis", "pillow", "nh3"} <= names


def test_dev_requirements_add_the_tools_to_the_runtime_ones():
    dev = requirements("requirements-dev.txt")
    assert dev[0] == "-r requirements.txt"
    tools = [Requirement(line) for line in dev[1:]]
    assert all(str(req.specifier).startswith("==") for req in tools)
    assert {"pytest", "playwright", "ruff", "mypy", "django-stubs"} <= {req.name.lower() for req in tools}


def test_uvloop_is_installed_only_where_it_runs():
    (uvloop,) = [Requirement(line) for line in requirements("requirements.txt") if line.startswith("uvloop")]
    assert uvloop.marker is not None
    linux = {"sys_platform": "linux", "platform_python_implementation": "CPython"}
    assert uvloop.marker.evaluate(linux)
    assert not uvloop.marker.evaluate({**linux, "sys_platform": "win32"})
    assert not uvloop.marker.evaluate({**linux, "platform_python_implementation": "PyPy"})


def imported_distributions(*packages: str) -> set[str]:
    """The installed distributions whose modules the site's code imports."""
    modules: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    providers = metadata.packages_distributions()
    return {dist.lower() for module in modules - set(sys.stdlib_module_names) for dist in providers.get(module, [])}


def installed_with(names: set[str]) -> set[str]:
    """`names` and everything they depend on (for this platform, without extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a dependency of another platform's
            continue
        for line in lines:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower())
    return {re.sub(r"[-_.]+", "-", name) for name in seen}


def test_what_the_site_imports_is_installed_by_requirements_txt():
    runtime = {Requirement(line).name.lower() for line in requirements("requirements.txt")}
    wanted = {re.sub(r"[-_.]+", "-", name) for name in imported_distributions("chat", "project")}
    assert wanted - installed_with(runtime) == set()


# The server without uvloop ---------------------------------------------------------------------------------


@pytest.fixture
def no_uvloop(tmp_path) -> dict[str, str]:
    """An environment whose Python finds no uvloop, as on Windows: a uvloop module that fails to import."""
    hidden = tmp_path / "no-uvloop"
    hidden.mkdir()
    (hidden / "uvloop.py").write_text('raise ImportError("no uvloop here (as on Windows)")\n')
    return {"PYTHONPATH": str(hidden)}


def twisted_loop(extra_env: dict[str, str]) -> tuple[list[str], str]:
    """The loop project.serve chooses, and the module of the loop daphne's Twisted then runs on."""
    code = (
        "from project.serve import choose_event_loop\n"
        "print(choose_event_loop())\n"
        "import daphne.server\n"
        "from twisted.internet import reactor\n"
        "print(type(reactor._asyncioEventloop).__module__)\n"
    )
    env = {**os.environ, **extra_env}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, **TEXT)
    return result.stdout.split(), result.stderr


def test_the_server_runs_on_uvloop_where_it_is_installed():
    pytest.importorskip("uvloop")
    (chosen, loop), stderr = twisted_loop({})
    assert (chosen, loop.split(".")[0]) == ("uvloop", "uvloop")
    assert stderr == ""


def test_without_uvloop_the_server_runs_on_asyncios_loop_and_says_so(no_uvloop):
    (chosen, loop), stderr = twisted_loop(no_uvloop)
    assert (chosen, loop.split(".")[0]) == ("asyncio", "asyncio")
    assert stderr == "uvloop is not installed: serving on asyncio's own event loop.\n"


@pytest.mark.live
def test_without_uvloop_the_server_serves_pages_and_sockets(no_uvloop, tmp_path):
    env = server_env(tmp_path / "chat.sqlite3", **no_uvloop)
    migrate(env)
    server = Daphne(env, tmp_path).start()  # waits for the login page to answer 200
    try:

        async def anonymous_socket() -> int | None:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/chat/lobby/", origin=server.url) as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return ws.close_code

        assert asyncio.run(anonymous_socket()) == 4401  # accepted, then refused: the socket path works
    finally:
        server.stop()
    assert "serving on asyncio's own event loop" in server.log()


def test_daphnes_connection_walks_run_every_fifth_time_they_are_due(monkeypatch):
    """daphne walks every connection in its two timers (1 s and 2 s); the server walks each every CHECK_EVERY-th
    time and otherwise only reschedules it, as daphne's own walk would have."""
    from daphne.server import Server as DaphneServer
    from twisted.internet import reactor

    from project import serve

    walks, scheduled = [], []
    monkeypatch.setattr(DaphneServer, "application_checker", lambda self: walks.append("application"))
    monkeypatch.setattr(DaphneServer, "timeout_checker", lambda self: walks.append("timeout"))
    monkeypatch.setattr(reactor, "callLater", lambda delay, call: scheduled.append((delay, call.__name__)))
    server = object.__new__(serve.server_class())
    for _ in range(2 * serve.CHECK_EVERY):
        server.application_checker()
        server.timeout_checker()
    assert walks == ["application", "timeout"] * 2
    assert scheduled.count((1, "application_checker")) == scheduled.count((2, "timeout_checker")) == 8
