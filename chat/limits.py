"""Flood control: frames per user, accounts per address, rooms per user; the client's address behind proxies.

(Failed logins are counted by django-axes: chat/login_throttle.py.)"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import weakref
from functools import lru_cache
from typing import Any

from django.conf import settings

from . import shared_redis

logger = logging.getLogger(__name__)

# Token bucket in Redis, on Redis's clock, so that every process shares one bucket per user.
TOKEN_BUCKET_LUA = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class LocalBuckets:
    """The same token bucket in this process's memory (one process, or Redis unreachable)."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: float) -> bool:
        now = time.monotonic()
        tokens, at = self.buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        allowed = tokens >= 1
        self.buckets[key] = (tokens - 1 if allowed else tokens, now)
        if len(self.buckets) > 100_000:  # forget idle users now and then
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < burst / rate}
        return allowed


_local = LocalBuckets()
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# A frame waits this long at most for its token from Redis, which answers within a millisecond when it is there;
# then it is limited by this process's bucket, as every frame is for shared_redis.AWAY_SECONDS after a failure.
# Measured on a host cut from Redis: the client's own timeout (2 s) let the first frame wait 2 s, and the next
# call, which connects anew through the sentinels, waited the rest of the 10 s cut (one failure logged in 10 s).
# Short, since the first frame on a cut host waits this and then the broadcast's bound (hub.PUBLISH_TIMEOUT_SECONDS,
# 1 s): 1.25 s in all, against the partition test's 2 s. A false alarm (event-loop lag) only makes the limit per
# process for a few seconds.
FRAME_TIMEOUT_SECONDS = 0.25
_outage = shared_redis.Outage()  # per process, shared by frames (async) and views (sync)


def _shared_bucket_script():
    """The token-bucket script on an asyncio Redis client of this event loop, or None without Redis (or while it
    failed lately)."""
    if not shared_redis.configured() or _outage.ongoing():
        return None

    loop = asyncio.get_running_loop()
    script = _scripts.get(loop)
    if script is None:
        script = _scripts[loop] = shared_redis.client().register_script(TOKEN_BUCKET_LUA)
    return script


async def allow_frame(user_id: int) -> bool:
    """Take a token from the user's bucket: CHAT_RATE_PER_SECOND, bursts of CHAT_RATE_BURST."""
    rate, burst = settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    key = f"chat:rate:{user_id}"
    script = _shared_bucket_script()
    if script is not None:
        try:
            async with asyncio.timeout(FRAME_TIMEOUT_SECONDS):  # no task per frame, as wait_for makes
                return bool(await script(keys=[key], args=[rate, burst]))
        except Exception:
            _outage.begin()
            logger.warning("rate limiter cannot reach Redis; limiting per process for a while", exc_info=True)
    return _local.take(key, rate, burst)


# Sign-ups and new rooms (sync views) -------------------------------------------


def _shared_bucket_script_sync():
    """The token-bucket script on this process's blocking Redis client, or None without Redis (or while it failed
    lately)."""
    global _sync_script
    if not shared_redis.configured() or _outage.ongoing():
        return None
    if _sync_script is None:
        _sync_script = shared_redis.sync_client(timeout=2).register_script(TOKEN_BUCKET_LUA)
    return _sync_script


_sync_script: Any = None


def allow(key: str, per_hour: float, burst: float) -> bool:
    """Take a token from a bucket shared by every process (this process's alone while Redis is away)."""
    rate = per_hour / 3600
    script = _shared_bucket_script_sync()
    if script is not None:
        try:
            return bool(script(keys=[f"chat:{key}"], args=[rate, burst]))
        except Exception:
            _outage.begin()
            logger.warning("rate limiter cannot reach Redis; limiting per process for a while", exc_info=True)
    return _local.take(f"chat:{key}", rate, burst)


def allow_sign_up(address: str) -> bool:
    """Accounts created from one address: a class signing up together fits in the burst."""
    return allow(f"signup:{address}", settings.CHAT_SIGNUPS_PER_HOUR, settings.CHAT_SIGNUPS_BURST)


def allow_new_room(user_id: int) -> bool:
    return allow(f"room:{user_id}", settings.CHAT_ROOMS_PER_HOUR, settings.CHAT_ROOMS_BURST)


def allow_post(user_id: int) -> bool:
    """A message or reaction posted as a plain form (no JavaScript): a token from the bucket of the user's socket
    frames (allow_frame's key and rate), so that a form is not a way around the socket's flood control."""
    rate, burst = settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    return allow(f"rate:{user_id}", rate * 3600, burst)


# Who is asking ---------------------------------------------------------------------


def client_address(request) -> str:
    """The client's address: the peer, or, when the peer is one of CHAT_TRUSTED_PROXIES, the
    nearest address in X-Forwarded-For that is not a trusted proxy.

    X-Forwarded-For is read from the right: each trusted proxy appends the address it
    saw, and anything to the left of the first untrusted one was written by the client.
    (daphne's --proxy-headers takes the leftmost value, which the client chooses: do
    not pass it.)
    """
    peer = request.META.get("REMOTE_ADDR", "")
    if not _trusted(peer):
        return peer
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _trusted(hop):
            return hop
    return forwarded[0] if forwarded else peer


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


@lru_cache(maxsize=1)
def _trusted_networks_of(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return _trusted_networks_of(tuple(settings.CHAT_TRUSTED_PROXIES))
