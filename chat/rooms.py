"""Rooms: their kinds, who may see each, their members and admins.

- open: every account sees it and may join it (opening it puts it in their sidebar);
- closed: only its members see it; its admins add and remove members;
- direct: a conversation of 2 to 8 people, created by picking them, one per set of
  people (found again rather than duplicated), with no name of its own and no admin.

A room the user may not see does not exist for them: every path (pages, fragments,
socket connect and frames, sidebar, the room list) goes through `visible_rooms` or
`room_for`, and answers 404 (a socket: 4404). A membership change in a closed or
direct room is a room change (a line in the log, Message.Kind), so it reaches pages
and catch-ups like a message; live/members.py closes the sockets of whoever lost
access.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.text import slugify
from django.utils.translation import gettext

from . import log_layout, message_display, profiles, services
from .models import Membership, Message, Room
from .services import NotAllowed

DIRECT_MAX_PEOPLE = 8


def visible_rooms(user) -> QuerySet[Room]:
    """Every room the user may see: the open ones and those they are a member of."""
    return Room.objects.filter(Q(kind=Room.Kind.OPEN) | Q(pk__in=Membership.objects.filter(user=user).values("room")))


def can_see(room: Room, user) -> bool:
    return room.kind == Room.Kind.OPEN or Membership.objects.filter(room=room, user=user).exists()


def is_member(room_id: int, user_id: int) -> bool:
    return Membership.objects.filter(room_id=room_id, user_id=user_id).exists()


def room_for(user, slug: str) -> Room | None:
    """The room at this slug if the user may see it (None: no such room, for them)."""
    room = Room.objects.filter(slug=slug).first()
    return room if room is not None and can_see(room, user) else None


def room_or_404(user, slug: str) -> Room:
    room = room_for(user, slug)
    if room is None:
        raise Http404("No such room.")
    return room


# Creating ---------------------------------------------------------------------


def unique_slug(name: str) -> str:
    """The name's slug, numbered past those taken (`room`, `room-2`, ...): one query however many there are."""
    base = slugify(name, allow_unicode=True)[:90] or "room"
    taken = Room.objects.filter(slug__regex=rf"^{re.escape(base)}(-[0-9]+)?$").values_list("slug", flat=True)
    highest = max((1 if slug == base else int(slug.rsplit("-", 1)[1]) for slug in taken), default=0)
    return base if highest == 0 else f"{base}-{highest + 1}"


def create_room(name: str, creator, kind: str = Room.Kind.OPEN) -> Room:
    """An open or closed room, its creator its first admin; retries if another request took the slug first."""
    for _ in range(5):
        slug = unique_slug(name)  # outside the write transaction: a race is caught below
        try:
            with transaction.atomic():
                room = Room.objects.create(name=name, slug=slug, created_by=creator, kind=kind)
                Membership.objects.create(user=creator, room=room, role=Membership.Role.ADMIN)
                return room
        except IntegrityError:
            if Room.objects.filter(name=name).exclude(kind=Room.Kind.DIRECT).exists():
                raise
    raise IntegrityError("could not find a free slug")


def direct_room(creator, others: list) -> Room:
    """The direct conversation of the creator and `others` (1 to 7 people): the existing one, or a new one."""
    people = {creator.pk: creator, **{person.pk: person for person in others}}
    if not 2 <= len(people) <= DIRECT_MAX_PEOPLE:
        raise NotAllowed(
            gettext("A direct conversation is between 2 and %(most)d people.") % {"most": DIRECT_MAX_PEOPLE}
        )
    key = "-".join(str(pk) for pk in sorted(people))
    existing = Room.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing
    name = ", ".join(sorted((profiles.display_name(p) for p in people.values()), key=str.casefold))[:80]
    try:
        with transaction.atomic():
            room = Room.objects.create(
                kind=Room.Kind.DIRECT, name=name, slug=f"dm-{secrets.token_hex(8)}", direct_key=key, created_by=creator
            )
            Membership.objects.bulk_create([Membership(user=person, room=room) for person in people.values()])
            return room
    except IntegrityError:  # the same people started it at the same moment
        return Room.objects.get(direct_key=key)


