"""Asyncio load generator that speaks the chat's socket protocol over raw WebSockets.

Server frames are parsed by hand (they are never masked), so one client core can
take far more deliveries per second than the servers under test can send. Every
socket tracks which room sequence numbers it has seen: the highest contiguous
one plus the few that arrived out of order, so loss and duplicates are exact
without storing every number.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import re
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# One message inside a frame: its room sequence number and the send time the body starts with.
ARTICLE = re.compile(rb'data-seq="(\d+)".*?class="message-body">t=([0-9.]+) ', re.S)
FIRST_ID = re.compile(rb'id="([\w-]+)"')
STATUS = b'id="connection-status"'
COMPOSER = b'<form id="chat-form"'
ERROR = b'id="composer-error"'
MESSAGE_BYTES = 100
PARSED_CACHE_SIZE = 4096
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x0, 0x1, 0x2, 0x8, 0x9

RoomEnds = Callable[[], Awaitable[dict[int, int]]]


@dataclass(frozen=True)
class Target:
    """Where one socket connects, as whom, and which room (index into the load's rooms) that is."""

    port: int
    slug: str
    room: int
    session: str


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A masked client-to-server frame (RFC 6455 section 5.3)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "little")
    masked = (int.from_bytes(payload, "little") ^ key).to_bytes(length, "little")
    return head + mask + masked


def htmx_headers(trigger: str, url: str) -> dict[str, str | None]:
    """The HEADERS object htmx-ext-ws adds to each ws-send frame."""
    return {
        "HX-Request": "true",
        "HX-Trigger": trigger,
        "HX-Trigger-Name": None,
        "HX-Target": trigger,
        "HX-Current-URL": url,
    }


def message_body(sender: int, counter: int) -> str:
    head = f"t={time.time():.6f} s={sender} n={counter} "
    return head + "x" * max(0, MESSAGE_BYTES - len(head))


async def poll(done: Callable[[], bool], limit: float, period: float = 0.02) -> bool:
    """Check `done` every `period` seconds for at most `limit` seconds; returns whether it came true."""
    deadline = time.monotonic() + limit
    for _ in range(max(1, math.ceil(limit / period))):
        if done() or time.monotonic() >= deadline:
            break
        await asyncio.sleep(period)
    return done()


