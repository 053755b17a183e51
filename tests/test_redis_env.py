"""Where Redis is: REDIS_URL, or Redis Sentinel (project/redis_env.py), as settings, the channel layer and the
chat's own clients read it."""

import json
import os
import subprocess
import sys

import pytest
import redis.asyncio.sentinel
import redis.sentinel
from django.core.exceptions import ImproperlyConfigured

from chat import shared_redis
from project.redis_env import channel_layer_host, parse_sentinels, sentinel_settings

from .live import ROOT


def test_sentinels_are_host_port_pairs_separated_by_commas():
    assert parse_sentinels("10.0.0.5:26379, sentinel-b:26380,") == [("10.0.0.5", 26379), ("sentinel-b", 26380)]


def test_a_sentinel_without_port_gets_26379_and_ipv6_goes_in_brackets():
    assert parse_sentinels("s1,[::1]:26390,[fd00::7]") == [("s1", 26379), ("::1", 26390), ("fd00::7", 26379)]


@pytest.mark.parametrize("value", ["s1:port", "s1:0", "s1:70000", ":26379", "fd00::7:26379"])
def test_a_malformed_sentinel_is_refused(value):
    with pytest.raises(ImproperlyConfigured):
        parse_sentinels(value)


def test_without_sentinels_nothing_is_configured():
    assert sentinel_settings({})["REDIS_SENTINELS"] == []


def test_sentinel_settings_carry_master_name_database_and_both_passwords():
    found = sentinel_settings(
        {
            "REDIS_SENTINELS": "a:1,b:2",
            "REDIS_SENTINEL_MASTER": "chat",
            "REDIS_DB": "3",
            "REDIS_PASSWORD": "master secret",
            "REDIS_SENTINEL_PASSWORD": "sentinel secret",
        }
    )
    assert found["REDIS_SENTINELS"] == [("a", 1), ("b", 2)]
    assert found["REDIS_SENTINEL_MASTER"] == "chat"
    assert found["REDIS_MASTER_KWARGS"] == {"db": 3, "password": "master secret"}
    assert found["REDIS_SENTINEL_KWARGS"]["password"] == "sentinel secret"
    # A sentinel that does not answer is skipped quickly for the next.
    assert found["REDIS_SENTINEL_KWARGS"]["socket_timeout"] == 1.0


def test_the_master_is_called_mymaster_by_default_as_in_sentinel_conf_examples():
    found = sentinel_settings({"REDIS_SENTINELS": "a:1"})
    assert found["REDIS_SENTINEL_MASTER"] == "mymaster"
    assert found["REDIS_MASTER_KWARGS"] == {"db": 0}
    assert "password" not in found["REDIS_SENTINEL_KWARGS"]


def test_redis_url_and_sentinels_together_are_refused():
    with pytest.raises(ImproperlyConfigured, match="not both"):
        sentinel_settings({"REDIS_SENTINELS": "a:1", "REDIS_URL": "redis://x:6379/0"})


def test_a_database_that_is_not_a_number_is_refused():
    with pytest.raises(ImproperlyConfigured):
        sentinel_settings({"REDIS_SENTINELS": "a:1", "REDIS_DB": "one"})


def test_the_channel_layer_gets_sentinels_with_no_socket_timeout():
    sentinel = sentinel_settings({"REDIS_SENTINELS": "a:1,b:2", "REDIS_PASSWORD": "pw"})
    host = channel_layer_host("", sentinel)
    assert host["sentinels"] == [("a", 1), ("b", 2)]
    assert host["master_name"] == "mymaster"
    assert host["socket_timeout"] is None  # redis-py 8's 5 s would drop idle receives
    assert host["sentinel_kwargs"]["socket_connect_timeout"] == 1.0
    assert host["sentinel_kwargs"]["retry"] is None  # one attempt per sentinel (redis-py 8 would retry ten times)
    assert (host["db"], host["password"]) == (0, "pw")


def test_the_channel_layer_gets_redis_url_unchanged():
    assert channel_layer_host("redis://r:6379/2", sentinel_settings({})) == {
        "address": "redis://r:6379/2",
        "socket_timeout": None,
    }


def settings_under(**environ: str) -> dict:
    """The settings the site runs with under this environment (a fresh interpreter reads them)."""
    script = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'layer': s.CHANNEL_LAYERS['default'], 'cache': s.CACHES['default'], "
        "'sentinels': s.REDIS_SENTINELS}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="project.settings", **environ)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_with_sentinels_use_them_for_the_layer_and_the_cache():
    found = settings_under(REDIS_SENTINELS="10.0.0.5:26379,10.0.0.6:26379", REDIS_SENTINEL_MASTER="chat")
    assert found["layer"]["BACKEND"] == "chat.live.bus.RedisPubSubLayer"  # through shared_redis, tested below
    assert found["sentinels"] == [["10.0.0.5", 26379], ["10.0.0.6", 26379]]
    assert found["cache"]["OPTIONS"] == {"pool_class": "chat.shared_redis.CachePool"}


def test_settings_without_redis_run_in_memory():
    found = settings_under()
    assert found["layer"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert found["sentinels"] == []


def test_the_chats_clients_ask_the_sentinels(settings):
    settings.REDIS_URL = ""
    settings.REDIS_SENTINELS = [("192.0.2.1", 26379)]
    settings.REDIS_SENTINEL_MASTER = "chat"
    settings.REDIS_MASTER_KWARGS = {"db": 2}
    assert shared_redis.configured()
    pool = shared_redis.sync_client(timeout=1).connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert (pool.service_name, pool.connection_kwargs["db"]) == ("chat", 2)
    assert pool.connection_kwargs["socket_timeout"] == 1
    # Each sentinel gets a share of the timeout: a host cut from all of them still gives up within it.
    [sentinel] = pool.sentinel_manager.sentinels
    assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 1
    settings.REDIS_SENTINELS = [("192.0.2.1", 26379), ("192.0.2.2", 26379)]
    [first, _] = shared_redis.sync_client(timeout=1).connection_pool.sentinel_manager.sentinels
    assert first.connection_pool.connection_kwargs["socket_timeout"] == 0.5


async def test_the_chats_async_client_waits_for_a_free_sentinel_connection(settings):
    settings.REDIS_URL = ""
    settings.REDIS_SENTINELS = [("192.0.2.1", 26379)]
    pool = shared_redis.client().connection_pool
    assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert pool.max_connections == shared_redis.MAX_CONNECTIONS
