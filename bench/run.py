"""Run the fan-out benchmarks: python -m bench.run [--quick] [--json out.json] [--scenario NAME] [--stack NAME]."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import scenarios
from .procs import ROOT, can_pin, machine_busy_seconds, pin_client, raise_nofile
from .scenarios import (
    FULL,
    LATENCY_SCENARIOS,
    OPTIONAL_STACKS_OF,
    QUICK,
    ROOMS_OF,
    SCENARIOS,
    SOCKETS_OF,
    STACKS_OF,
    Sizes,
)
from .stacks import STACKS, Bench, Context, Stack, bench_environment, make_rooms, running

COLUMNS = (
    "stack",
    "scenario",
    "sockets",
    "rooms",
    "target/s",
    "achieved/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "lost",
    "dup",
    "server CPU %",
    "CPU µs/delivery",
    "RSS MiB",
    "x bare",
    "x classic",
    "x classic, CPU/delivery",
    "notes",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and short steps (under 2 minutes)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="repeatable; default: all")
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="repeatable; default: all")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and server logs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle for 30 s (others under 10%% of a core)",
    )
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    def lscpu_model() -> str:
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        except OSError:
            return platform.processor()
        return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")

    def app_version() -> str:
        def git(*argv: str) -> str:
            try:
                return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=5).stdout
            except OSError:
                return ""

        commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
        dirty = git("status", "--porcelain", "--", "chat", "project", "templates").strip()
        return f"{commit} with uncommitted changes" if dirty else commit

    return {
        "app_commit": app_version(),
        "nproc": os.cpu_count(),
        "cpu": lscpu_model(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "pinned": "servers on core 0, load generator on core 1" if can_pin() else "not pinned (one core)",
    }


def wait_quiet(limit: float, period: float = 3.0, needed: int = 10) -> None:
    """Wait (at most `limit` seconds) until the rest of the machine has used under 10% of a core for 30 s."""
    quiet = 0
    for _ in range(max(1, int(limit / period))):
        before = machine_busy_seconds()
        time.sleep(period)
        busy = (machine_busy_seconds() - before) / period * 100
        quiet = quiet + 1 if busy < scenarios.NOISY_CPU else 0
        if quiet >= needed:
            return
        if not quiet:
            print(f"waiting for a quiet machine: other processes use {busy:.0f}% CPU", flush=True)
    print("the machine did not get quiet; measuring anyway (see the notes column)", flush=True)


def run_one(bench: Bench, scenario: str, stack_name: str, sizes: Sizes) -> dict[str, Any]:
    spec = STACKS[stack_name]
    print(f"{scenario} on {stack_name}", flush=True)
    rooms = make_rooms(bench, spec, scenario, ROOMS_OF[scenario](sizes), SOCKETS_OF[scenario](sizes))
    with running(bench, spec, flood_control=scenario in scenarios.FLOOD_CONTROL_ON) as stack:
        started = time.monotonic()
        result = asyncio.run(run_scenario(bench, stack, rooms, scenario, sizes))
        result["seconds"] = round(time.monotonic() - started, 1)
    return result


async def run_scenario(
    bench: Bench, stack: Stack, rooms: list[tuple[int, str]], scenario: str, sizes: Sizes
) -> dict[str, Any]:
    ctx = Context(bench, stack, rooms)  # inside the event loop: the load belongs to it
    try:
        return await SCENARIOS[scenario](ctx, sizes)
    finally:
        ctx.load.close_all()
        await asyncio.sleep(0.2)  # let the close frames go out


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Best sustained deliveries/s of each stack relative to bare and classic in the same scenario; in a scenario
    at a fixed load (lowrate), the median latency relative to bare's, in the notes."""
    for row in rows:
        if "achieved" not in row:
            continue
        if row["scenario"] in LATENCY_SCENARIOS:
            bare = next((r for r in rows if r["stack"] == "bare" and r["scenario"] == row["scenario"]), None)
            if bare is not None and row is not bare and bare.get("p50") and row.get("p50"):
                row["notes"] += f"; p50 {row['p50'] / bare['p50']:.1f}x bare's ({bare['p50']} ms)"
            continue
        for control in ("bare", "classic"):
            other = next((r for r in rows if r["stack"] == control and r["scenario"] == row["scenario"]), None)
            if other is None:
                continue
            if other.get("achieved"):
                row[f"x_{control}"] = round(row["achieved"] / other["achieved"], 2)
            elif row.get("achieved"):
                row[f"x_{control}"] = f"inf ({control} passed no step)"
            if control == "classic" and other.get("cpu_us_per_delivery") and row.get("cpu_us_per_delivery"):
                row["x_classic_cost"] = round(other["cpu_us_per_delivery"] / row["cpu_us_per_delivery"], 2)


def per_process(values: dict[str, float], total: bool) -> str:
    if not values:
        return ""
    parts = ", ".join(f"{role} {value:g}" for role, value in values.items())
    if len(values) == 1:
        return f"{next(iter(values.values())):g}"
    return f"{sum(values.values()):.1f} ({parts})" if total else parts


def cells(row: dict[str, Any]) -> list[str]:
    def show(key: str) -> str:
        value = row.get(key)
        return "-" if value is None or value == "" else f"{value:,}" if isinstance(value, int) else str(value)

    return [
        show("stack"),
        show("scenario"),
        show("sockets"),
        show("rooms"),
        show("target"),
        show("achieved"),
        show("p50"),
        show("p95"),
        show("p99"),
        show("lost"),
        show("dup"),
        per_process(row.get("cpu", {}), total=True),
        show("cpu_us_per_delivery"),
        per_process(row.get("rss_mib", {}), total=False),
        show("x_bare"),
        show("x_classic"),
        show("x_classic_cost"),
        show("notes"),
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    chosen = args.scenario or list(SCENARIOS)
    if not args.stack:
        return [(s, stack) for s in chosen for stack in STACKS_OF[s]]
    allowed = {s: (*STACKS_OF[s], *OPTIONAL_STACKS_OF.get(s, ())) for s in chosen}
    return [(s, stack) for s in chosen for stack in STACKS if stack in args.stack and stack in allowed[s]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    raise_nofile()
    pin_client()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop servers on SIGTERM as on Ctrl-C
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    info = machine()
    print(f"machine: {info}", flush=True)
    users = max(SOCKETS_OF[scenario](sizes) for scenario in SCENARIOS) + sizes.storm_rooms
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with bench_environment(users, keep=args.keep) as bench:
            info["message_frame_bytes"] = bench.frame_bytes
            for scenario, stack in plan(args):
                rows.append(run_one(bench, scenario, stack, sizes))
    except KeyboardInterrupt:
        print("interrupted: every server was stopped", file=sys.stderr)
        return 130
    finally:
        add_ratios(rows)
        if rows:
            print()
            print(table(rows))
        print(f"\ntotal {time.monotonic() - started:.0f} s; target p99 limit {scenarios.P99_LIMIT_MS:g} ms")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
