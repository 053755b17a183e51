"""Live daphne processes and a Chromium for browser tests (no mocks: real sockets, real DB files)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        {
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{db_path}",
            # Attached files go beside the test database, never into the project's media/.
            "CHAT_MEDIA_ROOT": str(db_path.parent / "media"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHAT_HEARTBEAT_SECONDS": "2",
            # Tests type far faster than people; flood control has its own tests.
            "CHAT_RATE_BURST": "1000",
            # Tests sign people up on a site that has accounts; the invitation gate has tests of its own
            # (test_browser_people.py runs a server without this).
            "CHAT_OPEN_SIGNUP": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


SITE_ADMIN = "site-admin"
SITE_ADMIN_PASSWORD = "site admin battery 42"


def create_site_admin(env: dict[str, str]) -> None:
    """The site's first account, made by `createsuperuser` as a deployment makes it: whoever a test signs up
    next is a plain account, never the site admin by being first."""
    command = [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", SITE_ADMIN, "--email", ""]
    env = {**env, "DJANGO_SUPERUSER_PASSWORD": SITE_ADMIN_PASSWORD}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


class Daphne:
    """One daphne process serving project.asgi on a port of its own."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.log_path = log_dir / f"daphne-{self.port}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daphne:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "project.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "project.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not start: {self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def sign_up_over_http(base: str, username: str, password: str = "correct horse battery 42") -> str:
    """Create an account through the real sign-up form; returns the session cookie's value."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/signup/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password1": password, "password2": password}
    ).encode()
    request = urllib.request.Request(f"{base}/accounts/signup/", data=form, headers={"Referer": f"{base}/"})
    opener.open(request).read()
    return next(cookie.value for cookie in jar if cookie.name == "sessionid")


def create_room_over_http(base: str, session: str, name: str) -> str:
    """Create a room through the real form; returns its path."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    headers = {"Cookie": f"sessionid={session}", "Referer": f"{base}/"}
    page = opener.open(urllib.request.Request(f"{base}/", headers=headers)).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    headers["Cookie"] += f"; csrftoken={csrf}"
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "name": name}).encode()
    response = opener.open(urllib.request.Request(f"{base}/", data=form, headers=headers))
    return urllib.parse.urlparse(response.url).path


def chat_socket(server: Daphne, session: str, slug: str, origin: str | None = "same"):
    """A raw websocket to a room, with the session cookie and (by default) the site's own Origin."""
    import websockets

    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/ws/chat/{slug}/",
        origin=server.url if origin == "same" else origin,
        additional_headers={"Cookie": f"sessionid={session}"},
    )


class HttpUser:
    """One person's browser without JavaScript: keeps cookies, posts forms with their CSRF token."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        import http.cookiejar

        self.base = base
        self.headers = {"Referer": f"{base}/", **(headers or {})}
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str = "sessionid") -> str:
        return next(cookie.value for cookie in self.jar if cookie.name == name)

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path, headers=self.headers))

    def post(self, path: str, fields: dict[str, str], form_page: str | None = None) -> tuple[int, str]:
        """Submit a form found on `form_page` (default: `path`) as a browser would; returns (status, body)."""
        import re

        _, page = self.get(form_page or path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, headers=self.headers))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        import urllib.error

        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_up(self, username: str, password: str = "correct horse battery 42") -> tuple[int, str]:
        return self.post("/accounts/signup/", {"username": username, "password1": password, "password2": password})


class Listener:
    """A raw socket that sends its page's catch-up and nothing else, and records all it is sent."""

    def __init__(self, server: Daphne, session: str, slug: str, max_size: int = 2**20) -> None:
        self.server, self.session, self.slug, self.max_size = server, session, slug, max_size
        self.frames: list[str] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()

    async def open(self, last_change: int = 0) -> Listener:
        """Connect and send the page's catch-up frame, as htmx does when the socket opens."""
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.server.port}/ws/chat/{self.slug}/",
            origin=self.server.url,
            additional_headers={"Cookie": f"sessionid={self.session}"},
            max_size=self.max_size,  # a larger frame fails the connection (1009)
        )
        await self.ws.send(json.dumps({"last_change": str(last_change), "HEADERS": {"HX-Trigger": "catch-up"}}))
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

    def last_change(self) -> int:
        """What the page's catch-up field says after every frame so far."""
        import re

        values = re.findall(r'id="catch-up-last-change" name="last_change" value="(\d+)"', "".join(self.frames))
        return int(values[-1]) if values else 0
