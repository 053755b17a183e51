"""The scenarios: fanout, spread, rooms, lowrate, idle and storm, each run on one stack and summarised as one row."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from .loadgen import Load, Socket, StepStats, Target, percentile, poll
from .procs import Window, usage
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


async def fanout(ctx: Context, sizes: Sizes) -> dict:
    """One room, every socket in it; everyone sends in turn."""
    sockets = await connect(ctx, sizes.fanout_sockets, sizes)
    await asyncio.sleep(0.5)
    result = await ladder(ctx, sockets, len(sockets), sizes.fanout_step, sizes)
    return ladder_row(ctx, "fanout", len(sockets), result)


async def spread(ctx: Context, sizes: Sizes) -> dict:
    """Many small rooms, all of them busy; each message from another member, under flood control."""
    sockets = await connect(ctx, sizes.spread_rooms * sizes.spread_members, sizes)
    await asyncio.sleep(0.5)
    result = await ladder(ctx, sockets, sizes.spread_members, sizes.spread_step, sizes)
    return ladder_row(ctx, "spread", len(sockets), result)


def rooms_of_five(sizes: Sizes) -> int:
    return sizes.spread_rooms * 10


async def rooms(ctx: Context, sizes: Sizes) -> dict:
    """More, smaller rooms: ten times spread's rooms of five (1,000 x 5 at full size), all busy."""
    members = ROOM_OF_FIVE
    sockets = await connect(ctx, rooms_of_five(sizes) * members, sizes)
    await asyncio.sleep(0.5)
    result = await ladder(ctx, sockets, members, sizes.spread_step, sizes)
    return ladder_row(ctx, "rooms", len(sockets), result)


ROOM_OF_FIVE = 5


# Low rate -------------------------------------------------------------------------------


LOWRATE_MESSAGES_PER_SECOND = 1.0


def per_message_spread(load: Load, start: float, end: float) -> tuple[float | None, float | None]:
    """Median over the window's messages of their first and of their last delivery's latency (ms): what a message
    costs before it fans out, and when the last page has it."""
    first: dict[float, float] = {}
    last: dict[float, float] = {}
    for at, latency in zip(load.sent_at, load.latency, strict=True):
        if start <= at < end:
            first[at] = min(first.get(at, latency), latency)
            last[at] = max(last.get(at, latency), latency)
    firsts, lasts = sorted(first.values()), sorted(last.values())
    median = percentile(firsts, 0.5), percentile(lasts, 0.5)
    return tuple(None if m is None else round(m * 1000, 1) for m in median)  # type: ignore[return-value]


async def lowrate(ctx: Context, sizes: Sizes) -> dict:
    """The fanout room at one message a second: the latency of a room that is not busy, and its CPU per delivery."""
    sockets = await connect(ctx, sizes.fanout_sockets, sizes)
    await asyncio.sleep(0.5)
    rate = LOWRATE_MESSAGES_PER_SECOND
    await run_step(ctx, sockets, len(sockets), rate, max(2.0, sizes.warm_up * 3), sizes, label="warm-up")
    # The servers' CPU with the same sockets and no messages (heartbeats, presence, daphne's timers): what a
    # delivery costs is the step's CPU above it.
    window = Window(measured_pids(ctx)).open()
    await asyncio.sleep(min(10.0, sizes.lowrate_seconds / 3))
    rest = split_usage(window.close())
    window_start = time.time()
    step = await run_step(ctx, sockets, len(sockets), rate, sizes.lowrate_seconds, sizes)
    first, last = per_message_spread(ctx.load, window_start, time.time())
    ends = await settle(ctx, sizes)
    rest_cpu, step_cpu = sum(rest["cpu"].values()), sum(step["cpu"].values())
    above_rest = round((step_cpu - rest_cpu) * 1e4 / step["achieved"], 1) if step["achieved"] else None
    notes = [
        f"{step['sent']} messages; per message (median): first page {first} ms, last page {last} ms",
        f"at rest {rest_cpu:.1f}% of a core; CPU per delivery above rest {above_rest} µs",
        f"client CPU {step['client_cpu']:.0f}%, other processes {step['others_cpu']:.0f}% of a core",
    ]
    return row(
        ctx,
        "lowrate",
        len(sockets),
        target=step["target"],
        achieved=step["achieved"],
        p50=step["p50"],
        p95=step["p95"],
        p99=step["p99"],
        lost=ctx.load.lost_between({}, ends),
        dup=ctx.load.dups,
        cpu=step["cpu"],
        cpu_us_per_delivery=step["cpu_us_per_delivery"],
        rss_mib=step["rss_mib"],
        client_cpu=step["client_cpu"],
        others_cpu=step["others_cpu"],
        first_page_ms=first,
        last_page_ms=last,
        rest_cpu=rest["cpu"],
        cpu_us_per_delivery_above_rest=above_rest,
        notes="; ".join(notes),
        steps=[step],
        missing_examples=ctx.load.missing_examples(ends),
    )


