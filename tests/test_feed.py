"""The page's feed as a state machine, without a socket, a channel layer or a database."""

import asyncio

from chat.live.feed import MAX_OUTBOX_FRAMES, Feed, State


def piece(change: int) -> str:
    return f"<article>{change}</article>"


class Room:
    """What the database says: changes 1..newest, each one piece."""

    def __init__(self, newest: int = 0) -> None:
        self.newest = newest
        self.asked: list[tuple] = []

    async def catch_up(self, room_id, claimed, look):
        self.asked.append(("catch_up", claimed))
        after = claimed or 0
        return [(piece(c), c) for c in range(after + 1, self.newest + 1)], self.newest

    async def gap(self, room_id, after, before, look):
        self.asked.append(("gap", after, before))
        return [(piece(c), c) for c in range(after + 1, before)], before - 1


class Page:
    """What the page is sent, frame by frame; a send can be made to fail."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.fail_next = 0

    async def send(self, frame: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("refused")
        self.frames.append(frame)

    def changes(self) -> list[int]:
        import re

        return [int(n) for n in re.findall(r"<article>(\d+)</article>", "".join(self.frames))]


def make_feed(room: Room, page: Page) -> tuple[Feed, list[Feed]]:
    woken: list[Feed] = []
    feed = Feed(1, page.send, woken.append, room, lambda: "<restore/>")
    return feed, woken


async def settle(feed: Feed) -> None:
    """Let fills finish, then write what is queued (as the writer would)."""
    for _ in range(20):
        await asyncio.sleep(0)
        if feed._fill is not None and not feed._fill.done():
            await feed._fill
    await feed.write()


async def test_a_claim_that_fails_is_retried_while_live_changes_wait():
    room, page = Room(newest=2), Page()
    real_catch_up, failures = room.catch_up, []

    async def failing_once(room_id, claimed, look):
        if not failures:
            failures.append(claimed)
            raise OSError("database away")
        return await real_catch_up(room_id, claimed, look)

    room.catch_up = failing_once
    feed, _ = make_feed(room, page)
    await feed.claim(0)
    feed.offer(3, piece(3))
    room.newest = 3
    await asyncio.wait_for(feed._fill, 5)  # one retry, a second later
    await feed.write()
    assert failures == [0]
    assert page.changes() == [1, 2, 3] and feed.state is State.LIVE


async def test_live_changes_wait_for_the_claim_and_are_not_doubled():
    room, page = Room(newest=3), Page()
    feed, _ = make_feed(room, page)
    assert feed.state is State.AWAITING_CLAIM
    feed.offer(3, piece(3))  # arrives before the page says what it has
    feed.offer(4, piece(4))
    assert page.frames == [] and feed.outbox == []
    await feed.claim(1)
    await settle(feed)
    assert feed.state is State.LIVE
    assert page.changes() == [2, 3, 4]
    assert feed.shown == feed.written == 4


async def test_a_second_claim_on_the_same_socket_is_ignored():
    room, page = Room(newest=2), Page()
    feed, _ = make_feed(room, page)
    await feed.claim(0)
    await feed.claim(0)
    await settle(feed)
    assert page.changes() == [1, 2]
    assert room.asked == [("catch_up", 0)]


async def test_a_skipped_change_is_filled_from_the_database_first():
    room, page = Room(newest=0), Page()
    feed, _ = make_feed(room, page)
    await feed.claim(0)
    await settle(feed)  # caught up on the empty room: live
    feed.offer(1, piece(1))
    room.newest = 4
    feed.offer(4, piece(4))  # 2 and 3 never came
    assert feed.state is State.FILLING
    feed.offer(5, piece(5))  # held meanwhile
    await settle(feed)
    assert feed.state is State.LIVE
    assert page.changes() == [1, 2, 3, 4, 5]
    assert ("gap", 1, 4) in room.asked


async def test_a_frame_that_could_not_be_sent_is_refilled_from_what_was_written():
    room, page = Room(newest=0), Page()
    feed, _ = make_feed(room, page)
    await feed.claim(0)
    await settle(feed)  # caught up on the empty room: live
    feed.offer(1, piece(1))
    await feed.write()
    room.newest = 3
    feed.offer(2, piece(2))
    feed.offer(3, piece(3))
    page.fail_next = 1
    await feed.write()
    assert feed.written == 1 and feed.shown == 1  # nothing past what the page has
    assert feed.state is State.FILLING
    feed._fill.cancel()  # skip the retry delay: refill now
    feed._start_fill(None)
    await settle(feed)
    assert page.changes() == [1, 2, 3]
    assert "<restore/>" in "".join(page.frames)  # presence, typing and badges as they stand, once
    assert feed.written == 3


async def test_a_page_too_far_behind_is_refilled_once_not_sent_the_backlog():
    room, page = Room(newest=0), Page()
    feed, woken = make_feed(room, page)
    await feed.claim(0)
    await settle(feed)
    count = MAX_OUTBOX_FRAMES + 20
    room.newest = count
    for change in range(1, count + 1):
        feed.offer(change, piece(change))
    assert len(woken) >= 1
    await settle(feed)
    assert page.changes() == list(range(1, count + 1))
    assert "".join(page.frames).count("<restore/>") == 1


async def test_a_closed_feed_queues_nothing():
    room, page = Room(newest=1), Page()
    feed, _ = make_feed(room, page)
    await feed.claim(0)
    await settle(feed)
    assert feed.close() == 1  # the page was sent change 1
    sent = list(page.frames)
    feed.offer(2, piece(2))
    feed.push("<p>presence</p>")
    await feed.write()
    assert feed.state is State.CLOSED
    assert page.frames == sent
