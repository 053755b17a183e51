"""Two daphne processes sharing the machine's Redis serve one chat."""

import pytest
from playwright.sync_api import expect

from .browser import create_room, send, sign_up, unique, wait_live
from .live import Daphne, server_env

pytestmark = [pytest.mark.browser, pytest.mark.redis]

SHARED_REDIS = "redis://127.0.0.1:6379/3"


@pytest.fixture(scope="module")
def two_servers(live_db, live_dir):
    env = server_env(live_db, REDIS_URL=SHARED_REDIS)
    servers = [Daphne(env, live_dir).start(), Daphne(env, live_dir).start()]
    yield servers
    for server in servers:
        server.stop()


def test_users_on_two_processes_share_one_chat(two_servers, new_page):
    first, second = two_servers
    alice, bob = new_page(), new_page()
    sign_up(alice, first.url, unique("alice"))
    room_name = unique("Shared ")
    room_path = create_room(alice, room_name).removeprefix(first.url)
    sign_up(bob, second.url, unique("bob"))
    bob.goto(second.url + room_path)
    wait_live(bob)
    send(alice, "across processes")
    expect(bob.locator("#chat-log .message-body", has_text="across processes")).to_be_visible(timeout=2000)
    send(bob, "and back")
    expect(alice.locator("#chat-log .message-body", has_text="and back")).to_be_visible(timeout=2000)
