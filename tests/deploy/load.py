"""Raw sockets that behave as the room's page does, through nginx over TLS, and a sender of messages.

A `Page` opens the room's socket with a session cookie and the site's Origin, sends the page's catch-up
(the change it shows) on every open, keeps what each frame sets `#catch-up-last-change` to, and, like the
htmx ws extension, reconnects after 1006, 1011, 1012 or 1013 with full-jitter backoff (up to 1 s, 2 s, 4 s
...). Any other close is a page that would stay dead: recorded as a failure. A `Page` that sends keeps each
message's client_id until the message comes back (as the composer keeps it until the server's reply), and
sends it again on reconnect: the server stores a repeated client_id once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import ssl
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import websockets

RETRIED = {1006, 1011, 1012, 1013}
# A new message is appended to the log: its <article> has no hx-swap-oob of its own (a changed one does).
NEW_ARTICLE = re.compile(r'<article id="message-\d+"[^>]*?data-seq="(\d+)"[^>]*>')
LAST_CHANGE = re.compile(r'id="catch-up-last-change" name="last_change" value="(\d+)"')
LIVE = 'id="connection-status" class="connection-status live"'
LOG_RESET = '<div id="chat-log" hx-swap-oob="innerHTML">'
ERROR = re.compile(r'<div id="composer-error"[^>]*>([^<]+)<')


@functools.cache
def tls() -> ssl.SSLContext:
    """One context for every socket: making one loads the system's certificates, about 40 ms of the event
    loop each (200 sockets reconnecting took 9 s with a context each)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # deploy/local.sh's self-signed certificate
    return context


def frame(fields: dict, trigger: str, url: str) -> str:
    headers = {"HX-Request": "true", "HX-Trigger": trigger, "HX-Trigger-Name": None, "HX-Target": trigger}
    return json.dumps({**fields, "HEADERS": {**headers, "HX-Current-URL": url}})


@dataclass
class Page:
    base: str  # https://127.0.0.1:<port>
    slug: str
    session: str
    name: str
    seqs: Counter = field(default_factory=Counter)
    last_change: int = 0
    live: bool = False  # the server said so (its status frame) since the socket opened
    connected: bool = False  # the socket is open and the page's catch-up sent
    handshakes: list[float] = field(default_factory=list)  # when each socket opened
    opened: list[float] = field(default_factory=list)  # when each socket was live (status frame)
    dropped: list[float] = field(default_factory=list)  # when each socket closed
    failures: list[str] = field(default_factory=list)
    resets: int = 0
    errors: list[str] = field(default_factory=list)  # what the server put beside the composer
    pending: dict[str, str] = field(default_factory=dict)  # client_id -> body, until it comes back
    sent: int = 0
    stopping: bool = False
    attempts: int = 0  # connections tried
    last_error: str = ""

    @property
    def url(self) -> str:
        return f"{self.base.replace('https://', 'wss://')}/ws/chat/{self.slug}/"

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            code = None
            self.attempts += 1
            try:
                async with websockets.connect(
                    self.url,
                    ssl=tls(),
                    origin=self.base,  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={self.session}"},
                    max_size=2**20,
                    open_timeout=10,
                    ping_interval=None,
                ) as ws:
                    self.ws = ws
                    self.handshakes.append(time.time())
                    await ws.send(frame({"last_change": str(self.last_change), "unread_after": ""}, "catch-up", ""))
                    self.connected = True  # what is typed from now on goes straight out; what waited, below
                    for client_id, body in list(self.pending.items()):
                        await ws.send(self.message_frame(client_id, body))
                    try:
                        async for data in ws:
                            attempt = 0
                            self.on_frame(data if isinstance(data, str) else data.decode())
                    except websockets.ConnectionClosed:
                        pass
                    code = ws.close_code
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
                code = 1006
                self.last_error = f"{time.time():.2f} {error!r}"
                if not self.live and not self.opened:
                    self.failures.append(f"{self.name}: could not connect: {error!r}")
            self.connected = False
            if self.live:
                self.live = False
                self.dropped.append(time.time())
            if self.stopping:
                return
            if code not in RETRIED:
                self.failures.append(f"{self.name}: closed with {code}, which a page does not retry")
                return
            await asyncio.sleep(random.random() * 2 ** min(attempt, 6))
            attempt += 1

    def on_frame(self, data: str) -> None:
        if LOG_RESET in data:
            self.resets += 1
        self.errors += ERROR.findall(data)
        for seq in NEW_ARTICLE.findall(data):
            self.seqs[int(seq)] += 1
        changes = LAST_CHANGE.findall(data)
        if changes:
            self.last_change = int(changes[-1])
        if LIVE in data and not self.live:
            self.live = True
            self.opened.append(time.time())
        for client_id, body in list(self.pending.items()):
            if body in data:
                del self.pending[client_id]

    def message_frame(self, client_id: str, body: str) -> str:
        return frame({"client_id": client_id, "message": body}, "chat-form", f"{self.base}/chat/{self.slug}/")

    async def send(self, body: str) -> None:
        """Type a message: sent now if the socket is live, else on reconnect (htmx queues it)."""
        client_id = str(uuid.uuid4())
        self.pending[client_id] = body
        self.sent += 1
        if self.connected:
            try:
                await self.ws.send(self.message_frame(client_id, body))
            except websockets.ConnectionClosed:
                pass  # sent again on reconnect

    def check(self, last_seq: int) -> tuple[list[int], list[int]]:
        """(missing, duplicated) room sequence numbers, of 1..last_seq."""
        missing = [seq for seq in range(1, last_seq + 1) if self.seqs[seq] == 0]
        duplicated = [seq for seq, count in self.seqs.items() if count > 1]
        return missing, duplicated


async def send_at_rate(senders: list[Page], rate: float, stop: asyncio.Event) -> int:
    """`rate` messages a second, spread over the senders in turn; returns how many were typed."""
    count = 0
    started = time.time()
    while not stop.is_set():
        sender = senders[count % len(senders)]
        await sender.send(f"load {sender.name} n={count} {uuid.uuid4().hex[:8]}")
        count += 1
        delay = started + count / rate - time.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
    return count


def reconnect_times(stops: list[float], drops: list[float], opens: list[float]) -> list[float]:
    """For each drop that followed a stop: seconds from that stop to the next time the page was live."""
    times = []
    for drop in drops:
        stop = max((t for t in stops if t <= drop + 0.5), default=None)
        later = [t for t in opens if t >= drop]
        if stop is not None:
            times.append((min(later) if later else float("inf")) - stop)
    return times
