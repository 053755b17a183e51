"""Every frame the server sends a page, rendered from the partials the page itself uses.

Room changes are rendered once, cut into pieces and packed under the size limit. A
frame is HTML whose top-level elements htmx swaps out of band, so frames can be joined
and split between elements. Everything a page is sent about its room is a
list of *pieces* (one message each, with the page's catch-up field after it), each
paired with the change the page shows once that piece has arrived. The writer packs
queued pieces into frames of at most CHAT_MAX_SENT_FRAME_BYTES, so no frame is ever
over what the server lets itself send (daphne drops such a frame with an error, and
the page never sees those messages), and a page cut off between two frames claims
exactly what it has when it reconnects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from .. import log_layout, services
from ..looks import Look, render_each, rendering
from ..models import Message, Room

# (HTML, the change the page shows once it has this piece and everything before it)
Piece = tuple[str, int]


def render_new_message_frames(message: Message, looks: Iterable[Look]) -> dict[str, str]:
    """Live frame of a new message, once in each look (by look key)."""
    return render_each(looks, lambda: render_new_message_frame(message))


def render_update_frames(message: Message, looks: Iterable[Look]) -> dict[str, str]:
    """Live frame of a changed message, once in each look (by look key)."""
    return render_each(looks, lambda: render_update_frame(message))


def render_new_message_frame(message: Message) -> str:
    """Live frame of a new message, in the active look: appended to #chat-log."""
    return _piece(message, new=True, shown=message.change)


def render_update_frame(message: Message) -> str:
    """Live frame of a changed message, in the active look: replaces it where it is shown."""
    return _piece(message, new=False, shown=message.change)


def _piece(message: Message, new: bool, shown: int) -> str:
    log_layout.place([message])  # in the look being rendered: where its days begin
    return render_to_string("chat/_change_piece.html", {"message": message, "new": new, "last_change": shown})


def render_changes(messages: list[Message], after_change: int, synced: int) -> list[Piece]:
    """The pieces of a page that shows the room up to `after_change` and lacks `messages`.

    New messages come first, in the order of the log; then changed ones. After each
    piece the page claims the newest change below everything still to come, so that a
    page cut off part-way is sent the rest, each as new or changed as it should be.
    """
    new = sorted((m for m in messages if m.created_change > after_change), key=lambda m: m.seq)
    changed = sorted((m for m in messages if m.created_change <= after_change), key=lambda m: m.change)
    ordered = [(m, True) for m in new] + [(m, False) for m in changed]
    # The lowest change any later piece is needed for: a new message from its creation, a changed one from its change.
    still_needed = [synced + 1] * (len(ordered) + 1)
    for index in range(len(ordered) - 1, -1, -1):
        message, is_new = ordered[index]
        needed_from = message.created_change if is_new else message.change
        still_needed[index] = min(still_needed[index + 1], needed_from)
    shown_after = [needed - 1 for needed in still_needed[1:]]
    log_layout.place(messages)  # in the look being rendered: where its days begin
    return [(_piece(m, is_new, shown_after[i]), shown_after[i]) for i, (m, is_new) in enumerate(ordered)]


def catch_up(room_id: int, claimed_change: int | None, look: Look) -> tuple[list[Piece], int]:
    """What a (re)connected page is missing after `claimed_change`, and the change it then shows, in its look.

    A page that missed more than CHAT_CATCH_UP_MAX_MESSAGES changed messages, or that
    cannot say what it has (None), gets the newest page of the log instead, with its
    "load older" control, as a freshly loaded page would.
    """
    room = Room.objects.get(pk=room_id)
    if claimed_change is not None:
        claimed_change = min(claimed_change, room.last_change)
        count = Message.objects.filter(room_id=room_id, change__gt=claimed_change).count()
        if count == 0:
            return [], claimed_change
        if count <= settings.CHAT_CATCH_UP_MAX_MESSAGES:
            with rendering(look):
                return _missing(services.changes_between(room_id, claimed_change, limit=count), claimed_change)
    with rendering(look):
        return log_reset(room)


def log_reset(room: Room) -> tuple[list[Piece], int]:
    """The newest page of the log in place of whatever the page shows: an emptied log first, then its messages."""
    latest, has_older = services.latest_messages(room)
    before_first = latest[0].created_change - 1 if latest else room.last_change
    reset = render_to_string(
        "chat/_log_reset_frame.html",
        {"room": room, "first": latest[0] if latest else None, "has_older": has_older, "last_change": before_first},
    )
    return [(reset, before_first), *render_changes(latest, before_first, room.last_change)], room.last_change


def gap_pieces(room_id: int, after_change: int, before_change: int, look: Look) -> tuple[list[Piece], int]:
    """The changes a live socket skipped, and the newest of them, in its look."""
    with rendering(look):
        return _missing(services.changes_between(room_id, after_change, before_change), after_change)


def _missing(messages: list[Message], after_change: int) -> tuple[list[Piece], int]:
    """Pieces of the messages a page showing `after_change` lacks (in change order), and the change it then shows."""
    if not messages:
        return [], after_change
    synced = messages[-1].change
    return render_changes(messages, after_change, synced), synced


