"""Memberships: the rooms in each person's sidebar, how far they have read, and what is unread."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Q
from django.db.models.functions import Greatest

from . import profiles, rows
from .models import Membership, Message, Profile, Room


def open_room(room: Room, user) -> tuple[int, bool]:
    """The user opens a room they may see: it is in their sidebar, read up to now. Returns what they had
    read before, and whether the room just joined their sidebar (an open room's first visit)."""
    membership, created = Membership.objects.get_or_create(
        user=user, room=room, defaults={"last_read_seq": room.last_seq}
    )
    previous = room.last_seq if created else membership.last_read_seq
    if not created and membership.last_read_seq < room.last_seq:
        Membership.objects.filter(pk=membership.pk).update(last_read_seq=room.last_seq)
    return previous, created


def first_unread(messages: list[Message], read_before: int, user) -> Message | None:
    """The first message a page marks as new: by someone else, not deleted, after the read position."""
    return next((m for m in messages if m.seq > read_before and m.author_id != user.pk and not m.deleted_at), None)


def record_shown(user_id: int, room_id: int, change: int) -> int:
    """A page of the user showed the room up to this change: the messages created by then are read
    and shown. Returns the newest one's number (0: none)."""
    seq = Message.objects.filter(room_id=room_id, created_change__lte=change).aggregate(seq=Max("seq"))["seq"]
    if not seq:
        return 0
    Membership.objects.filter(Q(last_read_seq__lt=seq) | Q(shown_seq__lt=seq), user_id=user_id, room_id=room_id).update(
        last_read_seq=Greatest("last_read_seq", seq), shown_seq=Greatest("shown_seq", seq)
    )
    return seq


def first_unshown(user_id: int, room_id: int, after_seq: int, up_to_change: int) -> tuple[int, int | None]:
    """Where a page showing the room up to `up_to_change`, with everything after `after_seq` marked new,
    should put its "New messages" divider now that the user's pages recorded what they showed:
    (the newest message shown, the first message by someone else after it on that page, if any)."""
    shown = Membership.objects.filter(user_id=user_id, room_id=room_id).values_list("shown_seq", flat=True).first()
    shown = max(shown or 0, after_seq)
    first = (
        Message.objects.filter(room_id=room_id, seq__gt=shown, created_change__lte=up_to_change, deleted_at=None)
        .exclude(author_id=user_id)
        .order_by("seq")
        .values_list("pk", flat=True)
        .first()
    )
    return shown, first


@dataclass
class SidebarRoom:
    room: Room
    unread: int
    mentions: int


# Unread counts stop at this many; the page shows "99+". A user back after a long time
# in a busy room costs one bounded query, not a count of everything since.
UNREAD_COUNTED = 100

# One query; a room's counts cover what was posted after the user's read position.
# Written out because the ORM spent ten times longer building it than SQLite running it,
# and every socket runs it when it opens.
SIDEBAR_SQL = """
SELECT room.id, room.name, room.slug,
  (SELECT COUNT(*) FROM (
    SELECT 1 FROM {message} msg
    WHERE msg.room_id = member.room_id AND msg.seq > member.last_read_seq
      AND msg.deleted_at IS NULL AND msg.kind = 'text' AND msg.author_id <> %s
    LIMIT {limit}) AS capped) AS unread,
  (SELECT COUNT(*) FROM (
    SELECT 1 FROM {message} msg INNER JOIN {mentions} mention ON mention.message_id = msg.id
    WHERE msg.room_id = member.room_id AND msg.seq > member.last_read_seq
      AND msg.deleted_at IS NULL AND msg.author_id <> %s AND mention.user_id = %s
    LIMIT {limit}) AS capped) AS mentions
FROM {membership} member INNER JOIN {room} room ON room.id = member.room_id
WHERE member.user_id = %s
ORDER BY room.last_activity_at DESC, room.id DESC
"""


def sidebar(user) -> list[SidebarRoom]:
    """The user's rooms, most recently active first, with unread messages and unread mentions (up to 100)."""
    rows = Room.objects.raw(sidebar_sql(), [user.pk] * 4)
    return [SidebarRoom(room, room.unread, room.mentions) for room in rows]  # type: ignore[attr-defined]


@functools.cache
def sidebar_sql() -> str:
    return SIDEBAR_SQL.format(
        message=Message._meta.db_table,
        mentions=Message.mentions.through._meta.db_table,
        membership=Membership._meta.db_table,
        room=Room._meta.db_table,
        limit=UNREAD_COUNTED,
    )


# A room without unread messages in a socket's sidebar counts: one tuple shared by every socket and room
# (counts are replaced when they move, never changed in place).
NO_UNREAD = (0, 0)


@dataclass
class SocketState:
    """What a socket opening in a room tracks: the room, for the sidebar the unread counts per room and the
    rooms' names and slugs, the name others see of its reader (presence, typing) and the reader's profile (their
    look: looks.of_scope)."""

    room: Room
    counts: dict[int, tuple[int, int]]  # unread messages, unread mentions
    names: dict[int, tuple[str, str]]
    display_name: str
    profile: Profile | None


ROOM_COLUMNS = rows.Columns(Room, "room")


@functools.cache
def room_sql() -> str:
    quote = connection.ops.quote_name
    return f"SELECT {ROOM_COLUMNS.sql()} FROM {quote(Room._meta.db_table)} room WHERE room.{quote('slug')} = %s"


def socket_state(slug: str, user) -> SocketState | None:
    """None if there is no room at `slug` that the user may see.

    Every socket that opens asks this, thousands at once after a deploy: plain queries, as rooms.room_for and
    sidebar decide (the ORM's building of them cost more than their running: bench/README.md, "Issue 17")."""
    with connection.cursor() as cursor:
        cursor.execute(room_sql(), [slug])
        found = cursor.fetchone()
        if found is None:
            return None
        cursor.execute(sidebar_sql(), [user.pk] * 4)
        listed = cursor.fetchall()  # (id, name, slug, unread, mentions) of each room the user is a member of
    room = ROOM_COLUMNS.instance(found)
    if room.kind != Room.Kind.OPEN and all(row[0] != room.pk for row in listed):
        return None  # as rooms.can_see: a closed or direct room its member alone sees
    counts = {row[0]: (row[3], row[4]) if row[3] or row[4] else NO_UNREAD for row in listed}
    counts[room.pk] = NO_UNREAD
    names = {row[0]: (row[1], row[2]) for row in listed}
    names[room.pk] = (room.name, room.slug)
    return SocketState(room, counts, names, profiles.display_name(user), profiles.profile_of(user))
