"""Where an idle socket's memory goes: the Python heap of one server, by package, per socket.

python -m bench.memory [--stack app-redis-1proc] [--sockets 5000] [--rooms 100] [--top 20]

Runs the app's server with tracemalloc on (bench/traced_serve.py), opens one socket per room
and closes it (warm imports, templates and connections), takes a heap snapshot, opens the idle
sockets as the idle scenario does, waits until presence is quiet, takes another, and prints the
difference divided by the number of sockets: by package (or standard-library module) and by the
line that allocated. tracemalloc counts live Python allocations only: the process's RSS per socket
(printed beside it, raised by tracemalloc's own bookkeeping) also holds allocator slack, C
extensions' buffers and the memory of freed objects not yet returned.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from pathlib import Path

from .procs import ROOT, pin_client, raise_nofile, signal_for_file, usage
from .scenarios import FULL, quiet, warm_up_rooms
from .stacks import STACKS, Bench, Context, Stack, bench_environment, make_rooms, running
from .traced_serve import snapshot_path

STDLIB = Path(sysconfig.get_paths()["stdlib"])
LEAVE_CHECKS = 6
LEAVE_CHECK_SECONDS = 10.0


def package_of(filename: str) -> str:
    """The installed package, project directory or standard-library module a file belongs to."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    for base in (ROOT, STDLIB):
        if path.is_relative_to(base):
            return path.relative_to(base).parts[0].removesuffix(".py")
    return filename


def place(stat: tracemalloc.StatisticDiff) -> str:
    """Where a line-grouped statistic was allocated, short: the file's last three path parts and the line."""
    frame = stat.traceback[0]
    return "/".join(Path(frame.filename).parts[-3:]) + f":{frame.lineno}"


async def take_snapshot(pid: int, number: int, limit: float = 60.0) -> tracemalloc.Snapshot:
    path = snapshot_path(pid, number)
    await signal_for_file(pid, signal.SIGUSR1, path, "heap snapshot", limit)
    try:
        snapshot = tracemalloc.Snapshot.load(str(path))
    finally:
        path.unlink()
    return snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def per_socket(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, sockets: int, top: int) -> str:
    by_line = after.compare_to(before, "lineno")
    by_package: Counter = Counter()
    for stat in by_line:
        by_package[package_of(stat.traceback[0].filename)] += stat.size_diff
    total = sum(by_package.values())
    lines = [f"Python heap per socket: {total / sockets / 1024:.1f} KiB", "", "by package:"]
    lines += [f"  {size / sockets:8.0f} B  {name}" for name, size in by_package.most_common(top)]
    lines += ["", "by line:"]
    for stat in sorted(by_line, key=lambda s: s.size_diff, reverse=True)[:top]:
        size, blocks = stat.size_diff / sockets, stat.count_diff / sockets
        lines.append(f"  {size:8.0f} B  {blocks:5.1f} blocks  {place(stat)}")
    return "\n".join(lines)


async def left_after_closing(pid: int, before: tracemalloc.Snapshot, sockets: int) -> tuple[Counter, float]:
    """What the closed sockets left on the heap (by line), once it stops shrinking: each socket's
    disconnect (leaving its groups, marking what it read) takes a while when thousands close at once."""
    left: Counter = Counter()
    for number in range(2, 2 + LEAVE_CHECKS):
        await asyncio.sleep(LEAVE_CHECK_SECONDS)
        previous, left = left.total(), Counter()
        for stat in (await take_snapshot(pid, number)).compare_to(before, "lineno"):
            left[place(stat)] += stat.size_diff
        if number > 2 and left.total() >= previous - abs(previous) * 0.1:  # no longer shrinking
            break
    return left, time.monotonic()


async def measure(bench: Bench, stack: Stack, rooms: list, sockets: int, top: int) -> str:
    ctx = Context(bench, stack, rooms)  # its load generator belongs to this event loop
    # tracemalloc slows the server down: fewer handshakes at once than the idle scenario,
    # so that none waits past daphne's 5 s limit for the app to accept it.
    sizes = replace(FULL, idle_sockets=sockets, idle_rooms=len(ctx.rooms), connect_concurrency=50)
    pid = ctx.stack.pids["app-0"]
    await warm_up_rooms(ctx, sizes)
    before = await take_snapshot(pid, 0)
    rss_before = usage(pid).rss_kib  # after the snapshot's own peak
    opened, errors = await ctx.load.open_many(((ctx.target(i), 0) for i in range(sockets)), sizes.connect_concurrency)
    if len(errors) > sockets // 100:
        raise RuntimeError(f"{len(errors)} of {sockets} sockets did not open, e.g. {errors[0]}")
    await quiet(ctx, sizes)
    rss_after = usage(pid).rss_kib
    after = await take_snapshot(pid, 1)
    ctx.load.close_all()
    closed_at = time.monotonic()
    left, waited = await left_after_closing(pid, before, len(opened))
    return "\n".join(
        [
            f"{len(opened)} idle sockets in {len(ctx.rooms)} rooms on {ctx.stack.spec.name}",
            f"RSS per socket (tracemalloc on): {(rss_after - rss_before) / len(opened):.1f} KiB",
            f"Python heap left per socket {waited - closed_at:.0f} s after they all closed:"
            f" {left.total() / len(opened):.0f} B",
            *[f"  {size / len(opened):8.0f} B  {where}" for where, size in left.most_common(top)],
            per_socket(before, after, len(opened), top),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="app-redis-1proc", choices=[n for n, s in STACKS.items() if s.kind == "app"])
    parser.add_argument("--sockets", type=int, default=FULL.idle_sockets)
    parser.add_argument("--rooms", type=int, default=FULL.idle_rooms)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    raise_nofile()
    pin_client()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    spec = replace(STACKS[args.stack], processes=1, server="daphne-traced")
    with bench_environment(args.sockets) as bench:
        rooms = make_rooms(bench, spec, "memory", args.rooms, args.sockets)
        with running(bench, spec) as stack:
            print(asyncio.run(measure(bench, stack, rooms, args.sockets, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
