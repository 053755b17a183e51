"""Stopping a server process gracefully: daphne's Server, draining on SIGTERM (and SIGINT).

daphne alone, on SIGTERM, cancels every application at once (requests in flight are cut,
a socket's `disconnect` never runs) and then drops every connection. Instead:

1. Stop listening: a proxy's next connection is refused, so it goes to another process
   (nginx's default `proxy_next_upstream error`).
2. Drop every WebSocket's TCP connection once what was queued for it is written
   (`loseConnection`). No close frame: the page sees 1006, the one code of those the htmx ws
   extension retries (1006, 1011-1013) that a server can cause (autobahn sends only 1000 and
   3000-4999), and reconnects through the proxy to another process, where its catch-up claims
   exactly what it has. Each consumer's `disconnect` runs (presence, the reading position).
3. Let HTTP requests in flight finish, for up to DRAIN_SECONDS; then daphne's own stop
   (cancelling whatever is left). A process that has still not exited HARD_EXIT_SECONDS after
   the signal exits anyway, so a stop never waits on one stuck task.

A second signal while draining stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from typing import Any

from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor

logger = logging.getLogger("chat.drain")

# Requests in flight get this long to finish; pages reconnect elsewhere meanwhile (they do not wait).
DRAIN_SECONDS = 3.0
# The process is gone by then whatever happens (systemd's TimeoutStopSec, deploy/chat@.service, is longer).
HARD_EXIT_SECONDS = 5.0
CHECK_EVERY_SECONDS = 0.05


class DrainingServer(Server):
    """daphne's Server with the drain above in place of Twisted's signal handlers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []
        self.draining = False

    def run(self) -> None:
        reactor.callWhenRunning(self.install_signal_handlers)
        super().run()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_event_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.drain)
            except (NotImplementedError, RuntimeError):  # Windows: no signal handlers on the loop
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self.drain))

    def drain(self) -> None:
        if self.draining:
            logger.warning("Stopping at once (a second signal).")
            self.stop()
            return
        self.draining = True
        watchdog = threading.Timer(HARD_EXIT_SECONDS, hard_exit)
        watchdog.daemon = True
        watchdog.start()
        # Twisted closes a listening socket on its next turn: the sockets are dropped once it has, so that no
        # page reconnecting at once can land here again.
        closed = defer.DeferredList([defer.maybeDeferred(port.stopListening) for port in self.ports])
        closed.addCallback(lambda _: self.drop_sockets())

    def drop_sockets(self) -> None:
        sockets = [protocol for protocol in self.connections if isinstance(protocol, WebSocketProtocol)]
        for protocol in sockets:
            # Written buffers go out first, then FIN: the page reads every frame it was sent, then 1006.
            protocol.dropConnection(abort=False)
        logger.info("Draining: stopped listening, dropped %d sockets.", len(sockets))
        self.wait_for_applications(time.monotonic() + DRAIN_SECONDS)

    def busy(self) -> int:
        """Application instances still running: requests in flight, sockets whose `disconnect` runs."""
        return sum(
            1
            for details in self.connections.values()
            if "application_instance" in details and not details["application_instance"].done()
        )

    def wait_for_applications(self, deadline: float) -> None:
        busy = self.busy()
        if busy and time.monotonic() < deadline:
            # Twisted runs on this asyncio loop (daphne.server installs the asyncio reactor).
            asyncio.get_event_loop().call_later(CHECK_EVERY_SECONDS, self.wait_for_applications, deadline)
            return
        if busy:
            logger.warning("Drained for %.0f s; cancelling %d applications still running.", DRAIN_SECONDS, busy)
        self.stop()


def hard_exit() -> None:
    logger.error("Still running %.0f s after the signal: exiting.", HARD_EXIT_SECONDS)
    os._exit(1)
