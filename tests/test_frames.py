"""Frames of room changes: every missed message reaches the page once, in order, in frames under the limit."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat import looks, rooms, services
from chat.consumers import ChatConsumer
from chat.live import frames

from .sockets import catch_up_frame, drain, open_socket, receive_until, send_frame

pytestmark = pytest.mark.django_db(transaction=True)

# 2,000 characters, Japanese and emoji: over 5 KB of UTF-8 once rendered.
LONG = ("日本語のメッセージ🎉 <b>&amp;</b> " * 100)[:1990]


@pytest.fixture
def room(make_user):
    return rooms.create_room("Long", make_user("owner"))


def post_long(room, author, count: int) -> None:
    for i in range(1, count + 1):
        services.post_message(room, author, f"#{i} {LONG}")


def numbers(frame: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="message-body">#(\d+) ', frame)]


def assert_under_limit(received: list[str]) -> None:
    sizes = [len(frame.encode()) for frame in received]
    assert max(sizes) <= settings.CHAT_MAX_SENT_FRAME_BYTES, sizes


async def test_a_page_that_missed_200_long_messages_gets_each_once_in_order_in_frames_under_the_limit(make_user, room):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    await sync_to_async(post_long)(room, alice, 200)
    b, _, _ = await open_socket(room.slug, bob, catch_up=0)
    received = await drain(b, timeout=1)
    assert_under_limit(received)
    assert numbers("".join(received)) == list(range(1, 201))
    assert len([frame for frame in received if "<article" in frame]) > 10  # the catch-up was split
    # The last catch-up field the page sees names the newest change: a reconnect asks for nothing more.
    fields = re.findall(r'id="catch-up-last-change" name="last_change" value="(\d+)"', "".join(received))
    assert fields[-1] == "200"
    await b.disconnect()


def apply_to_page(log: dict[str, str], html: str) -> None:
    """Swap a frame into a page's log as htmx would: append new messages, replace shown ones."""
    for appended, appended_id, replaced, replaced_id in re.findall(
        r'<div id="chat-log" hx-swap-oob="beforeend">\s*(?:<div class="day-separator".*?</div>)?\s*'
        r'(<article id="(message-\d+)".*?</article>)'
        r'|(<article id="(message-\d+)"[^>]*hx-swap-oob="true">.*?</article>)',
        html,
        re.S,
    ):
        if appended:
            assert appended_id not in log, f"{appended_id} shown twice"
            log[appended_id] = appended
        else:
            assert replaced_id in log, f"{replaced_id} replaced but never shown: it is lost"
            log[replaced_id] = replaced


async def test_a_page_cut_off_after_any_frame_of_a_catch_up_gets_exactly_the_rest(make_user, room):
    alice = await sync_to_async(make_user)("alice")
    await sync_to_async(post_long)(room, alice, 30)
    # Two of the new messages are edited later: their latest change comes after every other message.
    messages = await sync_to_async(lambda: list(room.messages.order_by("seq")))()
    await sync_to_async(services.edit_message)(messages[1], alice, "#2 edited")
    await sync_to_async(services.edit_message)(messages[0], alice, "#1 edited")
    pieces, synced = await sync_to_async(frames.catch_up)(room.pk, 0, looks.default())
    assert synced == 32
    packed = list(frames.pack(pieces, 8 * 1024))
    assert len(packed) > 3
    for cut in range(1, len(packed) + 1):
        log: dict[str, str] = {}
        for frame, _ in packed[:cut]:
            apply_to_page(log, frame)
        claimed = packed[cut - 1][1]  # what the page's catch-up field says after the last frame it got
        rest, _ = await sync_to_async(frames.catch_up)(room.pk, claimed, looks.default())
        apply_to_page(log, "".join(piece for piece, _ in rest))
        assert list(log) == [f"message-{m.pk}" for m in messages], cut  # every message once, in order
        assert "#1 edited" in log[f"message-{messages[0].pk}"] and "#2 edited" in log[f"message-{messages[1].pk}"]


async def test_a_frame_that_fails_to_send_is_refilled(make_user, room, monkeypatch):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    b, _, _ = await open_socket(room.slug, bob)
    a, _, _ = await open_socket(room.slug, alice)
    await drain(b)
    real_send, failures = ChatConsumer.send, []

    async def send_failing_once(self, text_data=None, bytes_data=None, close=False):
        if self.user_id == bob.pk and text_data and "#1 " in text_data and not failures:
            failures.append(text_data)
            raise OSError("the transport refused the frame")
        await real_send(self, text_data=text_data, bytes_data=bytes_data, close=close)

    monkeypatch.setattr(ChatConsumer, "send", send_failing_once)
    for i in (1, 2, 3):
        await a.send_to(text_data=send_frame(f"#{i} {LONG}"))
        await receive_until(a, f"#{i} ")
    received = await drain(b, timeout=2)
    assert failures  # the first message's frame was refused once
    assert numbers("".join(received)) == [1, 2, 3]
    await a.disconnect()
    await b.disconnect()


async def test_an_invalid_catch_up_gets_the_newest_page_of_the_log(make_user, room):
    alice = await sync_to_async(make_user)("alice")
    for i in range(3):
        await sync_to_async(services.post_message)(room, alice, f"#{i} short")
    a, _, _ = await open_socket(room.slug, alice, catch_up=None)
    await a.send_to(text_data=catch_up_frame(-5).replace('"-5"', '"not a number"'))
    received = "".join(await drain(a, timeout=1))
    assert '<div id="chat-log" hx-swap-oob="innerHTML">' in received
    assert numbers(received) == [0, 1, 2]
    assert 'name="last_change" value="3"' in received
    await a.send_to(text_data=send_frame("live after it"))
    assert "live after it" in await receive_until(a, "live after it")
    await a.disconnect()


def test_pack_never_joins_past_the_limit_and_keeps_the_order():
    pieces = [("é" * 300, 1), ("x" * 500, 2), ("y" * 100, 3), ("z" * 2000, 4)]
    packed = list(frames.pack(pieces, 700))
    assert [len(frame.encode()) for frame, _ in packed] == [600, 600, 2000]
    assert [shown for _, shown in packed] == [1, 3, 4]
    assert "".join(frame for frame, _ in packed) == "".join(piece for piece, _ in pieces)
