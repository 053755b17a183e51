"""Where Redis is, read from the environment: one server (REDIS_URL) or a Sentinel-watched master.

settings.py calls these; chat/shared_redis.py builds the chat's clients from the settings they give (the channel
layer's too, chat/live/bus.py); channel_layer_host gives channels-redis's RedisChannelLayer the same place (the
classic-Channels control in bench/ uses it).

    REDIS_URL=redis://redis:6379/0                  one server
    REDIS_SENTINELS=10.0.0.5:26379,10.0.0.6:26379   several sentinels, asked in turn for the master of
    REDIS_SENTINEL_MASTER=mymaster                  this name (the name in sentinel.conf)
    REDIS_PASSWORD, REDIS_DB                        the master's password (if any) and database (0)
    REDIS_SENTINEL_PASSWORD                         the sentinels' own password (if any)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# A sentinel that does not answer is skipped for the next one after this long (redis-py asks them in turn).
SENTINEL_TIMEOUT_SECONDS = 1.0
# Ask each sentinel once. redis-py 8 gives the client of each sentinel Retry(10 retries, backoff up to 1 s), so a
# sentinel that does not answer costs eleven timeouts before the next one is asked: measured, three silent
# sentinels with 1/3 s timeouts took 22.8 s to give up (sync and asyncio alike; 1.0 s with None), and /readyz on a
# host cut from Redis hung that long. None means no retry for the sync and the asyncio client alike (a Retry
# object would have to be of one kind or the other).
SENTINEL_RETRY = None


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """ "host:port,host:port" (IPv6 as "[::1]:26379"; the port defaults to 26379) -> [(host, port), ...]."""
    sentinels = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, port = item, "26379"
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest:
                port = rest.removeprefix(":")
        elif ":" in item:
            host, _, port = item.partition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"REDIS_SENTINELS: {item!r} is not host:port.")
        sentinels.append((host, int(port)))
    return sentinels


def sentinel_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The Sentinel settings: REDIS_SENTINELS ([] when unset), REDIS_SENTINEL_MASTER, REDIS_SENTINEL_KWARGS (how
    to talk to the sentinels) and REDIS_MASTER_KWARGS (how to talk to the master they name)."""
    sentinels = parse_sentinels(environ.get("REDIS_SENTINELS", ""))
    if sentinels and environ.get("REDIS_URL"):
        raise ImproperlyConfigured("Set REDIS_URL or REDIS_SENTINELS, not both.")
    db = environ.get("REDIS_DB") or "0"
    if not db.isdigit():
        raise ImproperlyConfigured("REDIS_DB must be a number.")
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
        "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        "retry": SENTINEL_RETRY,
    }
    if environ.get("REDIS_SENTINEL_PASSWORD"):
        sentinel_kwargs["password"] = environ["REDIS_SENTINEL_PASSWORD"]
    master_kwargs: dict[str, Any] = {"db": int(db)}
    if environ.get("REDIS_PASSWORD"):
        master_kwargs["password"] = environ["REDIS_PASSWORD"]
    return {
        "REDIS_SENTINELS": sentinels,
        "REDIS_SENTINEL_MASTER": environ.get("REDIS_SENTINEL_MASTER") or "mymaster",
        "REDIS_SENTINEL_KWARGS": sentinel_kwargs,
        "REDIS_MASTER_KWARGS": master_kwargs,
    }


def channel_layer_host(url: str, sentinel: Mapping[str, Any]) -> dict[str, Any]:
    """RedisChannelLayer's `hosts` entry for REDIS_URL, or for the Sentinel settings when REDIS_URL is empty.

    `socket_timeout: None` either way: redis-py 8 defaults it to 5 s, which makes channels-redis drop every
    idle receive after about 5 s (its BZPOPMIN waits 5 s too).
    """
    if url:
        return {"address": url, "socket_timeout": None}
    return {
        "sentinels": sentinel["REDIS_SENTINELS"],
        "master_name": sentinel["REDIS_SENTINEL_MASTER"],
        "sentinel_kwargs": dict(sentinel["REDIS_SENTINEL_KWARGS"]),
        "socket_timeout": None,
        **sentinel["REDIS_MASTER_KWARGS"],
    }