# Idle -------------------------------------------------------------------------------------


def frames_since(ctx: Context, before: Counter) -> Counter:
    """Frames without messages the sockets got since `before` (a copy of load.other_frames), by kind."""
    return ctx.load.other_frames - before


def describe_frames(frames: Counter) -> str:
    return ", ".join(f"{count:,} {kind}" for kind, count in frames.most_common(3)) or "none"


async def warm_up_rooms(ctx: Context, sizes: Sizes) -> None:
    """One socket per room and process, opened and closed: imports, templates and connections are warm."""
    warm = await connect(ctx, len(ctx.rooms) * len(ctx.stack.ports), sizes)
    await asyncio.sleep(sizes.idle_settle / 3)
    ctx.load.close_all(warm)
    await asyncio.sleep(sizes.idle_settle / 2)


async def quiet(ctx: Context, sizes: Sizes, limit: float = 120.0) -> float:
    """Until the presence updates of the last joins are over (none for idle_settle seconds); returns how long."""
    began = time.monotonic()
    last, last_change = ctx.load.other_frames["presence"], time.monotonic()
    while time.monotonic() - began < limit:
        await asyncio.sleep(0.5)
        if ctx.load.other_frames["presence"] != last:
            last, last_change = ctx.load.other_frames["presence"], time.monotonic()
        elif time.monotonic() - last_change >= sizes.idle_settle:
            break
    return time.monotonic() - began


async def idle(ctx: Context, sizes: Sizes) -> dict:
    """RSS per idle socket and CPU at rest (heartbeats included)."""
    await warm_up_rooms(ctx, sizes)
    servers = {role: pid for role, pid in ctx.stack.pids.items() if role != "redis"}
    before = {role: usage(pid).rss_kib for role, pid in servers.items()}
    frames_before, began = Counter(ctx.load.other_frames), time.monotonic()
    sockets, errors = await ctx.load.open_many(
        ((ctx.target(i), 0) for i in range(sizes.idle_sockets)), sizes.connect_concurrency
    )
    connect_seconds = time.monotonic() - began
    settled_in = await quiet(ctx, sizes)
    connecting_frames, frames_before = frames_since(ctx, frames_before), Counter(ctx.load.other_frames)
    window = Window(measured_pids(ctx)).open()
    sampler = asyncio.create_task(sample_until_cancelled(window))
    try:
        await asyncio.sleep(sizes.idle_seconds)
    finally:
        sampler.cancel()
    measured = split_usage(window.close())
    resting_frames = frames_since(ctx, frames_before)
    per_socket = sum(usage(pid).rss_kib - before[role] for role, pid in servers.items()) / max(len(sockets), 1)
    still_open = sum(s.is_open for s in sockets)
    notes = [
        f"{per_socket:.1f} KiB RSS per socket",
        f"opened {len(sockets)} in {connect_seconds:.1f} s ({len(sockets) / connect_seconds:.0f}/s)",
        f"presence updates ended {settled_in:.0f} s after the last opened",
        f"frames sent while they connected: {describe_frames(connecting_frames)}",
        f"at rest: {describe_frames(resting_frames)}",
    ]
    if measured["others_cpu"] > NOISY_CPU:
        notes.append(f"other processes used {measured['others_cpu']:.0f}% CPU meanwhile")
    if errors or still_open < len(sockets):
        notes.append(f"{len(errors)} failed to open, {len(sockets) - still_open} closed while idle")
    return row(
        ctx,
        "idle",
        len(sockets),
        rss_kib_per_socket=round(per_socket, 1),
        rss_before_mib={role: round(v / 1024, 1) for role, v in before.items()},
        connect_per_second=round(len(sockets) / connect_seconds),
        frames_while_connecting=dict(connecting_frames),
        frames_at_rest=dict(resting_frames),
        notes="; ".join(notes),
        **measured,
    )


