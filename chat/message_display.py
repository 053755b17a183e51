"""How a message is shown: its body as text and mentions, its reactions counted with who gave them, its files;
read for a page of messages in a query per relation (with_display), or set on a message just stored or changed
(add_display)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.safestring import mark_safe

from . import log_layout, mentions, profiles
from .models import REACTIONS, Attachment, Message, Reaction, Room


@dataclass(frozen=True)
class Part:
    """A piece of a message body: plain text, or a mention of a user."""

    text: str
    user_id: int | None = None


@dataclass(frozen=True)
class ReactionCount:
    emoji: str
    count: int
    names: str
    user_ids: str

    @property
    def emoji_html(self) -> str:
        """The emoji as character references: a frame of ASCII only is copied, not transcoded,
        each of the thousands of times it is written to a socket."""
        return mark_safe("".join(f"&#{ord(char)};" for char in self.emoji))


# What a message never shows of its author (or a membership line's member): not read with it (a quarter of the
# reading of a page of messages).
UNSHOWN_USER_FIELDS = [
    f"{relation}__{field}"
    for relation in ("author", "member")
    for field in ("password", "last_login", "date_joined", "first_name", "last_name", "email", "is_staff", "is_active")
]


def with_display(queryset, place: bool = True, room: Room | None = None) -> list[Message]:
    """Messages with what their partial shows: author, body parts with mentions, reaction counts, files.

    Four queries however many messages: the messages, then their mentions, reactions and files each in one
    query (prefetch_related cloned a queryset per message and relation: two thirds of a page's reading).
    Placed in the log (log_layout.place) unless `place` is False: the caller places them. `room`: the room
    all of them are in, which is then not read again.
    """
    related = ("author__profile", "member__profile", *(() if room else ("room",)))
    messages = list(queryset.select_related(*related).defer(*UNSHOWN_USER_FIELDS))
    if not messages:
        return messages
    ids = [message.pk for message in messages]
    mentioned: dict[int, list] = {pk: [] for pk in ids}
    through = Message.mentions.through.objects.filter(message_id__in=ids).select_related("user__profile")
    for row in through.order_by("pk"):
        mentioned[row.message_id].append(row.user)
    reactions: dict[int, list[Reactor]] = {pk: [] for pk in ids}
    reactors = Reaction.objects.filter(message_id__in=ids).order_by("pk")
    for message_id, emoji, user_id, username, name in reactors.values_list(
        "message_id", "emoji", "user_id", "user__username", "user__profile__display_name"
    ):
        reactions[message_id].append(Reactor(emoji, user_id, name or username))
    files: dict[int, list[Attachment]] = {pk: [] for pk in ids}
    for attachment in Attachment.objects.filter(message_id__in=ids):
        files[attachment.message_id].append(attachment)
    for message in messages:
        if room is not None:
            message.room = room
        message.parts = body_parts(message.body, mentioned[message.pk])
        message.mention_ids = " ".join(str(user.pk) for user in mentioned[message.pk])
        message.reaction_counts = counts_of(reactions[message.pk])
        message.reacted = any(count.count for count in message.reaction_counts)
        message.files = files[message.pk]
    if place:
        log_layout.place(messages)
    return messages


def add_display(message: Message, mentioned, reactions, files=()) -> None:
    """What the message partial shows besides the fields: body parts with mentions, mention ids, reaction counts,
    attached files."""
    message.parts = body_parts(message.body, mentioned)
    message.mention_ids = " ".join(str(user.pk) for user in mentioned)
    message.reaction_counts = reaction_counts(reactions)
    message.reacted = any(count.count for count in message.reaction_counts)
    message.files = list(files)


def body_parts(body: str, mentioned) -> list[Part]:
    """The body as text and mentions of the given people (stored with the message)."""
    parts, last = [], 0
    for span in mentions.find(body, mentioned):
        parts.append(Part(body[last : span.start]))
        parts.append(Part(body[span.start + 1 : span.end], span.user_id))
        last = span.end
    parts.append(Part(body[last:]))
    return [part for part in parts if part.text]


@dataclass(frozen=True, slots=True)
class Reactor:
    """One reaction, as its message shows it: the emoji, and who gave it."""

    emoji: str
    user_id: int
    name: str  # their display name (profiles.display_name)


def reaction_counts(reactions) -> list[ReactionCount]:
    """The counts of Reaction rows (with their users)."""
    return counts_of(Reactor(r.emoji, r.user.pk, profiles.display_name(r.user)) for r in reactions)


def counts_of(reactors: Iterable[Reactor]) -> list[ReactionCount]:
    """Each offered emoji with how many gave it and who, in the order they did."""
    by_emoji: dict[str, list[Reactor]] = {}
    for reactor in reactors:
        by_emoji.setdefault(reactor.emoji, []).append(reactor)
    if not by_emoji:
        return list(NO_REACTIONS)
    return [
        ReactionCount(
            emoji,
            len(given),
            ", ".join([reactor.name for reactor in given]),
            " ".join([str(reactor.user_id) for reactor in given]),
        )
        if (given := by_emoji.get(emoji))
        else ReactionCount(emoji, 0, "", "")
        for emoji in REACTIONS
    ]


# A message nobody reacted to (most of them): the same counts, made once.
NO_REACTIONS = tuple(ReactionCount(emoji, 0, "", "") for emoji in REACTIONS)
