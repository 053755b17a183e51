"""What each look costs a new message: its live frame rendered once per look of the room's pages (chat/looks.py).

python -m bench.looks [--repeat 500]

A room's message is rendered once per look (language and time zone) among its pages, by the process that
stored it: one look in a class that shares a language and zone, two or three in a mixed one. This renders a
short message's live frame (as the consumer's _store does) for 1, 2 and 4 looks, `repeat` times after a
warm-up, five rounds, and prints the best round's mean in µs per message, with the cost per look. A throw-away
SQLite database holds the room (the frame reads nothing from it once the message is stored).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

ROUNDS = 5
LOOKS = [("en", "UTC"), ("ja", "Asia/Tokyo"), ("en", "America/New_York"), ("ja", "UTC")]


def setup_django(database: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(os.path.join(folder, "looks.sqlite3"))
        from django.contrib.auth import get_user_model

        from chat import rooms, services
        from chat.live import frames
        from chat.looks import Look

        author = get_user_model().objects.create_user("hanako", password="a-long-password-42")
        room = rooms.create_room("Bench", author)
        services.post_message(room, author, "the message before")
        message = services.post_message(room, author, "明日の宿題は三番です。see you at **three**").message
        print(f"# bench.looks: Python {platform.python_version()}, best of {ROUNDS} rounds of {args.repeat}")
        print(f"{'looks':>5}  {'µs per message':>14}  {'µs per look':>11}  frame bytes")
        for count in (1, 2, 4):
            looks = {Look(language, zone) for language, zone in LOOKS[:count]}
            frames.render_new_message_frames(message, looks)  # warm-up: templates compiled, translations loaded
            best = float("inf")
            for _ in range(ROUNDS):
                start = time.perf_counter()
                for _ in range(args.repeat):
                    rendered = frames.render_new_message_frames(message, looks)
                best = min(best, (time.perf_counter() - start) / args.repeat)
            size = max(len(frame.encode()) for frame in rendered.values())
            print(f"{count:>5}  {best * 1e6:>14.0f}  {best * 1e6 / count:>11.0f}  {size}")


if __name__ == "__main__":
    main()