def check_can_rename(room: Room, user) -> None:
    if not room.is_admin(user):
        raise NotAllowed(gettext("Only the room's admins can rename it."))


def rename_room(room: Room, user, name: str) -> Room:
    check_can_rename(room, user)
    room.name = name
    room.save(update_fields=["name"])
    return room


# Members ----------------------------------------------------------------------


def check_can_manage_members(room: Room, user) -> None:
    if room.kind != Room.Kind.CLOSED or not room.is_admin(user):
        raise NotAllowed(gettext("Only the room's admins can add and remove its members."))


def members(room: Room) -> list[Membership]:
    return list(room.memberships.select_related("user__profile").order_by("-role", "user__username"))


def people_to_add(room: Room) -> QuerySet:
    """Active accounts not yet in the room, for the admins' "add" list."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(memberships__room=room)
        .select_related("profile")
        .order_by("username")
    )


@dataclass(frozen=True)
class MembershipChange:
    """What a membership change made: the line in the log (None when none is kept: an open room's join or
    leave only moves a sidebar), and whose access or sidebar changed."""

    entry: Message | None
    user_id: int
    listed: bool  # the room is now in the user's sidebar


def add_member(room: Room, actor, user) -> MembershipChange:
    check_can_manage_members(room, actor)
    if not user.is_active:
        raise NotAllowed(gettext("That account is deactivated."))
    with transaction.atomic():
        _, created = Membership.objects.get_or_create(user=user, room=room, defaults={"last_read_seq": 0})
        if not created:
            raise NotAllowed(gettext("They are already a member."))
        entry = _log(room, actor, Message.Kind.ADDED, user)
        # What was said before they came is not news to them.
        Membership.objects.filter(user=user, room=room).update(last_read_seq=entry.seq - 1)
    return MembershipChange(entry, user.pk, listed=True)


def remove_member(room: Room, actor, user) -> MembershipChange:
    check_can_manage_members(room, actor)
    if user.pk == actor.pk:
        raise NotAllowed(gettext("To leave the room, use Leave."))
    with transaction.atomic():
        if not Membership.objects.filter(user=user, room=room).delete()[0]:
            raise NotAllowed(gettext("They are not a member."))
        entry = _log(room, actor, Message.Kind.REMOVED, user)
    return MembershipChange(entry, user.pk, listed=False)


def make_admin(room: Room, actor, user) -> None:
    check_can_manage_members(room, actor)
    if not Membership.objects.filter(user=user, room=room).update(role=Membership.Role.ADMIN):
        raise NotAllowed(gettext("They are not a member."))


def leave(room: Room, user) -> MembershipChange:
    """Anyone leaves an open or closed room: it leaves their sidebar (and a closed one, their reach)."""
    if room.is_direct:
        raise NotAllowed(gettext("A direct conversation cannot be left."))
    with transaction.atomic():
        if not Membership.objects.filter(user=user, room=room).delete()[0]:
            raise NotAllowed(gettext("You are not in this room."))
        entry = _log(room, user, Message.Kind.LEFT, user) if room.kind == Room.Kind.CLOSED else None
    return MembershipChange(entry, user.pk, listed=False)


def _log(room: Room, actor, kind: str, member) -> Message:
    """The membership change as the room's next change: a line in its log."""
    seq, change = services.next_change(room.pk, new_message=True)
    entry = Message.objects.create(
        room=room, author=actor, member=member, kind=kind, body="", seq=seq, created_change=change, change=change
    )
    message_display.add_display(entry, mentioned=[], reactions=[])
    log_layout.place([entry])
    log_layout.remember(entry)
    return entry
