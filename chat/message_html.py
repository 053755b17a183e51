"""A message's HTML, rendered once per look and kept: pages and frames show the same copy.

`templates/chat/_message.html` (with its body, files, reactions and tools) costs about a millisecond
to render; a room page and a page of history show 50 messages, and nearly all of them are the same
on the next load. The partial reads nothing of its reader (what differs per reader comes from
/me.css) and no request, so its HTML is a function of:

- the message's row and what hangs on it: body, edits, deletion, reactions, mentions, files. Every
  such change is a room change and bumps `Message.change`;
- where it sits in the log: `continues` (log_layout.place, from the message before it);
- the look it is rendered in (language and zone, looks.py) and the day it is in that zone: a time
  shows its date unless it is today's (templatetags/times.py);
- what other rows lend it that no room change bumps: its author's name and username (and a
  membership line's member's), the names of those who reacted (a button's tooltip), the room's
  slug (its links: a rename changes it);
- whether it is swapped out of band (`oob`).

All of them make the key, so a kept copy is never stale: an edit, a reaction or a deletion is a new
change, hence a new key, and the old copy ages out. Each process keeps its own copies (no
invalidation crosses processes: none is needed), the most recently used MESSAGE_HTML_KEPT of them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString

from . import profiles
from .models import Message

TEMPLATE = "chat/_message.html"


class Kept:
    """The most recently used rendered messages, by key; safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.copies: OrderedDict[Hashable, SafeString] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> SafeString | None:
        with self.lock:
            html = self.copies.get(key)
            if html is None:
                self.misses += 1
                return None
            self.hits += 1
            self.copies.move_to_end(key)
            return html

    def put(self, key: Hashable, html: SafeString) -> None:
        with self.lock:
            self.copies[key] = html
            self.copies.move_to_end(key)
            while len(self.copies) > self.size:
                self.copies.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.copies.clear()
            self.hits = self.misses = 0


kept = Kept(settings.CHAT_MESSAGE_HTML_KEPT)


def key(message: Message, oob: bool) -> Hashable:
    """Everything the partial's HTML depends on (above), in the active look."""
    return (
        message.pk,
        message.change,
        message.created_at,  # with the id: a message, not one that had its id in a database since reset
        translation.get_language(),
        timezone.get_current_timezone_name(),
        timezone.localdate(),
        getattr(message, "continues", False),
        oob,
        message.room.slug,
        _names(message.author),
        _names(message.member) if message.member_id else None,
        tuple(count.names for count in getattr(message, "reaction_counts", ()) if count.count),
    )


def _names(user) -> tuple[str, str]:
    profile = profiles.profile_of(user)
    return user.get_username(), profile.display_name if profile else ""


def render(message: Message, oob: bool = False) -> SafeString:
    """The message's partial in the active look: a kept copy, or rendered and kept."""
    wanted = key(message, oob)
    html = kept.get(wanted)
    if html is None:
        html = render_to_string(TEMPLATE, {"message": message, "oob": oob})
        kept.put(wanted, html)
    return html