# Storm ------------------------------------------------------------------------------------


async def storm_prepare(ctx: Context, sizes: Sizes) -> tuple[list[Socket], list[tuple[Target, int]], int]:
    """Members see one message per room and leave; writers then post the backlog. Returns writers and claims."""
    load, rooms = ctx.load, len(ctx.rooms)
    writers = await connect(ctx, rooms, sizes)  # one per room, connected throughout
    members, errors = await load.open_many(
        ((ctx.target(i), 0) for i in range(sizes.storm_sockets)), sizes.connect_concurrency
    )
    for writer in writers:
        load.send_one(writer, 0)
    await settle(ctx, sizes)
    claims = [(sock.target, sock.high) for sock in members]
    load.close_all(members)
    await asyncio.sleep(1.0)  # the servers see everyone leave
    backlog = sizes.storm_backlog * rooms
    await load.send_at_rate(writers, 200.0, backlog / 200.0)
    await load.wait_acks(load.sent_total, sizes.recover_limit)
    return writers, claims, len(errors)


async def storm(ctx: Context, sizes: Sizes) -> dict:
    """Everyone leaves, the rooms move on, everyone comes back at once claiming the last seq they saw."""
    load = ctx.load
    writers, claims, failed_first = await storm_prepare(ctx, sizes)
    load.goals = await ctx.room_ends()  # each returning socket must get at least this far
    base, frames_before = load.reset_window(), Counter(load.other_frames)
    window = Window(measured_pids(ctx)).open()
    # Light live traffic meanwhile; with the backlog it stays under a page (50), so no log reset is due.
    live = asyncio.create_task(load.send_at_rate(writers, 2.0, sizes.storm_limit + 30))
    began = time.time()
    back, errors = await load.open_many(claims, concurrency=len(claims), timeout=sizes.storm_limit)
    opened_in = time.time() - began
    for sock in back:
        if sock.reached_at is None and sock.high >= sock.goal:
            sock.reached_at = time.time()
    await poll(lambda: all(s.reached_at is not None for s in back), sizes.storm_limit)
    measured = split_usage(window.close())
    window_seconds = time.monotonic() - window.started_at
    # CPU time spent over the storm, robust to the machine's other load (which stretches the wall time).
    cpu_seconds = {role: round(cpu * window_seconds / 100, 2) for role, cpu in measured["cpu"].items()}
    others_seconds = round(measured["others_cpu"] * window_seconds / 100, 1)
    frames = frames_since(ctx, frames_before)
    await asyncio.sleep(2.0)
    live.cancel()
    ends = await settle(ctx, sizes)
    times = sorted(round((s.reached_at - began) * 1000, 1) for s in back if s.reached_at is not None)
    notes = [
        f"{len(times)}/{len(back)} caught up in {times[-1] / 1000:.2f} s" if times else "none caught up",
        f"handshakes done in {opened_in:.2f} s",
        f"{sizes.storm_backlog} missed messages per room",
        f"server CPU {sum(cpu_seconds.values()):.2f} s ({', '.join(f'{r} {v:g}' for r, v in cpu_seconds.items())}), "
        f"others {others_seconds:g} s over {window_seconds:.1f} s",
        f"frames without messages meanwhile: {describe_frames(frames)}",
    ]
    if measured["others_cpu"] > NOISY_CPU:
        notes.append(f"other processes used {measured['others_cpu']:.0f}% CPU meanwhile")
    if failed_first or errors:
        example = f", e.g. {errors[0]}" if errors else ""
        notes.append(f"{failed_first} + {len(errors)} sockets failed to open{example}")
    return row(
        ctx,
        "storm",
        len(back),
        p50=percentile(times, 0.5),
        p95=percentile(times, 0.95),
        p99=percentile(times, 0.99),
        caught_up_seconds=round(times[-1] / 1000, 2) if times and len(times) == len(back) else None,
        handshakes_seconds=round(opened_in, 2),
        cpu_seconds=cpu_seconds,
        lost=load.lost_since_claimed(ends, back),
        dup=load.dups - base[0],
        missing_examples=load.missing_examples(ends),
        frames_while_reconnecting=dict(frames),
        notes="; ".join(notes),
        **measured,
    )


