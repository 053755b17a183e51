"""Message search (chat/search.py): typical queries over 100,000 messages, Japanese and English mixed.

python -m bench.search                                     # SQLite: a temporary database, migrated and filled
python -m bench.search --database-url postgres://postgres@127.0.0.1:5432/search_dev
                                                           # PostgreSQL: a database of your own, migrated and
                                                           # filled (its earlier bench rooms are deleted first)
python -m bench.search --messages 20000 --repeat 10        # smaller, quicker

Each query runs as the search page runs it, `chat.search.search(user, query)`: the ids, the
messages with their authors and rooms, the excerpts. The reader sees 85 of the 100 rooms
(80 open, 5 of the 20 closed ones); one query is limited to one room. Each is run twice to
warm up, then --repeat times: the median and the 95th percentile in milliseconds, and the
number of results (at most 50). The target is under 100 ms on SQLite.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABEL = "bench-search-"
ROOMS, CLOSED_ROOMS, READER_CLOSED = 100, 20, 5
AUTHORS = 50
TARGET_MS = 100.0

NOUNS_JA = (
    "宿題 講義 ネットワーク 試験 図書館 レポート 締め切り 資料 研究室 サーバー 会議 昼ご飯 電車 天気 "
    "プログラム データベース 課題 発表 先生 授業 実験 論文 スライド 教室 バス 時間割 成績 奨学金"
).split()
SENTENCES_JA = (
    "{a}は{n}時までです",
    "明日の{a}はどうする？",  # noqa: RUF001 (Japanese is written with fullwidth punctuation)
    "{a}について質問があります",
    "{a}の{b}を確認してください",
    "今日の{a}は{n}番です",
    "{a}が終わった！",  # noqa: RUF001 (Japanese is written with fullwidth punctuation)
    "{a}と{b}、どちらが先？",  # noqa: RUF001 (Japanese is written with fullwidth punctuation)
    "さっきの{a}、{b}に関係ありますか",
    "{a}の場所が変わりました（{n}号館）",  # noqa: RUF001 (Japanese is written with fullwidth punctuation)
    "{a}に遅れそうです、すみません",
)
NOUNS_EN = (
    "homework lecture network exam library report deadline slides lab server meeting lunch train weather "
    "program database assignment presentation professor class experiment paper classroom bus timetable"
).split()
SENTENCES_EN = (
    "Did anyone finish the {a}?",
    "The {a} is down again",
    "{A} moved to room {n}",
    "Can someone share the {a} for the {b}?",
    "Network error when uploading the {a}",
    "See you at the {a} after {b}",
    "Is the {a} before or after the {b}?",
    "I left my notes in the {a}, room {n}",
    "The {a} starts at {n}:00",
    "Thanks for the {a}!",
)
# (what it is, query, searched in one room)
QUERIES = (
    ("Japanese, 2 characters (short: no index)", "宿題", False),
    ("Japanese, 2 characters, one room", "宿題", True),
    ("Japanese, 2 characters, found nowhere (reads the bound)", "ぬぬ", False),
    ("Japanese, katakana, 6 characters", "ネットワーク", False),
    ("Japanese, 4 characters", "締め切り", False),
    ("Japanese, 2 + 4 characters", "宿題 締め切り", False),
    ("English word, any case", "NETWORK", False),
    ("English, 3 characters, in most messages", "the", False),
    ("English, two words", "network error", False),
    ("English, found nowhere", "zzqx", False),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="a database of your own (default: a temporary SQLite)")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def setup_django(database_url: str) -> None:
    """Production settings (DEBUG off: no query log) on the given database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
        }
    )
    os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def sentence(rng: random.Random) -> str:
    if rng.random() < 0.5:
        a, b = rng.sample(NOUNS_JA, 2)
        return rng.choice(SENTENCES_JA).format(a=a, b=b, n=rng.randint(1, 12))
    a, b = rng.sample(NOUNS_EN, 2)
    return rng.choice(SENTENCES_EN).format(a=a, A=a.capitalize(), b=b, n=rng.randint(1, 400))


