"""Flood control: message rate per user, sockets per user, failed logins per username and IP."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from django.conf import settings
from django.core.cache import cache

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


def _shared_bucket_script():
    """The token-bucket script on an asyncio Redis client of this event loop, or None without REDIS_URL."""
    if not settings.REDIS_URL:
        return None
    from . import shared_redis

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
            return bool(await script(keys=[key], args=[rate, burst]))
        except Exception:
            logger.warning("rate limiter cannot reach Redis; limiting per process", exc_info=True)
    return _local.take(key, rate, burst)


# Failed logins ---------------------------------------------------------------


def _login_keys(username: str, ip: str) -> list[tuple[str, int]]:
    return [
        (f"chat:login-fail:user:{username.casefold()}", settings.CHAT_LOGIN_FAILURES_PER_USERNAME),
        (f"chat:login-fail:ip:{ip}", settings.CHAT_LOGIN_FAILURES_PER_IP),
    ]


def login_blocked(username: str, ip: str) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _login_keys(username, ip))


def record_login_failure(username: str, ip: str) -> None:
    for key, _ in _login_keys(username, ip):
        if not cache.add(key, 1, settings.CHAT_LOGIN_LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired in between
                cache.add(key, 1, settings.CHAT_LOGIN_LOCKOUT_SECONDS)


def clear_login_failures(username: str) -> None:
    cache.delete(f"chat:login-fail:user:{username.casefold()}")
