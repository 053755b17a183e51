"""Page loads: the room page and the history fragment, signed in, keep-alive, measured with wrk.

python -m bench.pages                                  # SQLite, daphne (`python -m project.serve`) and gunicorn
python -m bench.pages --duration 5 --servers daphne    # quicker, one server
python -m bench.pages --database-url postgres://postgres@127.0.0.1:5432/pages_dev
                                                       # a PostgreSQL database of your own (migrated, filled)
python -m bench.pages --json bench/results/pages.json

A fresh database holds a room of 101 messages (formatted text, mentions, reactions, two edits, one
deleted, one Japanese; yesterday's and today's, so the page has day separators and runs), a reader
who is a member of it and of 9 other rooms with unread messages and mentions (the sidebar), and the
reader's session. Each server runs with production settings (DJANGO_DEBUG=0, bench/fixtures.py),
Redis for its channel layer and cache (a private `redis-server` on a free port, as the other benches),
pinned to core 0; `wrk -t1 -cN -dS --latency` runs on core 1 against:

- room: `/chat/<slug>/`, the newest 50 messages, the sidebar, composers (the reader's cookies:
  session, CSRF; `X-Forwarded-Proto: https` as from the TLS proxy production has in front);
- history: `/chat/<slug>/history/?before=<first shown>`, the fragment "Load older" fetches (htmx):
  the 50 messages before;
- index: `/`, the room list; login: `/accounts/login/`, signed out; me.css: `/me.css`, the reader's
  stylesheet: a signed-in request that does next to nothing (session, user, profile, one small query),
  the floor under every page.

Servers: **daphne** as `make run` serves (`python -m project.serve`, uvloop); **gunicorn**: the same
Django app over WSGI, one sync worker (no keep-alive: it closes every connection after its response);
**gunicorn-gthread**: one worker, 4 threads, keep-alive. gunicorn is installed apart, into
bench/.gunicorn (never into the app's environment, like uvicorn in bench/.uvicorn). The columns: wrk's
requests/s, p50 and p99 latency, server CPU % of one core and server CPU per request (ms), errors
(non-2xx responses and socket errors), response size, and the CPU the rest of the machine used meanwhile
(wrk's own included): on a shared machine, CPU per request is the figure to trust.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from . import fixtures
from .procs import (
    CLIENT_CORE,
    ROOT,
    SERVER_CORE,
    Procs,
    can_pin,
    free_port,
    machine_busy_seconds,
    redis_argv,
    usage,
)

GUNICORN_LIB = ROOT / "bench" / ".gunicorn"
GUNICORN_REQUIREMENTS = ROOT / "bench" / "gunicorn-requirements.txt"
SERVERS = ("daphne", "gunicorn", "gunicorn-gthread")
TARGETS = ("room", "history", "index", "login", "me.css")
MESSAGES = 101  # the page shows the newest 50; "load older" before its first gets the 50 before

# Bodies the room's messages cycle through: formatted text, mentions ({a}, {b}: two authors' usernames), a link.
BODIES = (
    "Did anyone finish the **homework** for tomorrow?",
    "@{a} the slides are at https://example.com/slides/week-4 (see *page 12*)",
    "I think so, but `make test` fails on my machine",
    "```\nTraceback (most recent call last):\n  File \"main.py\", line 3\nNameError: name 'x' is not defined\n```",
    "> the deadline moved to Friday\nreally? @{b} can you confirm?",
    "Steps:\n1. pull\n2. `pip install -r requirements.txt`\n3. run it again",
    "~~lunch at noon~~ lunch at 12:30, the usual place",
    "ok",
    "- bring a laptop\n- bring the **printed** report\n- coffee",
    "Thanks @{a} and @{b}! [notes](https://example.com/notes) are up",
)
JAPANESE = "明日の**講義**は10時からです。資料は https://example.com/ja を見てください @{a}"
NAMES = ("Ada Lovelace", "Grace Hopper", "はなこ", "Linus", "Margaret Hamilton")


@dataclass
class Row:
    server: str
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_percent: float
    cpu_ms_per_request: float
    errors: int
    bytes_per_response: int
    others_percent: float  # the rest of the machine meanwhile (wrk included), % of one core


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="a database of your own (default: a temporary SQLite)")
    parser.add_argument("--servers", default="daphne,gunicorn", help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-redis", action="store_true", help="in-memory channel layer and cache instead")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server logs)")
    args = parser.parse_args(argv)
    args.servers = [name for name in args.servers.split(",") if name]
    args.targets = [name for name in args.targets.split(",") if name]
    for name in args.servers:
        if name not in SERVERS:
            parser.error(f"unknown server {name}")
    for name in args.targets:
        if name not in TARGETS:
            parser.error(f"unknown target {name}")
    return args


def ensure_gunicorn() -> None:
    """gunicorn in bench/.gunicorn, apart from the app's environment (pip --target), once."""
    marker = GUNICORN_LIB / ".installed"
    if marker.exists():
        return
    shutil.rmtree(GUNICORN_LIB, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]
    subprocess.run([*pip, str(GUNICORN_LIB), "-r", str(GUNICORN_REQUIREMENTS)], check=True)
    marker.touch()


