"""Profile one server under fan-out load with py-spy and print where its CPU goes.

python -m bench.profile [--stack app-redis-1proc] [--sockets 1000] [--rooms 1] [--deliveries 10000] [--seconds 15]
python -m bench.profile --scenario storm   (a whole scenario of bench.run instead)
python -m bench.profile --rooms 100 --sockets 1000 --deliveries 2000 --stages   (many rooms: CPU per message by stage)
(py-spy: `pip install -r bench/requirements.txt`.) Frames are aggregated from py-spy's raw
(collapsed) output: "self" counts samples where a function was running, "total" where it was on the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from .cprofile_serve import cprofile_path
from .procs import BIN, CLIENT_CORE, can_pin, pin_client, raise_nofile, signal_for_file
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


# A message's path through the server, by stage: a sample belongs to the first stage, from the innermost frame out,
# that one of its frames names (a sample in the template engine under the store's render counts as render, one in
# asgiref's thread hand-over as a hop). "deliver" is the hub taking the event from Redis and every page's write.
STAGES = (
    ("render", ("render_new_message_frames (", "render_update_frames (")),
    ("store", ("post_message (chat/services.py",)),
    ("checks", ("_refusal (chat/consumers.py", "allow_frame (chat/limits.py", "access_is_fresh (chat/")),
    ("hops", ("asgiref/sync.py", "concurrent/futures/", "threading.py", "channels/db.py")),
    ("publish", ("publish (chat/live/hub.py", "_group_send (chat/live/hub.py")),
    ("reply", ("composer (chat/live/frames.py", "reply (chat/live/feed.py")),
    (
        "deliver",
        ("_read (chat/live/hub.py", "dispatch (chat/live/hub.py", "_write (chat/live/writer.py", "handle_reply ("),
    ),
    ("receive", ("receive (chat/consumers.py", "onMessage (daphne/", "dataReceived (", "websocket_receive (")),
)


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, markers in STAGES:
            if any(marker in frame for marker in markers):
                return stage
    return "other"


def stages(collapsed: Path) -> tuple[Counter, int]:
    """Samples per stage of a message's path (STAGES), and all samples."""
    counts, samples = Counter(), 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if frame and not frame.startswith(("process ", "thread "))]
        if frames and count_text.isdigit():
            counts[stage_of(frames)] += int(count_text)
            samples += int(count_text)
    return counts, samples


def stage_report(collapsed: Path, step: dict, room_size: int) -> str:
    """CPU per message by stage: the step's server CPU per message (Redis apart), split as the samples are (work
    done without the GIL, SQLite's and the event loop's C code, is spread over the stages in proportion)."""
    counts, samples = stages(collapsed)
    if not samples or not step.get("achieved"):
        return "no samples"
    messages = step["achieved"] / room_size
    app_cpu = sum(cpu for role, cpu in step["cpu"].items() if role != "redis")
    per_message = app_cpu * 1e4 / messages  # % of a core over 1 s -> µs per message
    redis = step["cpu"].get("redis", 0.0) * 1e4 / messages
    lines = [
        f"{messages:.0f} messages/s ({step['achieved']} deliveries/s), p50 {step['p50']} p99 {step['p99']} ms",
        f"server CPU per message: {per_message:,.0f} µs (+ Redis {redis:,.0f} µs); {samples} samples",
        "stage      share   µs/message",
    ]
    for stage in [name for name, _ in STAGES] + ["other"]:
        share = counts[stage] / samples
        lines.append(f"{stage:9} {100 * share:5.1f}%  {share * per_message:9,.0f}")
    return "\n".join(lines)


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


async def start_recorder(stack: Stack, seconds: float, out: Path, gil: bool = False) -> asyncio.subprocess.Process:
    """py-spy sampling the stack's first server (not Redis) for `seconds`, on the load generator's core.

    With `gil`, only the thread holding the GIL is sampled: py-spy counts a thread waiting for the GIL as busy, so
    with the event loop and the database thread both busy, waits showed up as time in whatever line the database
    thread waited at (a regex search "took" 6.6% of the samples, 0.5 µs when timed alone)."""
    pid = next(pid for role, pid in stack.pids.items() if role != "redis")
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    argv += ["--gil"] if gil else []
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


