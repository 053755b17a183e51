"""Message search: the text messages of every room a person may see (or of one), newest first.

A query is cut into terms at spaces (an ideographic space too); a message matches when
its body contains every term, as a substring and whatever the case, so that Japanese,
written without spaces, is found inside a sentence (宿題 in 明日の宿題は三番です).

- SQLite: an FTS5 table with the trigram tokenizer (`chat_message_fts`, external content:
  it stores no copy of the bodies), kept current by triggers on chat_message. A trigram
  index finds terms of three characters or more; shorter ones (two-character Japanese
  words are common: 講義, 宿題) are matched with LIKE on the rows the longer terms found,
  or, for a query of short terms only, on the newest SHORT_QUERY_SCAN messages.
- PostgreSQL: pg_trgm's GIN index on chat_message.body, which ILIKE uses for terms of
  three characters or more; the same bound for a query of short terms only.
- Any other database: LIKE over the rows, with the same bound.

The index is created by migration 0005_message_search (vendor-conditional). On SQLite a later migration
that rebuilds chat_message (SQLite alters a table by copying it) drops its triggers:
`ensure_index`, run after every `migrate`, puts them back and rebuilds the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Lookup, Max, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from . import rooms
from .models import Message, Room

# Longer queries are cut here; terms past MAX_TERMS are ignored.
MAX_QUERY_LENGTH = 100
MAX_TERMS = 8
RESULTS = 50
# The trigram index finds a term of at least this many characters.
TRIGRAM = 3
# A query of terms under three characters only cannot use an index: it is matched against
# the newest this many messages of the site (or of the room searched). With 100,000 messages on
# SQLite, a two-character word found nowhere took 31 ms (median; 63 ms p95 on a busy machine) over
# 50,000 rows (bench/search.py), and about twice that over all of them.
SHORT_QUERY_SCAN = 50_000
# The snippet: up to this many characters, starting this many before the first hit.
SNIPPET_LENGTH = 140
SNIPPET_LEAD = 30

FTS_TABLE = "chat_message_fts"


@dataclass(frozen=True)
class Hit:
    """A message found, with an escaped excerpt of its body around the first hit, each hit in <mark>."""

    message: Message
    snippet: SafeString


def terms_of(query: str) -> list[str]:
    """The distinct terms of a query, in order (str.split also cuts at the ideographic space U+3000)."""
    return list(dict.fromkeys(query[:MAX_QUERY_LENGTH].split()))[:MAX_TERMS]


def recent_only(query: str, room: Room | None = None) -> bool:
    """Whether the query, all of whose terms are short, was matched against recent messages only because there are
    more than SHORT_QUERY_SCAN (of the site, or of `room`)."""
    terms = terms_of(query)
    return bool(terms) and all(len(term) < TRIGRAM for term in terms) and _scan_floor(room) > 0


def search(user, query: str, room: Room | None = None, limit: int = RESULTS) -> list[Hit]:
    """The text messages (not deleted) containing every term of `query`, newest first, in the rooms the user may
    see, or in `room` alone (nothing if they may not see it)."""
    terms = terms_of(query)
    ids = list(matches(user, query, room).values_list("pk", flat=True)[:limit])
    found = Message.objects.filter(pk__in=ids).select_related("author__profile", "room").order_by("-pk")
    return [Hit(message, snippet(message.body, terms)) for message in found]


def matches(user, query: str, room: Room | None = None) -> QuerySet[Message]:
    """The messages `search` finds, newest first: the query it runs (tests read its plan, bench/search.py times it)."""
    terms = terms_of(query)
    if not terms or (room is not None and not rooms.can_see(room, user)):
        return Message.objects.none()
    messages = Message.objects.filter(kind=Message.Kind.TEXT, deleted_at=None)
    messages = messages.filter(room=room) if room is not None else messages.filter(room__in=rooms.visible_rooms(user))
    if all(len(term) < TRIGRAM for term in terms):
        # No index serves it: read the newest SHORT_QUERY_SCAN only (by the room's numbers, or the site's ids).
        field = "seq__gt" if room is not None else "pk__gt"
        messages = messages.filter(**{field: _scan_floor(room)})
    return backend().matching(messages, terms).order_by("-pk")


def _scan_floor(room: Room | None) -> int:
    """Messages numbered above this are the newest SHORT_QUERY_SCAN of the room (its seq) or of the site (ids)."""
    newest = room.last_seq if room is not None else Message.objects.aggregate(newest=Max("pk"))["newest"] or 0
    return max(0, newest - SHORT_QUERY_SCAN)


# Snippets ---------------------------------------------------------------------------


def snippet(body: str, terms: list[str], length: int = SNIPPET_LENGTH) -> SafeString:
    """An excerpt of `body` around the first hit of any term, escaped, with every hit in it wrapped in <mark>.

    Hits are found in the raw text and each piece is escaped on its own, so that the only
    markup is ours and a term can never match inside an entity the escaping made (`amp`, `lt`).
    """
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(body)
    start = 0 if first is None or first.start() <= SNIPPET_LEAD else first.start() - SNIPPET_LEAD
    end = min(len(body), start + length)
    if first is not None and end < first.end():  # a very long term: show it whole
        end = first.end()
    excerpt = body[start:end]
    pieces = ["…" if start > 0 else ""]
    last = 0
    for hit in pattern.finditer(excerpt):
        pieces += [escape(excerpt[last : hit.start()]), "<mark>", escape(hit.group()), "</mark>"]
        last = hit.end()
    pieces += [escape(excerpt[last:]), "…" if end < len(body) else ""]
    return mark_safe("".join(pieces))  # every piece of the body was escaped above


# Backends: one per database, chosen by its vendor ---------------------------------------


class Backend:
    """Any database: LIKE over the rows (Django's icontains)."""

    def matching(self, messages: QuerySet[Message], terms: list[str]) -> QuerySet[Message]:
        for term in terms:
            messages = messages.filter(body__icontains=term)
        return messages


class SQLiteTrigram(Backend):
    """FTS5's trigram index for terms of three characters or more; LIKE (case-insensitive for ASCII) for shorter
    ones, on the rows the index found."""

    def matching(self, messages: QuerySet[Message], terms: list[str]) -> QuerySet[Message]:
        indexed = [term for term in terms if len(term) >= TRIGRAM]
        if indexed:
            # Each term a quoted phrase: the trigram tokenizer matches a phrase as a substring, whatever the case.
            expression = " AND ".join('"' + term.replace('"', '""') + '"' for term in indexed)
            found = RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [expression])
            messages = messages.filter(pk__in=found)
        return super().matching(messages, [term for term in terms if len(term) < TRIGRAM])


