"""Text frames written straight on a socket: the `chat.frames` ASGI extension project.serve gives each socket.

What a chat server mostly does is write one frame to many sockets. Through ASGI each write
crosses Channels' `send`, daphne's `Server.handle_reply` and `WebSocketProtocol.handle_reply`,
autobahn's `sendMessage` (which frames the text again for every socket) and Twisted's
transport, which does not write at once: it adds the socket to the event loop's writers, and
on the loop's next turn writes and removes it again, each step through Twisted's logging
context. That was 38-60 µs of the server's core per delivery (bench/README.md, "Issue 17:
low-rate latency"), and a message reached the last page of a 1,000-member room only after
a whole pass of them.

`scope["extensions"]["chat.frames"]` is a `FrameWriter`: called with a text frame, it writes
it and returns True, or returns False and writes nothing, and the caller sends the frame the
ordinary way (ASGI's `websocket.send`). It writes:

- the bytes of a frame prepared once for every socket it goes to (autobahn's
  `factory.prepareMessage`), kept for the few frames written last (`PREPARED_KEPT`): a room's
  pages of one look are sent the very same frame;
- straight with the socket's `send()` when Twisted holds nothing unwritten for it, as
  asyncio's own transports do; what the kernel does not take at once, and any frame while
  something is still unwritten, is handed to Twisted's transport, so frames keep their order.

It returns False, for daphne and autobahn to do as they always do, whenever a frame is not
the plain case: the socket is not open (never accepted, closing, closed or dropped by the
drain: no frame goes to a socket after it closed), autobahn queues writes of its own, a
compression extension was negotiated, the frame is over autobahn's message limit (which then
refuses it as before) or its automatic fragment size. Sockets that are not plain TCP (TLS
terminated by daphne) get no extension at all. Close frames, pings and the handshake are
daphne's and autobahn's, unchanged.

Tests and other servers give no such extension: the consumer then sends every frame through
ASGI (chat.consumers.ChatConsumer.send_frame).
"""

from __future__ import annotations

from typing import Any

from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import tcp

from chat.metrics import FRAMES_WRITTEN_STRAIGHT

EXTENSION = "chat.frames"
# Prepared frames kept, newest last: a writer's pass sends one frame to every page of a look, and a page's own
# replies (its composer, an error) come in between.
PREPARED_KEPT = 8
# Frames over this many bytes are prepared every time instead of kept (the writer packs frames to 64 KiB).
KEEP_AT_MOST_BYTES = 65536

OPEN = WebSocketProtocol.STATE_OPEN

_prepared: dict[str, bytes] = {}


def prepared(frame: str, factory: Any) -> bytes:
    """The frame's bytes on the wire (header and UTF-8 text), prepared once while it is among the last few sent."""
    data = _prepared.get(frame)
    if data is None:
        data = factory.prepareMessage(frame.encode(), doNotCompress=True).payloadHybi
        if len(data) <= KEEP_AT_MOST_BYTES:
            if len(_prepared) >= PREPARED_KEPT:
                del _prepared[next(iter(_prepared))]
            _prepared[frame] = data
    return data


def payload_length(size: int) -> int:
    """The text's length in bytes in a prepared frame of `size` bytes (an unmasked header is 2, 4 or 10 bytes)."""
    if size - 2 <= 125:
        return size - 2
    if size - 4 <= 0xFFFF:
        return size - 4
    return size - 10


class FrameWriter:
    """Writes text frames on one daphne WebSocket protocol's TCP transport (see the module's doc)."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @staticmethod
    def serves(protocol: Any) -> bool:
        """Whether frames can go straight on this protocol's transport: plain TCP, Twisted's own."""
        transport = getattr(protocol, "transport", None)
        return type(transport) is tcp.Server and not transport.TLS

    def __call__(self, frame: str) -> bool:
        protocol = self.protocol
        if protocol.state != OPEN or protocol.send_queue or protocol._perMessageCompress is not None:
            return False
        data = prepared(frame, protocol.factory)
        size = len(data)
        payload = payload_length(size)
        if 0 < protocol.maxMessagePayloadSize < payload or 0 < protocol.autoFragmentSize < payload:
            return False  # autobahn refuses it (PayloadExceededError) or cuts it in fragments, as it always did
        transport = protocol.transport
        if not transport.connected or transport.disconnecting or transport._writeDisconnected:
            return False
        FRAMES_WRITTEN_STRAIGHT.value += 1
        if transport._tempDataBuffer or transport.offset < len(transport.dataBuffer):
            transport.write(data)  # behind what is still unwritten
            return True
        # Nothing is unwritten, so no producer is paused for a full buffer (the HTTP channel the socket was upgraded
        # from stays registered as one): Twisted's own write would only pause it if what we leave fills the buffer.
        try:
            sent = transport.socket.send(data)
        except OSError:
            # The kernel's buffer is full (or a signal came): Twisted writes it once the socket is writable. Or the
            # peer is gone: Twisted's own write meets the error and closes the connection as it always does.
            sent = 0
        if sent < size:
            transport.write(data[sent:])
        return True


def add_extension(protocol: Any, scope: dict) -> None:
    """Give a WebSocket scope the `chat.frames` extension when its socket is plain TCP (daphne's create_application)."""
    if scope.get("type") == "websocket" and FrameWriter.serves(protocol):
        scope["extensions"] = {**(scope.get("extensions") or {}), EXTENSION: FrameWriter(protocol)}
