"""Control: a bare `websockets` server (no Django) speaking just enough of the chat protocol.

Each received chat-form frame gets the room's next sequence number and is
broadcast with websockets.broadcast to every connection on the same path, as a
frame shaped like the app's message frame and padded to its size (the bench
passes --frame-bytes); catch-up frames are ignored.
Run: python -m bench.bare_server --port 8765 [--frame-bytes 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import signal
from collections import defaultdict
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve

STATUS = (
    '<div id="connection-status" class="connection-status live" role="status" hx-swap-oob="true">'
    '<span class="status-connecting">Connecting…</span><span class="status-live">Live</span>'
    '<span class="status-stale">Reconnecting…</span></div>'
)
COMPOSER = (
    '<form id="chat-form" class="composer" ws-send autocomplete="off" hx-swap-oob="true">' + " " * 480 + "</form>"
)
FRAME = """<div id="chat-log" hx-swap-oob="beforeend"><article id="message-{seq}" class="message" data-seq="{seq}" \
data-author="1">
  <header class="message-meta">
    <span class="message-author">bench-user</span>
    <time datetime="{iso}" title="{title}">{hm}</time>
  </header>
  <p class="message-body">{body}</p>
{pad}</article>
</div>
<input type="hidden" id="catch-up-last-change" name="last_change" value="{seq}" hx-swap-oob="true">
"""

rooms: dict[str, set[ServerConnection]] = defaultdict(set)
seqs: dict[str, int] = defaultdict(int)


def message_frame(seq: int, body: str, size: int) -> str:
    """The message's frame, padded with insignificant whitespace to `size` bytes (the app's frame size)."""
    now = datetime.now(UTC)
    fields = {
        "seq": seq,
        "iso": now.isoformat(),
        "title": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "hm": now.strftime("%H:%M"),
        "body": html.escape(body),
    }
    frame = FRAME.format(pad="", **fields)
    return FRAME.format(pad=" " * max(0, size - len(frame.encode())), **fields)


def trigger_of(data: object) -> str:
    headers = data.get("HEADERS") if isinstance(data, dict) else None
    return headers.get("HX-Trigger", "") if isinstance(headers, dict) else ""


async def handler(connection: ServerConnection, frame_bytes: int) -> None:
    path = connection.request.path if connection.request else "/"
    members = rooms[path]
    members.add(connection)
    try:
        await connection.send(STATUS)
        async for text in connection:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if trigger_of(data) != "chat-form" or not isinstance(data.get("message"), str):
                continue  # catch-up frames and anything else: nothing to do
            seqs[path] += 1
            broadcast(members, message_frame(seqs[path], data["message"], frame_bytes))
            await connection.send(COMPOSER)
    finally:
        members.discard(connection)


async def main(port: int, frame_bytes: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async def handle(connection: ServerConnection) -> None:
        await handler(connection, frame_bytes)

    async with serve(handle, "127.0.0.1", port, compression=None, ping_interval=None, max_queue=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frame-bytes", type=int, default=600, help="pad message frames to this size")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.frame_bytes))
