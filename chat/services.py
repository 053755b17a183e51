"""The chat's rules, shared by the views and the socket consumer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from . import formatting, log_layout, mentions
from .message_display import add_display, with_display
from .metrics import MESSAGES_STORED
from .models import REACTIONS, Membership, Message, Reaction, Room

EDIT_WINDOW = timedelta(hours=24)


class NotAllowed(Exception):
    """The user may not do this; the message says why."""


def page_size() -> int:
    return settings.CHAT_PAGE_SIZE


# Changes: every new, edited or deleted message and every reaction is one room change ----


def next_change(room_id: int, new_message: bool) -> tuple[int, int]:
    """Take the room's next change number (and message number); call inside a transaction.

    On SQLite the IMMEDIATE transaction holds the write lock, on PostgreSQL the
    UPDATE holds the room's row lock until commit, so both counters are
    gap-free and unique per room. One UPDATE ... RETURNING where the database has it (PostgreSQL, SQLite 3.35+):
    the query after it was one of seven per message stored (bench.stages).
    """
    now = timezone.now()
    if not connection.features.can_return_columns_from_insert:  # the same feature gives UPDATE ... RETURNING
        bump = {"last_change": F("last_change") + 1, "last_activity_at": now}
        if new_message:
            bump["last_seq"] = F("last_seq") + 1
        Room.objects.filter(pk=room_id).update(**bump)
        return Room.objects.filter(pk=room_id).values_list("last_seq", "last_change").get()
    q = connection.ops.quote_name
    seq = f", {q('last_seq')} = {q('last_seq')} + 1" if new_message else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {q(Room._meta.db_table)} SET {q('last_change')} = {q('last_change')} + 1, "
            f"{q('last_activity_at')} = %s{seq} WHERE {q('id')} = %s RETURNING {q('last_seq')}, {q('last_change')}",
            [connection.ops.adapt_datetimefield_value(now), room_id],
        )
        return cursor.fetchone()


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False when the same client id was already stored


def post_message(room: Room, author, body: str, client_id: uuid.UUID | None = None) -> PostResult:
    """Store a message with the room's next numbers; a repeated (author, client_id) returns the stored one.

    A new message comes back ready to render (author, room, mentions, no reactions yet)
    without being read back: this runs for every message sent.
    """
    formatted, mentioned = format_body(room, body)
    try:
        with transaction.atomic():
            seq, change = next_change(room.pk, new_message=True)
            message = Message.objects.create(
                room=room,
                author=author,
                body=body,
                body_html=formatted.html,
                seq=seq,
                created_change=change,
                change=change,
                client_id=client_id,
            )
            if formatted.mentioned:  # mention links point at their message, whose id is known only now
                message.body_html = formatted.for_message(message.pk)
                Message.objects.filter(pk=message.pk).update(body_html=message.body_html)
            if mentioned:
                message.mentions.add(*mentioned)
            # Under the room's lock, so a later message's seq is never overwritten by an earlier one.
            is_member = Membership.objects.filter(user=author, room=room).update(last_read_seq=seq)
    except IntegrityError:
        existing = with_display(Message.objects.filter(author=author, client_id=client_id)) if client_id else None
        if not existing:
            raise
        return PostResult(existing[0], created=False)
    if not is_member:
        Membership.objects.get_or_create(user=author, room=room, defaults={"last_read_seq": seq})
    MESSAGES_STORED.inc()
    add_display(message, mentioned, reactions=[])
    log_layout.place([message])
    log_layout.remember(message)
    return PostResult(message, created=True)


def mentioned_users(room: Room, body: str) -> list:
    """The people the body mentions (outside code), among those who can see the room (mentions.py)."""
    return format_body(room, body)[1]


def format_body(room: Room, body: str, message_id: int | None = None) -> tuple[formatting.Formatted, list]:
    """The body's HTML (formatting.py), and the people it mentions outside code among those who can see the room."""
    people = {person.pk: person for person in mentions.candidates(room)} if "@" in body else {}
    formatted = formatting.render(body, people.values(), message_id)
    return formatted, [people[user_id] for user_id in formatted.mentioned]


