"""The scenarios: fanout, spread, rooms, lowrate, idle and storm, each run on one stack and summarised as one row.

Their sizes, steps and ladder are bench/steps.py's."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from .loadgen import Load, Socket, Target, percentile, poll
from .procs import Window, usage
from .stacks import Context
from .steps import (  # noqa: F401 - FULL, QUICK, Sizes, P99_LIMIT_MS and NOISY_CPU are read from here by bench.run
    FULL,
    NOISY_CPU,
    P99_LIMIT_MS,
    QUICK,
    Sizes,
    connect,
    ladder,
    ladder_row,
    measured_pids,
    row,
    run_step,
    sample_until_cancelled,
    settle,
    split_usage,
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
