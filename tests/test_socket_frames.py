"""Frames written straight on the socket (project/socket_frames.py, the `chat.frames` extension project.serve gives
each socket): what the writer puts on a real TCP socket and when it leaves a frame to daphne and autobahn; that the
consumer uses the extension when offered and sends through ASGI otherwise; and, against a real daphne, that pages
get their frames this way, and a refusal's frame before its close code."""

import asyncio
import re
import socket
import urllib.request

import pytest
import websockets
from asgiref.sync import sync_to_async
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from channels.testing import WebsocketCommunicator
from django.conf import settings
from twisted.internet import tcp

from chat import rooms
from chat.consumers import FRAMES_EXTENSION
from chat.metrics import FRAMES_WRITTEN_STRAIGHT
from project import socket_frames
from project.asgi import application
from project.socket_frames import FrameWriter, add_extension

from .browser import unique
from .conftest import session_cookie
from .live import Daphne, HttpUser, Listener, server_env
from .sockets import ORIGIN, catch_up_frame, receive_until, send_frame

FRAME = '<div id="chat-log" hx-swap-oob="beforeend"><article>hello</article></div>'


class Reactor:
    """What a Twisted transport asks of its reactor, recorded: no event loop runs in these tests."""

    def __init__(self) -> None:
        self.readers: set = set()
        self.writers: set = set()

    def addReader(self, reader) -> None:
        self.readers.add(reader)

    def removeReader(self, reader) -> None:
        self.readers.discard(reader)

    def addWriter(self, writer) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:
        self.writers.discard(writer)


@pytest.fixture
def wire():
    """An open autobahn server protocol on a real Twisted TCP transport over a socket pair; the client's end."""
    ours, peer = socket.socketpair()
    factory = WebSocketServerFactory()
    factory.protocol = WebSocketServerProtocol  # Twisted's, as daphne's WebSocketProtocol is
    factory.setProtocolOptions(openHandshakeTimeout=0, maxMessagePayloadSize=2**20)
    protocol = factory.buildProtocol(None)
    assert isinstance(protocol, WebSocketServerProtocol)
    reactor = Reactor()
    transport = tcp.Server(ours, protocol, ("127.0.0.1", 1), None, 0, reactor)
    protocol.makeConnection(transport)
    protocol.state = WebSocketProtocol.STATE_OPEN  # as after the handshake
    peer.setblocking(False)
    socket_frames._prepared.clear()
    yield protocol, transport, reactor, peer
    ours.close()
    peer.close()


