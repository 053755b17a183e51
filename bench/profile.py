"""Profile one server under fan-out load with py-spy and print where its CPU goes.

python -m bench.profile [--stack app-redis-1proc] [--sockets 1000] [--rooms 1] [--deliveries 10000] [--seconds 15]
python -m bench.profile --scenario storm   (a whole scenario of bench.run instead)
(py-spy: `pip install -r bench/requirements.txt`.) Frames are aggregated from py-spy's raw
(collapsed) output: "self" counts samples where a function was running, "total" where it was on the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .procs import BIN, CLIENT_CORE, can_pin, pin_client, raise_nofile
from .scenarios import FULL, ROOMS_OF, SCENARIOS, SOCKETS_OF, Sizes, connect, run_step
from .stacks import STACKS, Bench, Context, Stack, bench_environment, make_rooms, running


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install -r bench/requirements.txt")
    return found


def pin_recorder() -> None:
    os.sched_setaffinity(0, {CLIENT_CORE})  # beside the load generator, off the server's core


def aggregate(collapsed: Path) -> tuple[Counter, Counter, Counter, Counter, int]:
    """Self samples per function, total per function, self per file, self per package; and all samples."""
    own, total, files, packages, samples = Counter(), Counter(), Counter(), Counter(), 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ") and frame]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        path = frames[-1].rsplit("(", 1)[-1].split(":", 1)[0]
        files[path] += count
        packages[path.split("/", 1)[0].removesuffix(".py")] += count
        for frame in set(frames):
            total[frame] += count
    return own, total, files, packages, samples


def report(collapsed: Path, top: int) -> str:
    own, total, files, packages, samples = aggregate(collapsed)
    if not samples:
        return "no samples"

    def lines(counter: Counter) -> list[str]:
        return [f"{100 * n / samples:5.1f}%  {name}" for name, n in counter.most_common(top)]

    return "\n".join(
        [
            f"{samples} samples",
            "\nself time by function:",
            *lines(own),
            "\nself time by package (or standard-library module):",
            *lines(packages),
            "\nself time by file:",
            *lines(files),
            "\ntotal (inclusive) time by function:",
            *lines(total),
        ]
    )


async def start_recorder(stack: Stack, seconds: float, out: Path) -> asyncio.subprocess.Process:
    """py-spy sampling the stack's first server (not Redis) for `seconds`, on the load generator's core."""
    pid = next(pid for role, pid in stack.pids.items() if role != "redis")
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin_recorder if can_pin() else None
    )


async def stop_recorder(recorder: asyncio.subprocess.Process, limit: float) -> None:
    """Let py-spy finish (SIGINT makes it write what it has), within `limit` seconds."""
    try:
        await asyncio.wait_for(recorder.wait(), limit)
    except TimeoutError:
        pass
    if recorder.returncode is None:
        recorder.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(recorder.wait(), 10)
        except TimeoutError:
            recorder.kill()
            await recorder.wait()


async def profile_step(ctx: Context, args: argparse.Namespace, out: Path) -> None:
    """One step of fan-out at a fixed rate, recorded whole."""
    sizes = Sizes(**{**FULL.__dict__, "fanout_sockets": args.sockets})
    sockets = await connect(ctx, args.sockets, sizes)
    room_size = len(sockets) // len(ctx.rooms)
    await run_step(ctx, sockets, room_size, 1000 / room_size, 3, sizes, label="warm-up")
    recorder = await start_recorder(ctx.stack, args.seconds, out)
    try:
        await run_step(ctx, sockets, room_size, args.deliveries / room_size, args.seconds, sizes)
    finally:
        await stop_recorder(recorder, 30)


async def profile_scenario(ctx: Context, args: argparse.Namespace, out: Path) -> None:
    """A whole scenario of bench.run (full sizes), recorded from start to end."""
    recorder = await start_recorder(ctx.stack, 3600, out)
    try:
        row = await SCENARIOS[args.scenario](ctx, FULL)
        print({k: v for k, v in row.items() if k not in ("steps", "missing_examples")})
    finally:
        await stop_recorder(recorder, 0)


async def load_and_record(bench: Bench, stack: Stack, rooms: list, args: argparse.Namespace, out: Path) -> None:
    ctx = Context(bench, stack, rooms)
    try:
        if args.scenario:
            await profile_scenario(ctx, args, out)
        else:
            await profile_step(ctx, args, out)
    finally:
        ctx.load.close_all()
        await asyncio.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="app-redis-1proc", choices=sorted(STACKS))
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=1, help="the sockets are spread over this many rooms")
    parser.add_argument("--deliveries", type=int, default=10_000, help="offered deliveries per second")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--output", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="profile this whole scenario instead")
    args = parser.parse_args(argv)
    py_spy()
    raise_nofile()
    pin_client()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    spec = STACKS[args.stack]
    users = max(args.sockets, FULL.idle_sockets if args.scenario else 0) + FULL.storm_rooms
    with tempfile.TemporaryDirectory() as tmp, bench_environment(users) as bench:
        out = args.output or Path(tmp) / "profile.txt"
        count = ROOMS_OF[args.scenario](FULL) if args.scenario else args.rooms
        sockets = SOCKETS_OF[args.scenario](FULL) if args.scenario else args.sockets
        rooms = make_rooms(bench, spec, "profile", count, sockets)
        with running(bench, spec) as stack:
            asyncio.run(load_and_record(bench, stack, rooms, args, out))
        print(report(out, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