def utf8_length(frame: str) -> int:
    return len(frame) if frame.isascii() else len(frame.encode())


def pack(pieces: Iterable[Piece], limit: int) -> Iterator[Piece]:
    """Join queued pieces into frames of at most `limit` bytes, each with the change the page shows after it.

    A piece is never cut (it could not be swapped); one over the limit on its own leaves
    alone. A message is at most 2,000 characters (~7 KB rendered), but a message with
    very many reactors has a long list of names and ids: daphne's 1 MiB message limit
    (project/serve.py) leaves room for it.
    """
    joined: list[str] = []
    size, shown = 0, 0
    for frame, change in pieces:
        length = utf8_length(frame)
        if joined and size + length > limit:
            yield "".join(joined), shown
            joined, size = [], 0
        joined.append(frame)
        size += length
        shown = change
    if joined:
        yield "".join(joined), shown


# Frames for one page, or for every page of a room -------------------------------------
# Rendered in the look active where they are called: a consumer's own (activated when it connects), or the look
# of the pages the hub sends them to (looks.rendering, looks.PerLook).


def composer(room: Room) -> str:
    """A fresh, empty composer, swapped in after a successful send."""
    return _fresh("chat/_composer.html", room.slug, translation.get_language(), "")


def composer_lines(room: Room) -> str:
    """A fresh multi-line composer, open and focused, swapped in after a send from it."""
    return _fresh("chat/_composer_lines.html", room.slug, translation.get_language(), "open")


# A fresh composer is the same for every send in a room and language but for its client id: rendered once and
# copied with a new id (one render per message sent was 0.1-0.2 ms, bench.stages "reply").
_CLIENT_ID_SLOT = "00000000-0000-0000-0000-00000000c1d0"


def _fresh(template: str, slug: str, language: str, opened: str) -> str:
    return _composer_shape(template, slug, language, opened).replace(_CLIENT_ID_SLOT, str(services.new_client_id()))


@lru_cache(maxsize=256)
def _composer_shape(template: str, slug: str, language: str, opened: str) -> str:
    context = {"room": {"slug": slug}, "client_id": _CLIENT_ID_SLOT, "autofocus": True, "oob": True}
    return render_to_string(template, {**context, "open": bool(opened)})


def error(text: str) -> str:
    """A refusal, shown beside the composer of the page that sent the frame."""
    return render_to_string("chat/_composer_error.html", {"error": text, "oob": True})


@lru_cache(maxsize=16)
def live_status(language: str) -> str:
    """ "Live", sent when the socket opens and with each heartbeat (restarting the page's countdown)."""
    with translation.override(language):
        return render_to_string("chat/_status.html", {"state": "live", "oob": True})


@lru_cache(maxsize=16)
def ended_status(language: str) -> str:
    """ "Disconnected": the server closed the page's socket for good (a 4xxx code the page does not retry)."""
    with translation.override(language):
        return render_to_string("chat/_status.html", {"state": "ended", "oob": True})


def typing(names: list[str]) -> str:
    return render_to_string("chat/_typing.html", {"text": services.typing_text(names), "oob": True})


def presence(names: list[str], shown: int) -> str:
    return render_to_string("chat/_presence.html", {"names": names[:shown], "more": len(names) - shown, "oob": True})


@lru_cache(maxsize=4096)
def badge(language: str, room_id: int, room_name: str, slug: str, unread: int, mentions: int) -> str:
    """A room in the sidebar with its unread and mention counts (capped: see sidebar.capped)."""
    item = {"room": {"pk": room_id, "name": room_name, "slug": slug}, "unread": unread, "mentions": mentions}
    with translation.override(language):
        return render_to_string("chat/_room_badge.html", {"item": item, "oob": True})


@lru_cache(maxsize=4096)
def title(language: str, room_name: str, unread: int) -> str:
    with translation.override(language):
        return render_to_string("chat/_title.html", {"title": room_name, "unread": unread, "oob": True})


def room_name(name: str) -> str:
    """The room's heading, after a rename."""
    return render_to_string("chat/_room_name.html", {"name": name, "oob": True})


def new_messages_moved(first_unread: int | None, unread_after: int | None) -> str:
    """The "New messages" divider moves above `first_unread` (or goes): another page of the reader had shown
    what it stood above."""
    context = {"first_unread": first_unread, "unread_after": unread_after}
    return render_to_string("chat/_new_messages_moved.html", context)


def sidebar_entry_added(room_id: int, room_name: str, slug: str) -> str:
    """A room joins the page's sidebar, at the top (the most recently active)."""
    item = {"room": {"pk": room_id, "name": room_name, "slug": slug}, "unread": 0, "mentions": 0}
    return render_to_string("chat/_sidebar_entry_added.html", {"item": item})


def sidebar_entry_removed(room_id: int) -> str:
    return f'<li id="sidebar-room-{room_id}" hx-swap-oob="delete"></li>'