async def profile_step(ctx: Context, args: argparse.Namespace, out: Path) -> dict:
    """One step of fan-out at a fixed rate, recorded whole; returns the step's figures."""
    sizes = Sizes(**{**FULL.__dict__, "fanout_sockets": args.sockets})
    sockets = await connect(ctx, args.sockets, sizes)
    room_size = len(sockets) // len(ctx.rooms)
    await run_step(ctx, sockets, room_size, 1000 / room_size, 3, sizes, label="warm-up")
    if args.cprofile:
        return await cprofile_step(ctx, args, sockets, room_size, sizes, out)
    recorder = await start_recorder(ctx.stack, args.seconds, out, gil=args.stages)
    try:
        return await run_step(ctx, sockets, room_size, args.deliveries / room_size, args.seconds, sizes)
    finally:
        await stop_recorder(recorder, 30)


async def cprofile_step(
    ctx: Context, args: argparse.Namespace, sockets: list, room_size: int, sizes: Sizes, out: Path
) -> dict:
    """The step under bench/cprofile_serve.py: counted from its start to its end, written to `out`."""
    pid = next(pid for role, pid in ctx.stack.pids.items() if role != "redis")
    os.kill(pid, signal.SIGUSR1)
    step = await run_step(ctx, sockets, room_size, args.deliveries / room_size, args.seconds, sizes)
    path = cprofile_path(pid)
    await signal_for_file(pid, signal.SIGUSR2, path, "cProfile's counts", 30)
    shutil.move(path, out)
    return step


def cprofile_report(out: Path, step: dict, room_size: int, top: int) -> str:
    """The event loop's thread: CPU per message by function (inclusive and own), from cProfile's counts."""
    stats = pstats.Stats(str(out))
    messages = step["sent"]  # the profile runs from the step's start until every reply and delivery is in
    rows = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)  # type: ignore[attr-defined]
    lines = [f"event loop thread, per message ({messages:.0f} messages): inclusive µs, own µs, calls per message"]
    for (path, line, name), (_, calls, own, inclusive, _) in rows[:top]:
        where = f"{name} ({Path(path).name}:{line})"
        lines.append(f"{inclusive * 1e6 / messages:9.0f} {own * 1e6 / messages:8.0f} {calls / messages:7.1f}  {where}")
    return "\n".join(lines)


async def profile_scenario(ctx: Context, args: argparse.Namespace, out: Path) -> None:
    """A whole scenario of bench.run (full sizes), recorded from start to end."""
    recorder = await start_recorder(ctx.stack, 3600, out)
    try:
        row = await SCENARIOS[args.scenario](ctx, FULL)
        print({k: v for k, v in row.items() if k not in ("steps", "missing_examples")})
    finally:
        await stop_recorder(recorder, 0)


async def load_and_record(bench: Bench, stack: Stack, rooms: list, args: argparse.Namespace, out: Path) -> dict:
    ctx = Context(bench, stack, rooms)
    try:
        if args.scenario:
            await profile_scenario(ctx, args, out)
            return {}
        return await profile_step(ctx, args, out)
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
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile the event loop's thread instead of py-spy (no --scenario)"
    )
    parser.add_argument(
        "--stages", action="store_true", help="sample the GIL's holder only; add CPU per message by stage"
    )
    args = parser.parse_args(argv)
    if not args.cprofile:
        py_spy()
    raise_nofile()
    pin_client()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    spec = replace(STACKS[args.stack], server="daphne-cprofile") if args.cprofile else STACKS[args.stack]
    users = max(args.sockets, FULL.idle_sockets if args.scenario else 0) + FULL.storm_rooms
    with tempfile.TemporaryDirectory() as tmp, bench_environment(users) as bench:
        out = args.output or Path(tmp) / "profile.txt"
        count = ROOMS_OF[args.scenario](FULL) if args.scenario else args.rooms
        sockets = SOCKETS_OF[args.scenario](FULL) if args.scenario else args.sockets
        rooms = make_rooms(bench, spec, "profile", count, sockets)
        with running(bench, spec) as stack:
            step = asyncio.run(load_and_record(bench, stack, rooms, args, out))
        if args.cprofile:
            print(cprofile_report(out, step, args.sockets // args.rooms, args.top))
            return 0
        print(report(out, args.top))
        if args.stages and step:
            print("\nCPU per message by stage:\n" + stage_report(out, step, args.sockets // args.rooms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