def read(peer: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def text_frame(text: str) -> bytes:
    """A server's (unmasked) text frame, as RFC 6455 puts it on the wire."""
    payload = text.encode()
    if len(payload) <= 125:
        return bytes((0x81, len(payload))) + payload
    if len(payload) <= 0xFFFF:
        return bytes((0x81, 126)) + len(payload).to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + len(payload).to_bytes(8, "big") + payload


def test_on_an_idle_socket_the_frame_is_written_at_once(wire):
    protocol, _, reactor, peer = wire
    written = FRAMES_WRITTEN_STRAIGHT.value
    assert FrameWriter(protocol)(FRAME) is True
    assert read(peer) == text_frame(FRAME)
    assert not reactor.writers  # Twisted was not asked to write anything later
    assert FRAMES_WRITTEN_STRAIGHT.value == written + 1
    long = "é" + "x" * 70_000  # a 64-bit length, UTF-8
    assert FrameWriter(protocol)(long) is True
    received = b""
    while len(received) < len(text_frame(long)):
        received += read(peer)
    assert received == text_frame(long)


def test_behind_what_twisted_holds_unwritten_a_frame_waits_its_turn(wire):
    protocol, transport, reactor, peer = wire
    transport.write(b"earlier")  # e.g. the handshake's answer, or a ping, not yet written
    assert FrameWriter(protocol)(FRAME) is True
    assert read(peer) == b""  # nothing jumped ahead of it
    assert reactor.writers == {transport}
    transport.doWrite()
    assert read(peer) == b"earlier" + text_frame(FRAME)
    assert not reactor.writers


def test_what_the_kernel_does_not_take_at_once_twisted_writes_later_in_order(wire):
    protocol, transport, reactor, peer = wire
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big, after = "a" * 600_000, "b" * 1000
    assert FrameWriter(protocol)(big) is True
    assert reactor.writers == {transport}  # the rest is Twisted's
    assert FrameWriter(protocol)(after) is True  # queued behind it
    received = b""
    for _ in range(10_000):
        received += read(peer)
        if not reactor.writers:
            break
        transport.doWrite()
    received += read(peer)
    assert received == text_frame(big) + text_frame(after)


@pytest.mark.parametrize(
    "state", [WebSocketProtocol.STATE_CONNECTING, WebSocketProtocol.STATE_CLOSING, WebSocketProtocol.STATE_CLOSED]
)
def test_a_socket_that_is_not_open_is_written_nothing(wire, state):
    protocol, _, reactor, peer = wire
    protocol.state = state
    assert FrameWriter(protocol)(FRAME) is False  # the consumer falls back to ASGI, which refuses or drops it
    assert read(peer) == b"" and not reactor.writers


def test_a_dropped_socket_is_written_nothing(wire):
    protocol, transport, _, peer = wire
    transport.loseConnection()  # what the drain does (dropConnection, abort=False), autobahn's state aside
    assert FrameWriter(protocol)(FRAME) is False
    transport.doWrite()
    assert read(peer) == b""


def test_frames_autobahn_would_refuse_compress_or_queue_are_left_to_it(wire):
    protocol, _, _, peer = wire
    protocol.maxMessagePayloadSize = len(FRAME)
    assert FrameWriter(protocol)(FRAME + "x") is False  # autobahn raises PayloadExceededError, as before
    assert FrameWriter(protocol)(FRAME) is True
    assert read(peer) == text_frame(FRAME)
    protocol.send_queue.append((b"queued", True))  # autobahn trickles writes of its own
    assert FrameWriter(protocol)(FRAME) is False
    protocol.send_queue.clear()
    protocol._perMessageCompress = object()  # permessage-deflate negotiated
    assert FrameWriter(protocol)(FRAME) is False
    assert read(peer) == b""


def test_a_frame_for_many_sockets_is_prepared_once(wire, monkeypatch):
    protocol = wire[0]
    prepared = []
    real = protocol.factory.prepareMessage
    monkeypatch.setattr(protocol.factory, "prepareMessage", lambda *a, **k: prepared.append(a) or real(*a, **k))
    frame = "".join(["<div>", "one", "</div>"])
    for _ in range(3):
        assert FrameWriter(protocol)(frame)
    assert FrameWriter(protocol)("".join(["<div>", "one", "</div>"]))  # equal text, another string
    assert len(prepared) == 1
    for n in range(socket_frames.PREPARED_KEPT + 1):
        assert FrameWriter(protocol)(f"<div>{n}</div>")
    assert len(socket_frames._prepared) == socket_frames.PREPARED_KEPT
    assert frame not in socket_frames._prepared  # the oldest went


def test_only_plain_tcp_sockets_get_the_extension(wire):
    protocol = wire[0]
    scope: dict = {"type": "websocket", "path": "/ws/chat/x/"}
    add_extension(protocol, scope)
    assert isinstance(scope["extensions"][FRAMES_EXTENSION], FrameWriter)
    http: dict = {"type": "http"}
    add_extension(protocol, http)
    assert "extensions" not in http

    class Wrapped:  # TLS terminated by daphne: the protocol's transport is Twisted's TLS wrapper
        transport = object()

    behind_tls: dict = {"type": "websocket"}
    add_extension(Wrapped(), behind_tls)
    assert "extensions" not in behind_tls


# The consumer: the extension when offered, ASGI otherwise ----------------------------------------------------------


class Taken:
    """A `chat.frames` extension that takes every frame (and writes it nowhere)."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.arrived = asyncio.Event()

    def __call__(self, frame: str) -> bool:
        self.frames.append(frame)
        self.arrived.set()
        return True

    async def until(self, text: str) -> None:
        async with asyncio.timeout(3):
            while not any(text in frame for frame in self.frames):
                self.arrived.clear()
                await self.arrived.wait()


async def communicator_with(extension, slug: str, user) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(user)
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", ORIGIN)]
    headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/chat/{slug}/", headers=headers)
    communicator.scope["extensions"] = {FRAMES_EXTENSION: extension}  # before the application reads its scope
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_the_consumer_writes_through_the_extension_when_it_takes_the_frame(make_user):
    alice = await sync_to_async(make_user)("alice")
    lobby = await sync_to_async(rooms.create_room)("Lobby", alice)
    taken = Taken()
    page = await communicator_with(taken, lobby.slug, alice)
    await taken.until('id="connection-status"')
    await page.send_to(text_data=catch_up_frame(0))
    await page.send_to(text_data=send_frame("through the extension"))
    await taken.until("through the extension")
    assert await page.receive_nothing(timeout=0.3)  # nothing went through ASGI
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_frames_the_extension_declines_go_through_asgi(make_user):
    alice = await sync_to_async(make_user)("alice")
    lobby = await sync_to_async(rooms.create_room)("Lobby", alice)
    offered: list[str] = []
    page = await communicator_with(lambda frame: offered.append(frame) and False, lobby.slug, alice)
    await receive_until(page, 'id="connection-status"')
    await page.send_to(text_data=catch_up_frame(0))
    await page.send_to(text_data=send_frame("through asgi"))
    await receive_until(page, "through asgi")
    assert any("through asgi" in frame for frame in offered)  # offered first, then sent the usual way
    await page.disconnect()


# Against a real daphne (project.serve) ------------------------------------------------------------------------------


def metrics(server: Daphne, *names: str) -> list[float]:
    """Counters of the server's /metrics, read in one scrape."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        body = response.read().decode()
    values = []
    for name in names:
        found = re.search(rf"^{name} (\S+)$", body, re.M)
        assert found, f"{name} not in /metrics"
        values.append(float(found[1]))
    return values


@pytest.mark.live
async def test_under_project_serve_pages_get_their_frames_straight_on_the_socket(server):
    alice, bob = HttpUser(server.url), HttpUser(server.url)
    await asyncio.to_thread(alice.sign_up, unique("alice"))
    await asyncio.to_thread(bob.sign_up, unique("bob"))
    _, page = await asyncio.to_thread(alice.post, "/", {"name": unique("Straight ")})
    slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    pages = [await Listener(server, user.cookie(), slug).open() for user in (alice, bob)]
    for listener in pages:
        await listener.until('id="connection-status"')
    await asyncio.sleep(0.3)  # presence and catch-up answers are written
    counters = ("chat_frames_written_straight_total", "chat_deliveries_total")
    straight_before, delivered_before = metrics(server, *counters)
    frames_before = sum(len(listener.frames) for listener in pages)
    await pages[0].ws.send(send_frame("straight to the wire"))
    for listener in pages:
        await listener.until("straight to the wire")
    await pages[0].until('id="chat-form"')  # the sender's fresh composer
    frames = sum(len(listener.frames) for listener in pages) - frames_before
    assert frames >= 2
    straight, delivered = metrics(server, *counters)
    # Every frame the pages got went straight (heartbeats may add some meanwhile), and so did every frame delivered
    # (the scrape, in a thread, may fall between a frame's two counts).
    assert straight - straight_before >= frames
    assert straight - straight_before >= delivered - delivered_before - 1
    for listener in pages:
        await listener.ws.close()


@pytest.mark.live
async def test_a_refusal_is_written_before_its_close_code_and_nothing_after(live_db, live_dir):
    daphne = Daphne(server_env(live_db, CHAT_MAX_SOCKETS_PER_USER="1"), live_dir).start()
    try:
        carol = HttpUser(daphne.url)
        await asyncio.to_thread(carol.sign_up, unique("carol"))
        _, page = await asyncio.to_thread(carol.post, "/", {"name": unique("Refused ")})
        slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
        first = await Listener(daphne, carol.cookie(), slug).open()
        await first.until('id="connection-status"')
        url = f"ws://127.0.0.1:{daphne.port}/ws/chat/{slug}/"
        headers = {"Cookie": f"sessionid={carol.cookie()}"}
        frames = []
        async with websockets.connect(url, origin=daphne.url, additional_headers=headers) as second:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    frames.append(await second.recv())
            assert second.close_code == 4429
        assert len(frames) == 1 and "Too many open chat tabs" in frames[0]
        await first.ws.send(send_frame("still here"))
        await first.until("still here")  # the first page is unharmed
        await first.ws.close()
    finally:
        daphne.stop()