class ILike(Lookup):
    """PostgreSQL's ILIKE, which a pg_trgm index on the column serves (Django's icontains compares UPPER(...),
    which it does not)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


class PostgresTrigram(Backend):
    """ILIKE on the body, served by the pg_trgm GIN index for terms of three characters or more."""

    def matching(self, messages: QuerySet[Message], terms: list[str]) -> QuerySet[Message]:
        like = connection.ops.prep_for_like_query  # escapes \, % and _
        return messages.filter(*(ILike(F("body"), Value(f"%{like(term)}%")) for term in terms))


BACKENDS: dict[str, type[Backend]] = {"sqlite": SQLiteTrigram, "postgresql": PostgresTrigram}


def backend() -> Backend:
    return BACKENDS.get(connection.vendor, Backend)()


# The SQLite index's upkeep ------------------------------------------------------------

# Kept current by triggers; a deleted message's body is emptied (services.delete_message),
# which the update trigger takes out of the index. Reactions and reads touch other columns
# and leave the index alone (UPDATE OF body).
SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON chat_message BEGIN
            INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON chat_message BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF body ON chat_message BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
            INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
        END""",
}


def ensure_index(using_connection=connection) -> bool:
    """On SQLite, put back the index's triggers if a migration dropped them (and rebuild the index, which missed
    whatever changed meanwhile). Returns whether it had to. Run after every `migrate` (apps.py)."""
    if using_connection.vendor != "sqlite":
        return False
    with using_connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
        if cursor.fetchone() is None:  # not migrated this far yet
            return False
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'chat_message'")
        present = {name for (name,) in cursor.fetchall()}
        missing = [sql for name, sql in SQLITE_TRIGGERS.items() if name not in present]
        for sql in missing:
            cursor.execute(sql)
        if missing:
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return bool(missing)
