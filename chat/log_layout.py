"""How messages sit in the log: runs by one author, and days.

A message continues its author's run when the message before it in the room is
theirs, a text message, on the same day and at most RUN_GAP older: it is drawn
without its header (avatar, name, time), under the one before. A message on another
day than the one before it opens with a day separator ("Today", "Yesterday", a date).
Both are decided when the server renders the message, from the message before it in
the room, so that one frame still serves every reader of a look: days begin at
midnight in the reader's zone (looks.py), so `place` is called again in each look a
message is rendered in; the message before is read once and kept on the message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.db.models import Q
from django.utils import timezone

from .models import Message

RUN_GAP = timedelta(minutes=5)
# The newest message this process stored in each room, as `place` reads it (a few fields, no links to other
# messages): the next message of the room finds the one before it here, without the query that was one of seven
# per message stored (bench.stages). A message stored by another process in between does not match its seq.
_latest: dict[int, Message] = {}
LATEST_KEPT = 10_000  # rooms; past that, the next store starts afresh


def remember(message: Message) -> None:
    """`message` is the newest of its room, just stored: the next one's message before (`place`)."""
    if len(_latest) >= LATEST_KEPT:
        _latest.clear()
    _latest[message.room_id] = Message(
        room_id=message.room_id,
        seq=message.seq,
        author_id=message.author_id,
        created_at=message.created_at,
        kind=message.kind,
    )


def place(messages: list[Message], known_before: Iterable[Message] = ()) -> None:
    """Set `continues` and `new_day` on each message, from the message before it in its room (one query for
    those not in the list nor in `known_before`: messages read along, not placed)."""
    known = {(m.room_id, m.seq): m for m in (*known_before, *messages)}
    for message in messages:
        latest = _latest.get(message.room_id)
        if latest is not None and latest.seq == message.seq - 1:
            known.setdefault((latest.room_id, latest.seq), latest)
    wanted: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        placed = hasattr(message, "previous_in_room")
        if not placed and message.seq > 1 and (message.room_id, message.seq - 1) not in known:
            wanted[message.room_id].append(message.seq - 1)
    if wanted:
        before = Q()
        for room_id, seqs in wanted.items():
            before |= Q(room_id=room_id, seq__in=seqs)
        for row in Message.objects.filter(before).only("room_id", "seq", "author_id", "created_at", "kind"):
            known[(row.room_id, row.seq)] = row
    for message in messages:
        if not hasattr(message, "previous_in_room"):
            message.previous_in_room = known.get((message.room_id, message.seq - 1))
        previous = message.previous_in_room
        message.new_day = previous is None or _day(previous) != _day(message)
        message.continues = (
            previous is not None
            and not message.new_day
            and message.kind == previous.kind == Message.Kind.TEXT
            and previous.author_id == message.author_id
            and message.created_at - previous.created_at <= RUN_GAP
        )


def _day(message: Message) -> date:
    return timezone.localdate(message.created_at)