def fill() -> dict[str, str]:
    """The room, its messages, the reader's other rooms and the reader's session; returns what wrk needs."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from chat import rooms, services
    from chat.models import Message, Profile

    sessions = fixtures.make_sessions(len(NAMES) + 1)
    users = list(User.objects.filter(pk__in=[user_id for _, user_id in sessions]).order_by("pk"))
    reader, authors = users[0], users[1:]
    for author, name in zip(authors, NAMES, strict=True):
        Profile.objects.update_or_create(user=author, defaults={"display_name": name})
    suffix = secrets.token_hex(2)
    room = rooms.create_room(f"Pages {suffix}", authors[0])
    now = timezone.now()
    posted = []
    for i in range(MESSAGES):
        author = authors[(i * 7 // 3) % len(authors)]  # runs of one author now and then
        a, b = _two_others(authors, author)
        body = (JAPANESE if i == MESSAGES - 7 else BODIES[i % len(BODIES)]).format(a=a, b=b)
        posted.append(services.post_message(room, author, body).message)
    # Yesterday's and today's: the first ~third yesterday afternoon, the rest from this morning, a minute or so apart.
    for i, message in enumerate(posted):
        at = (
            now - timedelta(days=1, hours=2) + timedelta(minutes=2 * i)
            if i < 35
            else now - timedelta(minutes=MESSAGES - i)
        )
        Message.objects.filter(pk=message.pk).update(created_at=at)
    for i, message in enumerate(posted):
        if i % 3 == 0:
            for j, emoji in enumerate(("👍", "❤️", "😂")[: 1 + i % 3 + (i % 5 == 0)]):
                for reactor in users[: 1 + (i + j) % 4]:
                    services.toggle_reaction(message, reactor, emoji)
    for message in (posted[-3], posted[-20]):
        message.refresh_from_db()
        services.edit_message(message, message.author, message.body + " (edited: typo)")
    deleted = posted[-12]
    services.delete_message(deleted, deleted.author)
    # Nine more rooms in the reader's sidebar, with unread messages and a mention.
    for i in range(9):
        other = rooms.create_room(f"Side {suffix} {i}", authors[i % len(authors)])
        for k in range(i + 1):
            body = f"@{reader.username} news {k}" if k == 0 and i % 3 == 0 else f"news {k}"
            services.post_message(other, authors[(i + k) % len(authors)], body)
        services.post_message(other, reader, "hello")  # the reader is a member, read up to here
        services.post_message(other, authors[i % len(authors)], "unread")
    # The reader opens the room once (member, read to the end), as the page will on every load.
    from chat import memberships

    room.refresh_from_db()
    memberships.open_room(room, reader)
    newest, _ = services.latest_messages(room)
    return {"slug": room.slug, "session": sessions[0][0], "before": str(newest[0].pk)}


def _two_others(authors: list, author) -> tuple[str, str]:
    others = [other.username for other in authors if other != author]
    return others[0], others[1]


def server_argv(server: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line of a server, and what it adds to the environment."""
    if server == "daphne":
        return [
            sys.executable,
            "-m",
            "project.serve",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "project.asgi:application",
        ], {}
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    if server == "gunicorn-gthread":
        gunicorn += ["--worker-class", "gthread", "--threads", "4", "--keep-alive", "5"]
    else:
        gunicorn += ["--worker-class", "sync"]
    return [*gunicorn, "bench.wsgi:application"], {"PYTHONPATH": str(GUNICORN_LIB)}


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def target_requests(state: dict[str, str], csrf: str) -> dict[str, tuple[str, dict[str, str]]]:
    browser = {"X-Forwarded-Proto": "https", "Accept-Language": "en-US,en;q=0.9"}
    signed_in = {**browser, "Cookie": f"sessionid={state['session']}; csrftoken={csrf}"}
    slug = state["slug"]
    return {
        "room": (f"/chat/{slug}/", signed_in),
        "history": (f"/chat/{slug}/history/?before={state['before']}", {**signed_in, "HX-Request": "true"}),
        "index": ("/", signed_in),
        "login": ("/accounts/login/", browser),
        "me.css": ("/me.css", signed_in),  # the floor: a signed-in request with one small query and template
    }


