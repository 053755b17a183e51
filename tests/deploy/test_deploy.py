"""The deployment as `make deploy-local` brings it up (nginx with TLS, two server processes with DJANGO_DEBUG=0,
PostgreSQL, Redis), under load through a rolling restart of every server process.

Two Chromiums chat across processes; 200 raw sockets (tests/deploy/load.py: they speak the page's
protocol) and the two browsers sit in one room while 20 messages a second are sent into it and each
server process in turn is stopped (SIGTERM: it drains) and started again. Every page must end with every
message exactly once, and be live again within 10 s of its process being stopped. Also: hashed static
files cached for a year, an attached file sent by nginx once the app said yes (X-Accel-Redirect), /readyz
with Redis stopped and started, /metrics and `chat_stats`.

Only with `-m deploy` (make test-deploy): it takes a few minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from chat.management.commands.chat_stats import read_metrics

from ..browser import PASSWORD, send, wait_live
from ..live import CHROMIUM, CHROMIUM_ARGS, ROOT
from .load import Page as SocketPage
from .load import reconnect_times, send_at_rate, tls

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(600)]

LOCAL = ROOT / "deploy" / "local.sh"
RAW_SOCKETS = 200
SENDERS = 10  # of the raw sockets, each its own account (flood control: 5 frames a second per account)
SOCKETS_PER_LISTENER = 5
RATE = 20.0  # messages a second into the room
LIVE_AGAIN_SECONDS = 10.0
SETTLE_SECONDS = 4.0  # load before the first stop, between a start and the next stop, after the last


@dataclass
class Deployment:
    state: Path
    env: dict[str, str]
    info: dict

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def ports(self) -> list[int]:
        return self.info["app_ports"]

    def sh(self, *args: str) -> str:
        result = subprocess.run([str(LOCAL), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    def app_env(self) -> dict[str, str]:
        """The server processes' environment: chat.env alone, as deploy/local.sh gives it."""
        pairs = (line.split("=", 1) for line in (self.state / "chat.env").read_text().splitlines() if "=" in line)
        return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **dict(pairs)}

    def python(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=self.app_env(), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def seed(self, *args: str):
        return json.loads(self.python("-m", "tests.deploy.seed", *args))

    def metrics(self) -> dict[int, dict[str, float]]:
        return {port: read_metrics(f"http://127.0.0.1:{port}/metrics") for port in self.ports}

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.url + path, context=tls(), timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    state = tmp_path_factory.mktemp("deploy-local")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_", "DATABASE_URL", "REDIS_"))}
    env = {**keep, "DEPLOY_STATE": str(state), "PYTHON": os.environ.get("PYTHON", sys.executable)}
    started = subprocess.run([str(LOCAL), "start"], env=env, capture_output=True, text=True, timeout=300)
    print(started.stdout, started.stderr)
    assert started.returncode == 0, started.stdout + started.stderr
    deployment = Deployment(state, env, json.loads((state / "deploy.json").read_text()))
    yield deployment
    pids = [int(p.read_text()) for p in (state / "run").glob("*.pid")]
    stopped = subprocess.run([str(LOCAL), "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "deploy-local stop left processes running"


class Load:
    """The raw sockets and the sender, on an event loop in a thread of their own (Playwright's sync API owns
    the test's thread)."""

    def __init__(self, base: str, slug: str, senders: list[str], listeners: list[str]) -> None:
        self.pages = [SocketPage(base, slug, session, f"sender{n}") for n, session in enumerate(senders)]
        self.pages += [
            SocketPage(base, slug, session, f"listener{n}-{k}")
            for n, session in enumerate(listeners)
            for k in range(SOCKETS_PER_LISTENER)
        ]
        self.senders = self.pages[:SENDERS]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.typed = 0

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open(self) -> None:
        async def start() -> None:
            self.tasks = [asyncio.create_task(page.run()) for page in self.pages]

        self.call(start())

    def start_sending(self) -> None:
        async def start() -> None:
            self.stop_sending = asyncio.Event()
            self.sender = asyncio.create_task(send_at_rate(self.senders, RATE, self.stop_sending))

        self.call(start())

    def finish_sending(self) -> int:
        async def finish() -> int:
            self.stop_sending.set()
            return await self.sender

        self.typed = self.call(finish())
        return self.typed

    def all_live(self) -> bool:
        return all(page.live for page in self.pages)

    def close(self) -> None:
        async def close() -> None:
            for page in self.pages:
                page.stopping = True
                if page.live:
                    await page.ws.close()
            await asyncio.wait(self.tasks, timeout=10)

        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def poll(done, timeout: float, period: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(period)
    return done()


# The page's socket opening and closing, as the ws extension reports them (the test's script, not the product's).
RECORD_SOCKET = """() => {
  window.__ws = {opens: [], closes: []};
  document.body.addEventListener('htmx:wsOpen', () => window.__ws.opens.push(Date.now() / 1000));
  document.body.addEventListener('htmx:wsClose',
    (e) => window.__ws.closes.push([Date.now() / 1000, e.detail.event.code]));
}"""
LOG_SEQS = "() => Array.from(document.querySelectorAll('#chat-log article[data-seq]')).map(a => Number(a.dataset.seq))"


def log_check(seqs: list[int], last_seq: int) -> tuple[list[int], list[int]]:
    missing = sorted(set(range(1, last_seq + 1)) - set(seqs))
    duplicated = sorted({seq for seq in seqs if seqs.count(seq) > 1})
    return missing, duplicated


def test_rolling_restart_under_load_loses_and_repeats_nothing(deployment):
    url = deployment.url

    # Static files: hashed names, kept for a year.
    status, _, body = deployment.get("/accounts/login/")
    assert status == 200
    hashed = re.findall(r"/static/[\w/.-]+\.[0-9a-f]{12}\.(?:css|js|svg|png)", body.decode())
    assert any("/css/chat." in name for name in hashed) and any("/vendor/htmx.min." in name for name in hashed)
    for name in hashed:
        status, headers, _ = deployment.get(name)
        assert status == 200, name
        assert re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1) >= "31536000", headers
        assert "immutable" in headers["Cache-Control"]
    status, _, _ = deployment.get("/metrics")
    assert status == 404  # scraped from each process, never through nginx

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        a_context = browser.new_context(ignore_https_errors=True)
        b_context = browser.new_context(ignore_https_errors=True)
        a, b = a_context.new_page(), b_context.new_page()

        # The admin made by deploy/local.sh (chat_first_admin) signs in; a newcomer signs up by its join link.
        a.goto(f"{url}/accounts/login/")
        a.fill("#id_username", deployment.info["admin"]["username"])
        a.fill("#id_password", deployment.info["admin"]["password"])
        a.click("form.stacked-form button[type=submit]")
        expect(a).to_have_url(f"{url}/")
        b.goto(deployment.info["join_link"])
        b.fill("#id_username", "bea")
        b.fill("#id_password1", PASSWORD)
        b.fill("#id_password2", PASSWORD)
        b.click("form.stacked-form button[type=submit]")
        expect(b).to_have_url(f"{url}/")

        a.fill("input[name=name]", "Load")
        a.click("form.create-room button[type=submit]")
        a.wait_for_url("**/chat/**")
        room_path = a.url.removeprefix(url)
        slug = room_path.strip("/").split("/")[-1]
        wait_live(a)
        b.goto(url + room_path)
        wait_live(b)
        # least_conn sent the second socket to the other process: the two browsers chat across processes.
        assert poll(lambda: sorted(m["sockets"] for m in deployment.metrics().values()) == [1, 1], 5)
        send(a, "hello from A")
        expect(b.locator("#chat-log .message-body").last).to_have_text("hello from A")
        send(b, "hello from B")
        expect(a.locator("#chat-log .message-body").last).to_have_text("hello from B")

        # An attached file: the app checks who asks, nginx sends the bytes (X-Accel-Redirect to an internal location).
        content = "notes for the class\n" * 100
        a.set_input_files(
            "#attach-files-input", [{"name": "notes.txt", "mimeType": "text/plain", "buffer": content.encode()}]
        )
        a.locator("form.attach-form").evaluate("form => form.requestSubmit()")
        link = b.locator("#chat-log a[href*='/files/']").last
        expect(link).to_be_attached(timeout=10_000)
        download = b_context.request.get(url + link.get_attribute("href"))
        assert download.status == 200 and download.text() == content
        assert download.headers["accept-ranges"] == "bytes"  # nginx's static sending, not Django's FileResponse
        assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert "attachment" in download.headers["content-disposition"]
        media = deployment.state / "media"
        stored = next(path for path in media.rglob("*") if path.is_file()).relative_to(media)
        assert deployment.get(f"/protected-files/{stored}")[0] == 404  # internal: only through the app
        outsider = b.context.browser.new_context(ignore_https_errors=True)
        assert outsider.request.get(url + link.get_attribute("href")).status in (302, 404)  # signed out
        outsider.close()

        for page in (a, b):
            page.evaluate(RECORD_SOCKET)

        # 200 raw sockets in the room; 10 of them send.
        senders = deployment.seed("users", "sender", str(SENDERS))
        listeners = deployment.seed("users", "listener", str((RAW_SOCKETS - SENDERS) // SOCKETS_PER_LISTENER))
        load = Load(url, slug, senders, listeners)
        try:
            load.open()
            assert poll(load.all_live, 30), [p.failures for p in load.pages if p.failures][:5]
            sockets = {port: m["sockets"] for port, m in deployment.metrics().items()}
            print(f"\nsockets per process before the restarts: {sockets}")
            assert sum(sockets.values()) == RAW_SOCKETS + 2 and all(sockets.values())

            # The rolling restart, under load.
            before = deployment.seed("room", slug)["last_seq"]
            load.start_sending()
            time.sleep(SETTLE_SECONDS)
            stops, stored, drained = [], 0.0, []
            for port in deployment.ports:
                stored += deployment.metrics()[port]["messages_stored"]
                moved = {p: m["sockets"] for p, m in deployment.metrics().items()}[port]
                stops.append(time.time())
                deployment.sh("app-stop", str(port))
                drained.append(time.time() - stops[-1])
                assert poll(load.all_live, LIVE_AGAIN_SECONDS + 5), [
                    (p.name, p.attempts, p.last_error, p.failures, p.errors) for p in load.pages if not p.live
                ][:10]
                for page in (a, b):
                    wait_live(page, timeout=15_000)
                print(f"stopped {port} ({moved:g} sockets) in {drained[-1]:.2f} s; all live again")
                deployment.sh("app-start", str(port))
                time.sleep(SETTLE_SECONDS)
            typed = load.finish_sending()

            # Everything arrives, once.
            acked = poll(lambda: not any(p.pending for p in load.senders), 60)
            assert acked, {p.name: (len(p.pending), p.errors[-3:]) for p in load.senders}
            last_seq = deployment.seed("room", slug)["last_seq"]
            assert last_seq - before == typed, "every message typed is stored once"
            assert poll(lambda: all(p.seqs[last_seq] for p in load.pages), 30)
            for page in (a, b):
                expect(page.locator(f"#chat-log article[data-seq='{last_seq}']")).to_have_count(1, timeout=15_000)
            failures = [f for p in load.pages for f in p.failures]
            assert not failures, failures[:10]
            assert not [p.name for p in load.pages if p.resets]
            lost = duplicated = 0
            for page in load.pages:
                missing, twice = page.check(last_seq)
                assert not missing and not twice, (page.name, missing[:10], twice[:10])
                lost += len(missing)
                duplicated += len(twice)
            for page in (a, b):
                missing, twice = log_check(page.evaluate(LOG_SEQS), last_seq)
                assert not missing and not twice, (missing[:10], twice[:10])

            # Every page live again within 10 s of its process being stopped.
            times = [t for p in load.pages for t in reconnect_times(stops, p.dropped, p.opened)]
            browser_drops, browser_times = 0, []
            for page in (a, b):
                record = page.evaluate("() => window.__ws")
                assert all(code == 1006 for _, code in record["closes"]), record["closes"]
                browser_drops += len(record["closes"])
                browser_times += reconnect_times(stops, [t for t, _ in record["closes"]], record["opens"])
            times += browser_times
            assert len(times) >= RAW_SOCKETS + 2, "each page was moved at least once"
            assert max(times) <= LIVE_AGAIN_SECONDS, max(times)

            # /metrics shows the traffic; chat_stats reads it.
            final = deployment.metrics()
            stored += sum(m["messages_stored"] for m in final.values())
            assert sum(m["sockets"] for m in final.values()) == RAW_SOCKETS + 2
            # The process restarted last holds no socket: pages moved off it stay where they are.
            assert sum(m["deliveries"] for m in final.values()) > 0
            assert 0 < stored <= last_seq
            stats = deployment.python("manage.py", "chat_stats", "--ports", *map(str, deployment.ports))
            assert f"messages: {last_seq}" in stats and f"sockets: {RAW_SOCKETS + 2} over 2 processes" in stats
            received = sum(p.seqs.total() for p in load.pages)
            print(
                f"messages typed {typed} at {RATE:g}/s, stored {last_seq - before}; received by the raw sockets "
                f"{received} ({RAW_SOCKETS} sockets), lost {lost}, duplicated {duplicated}; browsers: nothing lost "
                f"or repeated, {browser_drops} reconnects\n"
                f"drain (SIGTERM to exit) {', '.join(f'{d:.2f} s' for d in drained)}; pages moved {len(times)}; "
                f"live again after a stop: median {sorted(times)[len(times) // 2]:.2f} s, max {max(times):.2f} s "
                f"(the browsers: {', '.join(f'{t:.2f} s' for t in browser_times)})\n"
                f"stored per /metrics (sum over processes, before each stop and now): {stored:g}\n{stats}"
            )
        finally:
            load.close()
        browser.close()

    # Ready only while Redis answers.
    deployment.sh("redis-stop")
    try:
        assert poll(lambda: deployment.get("/readyz")[0] == 503, 10)
        assert b"redis down" in deployment.get("/readyz")[2]
    finally:
        deployment.sh("redis-start")
    assert poll(lambda: deployment.get("/readyz")[0] == 200, 15)

    logs = {path.name: path.read_text(errors="replace") for path in (deployment.state / "log").glob("app-*.log")}
    assert not [name for name, text in logs.items() if "Traceback" in text], "tracebacks in the server logs"
