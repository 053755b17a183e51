"""Serve the site: daphne on uvloop. `python -m project.serve [daphne's options] project.asgi:application`.

daphne runs Twisted on an asyncio event loop that it creates when daphne.server
is first imported; setting uvloop's policy before that makes it a uvloop loop.
Writing frames to sockets is most of what a chat server does, and on uvloop
each write costs the event loop about half as much (bench/README.md).
"""

import asyncio

import uvloop


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
