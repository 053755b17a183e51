"""What every scenario stands on: the sizes of a run, connecting, and a step of load at a fixed rate and the
ladder of steps (fanout, spread, rooms), each summarised as one row (bench/scenarios.py holds the scenarios)."""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from .loadgen import Socket, StepStats
from .procs import Window
from .stacks import Context

P99_LIMIT_MS = 250.0
# Offered deliveries per second (messages/s x room size), with 10,000 on every ladder;
# down from the first step if that one fails already.
LADDER_FULL = (1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000)
LADDER_QUICK = (1_000, 3_000, 10_000, 30_000, 100_000)
LADDER_DOWN = (500, 200)
MAX_SAMPLES = 10_000
GIVE_UP_SECONDS = 1.0  # a step stops sending (and fails) once a delivery or a reply is this late (or half the step)
NOISY_CPU = 10.0  # % of a core used by processes outside the bench: flagged in the notes
LIGHT_CPU = 25.0  # % of a core: a step this light skips the next one (10,000/s is never skipped)
WARM_UP_DELIVERIES = 1_000  # per second, for one step before each ladder (first connections, caches)


@dataclass(frozen=True)
class Sizes:
    fanout_sockets: int
    lowrate_seconds: float  # one message a second into the fanout room for this long
    spread_rooms: int
    spread_members: int
    idle_sockets: int
    idle_rooms: int
    idle_seconds: float
    storm_sockets: int
    storm_rooms: int
    storm_backlog: int  # messages per room sent while the storm's sockets are away
    storm_limit: float  # seconds the returning sockets get to catch up
    fanout_step: float
    spread_step: float
    warm_up: float
    ladder: tuple[int, ...]
    bisect: bool  # one more step between the last pass and the first failure
    idle_settle: float  # the idle sockets are at rest once no presence update came for this long
    connect_concurrency: int
    drain_stall: float  # a drain ends after this long without a new delivery...
    drain_limit: float  # ...or after this long in all
    recover_limit: float  # the same after an overloaded step, and at the end


FULL = Sizes(
    fanout_sockets=1000,
    lowrate_seconds=30.0,
    spread_rooms=100,
    spread_members=10,
    idle_sockets=5000,
    idle_rooms=100,
    idle_seconds=20.0,
    storm_sockets=5000,
    storm_rooms=50,
    storm_backlog=20,
    storm_limit=60.0,
    fanout_step=8.0,
    spread_step=3.0,
    warm_up=1.0,
    ladder=LADDER_FULL,
    bisect=True,
    idle_settle=5.0,
    connect_concurrency=200,
    drain_stall=2.0,
    drain_limit=10.0,
    recover_limit=60.0,
)
QUICK = Sizes(
    fanout_sockets=100,
    lowrate_seconds=5.0,
    spread_rooms=10,
    spread_members=10,
    idle_sockets=200,
    idle_rooms=10,
    idle_seconds=2.0,
    storm_sockets=50,
    storm_rooms=10,
    storm_backlog=20,
    storm_limit=15.0,
    fanout_step=1.0,
    spread_step=1.0,
    warm_up=0.3,
    ladder=LADDER_QUICK,
    bisect=False,
    idle_settle=1.0,
    connect_concurrency=100,
    drain_stall=0.3,
    drain_limit=3.0,
    recover_limit=15.0,
)


def row(ctx: Context, scenario: str, sockets: int, **values: Any) -> dict[str, Any]:
    base = {"stack": ctx.stack.spec.name, "scenario": scenario, "sockets": sockets, "rooms": len(ctx.rooms)}
    return {**base, **values}


async def sample_until_cancelled(window: Window, period: float = 1.0) -> None:
    for _ in range(MAX_SAMPLES):
        await asyncio.sleep(period)
        window.sample()


def measured_pids(ctx: Context) -> dict[str, int]:
    return {**ctx.stack.pids, "client": os.getpid()}


def split_usage(measured: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Servers' CPU and RSS apart from the load generator's CPU and the rest of the machine's."""
    servers = {role: values for role, values in measured.items() if role not in ("client", "others")}
    return {
        "cpu": {role: values["cpu"] for role, values in servers.items()},
        "rss_mib": {role: values["rss_mib"] for role, values in servers.items()},
        "client_cpu": measured["client"]["cpu"],
        "others_cpu": measured["others"]["cpu"],
    }


async def connect(ctx: Context, count: int, sizes: Sizes) -> list[Socket]:
    sockets, errors = await ctx.load.open_many(((ctx.target(i), 0) for i in range(count)), sizes.connect_concurrency)
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} sockets did not open, e.g. {errors[0]}")
    return sockets


async def settle(ctx: Context, sizes: Sizes) -> dict[int, int]:
    """After overload: wait for replies to everything sent, then for every delivery; returns the rooms' ends."""
    await ctx.load.wait_acks(ctx.load.sent_total, sizes.recover_limit)
    ends = await ctx.room_ends()
    await ctx.load.drain(ends, sizes.drain_stall * 2, sizes.recover_limit)
    return ends


# Stepped load (fanout and spread) ---------------------------------------------------------


