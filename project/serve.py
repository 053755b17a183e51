"""Serve the site: daphne on uvloop (where installed), with the chat's socket options.

    python -m project.serve -b 127.0.0.1 -p 8000 project.asgi:application

Any of daphne's options may follow; those given win over the defaults below.
daphne runs Twisted on an asyncio event loop that it creates when daphne.server
is first imported (Django imports it too, loading the daphne app); setting uvloop's
policy before that makes it a uvloop loop. Writing frames to sockets is most of
what a chat server does, and on uvloop each write costs the event loop about half
as much (bench/README.md). uvloop has no Windows build and does not run on PyPy
(requirements.txt installs it only where it runs): there the server runs on
asyncio's own loop, slower but otherwise the same.

On SIGTERM the process drains (project/drain.py): it stops listening, drops every
socket so that pages reconnect to another process, lets requests in flight finish,
and exits within 5 s.
"""

import asyncio
import gc
import logging
import os
import sys

DEFAULTS = [
    # Keep open tabs open: daphne's default closes every socket after a day.
    "--websocket_timeout",
    "-1",
    # A browser sends each message as one frame: frames over 64 KiB
    # (settings.CHAT_MAX_FRAME_BYTES) are dropped before they reach the application.
    "--websocket-max-frame-size",
    "65536",
    # autobahn applies the message limit to what it sends as well as to what it
    # receives, and drops a larger frame of ours with only a log line: the page never
    # saw those messages. Our frames are packed to at most CHAT_MAX_SENT_FRAME_BYTES
    # (64 KiB, chat/frames.py); this leaves room for a single piece above that and
    # bounds what a client can send in fragments.
    "--websocket-max-message-size",
    "1048576",
    # Pings find dead peers (a phone that lost its network) and drop them, so that
    # presence forgets them within 90 s. daphne pings every 20 s by default, which
    # cost a third of the CPU of 5,000 idle sockets; the page's heartbeat (every
    # 20 s) already keeps proxies from timing the socket out.
    "--ping-interval",
    "60",
    "--ping-timeout",
    "30",
    # daphne drops a socket that the application has not accepted within 5 s of its request (autobahn, within
    # 5 s of its connection): when every page reconnects at once, sockets wait in this process's own queue
    # that long, and each one dropped comes back to be handshaken again. 5,000 at once on one core never
    # opened (bench/README.md, "Issue 17"). The chat's consumer accepts before anything else.
    "--websocket_connect_timeout",
    "30",
]


def limit_request_bodies(limit: int) -> None:
    """Refuse request bodies over `limit` bytes with 413 (file uploads: settings.CHAT_MAX_REQUEST_BYTES).

    daphne has no such limit: Twisted keeps the whole body (in a temporary file past 100 kB), then daphne
    queues all of it to the application at once, in memory. This request class keeps nothing past the
    limit, and answers 413 instead of calling the application. daphne's HTTP factory looks its request
    class up by name when it builds each connection.
    """
    from daphne import http_protocol

    class LimitedRequest(http_protocol.WebRequest):
        received = 0
        too_large = False

        def gotLength(self, length):
            super().gotLength(length)
            self.too_large = length is not None and length > limit

        def handleContentChunk(self, data):
            self.received += len(data)
            if self.received > limit:
                self.too_large = True
            if not self.too_large:
                super().handleContentChunk(data)

        def process(self):
            if self.too_large:
                self.content.seek(0)
                self.content.truncate()
                self.basic_error(413, b"Content Too Large", "The request is larger than this site accepts.")
                return None
            return super().process()

    http_protocol.WebRequest = LimitedRequest


# Connections waiting to be accepted. When a process stops, its pages all reconnect to the others within
# about a second: with Twisted's default (50), 200 of them overflowed the queue (the kernel's
# ListenOverflows), nginx got resets instead of answers (502) and those pages waited out a backoff.
# The kernel caps it at net.core.somaxconn (4096 on Debian 12).
LISTEN_BACKLOG = 1024


def with_backlog(endpoint: str) -> str:
    """A daphne endpoint description (`tcp:port=8001:interface=127.0.0.1`) with LISTEN_BACKLOG, unless it has one."""
    if endpoint.startswith(("tcp:", "tcp6:", "unix:")) and "backlog=" not in endpoint:
        return f"{endpoint}:backlog={LISTEN_BACKLOG}"
    return endpoint


def tune_gc() -> None:
    """Leave what start-up loaded out of every later garbage collection.

    A full collection walks every tracked object and stops the event loop meanwhile: with Django and the app
    loaded (most of the objects a server holds) and 1,000 sockets open, 50-210 ms, the tail of a busy room's
    latency (bench/README.md, "Latency tail"). Frozen objects are never walked again.
    """
    gc.collect()
    gc.freeze()


CHECK_EVERY = 5


def server_class() -> type:
    """daphne's Server, draining on SIGTERM (project/drain.py), listening with LISTEN_BACKLOG, and giving each
    socket the `chat.frames` extension (project/socket_frames.py)."""
    from project.drain import DrainingServer
    from project.socket_frames import add_extension

    class Server(DrainingServer):
        def __init__(self, *args, endpoints=None, **kwargs) -> None:
            super().__init__(*args, endpoints=[with_backlog(e) for e in endpoints or []], **kwargs)

        def create_application(self, protocol, scope):
            add_extension(protocol, scope)
            return super().create_application(protocol, scope)

        # daphne walks every connection in two timers, every second (finished applications) and every two seconds
        # (timeouts and pings): with 5,000 idle sockets a quarter of the CPU at rest (bench/README.md, "Where an idle
        # socket's memory goes"). Each walks every CHECK_EVERY-th time it is due, and reschedules itself as daphne
        # does otherwise: pings every 60 s and closed sockets freed seconds later make no difference to a chat.
        skipped = {"application_checker": 0, "timeout_checker": 0}

        def application_checker(self) -> None:
            if self._walk_now("application_checker", 1):
                super().application_checker()

        def timeout_checker(self) -> None:
            if self._walk_now("timeout_checker", 2):
                super().timeout_checker()

        def _walk_now(self, checker: str, period: float) -> bool:
            from twisted.internet import reactor

            self.skipped = {**self.skipped, checker: (self.skipped[checker] + 1) % CHECK_EVERY}
            if self.skipped[checker]:
                reactor.callLater(period, getattr(self, checker))  # type: ignore[arg-type]
                return False
            return True

        def run(self) -> None:
            tune_gc()  # the application is loaded; the reactor runs next
            super().run()

    return Server


def choose_event_loop() -> str:
    """Make the loops asyncio creates from now on uvloop's, when uvloop is installed; returns the loop's name.

    Without uvloop the policy is left alone, not reset: on Windows, importing daphne sets
    the selector loop policy, since Twisted cannot run on the default proactor loop.
    """
    try:
        import uvloop
    except ImportError:
        # Logging is not configured yet (Django does it later): a warning reaches stderr as one bare line.
        logging.getLogger(__name__).warning("uvloop is not installed: serving on asyncio's own event loop.")
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main() -> None:
    choose_event_loop()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.conf import settings

    limit_request_bodies(settings.CHAT_MAX_REQUEST_BYTES)
    from daphne.cli import CommandLineInterface

    cli = CommandLineInterface()
    cli.server_class = server_class()
    cli.run([*DEFAULTS, *sys.argv[1:]])


if __name__ == "__main__":
    main()
