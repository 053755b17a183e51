"""What formatting costs per message: chat/formatting.py's render, as services.post_message calls it.

python -m bench.formatting [--repeat 2000]

No server and no database: each kind of message is rendered `repeat` times after a warm-up, five
rounds, and the best round's mean is printed (the least disturbed by the rest of the machine), in
µs per message, with the share nh3's sanitizing takes (cleaning the rendered HTML once more) and the
size of the stored HTML. Mentions are found among 1,000 people who can see the room (users made in
memory, not saved), as in an open room of that size: `names_of` sorts their names once per message
that contains an "@".
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

ROUNDS = 5
PEOPLE = 1000


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def people(count: int) -> list:
    """Users as mentions.candidates returns them (with their profile), made in memory."""
    from django.contrib.auth import get_user_model

    from chat.models import Profile

    users = []
    for pk in range(1, count + 1):
        user = get_user_model()(pk=pk, username=f"user{pk}")
        user.profile = Profile(user=user, display_name=f"はなこ{pk}" if pk % 2 else f"Ada Lovelace {pk}")
        users.append(user)
    return users


PARAGRAPH = (
    "Deploy notes: the **staging** build is up at https://staging.example.com/releases/42, "
    "*please* check `make test` and ~~the old~~ the new migration before Friday. "
)
JAPANESE = "明日の会議の資料はhttps://example.com/docs/meetingを見てください。**必ず**確認してね。"
CODE = "```\ndef handler(request):\n    if request.user.is_authenticated:\n        return render(request)\n```\n"


def messages() -> list[tuple[str, str]]:
    """(kind, body): short ones as most chat lines are, and long ones near the 2,000-character limit."""
    long_mixed = (f"{PARAGRAPH}\n- {PARAGRAPH}\n> {PARAGRAPH}\n{CODE}" * 4)[:1990]
    return [
        ("short, plain (30 chars)", "sounds good, see you at three"),
        ("short, markup + link", "**done**: https://example.com/pr/1 `ok`"),
        ("short, Japanese + mention", "@はなこ1さん、資料ありがとう。"),
        ("long, plain (2,000 chars)", ("the quick brown fox jumps over the lazy dog " * 50)[:2000]),
        ("long, mixed markup (2,000)", long_mixed),
        ("long, Japanese + links (2,000)", (JAPANESE * 40)[:2000]),
        ("long, code block (2,000)", ("```\n" + CODE.strip("`\n") * 25)[:1996] + "\n```"),
        ("long, 20 mentions (2,000)", (" ".join(f"@user{i} hi" for i in range(1, 21)) + " " + PARAGRAPH * 13)[:2000]),
    ]


def best_mean_us(call: Callable[[], object], repeat: int) -> float:
    for _ in range(max(repeat // 10, 10)):
        call()
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for _ in range(repeat):
            call()
        rounds.append((time.perf_counter_ns() - started) / repeat / 1000)
    return min(rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="renders per round (5 rounds)")
    args = parser.parse_args(argv)
    setup_django()
    from chat import formatting
    from chat.formatting import _CLEANER  # the sanitizer alone, for its share

    room = people(PEOPLE)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"formatting.render per message, best of {ROUNDS} rounds of {args.repeat}; mentions among {PEOPLE} people")
    print()
    print("| message | chars | µs per message | of which nh3 µs | HTML bytes |")
    print("|---|---|---|---|---|")
    for kind, body in messages():
        html = formatting.render(body, room).html
        total = best_mean_us(lambda body=body: formatting.render(body, room), args.repeat)
        sanitize = best_mean_us(lambda html=html: _CLEANER.clean(html), args.repeat)
        print(f"| {kind} | {len(body):,} | {total:,.1f} | {sanitize:,.1f} | {len(html.encode()):,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
