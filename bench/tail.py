"""The latency tail at one fan-out rate, step after step, with the server's garbage collections beside it.

python -m bench.tail [--deliveries 10000] [--steps 5] [--seconds 8] [--sockets 1000]
BENCH_GC=off python -m bench.tail      (Python's collector defaults instead of project.serve.tune_gc)

One app-redis-1proc server (bench/gc_serve.py: project.serve with every collection timed), one room of
`--sockets`, a warm-up step at 1,000 deliveries/s, then `--steps` steps of `--seconds` at `--deliveries`
as bench.run's fanout steps. Per step: p50/p99, and the collections that ran during it by generation,
the longest and the time they stopped the loop in all (wall and CPU), and what a full one costs after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
from dataclasses import replace

from .gc_serve import gc_path
from .procs import pin_client, raise_nofile, signal_for_file
from .scenarios import FULL, connect, run_step
from .stacks import STACKS, Bench, Context, Stack, bench_environment, make_rooms, running


async def collections(pid: int, number: int, limit: float = 30.0) -> dict:
    """What the server's collector did since the last call (gc_serve writes it on SIGUSR2)."""
    path = gc_path(pid, number)
    await signal_for_file(pid, signal.SIGUSR2, path, "gc record", limit)
    try:
        return json.loads(path.read_text())
    finally:
        path.unlink()


def describe(record: dict) -> str:
    by_gen = {gen: [(ms, cpu) for g, ms, cpu in record["pauses"] if g == gen] for gen in (0, 1, 2)}
    full, young = by_gen[2], by_gen[0] + by_gen[1]
    return (
        f"gc: {len(by_gen[0])}/{len(by_gen[1])}/{len(full)} collections (gen 0/1/2), "
        f"full: longest {max((ms for ms, _ in full), default=0):.0f} ms, {sum(ms for ms, _ in full):.0f} ms in all "
        f"({sum(cpu for _, cpu in full):.0f} ms CPU); gen 0+1 {sum(ms for ms, _ in young):.0f} ms in all; "
        f"{record['tracked']} objects tracked, {record['frozen']} frozen; a full collection now: "
        f"{record['full_now_cpu_ms']:.0f} ms CPU"
    )


async def measure(bench: Bench, stack: Stack, rooms: list, args: argparse.Namespace) -> list[float]:
    ctx = Context(bench, stack, rooms)
    pid = stack.pids["app-0"]
    sizes = replace(FULL, fanout_sockets=args.sockets, fanout_step=args.seconds)
    p99s = []
    try:
        sockets = await connect(ctx, args.sockets, sizes)
        await run_step(ctx, sockets, len(sockets), 1000 / len(sockets), 3, sizes, label="warm-up")
        print("    (start-up, connecting, warm-up) " + describe(await collections(pid, 0)), flush=True)
        for number in range(1, args.steps + 1):
            step = await run_step(ctx, sockets, len(sockets), args.deliveries / len(sockets), args.seconds, sizes)
            print("    " + describe(await collections(pid, number)), flush=True)
            p99s.append(step["p99"])
    finally:
        ctx.load.close_all()
        await asyncio.sleep(0.2)
    return p99s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000, help="offered deliveries per second")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=FULL.fanout_step)
    parser.add_argument("--sockets", type=int, default=FULL.fanout_sockets)
    args = parser.parse_args(argv)
    raise_nofile()
    pin_client()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    spec = replace(STACKS["app-redis-1proc"], server="daphne-gc")
    print(f"gc: {os.environ.get('BENCH_GC') or 'as project.serve'}; load average {os.getloadavg()[0]:.1f}", flush=True)
    with bench_environment(args.sockets) as bench:
        rooms = make_rooms(bench, spec, "tail", 1, args.sockets)
        with running(bench, spec) as stack:
            p99s = asyncio.run(measure(bench, stack, rooms, args))
    print(
        f"p99 at {args.deliveries}/s by step: {', '.join(f'{p:.1f}' for p in p99s)} ms; "
        f"median {statistics.median(p99s):.1f}, worst {max(p99s):.1f}; load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