async def run_step(
    ctx: Context, senders: list[Socket], room_size: int, rate: float, seconds: float, sizes: Sizes, label: str = ""
) -> dict:
    """Send `rate` messages/s for `seconds`, drain, and measure what the receivers saw."""
    load = ctx.load
    starts = await ctx.room_ends()
    base = load.reset_window()
    replies_before = load.acks + load.errors
    window = Window(measured_pids(ctx)).open()
    sampler = asyncio.create_task(sample_until_cancelled(window))

    late = min(GIVE_UP_SECONDS, seconds / 2)

    def overloaded(sent_so_far: int) -> bool:
        unanswered = sent_so_far - (load.acks + load.errors - replies_before)
        return load.worst_latency > late or unanswered > rate * late

    began = time.time()
    try:
        sent = await load.send_at_rate(senders, rate, seconds, overloaded)
    finally:
        sampler.cancel()
    ended = time.time()
    measured = window.close()
    gave_up = sent < max(1, round(rate * seconds))
    await load.wait_acks(replies_before + sent, sizes.drain_limit)
    ends = await ctx.room_ends()
    await load.drain(ends, sizes.drain_stall, sizes.drain_limit)
    lost = load.lost_between(starts, ends)
    stats = load.window_stats(began, ended + 1e-3, max(sent / rate, ended - began), sent, lost, base)
    step = step_record(ctx, rate, rate * room_size, stats, measured, gave_up)
    print_step(ctx, step, label)
    return step


def step_record(ctx: Context, rate: float, target: float, stats: StepStats, measured: dict, gave_up: bool) -> dict:
    """One step's figures; it passes with p99 <= 250 ms, nothing lost, duplicated or refused, and not cut short."""
    clean = not (stats.lost or stats.dup or stats.errors or gave_up)
    server_cpu = sum(measured[role]["cpu"] for role in ctx.stack.pids)
    return {
        "gave_up": gave_up,
        "cpu_us_per_delivery": round(server_cpu * 1e4 / stats.achieved, 1) if stats.achieved else None,
        "messages_per_second": round(rate, 3),
        "target": round(target),
        "achieved": round(stats.achieved),
        **{k: v for k, v in asdict(stats).items() if k != "seconds"},
        **split_usage(measured),
        "passed": clean and stats.p99 is not None and stats.p99 <= P99_LIMIT_MS,
    }


def print_step(ctx: Context, step: dict, label: str) -> None:
    cpu = "+".join(f"{v:.0f}" for v in step["cpu"].values())
    verdict = label or ("ok" if step["passed"] else "FAIL, stopped early" if step["gave_up"] else "FAIL")
    print(
        f"  {ctx.stack.spec.name:17} {step['target']:>7}/s -> {step['achieved']:>7}/s "
        f"p50 {step['p50']} p99 {step['p99']} ms lost {step['lost']} dup {step['dup']} err {step['errors']} "
        f"cpu {cpu}% client {step['client_cpu']:.0f}% others {step['others_cpu']:.0f}% {verdict}",
        flush=True,
    )


async def ladder(ctx: Context, senders: list[Socket], room_size: int, step_seconds: float, sizes: Sizes) -> dict:
    """Step the offered load up until p99 > 250 ms or loss (down if the first step fails), then bisect once."""
    steps: list[dict] = []

    async def step(target: float) -> dict:
        if steps and not steps[-1]["passed"]:  # let an overloaded server catch up first
            await settle(ctx, sizes)
        steps.append(await run_step(ctx, senders, room_size, target / room_size, step_seconds, sizes))
        return steps[-1]

    await run_step(ctx, senders, room_size, WARM_UP_DELIVERIES / room_size, sizes.warm_up, sizes, label="warm-up")
    best: dict | None = None
    failed: float | None = None
    skip = False
    for target in sizes.ladder:
        if skip and target != 10_000:
            skip = False
            continue
        if not (result := await step(target))["passed"]:
            failed = target
            break
        best = result
        skip = sum(result["cpu"].values()) < LIGHT_CPU  # far from saturation: skip the next step
    if failed is not None and best is None:
        for target in LADDER_DOWN:
            if (result := await step(target))["passed"]:
                best = result
                break
            failed = target
    if failed is not None and best is not None and sizes.bisect:
        if (result := await step(math.sqrt(best["target"] * failed)))["passed"]:
            best = result
    ends = await settle(ctx, sizes)
    return {
        "steps": steps,
        "best": best,
        "first_failure": next((s for s in steps if not s["passed"]), None),
        "at_10k": next((s for s in steps if s["target"] == 10_000), None),
        "lost_total": ctx.load.lost_between({}, ends),
        "missing_examples": ctx.load.missing_examples(ends),
        "dup_total": ctx.load.dups,
    }


def ladder_row(ctx: Context, scenario: str, sockets: int, result: dict) -> dict:
    best = result["best"] or result["steps"][0]
    notes = []
    if result["best"] is None:
        notes.append("no step passed; figures of the first step")
    if result["at_10k"] is not None:
        notes.append(f"p99 at 10,000/s: {result['at_10k']['p99']} ms")
    failure = result["first_failure"]
    if failure is not None:
        late = f", {failure['lost']} not delivered within the step's drain" if failure["lost"] else ""
        notes.append(f"failed at {failure['target']}/s: p99 {failure['p99']} ms{late}")
    if best["client_cpu"] > 90:
        notes.append(f"client CPU {best['client_cpu']:.0f}%: client-bound")
    noisy = max(step["others_cpu"] for step in result["steps"])
    if noisy > NOISY_CPU:
        notes.append(f"other processes used up to {noisy:.0f}% CPU during a step")
    return row(
        ctx,
        scenario,
        sockets,
        target=best["target"],
        achieved=best["achieved"] if result["best"] is not None else 0,
        p50=best["p50"],
        p95=best["p95"],
        p99=best["p99"],
        lost=result["lost_total"],
        dup=result["dup_total"],
        cpu=best["cpu"],
        cpu_us_per_delivery=best["cpu_us_per_delivery"],
        rss_mib=best["rss_mib"],
        client_cpu=best["client_cpu"],
        notes="; ".join(notes),
        steps=result["steps"],
        missing_examples=result["missing_examples"],
    )
