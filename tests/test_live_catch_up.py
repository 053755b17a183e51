"""Long outages against live processes on Redis: a page gets every message it missed, once, in order, and
never a frame over 64 KiB (daphne would drop it, and the page would never see those messages)."""

import asyncio
import json
import re

import pytest

from .browser import unique
from .live import HttpUser, Listener

pytestmark = pytest.mark.live

LIMIT = 64 * 1024
# With its number in front, 2,000 characters of Japanese and emoji: over 5 KB rendered.
LONG = ("日本語のメッセージ🎉 <b>&amp;</b> " * 100)[:1994]
COUNT = 200


def numbers(frames: list[str]) -> list[int]:
    return [int(n) for n in re.findall(r'class="message-body">#(\d+) ', "".join(frames))]


async def room_with_a_reader_and_a_writer(servers):
    """Alice writes on the first process; Bob's page (a raw socket refusing frames over 64 KiB) is on the second."""
    alice, bob = HttpUser(servers[0].url), HttpUser(servers[0].url)
    await asyncio.to_thread(alice.sign_up, unique("alice"))
    await asyncio.to_thread(bob.sign_up, unique("bob"))
    _, page = await asyncio.to_thread(alice.post, "/", {"name": unique("Outage ")})
    slug = page.split('ws-connect="/ws/chat/', 1)[1].split("/", 1)[0]
    writer = await Listener(servers[0], alice.cookie(), slug).open()
    reader = await Listener(servers[1], bob.cookie(), slug, max_size=LIMIT).open()
    await reader.until('id="connection-status"')
    return writer, reader, bob.cookie(), slug


async def write_for_twenty_seconds(writer) -> None:
    """200 messages of 2,000 characters at 10 a second, each stored (its author sees it) before the next."""
    for i in range(1, COUNT + 1):
        await writer.ws.send(json.dumps({"message": f"#{i} {LONG}", "HEADERS": {"HX-Trigger": "chat-form"}}))
        await writer.until(f'class="message-body">#{i} ', timeout=10)
        await asyncio.sleep(0.1)


def assert_every_message_once_in_order(frames: list[str]) -> None:
    assert numbers(frames) == list(range(1, COUNT + 1))
    assert max(len(frame.encode()) for frame in frames) <= LIMIT


@pytest.mark.timeout(240)
async def test_after_a_twenty_second_redis_outage_a_page_gets_all_200_long_messages(chat_servers, private_redis):
    writer, reader, _, _ = await room_with_a_reader_and_a_writer(chat_servers)
    await asyncio.to_thread(private_redis.stop)
    await write_for_twenty_seconds(writer)  # stored and shown on the first process; the layer is gone
    await asyncio.to_thread(private_redis.start)
    await reader.until(f'class="message-body">#{COUNT} ', timeout=30)
    await asyncio.sleep(1)  # anything sent twice would have arrived by now
    assert not reader.closed.done()
    assert_every_message_once_in_order(reader.frames)


@pytest.mark.timeout(240)
async def test_after_its_process_was_stopped_for_twenty_seconds_a_page_gets_all_200_long_messages(
    chat_servers,
):
    writer, reader, session, slug = await room_with_a_reader_and_a_writer(chat_servers)
    stopped = asyncio.create_task(asyncio.to_thread(chat_servers[1].stop))  # its sockets drop, as in a restart
    assert await asyncio.wait_for(reader.closed, 15) != 1009
    await stopped
    await write_for_twenty_seconds(writer)
    await asyncio.to_thread(chat_servers[1].start)
    # The page reconnects and says what it shows, as htmx does.
    again = await Listener(chat_servers[1], session, slug, max_size=LIMIT).open(last_change=reader.last_change())
    await again.until(f'class="message-body">#{COUNT} ', timeout=30)
    await asyncio.sleep(1)
    assert not again.closed.done()
    assert_every_message_once_in_order(reader.frames + again.frames)