SCENARIOS = {"fanout": fanout, "spread": spread, "rooms": rooms, "lowrate": lowrate, "idle": idle, "storm": storm}
# Run with the app's flood control (bench/stacks.py): every socket is its own user, and messages go round them.
FLOOD_CONTROL_ON = ("spread", "rooms")
# Scenarios compared by latency at a fixed load, not by the highest load they pass (bench.run's ratios).
LATENCY_SCENARIOS = ("lowrate",)
# Default plan; `--stack` may also pick the optional app-redis-2proc-2cores for fanout and spread.
STACKS_OF = {
    "fanout": ("bare", "classic", "app-memory-1proc", "app-redis-1proc", "app-redis-2proc"),
    "spread": ("bare", "classic", "app-memory-1proc", "app-redis-1proc", "app-redis-2proc"),
    "rooms": ("bare", "app-redis-1proc"),
    "lowrate": ("bare", "app-redis-1proc"),
    "idle": ("app-memory-1proc", "app-redis-1proc", "app-redis-2proc"),
    "storm": ("app-memory-1proc", "app-redis-1proc", "app-redis-2proc"),
}
SERVER_VARIANTS = ("app-redis-1proc-asyncio", "app-redis-1proc-uvicorn")
OPTIONAL_STACKS_OF = {
    "fanout": ("app-redis-2proc-2cores", *SERVER_VARIANTS),
    "spread": ("app-redis-2proc-2cores", *SERVER_VARIANTS),
    "rooms": ("classic", "app-memory-1proc", "app-redis-2proc"),
    "lowrate": ("classic", "app-memory-1proc", "app-redis-2proc", *SERVER_VARIANTS),
    "idle": SERVER_VARIANTS,
    "storm": SERVER_VARIANTS,
}
ROOMS_OF = {
    "fanout": lambda sizes: 1,
    "spread": lambda sizes: sizes.spread_rooms,
    "rooms": rooms_of_five,
    "lowrate": lambda sizes: 1,
    "idle": lambda sizes: sizes.idle_rooms,
    "storm": lambda sizes: sizes.storm_rooms,
}
SOCKETS_OF = {
    "fanout": lambda sizes: sizes.fanout_sockets,
    "spread": lambda sizes: sizes.spread_rooms * sizes.spread_members,
    "rooms": lambda sizes: rooms_of_five(sizes) * ROOM_OF_FIVE,
    "lowrate": lambda sizes: sizes.fanout_sockets,
    "idle": lambda sizes: sizes.idle_sockets,
    "storm": lambda sizes: sizes.storm_sockets,
}
