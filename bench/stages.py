"""A message's work in the database thread, stage by stage, timed alone (CPU time of this thread, µs per message).

python -m bench.stages [--repeat 300] [--database-url postgres://...] [--profile store]

In a room of ten, what a message costs the server is per message, not per delivery (bench/README.md, "Many
rooms"): the socket checks its sender's session and access, validates the form, stores the message and renders
its frame, then publishes it. `bench.profile --stages` splits a running server's CPU between those stages and the
event loop's (receive, publish, deliver); this times the database thread's stages one by one on a throw-away
SQLite database (or the PostgreSQL database given), best of five rounds, so that a change to one of them can be
measured on a busy machine: CPU time does not count the waits another process causes. `--profile STAGE` prints
cProfile's top functions of that stage.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable

ROUNDS = 5
BODY = "t=1764300000.123456 s=42 n=1234 " + "x" * 67  # the load generator's 100-byte message


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="bench-" + "x" * 50, DJANGO_ALLOWED_HOSTS="127.0.0.1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def best_of(stage: Callable[[], object], repeat: int) -> float:
    """Best round's mean CPU time of this thread per call, in µs."""
    stage()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.thread_time()
        for _ in range(repeat):
            stage()
        best = min(best, (time.thread_time() - started) / repeat)
    return best * 1e6


def stages() -> dict[str, Callable[[], object]]:
    """Each stage as the consumer runs it for a new message from a member of a room of ten (chat/consumers.py)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from chat import message_html, rooms, services
    from chat.accounts import session_is_signed_in
    from chat.forms import MessageForm
    from chat.live import events, frames
    from chat.looks import Look
    from chat.models import Membership

    users = [get_user_model().objects.create_user(f"member{i}", password="a-long-password-42") for i in range(10)]
    room = rooms.create_room("Bench", users[0])
    for user in users[1:]:  # members, as opening the room page makes them
        Membership.objects.get_or_create(user=user, room=room)
    session = SessionStore()
    session.update(
        {
            "_auth_user_id": str(users[1].pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": users[1].get_session_auth_hash(),
        }
    )
    session.create()
    look = {Look("en", "UTC")}
    stored = services.post_message(room, users[1], BODY).message

    def store() -> object:
        return services.post_message(room, users[1], BODY, uuid.uuid4())

    return {
        "session check": lambda: session_is_signed_in(session.session_key, users[1].pk),
        "form": lambda: MessageForm({"message": BODY, "client_id": str(uuid.uuid4())}).is_valid(),
        "store": store,
        "render": lambda: (message_html.kept.clear(), frames.render_new_message_frames(stored, look)),
        "event": lambda: events.room_change(room.pk, stored, {"en|UTC": "x"}, new=True),
        "reply": lambda: frames.composer(room),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--database-url", help="default: a throw-away SQLite database")
    parser.add_argument("--profile", help="a stage to run under cProfile once timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(args.database_url or f"sqlite:///{os.path.join(folder, 'stages.sqlite3')}")
        found = stages()
        print(f"# bench.stages: Python {platform.python_version()}, best of {ROUNDS} rounds of {args.repeat}")
        total = 0.0
        for name, stage in found.items():
            cost = best_of(stage, args.repeat)
            total += cost
            print(f"{name:14} {cost:8.0f} µs")
        print(f"{'in all':14} {total:8.0f} µs")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: [found[args.profile]() for _ in range(args.repeat)])
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