def fill(count: int, rng: random.Random):
    """Authors, a reader, 100 rooms (20 closed, the reader in 5 of them) and `count` messages spread over them,
    numbered as chat.services numbers them; returns the reader and the busiest room."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from chat.models import Membership, Message, Room

    Room.objects.filter(slug__startswith=LABEL).delete()
    User.objects.filter(username__startswith=LABEL).delete()
    suffix = secrets.token_hex(3)
    users = User.objects.bulk_create([User(username=f"{LABEL}{suffix}-{i}") for i in range(AUTHORS + 1)])
    reader, authors = users[0], users[1:]
    rooms = Room.objects.bulk_create(
        [
            Room(
                name=f"{LABEL}{suffix} {i}",
                slug=f"{LABEL}{suffix}-{i}",
                kind=Room.Kind.CLOSED if i < CLOSED_ROOMS else Room.Kind.OPEN,
            )
            for i in range(ROOMS)
        ]
    )
    Membership.objects.bulk_create([Membership(user=reader, room=room) for room in rooms[:READER_CLOSED]])
    seq = dict.fromkeys((room.pk for room in rooms), 0)
    weights = [1 + (i % 10) for i in range(ROOMS)]  # some rooms busier than others
    batch: list[Message] = []
    began = time.perf_counter()
    with transaction.atomic():
        for _ in range(count):
            room = rng.choices(rooms, weights)[0]
            seq[room.pk] += 1
            number = seq[room.pk]
            author, body = rng.choice(authors), sentence(rng)
            batch.append(Message(room=room, author=author, body=body, seq=number, created_change=number, change=number))
            if len(batch) == 5000:
                Message.objects.bulk_create(batch)
                batch.clear()
        Message.objects.bulk_create(batch)
        for room in rooms:
            Room.objects.filter(pk=room.pk).update(last_seq=seq[room.pk], last_change=seq[room.pk])
    took = time.perf_counter() - began
    busiest = max(rooms, key=lambda room: seq[room.pk])
    busiest.refresh_from_db()
    return reader, busiest, took


def index_size() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Rebuilt as migration 0004 builds it over existing rows (a refilled database's index holds dead
            # entries), then the planner's statistics, as autovacuum would gather them.
            cursor.execute("REINDEX INDEX chat_message_body_trgm")
            cursor.execute("VACUUM ANALYZE chat_message")
            cursor.execute("SELECT pg_size_pretty(pg_relation_size('chat_message_body_trgm'))")
            return f"GIN trigram index {cursor.fetchone()[0]}"
        try:
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'chat_message_fts%'")
            return f"FTS5 tables {cursor.fetchone()[0] / 2**20:.1f} MiB"
        except Exception:  # SQLite built without dbstat
            return "FTS5 tables (size unknown: no dbstat)"


def measure(reader, room, repeat: int) -> list[tuple[str, str, float, float, int]]:
    from chat import search

    rows = []
    for what, query, one_room in QUERIES:
        scope = room if one_room else None
        for _ in range(2):
            search.search(reader, query, room=scope)
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            found = search.search(reader, query, room=scope)
            times.append((time.perf_counter() - began) * 1000)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
        rows.append((what, query, statistics.median(times), p95, len(found)))
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        setup_django(args.database_url or f"sqlite:///{Path(tmp) / 'search.sqlite3'}")
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        reader, room, took = fill(args.messages, random.Random(args.seed))
        size = index_size()
        if connection.vendor == "sqlite":
            engine = f"SQLite {connection.Database.sqlite_version}, FTS5 trigram index kept by triggers"
        else:
            engine = f"PostgreSQL {connection.pg_version // 10000}.{connection.pg_version % 10000}, pg_trgm"
        print(
            f"{engine}: {args.messages:,} messages stored in {took:.1f} s; {size}; "
            f"busiest room {room.last_seq:,} messages; median and p95 of {args.repeat} runs"
        )
        print()
        print("| query | what | median ms | p95 ms | results |")
        print("|---|---|---|---|---|")
        rows = measure(reader, room, args.repeat)
        for what, query, median, p95, found in rows:
            print(f"| {query} | {what} | {median:.1f} | {p95:.1f} | {found} |")
        slowest = max(p95 for *_, p95, _ in rows)
        print()
        verdict = "under" if slowest < TARGET_MS else "OVER"
        print(f"slowest p95 {slowest:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
        connection.close()


if __name__ == "__main__":
    main()
