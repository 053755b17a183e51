"""Mentions: `@name` in a message, by display name or username, of people who can see the room.

"@" starts a mention where it does not follow a letter, a digit or another "@". The
longest name of someone who can see the room that the text after it starts with wins
(compared case-insensitively), so `@はなこさん` mentions はなこ and `@Ada Lovelace` beats
`@Ada`. A name ending in a Latin letter or digit must not run on into another
(`@alice2` is not alice); Japanese runs straight on into the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from . import profiles
from .models import Membership, Room


@dataclass(frozen=True)
class Span:
    start: int  # of the "@"
    end: int
    user_id: int


def candidates(room: Room) -> list:
    """Who a message in the room can mention: everyone active for an open room, else its members."""
    people = get_user_model().objects.filter(is_active=True).select_related("profile")
    if room.kind != Room.Kind.OPEN:
        people = people.filter(pk__in=Membership.objects.filter(room=room).values("user"))
    return list(people)


def names_of(people) -> list[tuple[str, int]]:
    """(casefolded name, user id) for every display name and username, longest first."""
    names: dict[str, int] = {}
    for person in people:
        for name in (profiles.display_name(person), person.get_username()):
            if name:
                names.setdefault(name.casefold(), person.pk)
    return sorted(names.items(), key=lambda item: -len(item[0]))


def find(body: str, people) -> list[Span]:
    """Every mention in the body of one of `people`, in order."""
    if "@" not in body:
        return []
    return find_names(body, names_of(people))


def find_names(body: str, names: list[tuple[str, int]]) -> list[Span]:
    """Every mention in the body of one of `names` (from names_of: computed once for a message's many texts)."""
    spans: list[Span] = []
    position = body.find("@")
    while position != -1:
        before = body[position - 1] if position else ""
        if not before or not (before.isalnum() or before in "@_"):
            span = _longest(body, position, names)
            if span is not None:
                spans.append(span)
                position = body.find("@", span.end)
                continue
        position = body.find("@", position + 1)
    return spans


def _longest(body: str, at: int, names: list[tuple[str, int]]) -> Span | None:
    for name, user_id in names:
        end = at + 1 + len(name)
        if body[at + 1 : end].casefold() == name:
            if end < len(body) and _runs_on(name[-1], body[end]):
                continue
            return Span(at, end, user_id)
    return None


def _runs_on(last: str, following: str) -> bool:
    """A Latin name runs on into a following Latin letter or digit: then it is a different word."""
    return last.isascii() and last.isalnum() and following.isascii() and (following.isalnum() or following == "_")