def frame_kind(payload: bytes) -> str:
    """What a frame without messages is, by the id of its first element (presence, connection-status...)."""
    found = FIRST_ID.search(payload, 0, 200)
    return found.group(1).decode(errors="replace") if found else "other"


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Socket(asyncio.Protocol):
    """One browser tab: handshake, catch-up on open, and sequence tracking of every message it receives."""

    def __init__(self, load: Load, index: int, target: Target, claimed: int) -> None:
        self.load = load
        self.index = index
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.key = base64.b64encode(os.urandom(16))
        self.upgraded = False
        self.buffer = b""
        self.fragments: list[bytes] = []
        self.opened: asyncio.Future[None] = load.loop.create_future()
        self.close_code: int | None = None
        # Sequence tracking: every seq <= high was seen (or claimed at start); `extra` are seen seqs above it.
        self.claimed = claimed
        self.high = claimed
        self.extra: set[int] = set()
        self.goal = load.goals.get(target.room, 0)  # storm: the seq this socket must reach
        self.reached_at: float | None = None
        self.dups = 0
        self.acks = 0
        self.errors = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.target.port}/rooms/{quote(self.target.slug)}/"

    @property
    def is_open(self) -> bool:
        return self.upgraded and self.close_code is None and self.transport is not None

    # asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = (
            f"GET /ws/chat/{quote(self.target.slug)}/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.target.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{self.target.port}\r\n"
            f"Cookie: sessionid={self.target.session}\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            data = self._handshake(data)
            if not data:
                return
        if self.buffer:
            data = self.buffer + data
        self.buffer = self.load.read_frames(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before opening ({self.close_code})"))
        self.transport = None

    def _handshake(self, data: bytes) -> bytes:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, rest = self.buffer[:end], self.buffer[end + 4 :]
        self.buffer = b""
        accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            self.fail(f"handshake refused: {status}")
            return b""
        self.upgraded = True
        return rest

    # Talking -------------------------------------------------------------------------

    def fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def send_json(self, data: dict) -> None:
        if self.transport is not None:
            self.transport.write(client_frame(json.dumps(data).encode()))

    def send_catch_up(self) -> None:
        # The page's hidden catch-up field. The bench only posts messages, so a room's change
        # numbers are its message numbers.
        self.send_json({"last_change": str(self.high), "HEADERS": htmx_headers("catch-up", self.url)})

    def send_message(self, body: str) -> None:
        self.send_json(
            {"client_id": str(uuid.uuid4()), "message": body, "HEADERS": htmx_headers("chat-form", self.url)}
        )

    def close(self, code: int = 1001) -> None:
        if self.transport is not None:
            if self.upgraded:
                self.transport.write(client_frame(code.to_bytes(2, "big"), OP_CLOSE))
            self.close_code = code
            self.transport.close()

    def on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.transport is not None:
                self.transport.close()
        elif opcode == OP_PING and self.transport is not None:
            self.transport.write(client_frame(payload, 0xA))

    # Sequence bookkeeping ------------------------------------------------------------

    def received_between(self, low: int, high: int) -> int:
        """How many seqs in (low, high] this socket has (everything up to `self.high` counts)."""
        count = max(0, min(self.high, high) - low)
        if self.extra:
            count += sum(1 for seq in self.extra if low < seq <= high and seq > self.high)
        return count


@dataclass
class StepStats:
    """What the receivers saw of the messages sent in one window."""

    sent: int
    delivered: int
    seconds: float
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    lost: int
    dup: int
    errors: int

    @property
    def achieved(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


@dataclass
class Load:
    """All sockets of one scenario, their rooms, and the latencies they measured."""

    rooms: int
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    sockets: list[Socket] = field(default_factory=list)
    sent_at: array = field(default_factory=lambda: array("d"))
    latency: array = field(default_factory=lambda: array("d"))
    parsed: dict[bytes, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    sent_per_room: Counter = field(default_factory=Counter)
    goals: dict[int, int] = field(default_factory=dict)
    deliveries: int = 0
    window_start: float = 0.0  # wall clock of the last reset_window
    worst_latency: float = 0.0  # seconds, of messages sent since then
    dups: int = 0
    acks: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    close_codes: Counter = field(default_factory=Counter)
    other_frames: Counter = field(default_factory=Counter)  # frames without messages, by kind
    next_index: int = 0

    # Receiving -----------------------------------------------------------------------

    def read_frames(self, sock: Socket, data: bytes) -> bytes:
        """Handle every complete frame in `data`; returns the incomplete rest."""
        now = time.time()
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            end = pos + head + length
            if end > size:
                break
            payload = data[pos + head : end]
            pos = end
            opcode = first & 0x0F
            if opcode >= OP_CLOSE:
                sock.on_control(opcode, payload)
            elif not first & 0x80:  # fragmented: rare, keep the pieces
                sock.fragments.append(payload)
            else:
                if sock.fragments:
                    payload, sock.fragments = b"".join([*sock.fragments, payload]), []
                self.on_text(sock, payload, now)
        return data[pos:]

    def on_text(self, sock: Socket, payload: bytes, now: float) -> None:
        """One frame: the server may have joined several (messages, the sender's composer, status...) in it."""
        parsed = self.parsed.get(payload)
        if parsed is None:
            items = tuple((int(seq), float(sent)) for seq, sent in ARTICLE.findall(payload))
            composers = payload.count(COMPOSER)
            # Every composer holds an empty error element; the rest are error fragments.
            parsed = (items, STATUS in payload, composers, payload.count(ERROR) - composers)
            if items:
                if len(self.parsed) >= PARSED_CACHE_SIZE:
                    self.parsed.clear()
                self.parsed[payload] = parsed
        items, status, acks, errors = parsed
        for seq, sent in items:
            self.record(sock, seq, sent, now)
        if not items:
            self.other_frames[frame_kind(payload)] += 1
        if status and not sock.opened.done():
            sock.send_catch_up()
            sock.opened.set_result(None)
        if acks:
            sock.acks += acks
            self.acks += acks
        if errors > 0:
            sock.errors += errors
            self.errors += errors
            if len(self.error_samples) < 5:
                self.error_samples.append(payload[:300].decode(errors="replace"))

    def record(self, sock: Socket, seq: int, sent: float, now: float) -> None:
        if seq <= sock.high or seq in sock.extra:
            sock.dups += 1
            self.dups += 1
            return
        if seq == sock.high + 1:
            sock.high = seq
            extra = sock.extra
            while extra and sock.high + 1 in extra:
                sock.high += 1
                extra.remove(sock.high)
            if sock.reached_at is None and sock.goal and sock.high >= sock.goal:
                sock.reached_at = now
        else:
            sock.extra.add(seq)
        self.deliveries += 1
        self.sent_at.append(sent)
        self.latency.append(now - sent)
        if now - sent > self.worst_latency and sent >= self.window_start:
            self.worst_latency = now - sent

    # Connecting ----------------------------------------------------------------------

    async def open_socket(self, target: Target, claimed: int = 0, timeout: float = 30.0, attempts: int = 3) -> Socket:
        """Connect, upgrade and wait for the status fragment (then catch-up is sent); retries with backoff."""
        for attempt in range(attempts):
            sock = Socket(self, self.next_index, target, claimed)
            try:
                await asyncio.wait_for(self.loop.create_connection(lambda s=sock: s, "127.0.0.1", target.port), timeout)
                await asyncio.wait_for(asyncio.shield(sock.opened), timeout)
            except (OSError, TimeoutError) as error:
                sock.close()
                if attempt == attempts - 1:
                    raise ConnectionError(f"port {target.port} {target.slug}: {error!r}") from error
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            self.next_index += 1
            self.sockets.append(sock)
            return sock
        raise AssertionError("unreachable")

    async def open_many(
        self, targets: Iterable[tuple[Target, int]], concurrency: int, timeout: float = 30.0
    ) -> tuple[list[Socket], list[str]]:
        """Open sockets for (target, claimed seq), `concurrency` handshakes at a time; returns (opened, errors)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(target: Target, claimed: int) -> Socket:
            async with gate:
                return await self.open_socket(target, claimed, timeout)

        results = await asyncio.gather(*(one(t, c) for t, c in targets), return_exceptions=True)
        opened = [r for r in results if isinstance(r, Socket)]
        errors = [str(r) for r in results if isinstance(r, BaseException)]
        return opened, errors

    def close_all(self, sockets: Iterable[Socket] | None = None) -> None:
        for sock in list(self.sockets if sockets is None else sockets):
            sock.close()
            if sock in self.sockets:
                self.sockets.remove(sock)

    # Sending -------------------------------------------------------------------------

    def send_one(self, sock: Socket, counter: int) -> None:
        sock.send_message(message_body(sock.index, counter))
        self.sent_per_room[sock.target.room] += 1

    async def send_at_rate(
        self, senders: list[Socket], rate: float, seconds: float, give_up: Callable[[int], bool] | None = None
    ) -> int:
        """Open-loop sending: message i leaves at start + i/rate, from senders in turn; returns how many left.

        `give_up(sent so far)` is asked about four times a second: True ends the sending early.
        """
        count = max(1, round(rate * seconds))
        check_every = max(1, round(rate / 4))
        start = self.loop.time()
        for i in range(count):
            delay = start + i / rate - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if give_up is not None and i and i % check_every == 0 and give_up(i):
                return i
            self.send_one(senders[i % len(senders)], i)
        await asyncio.sleep(max(0.0, start + count / rate - self.loop.time()))  # the last interval too
        return count

    async def wait_acks(self, expected: int, limit: float) -> bool:
        """Until the senders got `expected` composers or errors back (each send is then stored or refused)."""
        return await poll(lambda: self.acks + self.errors >= expected, limit)

    async def drain(self, ends: dict[int, int], stall: float, limit: float) -> None:
        """Wait until every open socket has its room's messages up to `ends`, or no progress for `stall` s."""
        start = last_progress = self.loop.time()
        last_count = -1
        while self.loop.time() - start < limit:
            if not any(s.high < ends.get(s.target.room, 0) for s in self.sockets if s.is_open):
                return
            if self.deliveries != last_count:
                last_count, last_progress = self.deliveries, self.loop.time()
            elif self.loop.time() - last_progress > stall:
                return
            await asyncio.sleep(0.05)

    # Measuring -----------------------------------------------------------------------

    def reset_window(self) -> tuple[int, int, int]:
        """Forget old latencies; returns counters to subtract at the end of the window."""
        self.sent_at = array("d")
        self.latency = array("d")
        self.worst_latency = 0.0
        self.window_start = time.time()
        return self.dups, self.acks, self.errors

    def lost_between(
        self, starts: dict[int, int], ends: dict[int, int], sockets: Iterable[Socket] | None = None
    ) -> int:
        lost = 0
        for sock in self.sockets if sockets is None else sockets:
            low, high = starts.get(sock.target.room, 0), ends.get(sock.target.room, 0)
            if high > low:
                lost += (high - low) - sock.received_between(low, high)
        return lost

    def missing_examples(self, ends: dict[int, int], limit: int = 10) -> list[tuple[int, int, int]]:
        """A few (room, seq, socket index) that sockets lack up to `ends`: which messages went missing."""
        found: list[tuple[int, int, int]] = []
        for sock in self.sockets:
            end = ends.get(sock.target.room, 0)
            for seq in range(sock.high + 1, end + 1):
                if seq not in sock.extra:
                    found.append((sock.target.room, seq, sock.index))
                    if len(found) >= limit:
                        return found
        return found

    @property
    def sent_total(self) -> int:
        return sum(self.sent_per_room.values())

    def lost_since_claimed(self, ends: dict[int, int], sockets: Iterable[Socket]) -> int:
        """Seqs up to each room's end that sockets lack, counted from what each claimed when it opened."""
        lost = 0
        for sock in sockets:
            high = ends.get(sock.target.room, 0)
            if high > sock.claimed:
                lost += (high - sock.claimed) - sock.received_between(sock.claimed, high)
        return lost

    def window_stats(
        self, start: float, end: float, seconds: float, sent: int, lost: int, base: tuple[int, int, int]
    ) -> StepStats:
        """Latencies of the messages sent between `start` and `end` (wall clock), and the window's counters."""
        latencies = sorted(lat for at, lat in zip(self.sent_at, self.latency, strict=True) if start <= at < end)
        p50, p95, p99, top = (ms(percentile(latencies, f)) for f in (0.5, 0.95, 0.99, 1.0))
        return StepStats(
            sent=sent,
            delivered=len(latencies),
            seconds=seconds,
            p50=p50,
            p95=p95,
            p99=p99,
            max=top,
            lost=lost,
            dup=self.dups - base[0],
            errors=self.errors - base[2],
        )
