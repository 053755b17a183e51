"""The classic Channels pattern: every socket has its own channel and joins its room's group.

Storage and rendering are the app's own (chat.services); only the fan-out
differs: group_send hands the frame to each socket's channel, and each
consumer's handler sends it.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from chat import services
from chat.live import frames
from chat.models import Room


class ClassicChatConsumer(AsyncWebsocketConsumer):
    room: Room | None = None
    group = ""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.room = await Room.objects.filter(slug=self.scope["url_route"]["kwargs"]["slug"]).afirst()
        if self.room is None:
            await self.close(code=4404)
            return
        self.group = f"classic.room.{self.room.pk}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send(text_data=render_to_string("chat/_status.html", {"state": "live", "oob": True}))

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room is None or text_data is None:
            return
        data = json.loads(text_data)
        if data.get("HEADERS", {}).get("HX-Trigger") != "chat-form":
            return  # catch-up frames: the classic pattern has no catch-up
        frame = await database_sync_to_async(self._store)(data["message"], data.get("client_id") or None)
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "frame": frame})
        await self.send(text_data=frames.composer(self.room))

    def _store(self, body: str, client_id: str | None) -> str:
        message = services.post_message(self.room, self.scope["user"], body, client_id).message
        return render_frame(message)

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=event["frame"])


def render_frame(message) -> str:
    """The app's own live frame of a new message."""
    return frames.render_new_message_frame(message)
