"""Serve the site: daphne on uvloop, with the chat's socket options.

    python -m project.serve -b 127.0.0.1 -p 8000 project.asgi:application

Any of daphne's options may follow; those given win over the defaults below.
daphne runs Twisted on an asyncio event loop that it creates when daphne.server
is first imported; setting uvloop's policy before that makes it a uvloop loop.
Writing frames to sockets is most of what a chat server does, and on uvloop
each write costs the event loop about half as much (bench/README.md).
"""

import asyncio
import sys

import uvloop

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
]


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run([*DEFAULTS, *sys.argv[1:]])


if __name__ == "__main__":
    main()
