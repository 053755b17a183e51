"""Permalinks: a message's own address, and the part of the log shown around it.

`/chat/<slug>/m/<id>/` opens the room with the message in view, marked by CSS `:target`
(the address it redirects to ends in `#message-<id>`). A message among the room's newest
is shown on the room page itself. An older one gets the room page with a *window* of the
log around it: some messages before it (with "load older" above), some after (with "load
newer" below, which continues page by page up to the newest).

The window is cut at the room's newest change when the page was made (`Window.change`),
and so is every "load newer" page: they hold the messages created up to that change. A
page showing a window that does not reach the newest message does not claim its socket's
live changes (its catch-up form stays quiet, live changes wait in its feed) and offers a
link to the newest messages in place of the composer: a live message appended below an
older window, with unloaded messages between, would be out of order. The last "load newer"
page swaps in the composer and a catch-up form that claims the window's change at once:
the socket then sends everything since (messages posted and edited meanwhile, in order),
and the page is live like any room page. A window that reaches the newest message is live
from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import message_display, services
from .models import Message, Room


@dataclass(frozen=True)
class Window:
    messages: list[Message]  # oldest first
    has_older: bool
    has_newer: bool  # messages created up to `change` follow the window
    change: int  # the room's change the window is cut at


def on_room_page(room: Room, message: Message) -> bool:
    """Whether the room page shows the message among its newest, with half a page to spare for messages posted
    between the redirect and the page (a count of at most half a page of rows)."""
    spare = services.page_size() // 2
    return Message.objects.filter(room=room, seq__gt=message.seq)[:spare].count() < spare


def window_around(room: Room, message: Message) -> Window:
    """A page of the log around `message`: up to half a page before it, the rest from it on.

    `room` was read before any message, so its last_change is the window's cut: a message
    created later reaches the page through its socket, once the page claims that change.
    """
    size, change = services.page_size(), room.last_change
    known = Message.objects.filter(room=room, created_change__lte=change)
    lead = size // 2
    older = message_display.with_display(known.filter(seq__lt=message.seq).order_by("-seq")[: lead + 1])
    rest = size - min(len(older), lead)
    newer = message_display.with_display(known.filter(seq__gte=message.seq).order_by("seq")[: rest + 1])
    return Window(
        messages=list(reversed(older[:lead])) + newer[:rest],
        has_older=len(older) > lead,
        has_newer=len(newer) > rest,
        change=change,
    )


def messages_after(room: Room, after_id: int, change: int) -> tuple[list[Message], bool]:
    """The page of the log after message `after_id`, among the messages created up to `change`, oldest first;
    and whether more follow."""
    size = services.page_size()
    qs = Message.objects.filter(room=room, pk__gt=after_id, created_change__lte=change).order_by("seq")
    rows = message_display.with_display(qs[: size + 1])
    return rows[:size], len(rows) > size
