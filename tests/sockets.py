"""Helpers to open the real ASGI app's chat socket as a browser would."""

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from project.asgi import application

from .conftest import session_cookie

ORIGIN = b"http://127.0.0.1:8000"

# A socket reaches the database from another thread: its tests need real transactions.
pytest_async = pytest.mark.django_db(transaction=True)


async def open_socket(
    slug: str, user=None, origin: bytes | None = ORIGIN, catch_up: int | None = 0, unread_after: int | None = None
):
    """Connect to a room's socket; by default send the page's catch-up frame as htmx does on open."""
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/chat/{slug}/", headers=headers)
    connected, code = await communicator.connect()
    if connected and user is not None and catch_up is not None:
        await receive_until(communicator, 'id="connection-status"')  # presence may come first
        await communicator.send_to(text_data=catch_up_frame(catch_up, unread_after))
    return communicator, connected, code


def htmx_frame(fields: dict, trigger: str) -> str:
    """The JSON frame the ws extension sends for a ws-send form."""
    headers = {
        "HX-Request": "true",
        "HX-Trigger": trigger,
        "HX-Trigger-Name": None,
        "HX-Target": trigger,
        "HX-Current-URL": "http://127.0.0.1:8000/chat/room/",
    }
    return json.dumps({**fields, "HEADERS": headers})


def send_frame(body: str, client_id: str | None = None) -> str:
    return htmx_frame({"client_id": client_id or str(uuid.uuid4()), "message": body}, "chat-form")


def catch_up_frame(last_change: int, unread_after: int | None = None) -> str:
    fields = {"last_change": str(last_change), "unread_after": "" if unread_after is None else str(unread_after)}
    return htmx_frame(fields, "catch-up")


async def receive_until(communicator, needle: str, timeout: float = 3) -> str:
    """Frames until one contains `needle` (heartbeats and composers may come first)."""
    while True:
        frame = await communicator.receive_from(timeout=timeout)
        if needle in frame:
            return frame


async def receive_all(communicator, *needles: str, timeout: float = 3) -> str:
    """Frames, in any order, until each needle was in one of them; returns them joined."""
    frames: list[str] = []
    while not all(any(needle in frame for frame in frames) for needle in needles):
        frames.append(await communicator.receive_from(timeout=timeout))
    return "\n".join(frames)


async def drain(communicator, timeout: float = 0.3) -> list[str]:
    """Every frame that arrives until none has for `timeout` (without cancelling the app)."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await communicator.receive_from())
    return frames


async def closed_with(communicator, timeout: float = 2) -> int:
    """The close code the socket gets within `timeout` seconds (frames before it are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            output = await communicator.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return output["code"]
