"""The chat's rules, shared by the views and the socket consumer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from .models import Message, Room


def page_size() -> int:
    return settings.CHAT_PAGE_SIZE


# Rooms ---------------------------------------------------------------------


def unique_slug(name: str) -> str:
    base = slugify(name, allow_unicode=True)[:90] or "room"
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_room(name: str, creator) -> Room:
    """Create a room with a unique slug; retries if another request took the slug first."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return Room.objects.create(name=name, slug=unique_slug(name), created_by=creator)
        except IntegrityError:
            if Room.objects.filter(name=name).exists():
                raise
    raise IntegrityError("could not find a free slug")


# Messages ------------------------------------------------------------------


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False when the same client id was already stored


def post_message(room: Room, author, body: str, client_id: uuid.UUID | None = None) -> PostResult:
    """Store a message with the room's next sequence number.

    The sequence bump and the insert share one transaction: on SQLite the
    IMMEDIATE transaction holds the write lock, on PostgreSQL the UPDATE holds
    the room's row lock, so sequences are gap-free and unique per room.
    A repeated (author, client_id) returns the stored message instead.
    """
    if client_id is not None:
        existing = _existing(author, client_id)
        if existing is not None:
            return PostResult(existing, created=False)
    try:
        with transaction.atomic():
            now = timezone.now()
            Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1, last_activity_at=now)
            seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
            message = Message.objects.create(room=room, author=author, body=body, seq=seq, client_id=client_id)
    except IntegrityError:
        existing = _existing(author, client_id) if client_id is not None else None
        if existing is None:
            raise
        return PostResult(existing, created=False)
    message.room = room
    message.author = author
    return PostResult(message, created=True)


def _existing(author, client_id: uuid.UUID) -> Message | None:
    return Message.objects.select_related("author", "room").filter(author=author, client_id=client_id).first()


def latest_messages(room: Room) -> tuple[list[Message], bool]:
    """The newest page of a room, oldest first, and whether older ones exist."""
    return messages_before(room, before_id=None)


def messages_before(room: Room, before_id: int | None) -> tuple[list[Message], bool]:
    size = page_size()
    qs = room.messages.select_related("author").order_by("-seq")
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    rows = list(qs[: size + 1])
    has_older = len(rows) > size
    return list(reversed(rows[:size])), has_older


def messages_after(room: Room, after_seq: int, limit: int | None = None) -> list[Message]:
    qs = room.messages.select_related("author").filter(seq__gt=after_seq).order_by("seq")
    if limit is not None:
        qs = qs[:limit]
    return list(qs)


def messages_between(room_id: int, after_seq: int, before_seq: int) -> list[Message]:
    """Messages strictly between two sequence numbers, in order: the gap to repair."""
    return list(
        Message.objects.select_related("author", "room")
        .filter(room_id=room_id, seq__gt=after_seq, seq__lt=before_seq)
        .order_by("seq")
    )


# Rendering: one template per thing on screen, the same for page and socket --


def render_message_frame(messages: list[Message]) -> str:
    """Socket frame appending messages to #chat-log and advancing the page's last seq."""
    return render_to_string("chat/_message_frame.html", {"messages": messages, "last_seq": messages[-1].seq})


def render_log_reset_frame(room: Room, messages: list[Message], has_older: bool) -> str:
    """Socket frame replacing the whole log with the newest page (after a long absence)."""
    return render_to_string(
        "chat/_log_reset_frame.html",
        {"room": room, "messages": messages, "has_older": has_older, "last_seq": messages[-1].seq},
    )


def new_client_id() -> uuid.UUID:
    """A fresh id for each rendered composer: a retried send reuses it, a new message gets a new one."""
    return uuid.uuid4()


def render_composer(room: Room) -> str:
    """A fresh, empty composer, swapped in after a successful send."""
    return render_to_string(
        "chat/_composer.html", {"room": room, "client_id": new_client_id(), "autofocus": True, "oob": True}
    )


def render_error(error: str) -> str:
    return render_to_string("chat/_composer_error.html", {"error": error, "oob": True})


# Catch-up and gap repair -----------------------------------------------------


def catch_up(room_id: int, claimed_seq: int) -> tuple[str, int]:
    """What a (re)connected page is missing after `claimed_seq`, as one frame.

    Returns the frame ('' if nothing is missing) and the sequence number the
    page shows afterwards. A page that missed more than a page of messages gets
    the newest page instead, with its "load older" control.
    """
    room = Room.objects.get(pk=room_id)
    claimed_seq = min(claimed_seq, room.last_seq)
    missing = messages_after(room, claimed_seq, limit=page_size() + 1)
    if not missing:
        return "", claimed_seq
    if len(missing) > page_size():
        latest, has_older = latest_messages(room)
        return render_log_reset_frame(room, latest, has_older), latest[-1].seq
    return render_message_frame(missing), missing[-1].seq


def gap_frame(room_id: int, after_seq: int, before_seq: int) -> tuple[str, int]:
    """The messages a live socket skipped, as one frame, and the newest of them."""
    missing = messages_between(room_id, after_seq, before_seq)
    if not missing:
        return "", after_seq
    return render_message_frame(missing), missing[-1].seq


def frames_after(room_id: int, after_seq: int, limit: int = 500) -> list[tuple[int, str]]:
    """Each message after a sequence number as its own live frame (to refill after a layer outage)."""
    messages = Message.objects.select_related("author").filter(room_id=room_id, seq__gt=after_seq).order_by("seq")
    return [(message.seq, render_message_frame([message])) for message in messages[:limit]]
