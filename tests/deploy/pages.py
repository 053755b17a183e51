"""Room pages as raw WebSocket clients that speak the page's protocol, as htmx and its ws extension do.

A page claims what it shows when its socket opens (`last_change`, the hidden catch-up field the server keeps
current), reconnects after 1006/1011/1012/1013 with htmx's full-jitter backoff and gives up after any other
close (1000, 1001, 4xxx), as the extension does. It records every message it is sent by its room
sequence number, and when: a number it already shows is a duplicate (htmx would append it twice).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import websockets

from .services import App

MESSAGE = re.compile(r'data-seq="(\d+)".*?t=(\d+\.\d+) s=(\d+)', re.S)
LAST_CHANGE = re.compile(r'id="catch-up-last-change" name="last_change" value="(\d+)"')
COMPOSER = '<form id="chat-form"'
RETRIED = {1006, 1011, 1012, 1013}


def headers(trigger: str, url: str) -> dict[str, str | None]:
    """The HEADERS object htmx-ext-ws adds to each ws-send frame."""
    return {"HX-Request": "true", "HX-Trigger": trigger, "HX-Trigger-Name": None, "HX-Target": trigger,
            "HX-Current-URL": url}  # fmt: skip


@dataclass
class Page:
    """One open room page on one app process, reached through the "proxy" (the test's address)."""

    name: str
    address: str  # the app's address and port
    port: int
    slug: str
    session: str
    origin: str  # https://<the site's public name>
    client_address: str  # X-Forwarded-For: the browser's address as the proxy saw it
    seen: dict[int, float] = field(default_factory=dict)  # seq -> arrival (wall clock)
    sent_at: dict[int, float] = field(default_factory=dict)  # seq -> when its sender sent it
    sent_by: dict[int, int] = field(default_factory=dict)  # seq -> its sender (send_steadily's index)
    duplicates: Counter = field(default_factory=Counter)
    last_change: int = 0
    opens: int = 0
    closes: list[tuple[float, int | None]] = field(default_factory=list)
    gave_up: int | None = None  # the close code after which it would not reconnect
    acks: int = 0
    queued: list[str] = field(default_factory=list)  # sends made while closed: sent on reopen, as htmx does
    ws: websockets.ClientConnection | None = None
    task: asyncio.Task | None = None
    sending: set[asyncio.Future] = field(default_factory=set)
    stopping: bool = False

    @property
    def url(self) -> str:
        return f"{self.origin}/chat/{self.slug}/"

    def start(self) -> Page:
        self.task = asyncio.create_task(self.run())
        return self

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            code: int | None = None
            try:
                async with websockets.connect(
                    f"ws://{self.address}:{self.port}/ws/chat/{self.slug}/",
                    origin=self.origin,  # type: ignore[arg-type]
                    additional_headers={
                        "Cookie": f"sessionid={self.session}",
                        "X-Forwarded-For": self.client_address,
                        "X-Forwarded-Proto": "https",
                    },
                    open_timeout=5,
                    max_size=2**20,
                ) as ws:
                    self.ws, attempt = ws, 0
                    self.opens += 1
                    await ws.send(json.dumps({"last_change": str(self.last_change), **self._headers("catch-up")}))
                    for body in self.queued:
                        await ws.send(body)
                    self.queued.clear()
                    async for frame in ws:
                        self.on_frame(str(frame))
            except websockets.ConnectionClosed:
                pass
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                code = 1006
            finally:
                if self.ws is not None:
                    code = self.ws.close_code or 1006
                self.ws = None
            if self.stopping:
                return
            self.closes.append((time.time(), code))
            if code not in RETRIED:
                self.gave_up = code
                return
            await asyncio.sleep(random.random() * 2 ** min(attempt, 6))  # htmx: random() * 1000 * 2^n ms
            attempt += 1

    def _headers(self, trigger: str) -> dict:
        return {"HEADERS": headers(trigger, self.url)}

    def on_frame(self, frame: str) -> None:
        now = time.time()
        for seq_text, sent, sender in MESSAGE.findall(frame):
            seq = int(seq_text)
            if seq in self.seen:
                self.duplicates[seq] += 1
            else:
                self.seen[seq] = now
                self.sent_at[seq] = float(sent)
                self.sent_by[seq] = int(sender)
        changes = LAST_CHANGE.findall(frame)
        if changes:
            self.last_change = int(changes[-1])
        self.acks += frame.count(COMPOSER)

    def send(self, sender: int, number: int) -> None:
        """Post a message from the composer (queued while the socket is closed, as htmx queues it)."""
        body = f"t={time.time():.6f} s={sender} n={number} " + "x" * 40
        frame = json.dumps({"message": body, "client_id": str(uuid.uuid4()), **self._headers("chat-form")})
        if self.ws is not None:
            self.sending.add(task := asyncio.ensure_future(self._send(frame)))
            task.add_done_callback(self.sending.discard)
        else:
            self.queued.append(frame)

    async def _send(self, frame: str) -> None:
        try:
            assert self.ws is not None
            await self.ws.send(frame)
        except (websockets.ConnectionClosed, AssertionError):
            self.queued.append(frame)  # the ws extension keeps it for the next socket

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


@dataclass
class Figures:
    """What every page ended with, against what the database stored."""

    pages: int
    stored: int
    missing: dict[str, list[int]]
    duplicated: dict[str, int]
    extra: dict[str, list[int]]
    reconnects: int
    gave_up: list[str]
    worst_delay: float  # seconds from a message's send (or the disruption, if later) to its arrival, worst page
    worst_delay_page: str

    def line(self) -> str:
        return (
            f"{self.pages} pages, {self.stored} messages stored; missing {sum(map(len, self.missing.values()))}, "
            f"duplicated {sum(self.duplicated.values())}, unknown {sum(map(len, self.extra.values()))}; "
            f"reconnects {self.reconnects}, gave up {len(self.gave_up)}; worst delay after the disruption "
            f"{self.worst_delay:.2f} s ({self.worst_delay_page})"
        )


def compare(pages: list[Page], stored: set[int], since: float) -> Figures:
    """Each page against the stored sequence numbers; delays of messages counted from `since` at the earliest."""
    worst, worst_page = 0.0, ""
    for page in pages:
        for seq, arrived in page.seen.items():
            delay = arrived - max(page.sent_at[seq], since)
            if delay > worst:
                worst, worst_page = delay, page.name
    return Figures(
        pages=len(pages),
        stored=len(stored),
        missing={p.name: sorted(stored - set(p.seen)) for p in pages if stored - set(p.seen)},
        duplicated={p.name: sum(p.duplicates.values()) for p in pages if p.duplicates},
        extra={p.name: sorted(set(p.seen) - stored) for p in pages if set(p.seen) - stored},
        reconnects=sum(max(0, p.opens - 1) for p in pages),
        gave_up=[f"{p.name}: {p.gave_up}" for p in pages if p.gave_up is not None],
        worst_delay=worst,
        worst_delay_page=worst_page,
    )


def open_pages(apps: Iterable[App], room: dict) -> list[Page]:
    """A page for each session of the room, spread over the apps in turn: the first of each app first."""
    sessions, apps = room["sessions"], list(apps)
    pages = []
    for index, session in enumerate(sessions):
        app = apps[index % len(apps)]
        page = Page(
            name=f"{app.place.host or 'local'}:{app.port}/reader{index}",
            address=app.place.address,
            port=app.port,
            slug=room["slug"],
            session=session,
            origin="https://chat.test",
            client_address=f"203.0.113.{index + 1}",
        )
        pages.append(page.start())
    return pages


async def settle(
    stored_now: Callable[[], set[int]], pages: list[Page], senders: list[Page], sent: int, limit: float
) -> tuple[bool, bool, set[int]]:
    """Wait (up to `limit` s each) until every send was answered and every page holds every stored message:
    (answered, complete, the stored sequence numbers as last read)."""
    stored: set[int] = set()

    def complete() -> bool:
        stored.clear()
        stored.update(stored_now())
        return all(set(p.seen) >= stored for p in pages)

    answered = await until(lambda: sum(p.acks for p in senders) >= sent, limit)
    done = await until(complete, limit, period=0.5)
    return answered, done, stored


def assert_each_page_has_each_message_once(figures: Figures, stored: set[int], sent: int) -> None:
    assert len(stored) == sent, "every message sent was stored"
    assert not figures.missing, f"lost: {figures.missing}"
    assert not figures.duplicated, f"duplicated: {figures.duplicated}"
    assert not figures.extra
    assert not figures.gave_up, f"pages that would not reconnect: {figures.gave_up}"


def print_layer_log(test: str, apps: Iterable[App]) -> None:
    for app in apps:
        log = app.log()
        print(f"{test}: {app.log_path.name}: {log.count('channel layer failed')} layer failures, "
              f"{log.count('channel layer back')} recoveries")  # fmt: skip


async def until(check, limit: float, period: float = 0.1) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(period)
    return check()


async def send_steadily(senders: list[Page], rate: float, seconds: float, counter: list[int]) -> None:
    """Message i leaves at start + i/rate, from the senders in turn; `counter[0]` counts them."""
    start = time.monotonic()
    while counter[0] < seconds * rate:
        index = counter[0] % len(senders)
        senders[index].send(index, counter[0])
        counter[0] += 1
        await asyncio.sleep(max(0.0, start + counter[0] / rate - time.monotonic()))
