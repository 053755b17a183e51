"""The channel layer between processes when there is Redis: Redis Pub/Sub, one PUBLISH per event.

Each process has one channel (hub.Hub) and joins the groups of its rooms and users; an event is
published to its group and reaches the processes subscribed to it. This is a Channels layer
backend (settings.CHANNEL_LAYERS) with the calls the hub makes: new_channel, group_add,
group_discard, group_send and receive.

Why not channels-redis's RedisChannelLayer: its group_send reads the group's members and pushes
to each process's list with a script, and its receive pops that list, three or four round trips
and ~1.3 ms of a core per event sent and received (measured on this machine, 2,000 sends of a
room change, against ~0.2-0.3 ms here); in 100 rooms of ten that was the largest share of a
message's cost. Why not its RedisPubSubChannelLayer either: it logs a traceback every second
while Redis is away and hides the loss of its connection from the hub, which must know to fill
in from the database.

What Pub/Sub does not do, the hub already does: an event published while a process was not
subscribed (Redis restarted, a link cut) is not kept for it. The database is the record: a
process fills in after its subscription failed (hub._read) and compares its rooms with the
database every few seconds (changes.Changes), as it did when a full channel dropped events.
Redis is the one shared_redis.client() reaches, so Sentinel works as for the chat's other calls. A
group_add returns once its SUBSCRIBE is written, not when Redis confirms it: Redis reads it before any
query this process sends afterwards (a catch-up) reaches the database; an event published by another
process in that instant is filled in by the reconciliation.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgpack
from channels.layers import BaseChannelLayer

from chat import shared_redis


class RedisPubSubLayer(BaseChannelLayer):
    extensions = ["groups"]

    def __init__(self, prefix: str = "chat", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        self.subscriptions: dict[str, Any] = {}  # channel -> its redis.asyncio PubSub

    def _key(self, group: str) -> str:
        return f"{self.prefix}:{group}"

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A subscription of its own, connected now: two first calls at once (the reader's and a join's) would
        each take a connection, and one connection's subscriptions would never be read."""
        channel = f"{prefix}{uuid.uuid4().hex}"
        subscription = shared_redis.client().pubsub(ignore_subscribe_messages=True)
        await subscription.connect()
        self.subscriptions[channel] = subscription
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        await self.subscriptions[channel].subscribe(self._key(group))

    async def group_discard(self, group: str, channel: str) -> None:
        subscription = self.subscriptions.get(channel)
        if subscription is not None:
            await subscription.unsubscribe(self._key(group))

    async def group_send(self, group: str, message: dict) -> None:
        self.require_valid_group_name(group)
        await shared_redis.client().publish(self._key(group), msgpack.packb(message))

    async def send(self, channel: str, message: dict) -> None:
        raise NotImplementedError("the chat sends to groups only")

    async def receive(self, channel: str) -> dict:
        """The next event for the channel's groups; an error if the subscription failed, after which the channel
        is gone (the hub makes a new one, joins its groups again and fills in). redis-py raises when it loses the
        connection, even if Redis is back at once (tests/test_bus.py): it does not subscribe again silently."""
        subscription = self.subscriptions[channel]
        try:
            while True:
                message = await subscription.get_message(timeout=None)
                if message is not None and message["type"] == "message":
                    return msgpack.unpackb(message["data"])
        except BaseException:
            self.subscriptions.pop(channel, None)
            await subscription.aclose()
            raise

    async def flush(self) -> None:
        for subscription in self.subscriptions.values():
            await subscription.aclose()
        self.subscriptions.clear()