def get_message(room: Room, message_id: int) -> Message:
    try:
        return Message.objects.select_related("room").get(room=room, pk=message_id, kind=Message.Kind.TEXT)
    except (Message.DoesNotExist, ValueError, TypeError):
        raise NotAllowed(gettext("That message does not exist.")) from None


def _touch(message: Message, **fields) -> Message:
    """Save changes to a message as the room's next change."""
    with transaction.atomic():
        _, change = next_change(message.room_id, new_message=False)
        fields["change"] = change
        Message.objects.filter(pk=message.pk).update(**fields)
    return with_display(Message.objects.filter(pk=message.pk))[0]


def check_can_edit(message: Message, user) -> None:
    """Raises NotAllowed unless the user may edit the message now: its author within a day, or the site admin
    (moderating, e.g. from Django's admin)."""
    if message.deleted_at is not None:
        raise NotAllowed(gettext("That message was deleted."))
    if user.is_superuser:
        return
    if message.author_id != user.pk:
        raise NotAllowed(gettext("You can only edit your own messages."))
    if timezone.now() - message.created_at > EDIT_WINDOW:
        raise NotAllowed(gettext("Messages can only be edited for 24 hours."))


def edit_message(message: Message, user, body: str) -> Message:
    check_can_edit(message, user)
    formatted, mentioned = format_body(message.room, body, message.pk)
    with transaction.atomic():
        message.mentions.set(mentioned)
        return _touch(message, body=body, body_html=formatted.html, edited_at=timezone.now())


def delete_message(message: Message, user) -> Message:
    if message.author_id != user.pk and not message.room.is_admin(user):
        raise NotAllowed(gettext("Only the author or the room's admin can delete a message."))
    if message.deleted_at is not None:
        return with_display(Message.objects.filter(pk=message.pk))[0]
    with transaction.atomic():
        message.mentions.clear()
        message.reactions.all().delete()
        message.attachments.all().delete()  # their files leave storage once this commits (attachments.py)
        return _touch(message, body="", body_html="", deleted_at=timezone.now())


def toggle_reaction(message: Message, user, emoji: str) -> Message:
    if emoji not in REACTIONS:
        raise NotAllowed(gettext("That reaction is not offered."))
    if message.deleted_at is not None:
        raise NotAllowed(gettext("That message was deleted."))
    with transaction.atomic():
        removed, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        if not removed:
            Reaction.objects.create(message=message, user=user, emoji=emoji)
        return _touch(message)


# Reading (how a message is shown: message_display.py) ----------------------------


def latest_messages(room: Room) -> tuple[list[Message], bool]:
    """The newest page of a room, oldest first, and whether older ones exist."""
    return messages_before(room, before_id=None)


def messages_before(room: Room, before_id: int | None) -> tuple[list[Message], bool]:
    size = page_size()
    qs = Message.objects.filter(room=room).order_by("-seq")
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    rows = with_display(qs[: size + 1], place=False, room=room)
    shown = list(reversed(rows[:size]))
    log_layout.place(shown, known_before=rows[size:])  # the row read to tell whether older ones exist
    return shown, len(rows) > size


def changes_between(room_id: int, after_change: int, before_change: int | None = None, limit: int = 500):
    """Messages whose latest change is in (after, before), in change order: what a page lacks."""
    qs = Message.objects.filter(room_id=room_id, change__gt=after_change).order_by("change")
    if before_change is not None:
        qs = qs.filter(change__lt=before_change)
    return with_display(qs[:limit])


def new_client_id() -> uuid.UUID:
    """A fresh id for each rendered composer: a retried send reuses it, a new message gets a new one."""
    return uuid.uuid4()


def newest_changes(room_ids: list[int]) -> dict[int, int]:
    """Each room's newest change number."""
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_change"))


def typing_text(names: list[str]) -> str:
    names = sorted(names, key=str.casefold)
    if not names:
        return ""
    if len(names) == 1:
        return gettext("%(name)s is typing…") % {"name": names[0]}
    if len(names) <= 3:
        # "Ann, Bob and Cy": the separator between all but the last two names is the language's own.
        others = pgettext("list separator", ", ").join(names[:-1])
        return gettext("%(names)s and %(last)s are typing…") % {"names": others, "last": names[-1]}
    return gettext("Several people are typing…")