def check(port: int, state: dict[str, str]) -> str:
    """Load each page once (they answer 200, the logs hold 50 messages); returns the CSRF cookie to send."""
    status, headers, body = fetch(port, f"/chat/{state['slug']}/", target_requests(state, "x" * 32)["room"][1])
    if status != 200 or body.count(b"<article") != 50:
        raise RuntimeError(f"room page: {status}, {body.count(b'<article')} messages:\n{body[:2000]!r}")
    found = re.search(r"csrftoken=([A-Za-z0-9]+)", headers.get("set-cookie", ""))
    csrf = found.group(1) if found else "x" * 32
    for target, (path, request_headers) in target_requests(state, csrf).items():
        status, _, body = fetch(port, path, request_headers)
        if status != 200:
            raise RuntimeError(f"{target} {path}: {status}\n{body[:2000]!r}")
        if target in ("room", "history") and body.count(b"<article") != 50:
            raise RuntimeError(f"{target}: {body.count(b'<article')} messages, not 50")
    return csrf


def wrk(port: int, path: str, headers: dict[str, str], connections: int, duration: int) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if can_pin():
        argv = ["taskset", "-c", str(CLIENT_CORE), *argv]
    out = subprocess.run([*argv, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(out: str) -> dict[str, float]:
    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * UNITS_MS[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def measure(server: str, env: dict[str, str], state: dict[str, str], args, procs: Procs) -> list[Row]:
    port = free_port()
    argv, extra = server_argv(server, port)
    proc = procs.start(server, port, argv, {**env, **extra}, core=SERVER_CORE)
    rows = []
    try:
        procs.wait_listening([proc])
        csrf = check(port, state)
        requests = target_requests(state, csrf)
        for target in args.targets:
            path, headers = requests[target]
            size = len(fetch(port, path, headers)[2])
            wrk(port, path, headers, args.connections, 2)  # warm-up
            pids = [proc.pid, *children(proc.pid)]  # gunicorn: the master and its worker
            before, busy, began = cpu_seconds(pids), machine_busy_seconds(), time.monotonic()
            result = wrk(port, path, headers, args.connections, args.duration)
            cpu, elapsed = cpu_seconds(pids) - before, time.monotonic() - began
            others = machine_busy_seconds() - busy - cpu
            rows.append(
                Row(
                    server,
                    target,
                    round(result["rate"], 1),
                    round(result["p50"], 1),
                    round(result["p99"], 1),
                    round(cpu / elapsed * 100, 1),
                    round(cpu * 1000 / max(result["requests"], 1), 2),
                    int(result["errors"]),
                    size,
                    round(others / elapsed * 100, 1),
                )
            )
            print(format_row(rows[-1]), flush=True)
    finally:
        procs.stop(proc)
    return rows


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_seconds(pids: list[int]) -> float:
    return sum(usage(pid).cpu_seconds for pid in pids)


HEADER = "| server | page | req/s | p50 ms | p99 ms | server CPU % | CPU ms/request | errors | bytes | others CPU % |"


def format_row(row: Row) -> str:
    return (
        f"| {row.server} | {row.target} | {row.requests_per_s:,.1f} | {row.p50_ms:,.1f} | {row.p99_ms:,.1f} | "
        f"{row.cpu_percent} | {row.cpu_ms_per_request} | {row.errors} | {row.bytes_per_response:,} | "
        f"{row.others_percent} |"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    if any(server.startswith("gunicorn") for server in args.servers):
        ensure_gunicorn()
    temp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    procs = Procs(log_dir=temp)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        redis_url = ""
        if not args.no_redis:
            redis_port = free_port()
            redis = procs.start("redis", redis_port, redis_argv(redis_port), {}, core=SERVER_CORE)
            procs.wait_listening([redis])
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = fixtures.server_env(temp / "db.sqlite3", fixtures.new_secret_key(), redis_url)
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        fixtures.migrate(env)
        fixtures.setup_django(env)
        state = fill()
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        print(
            f"commit {commit.stdout.strip()}, {'PostgreSQL' if args.database_url else 'SQLite'}, "
            f"{'Redis' if redis_url else 'in-memory'} layer and cache, wrk -t1 -c{args.connections} -d{args.duration}s"
            f"{'' if can_pin() else ' (not pinned: fewer than 2 cores)'}",
            flush=True,
        )
        print(HEADER)
        print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
        rows = []
        for server in args.servers:
            rows += measure(server, env, state, args, procs)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
