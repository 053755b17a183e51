"""The servers under test, and the shared environment (database, users) of one bench run."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import fixtures
from .loadgen import Load, Target, message_body
from .procs import CLIENT_CORE, SERVER_CORE, UVICORN_LIB, Procs, bare_argv, free_port, redis_argv, server_argv


@dataclass(frozen=True)
class StackSpec:
    name: str
    kind: str  # "bare", "classic" or "app"
    processes: int = 1
    redis: bool = False
    cores: tuple[int, ...] = (SERVER_CORE,)  # server i runs on cores[i % len(cores)]
    server: str = "daphne"  # see procs.SERVERS

    @property
    def django(self) -> bool:
        return self.kind != "bare"


STACKS = {
    spec.name: spec
    for spec in (
        StackSpec("bare", "bare"),
        StackSpec("classic", "classic", redis=True),
        StackSpec("app-memory-1proc", "app"),
        StackSpec("app-redis-1proc", "app", redis=True),
        StackSpec("app-redis-2proc", "app", processes=2, redis=True),
        # Not in the default plan: the second server shares the load generator's core.
        StackSpec("app-redis-2proc-2cores", "app", processes=2, redis=True, cores=(SERVER_CORE, CLIENT_CORE)),
        # Not in the default plan either: the same app served otherwise.
        StackSpec("app-redis-1proc-asyncio", "app", redis=True, server="daphne-asyncio"),
        StackSpec("app-redis-1proc-uvicorn", "app", redis=True, server="uvicorn"),
    )
}
APPLICATIONS = {"app": "project.asgi:application", "classic": "bench.classic.asgi:application"}


@dataclass
class Bench:
    """One run: a temporary directory with the SQLite database, its users and sessions, and every process."""

    directory: Path
    secret_key: str
    users: list[tuple[str, int]]  # (session key, user id) of each bench user
    procs: Procs
    frame_bytes: int = 2000  # size of the app's live message frame; the bare control matches it

    @property
    def db_path(self) -> Path:
        return self.directory / "bench.sqlite3"

    def env(self, redis_url: str = "") -> dict[str, str]:
        return fixtures.server_env(self.db_path, self.secret_key, redis_url)


@contextmanager
def bench_environment(users: int, keep: bool = False) -> Iterator[Bench]:
    """Migrate a fresh database, set Django up here, make `users` signed-in users; stop everything on exit."""
    directory = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    procs = Procs(directory)
    bench = Bench(directory, fixtures.new_secret_key(), [], procs)
    try:
        env = bench.env()
        fixtures.migrate(env)
        fixtures.setup_django(env)
        bench.users = fixtures.make_sessions(users)
        bench.frame_bytes = fixtures.sample_frame_bytes(bench.users[0][1], message_body(0, 0))
        yield bench
    finally:
        procs.stop_all()
        if keep:
            print(f"bench files kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Stack:
    """A running stack: its ports and the processes to measure (role -> pid)."""

    spec: StackSpec
    ports: list[int]
    pids: dict[str, int]


# Flood control as the app ships it (5 frames/s, bursts of 10 per user), for scenarios whose load spreads over
# enough users to stay under it; the others lift it (fixtures.server_env).
FLOOD_CONTROL_LIFTED = ("CHAT_RATE_PER_SECOND", "CHAT_RATE_BURST")


@contextmanager
def running(bench: Bench, spec: StackSpec, flood_control: bool = False) -> Iterator[Stack]:
    """Start a stack's processes (servers on the server core); stop them on exit, whatever happens."""
    started = []
    try:
        redis_url = ""
        if spec.redis:
            port = free_port()
            started.append(bench.procs.start("redis", port, redis_argv(port), bench.env()))
            redis_url = f"redis://127.0.0.1:{port}/0"
        env = bench.env(redis_url)
        if flood_control:
            env = {k: v for k, v in env.items() if k not in FLOOD_CONTROL_LIFTED}
        for index in range(spec.processes):
            port = free_port()
            if spec.kind == "bare":
                argv = bare_argv(port, bench.frame_bytes)
            else:
                argv = server_argv(spec.server, port, APPLICATIONS[spec.kind])
            core = spec.cores[index % len(spec.cores)]
            proc_env = {**env, "PYTHONPATH": str(UVICORN_LIB)} if spec.server == "uvicorn" else env
            started.append(bench.procs.start(f"{spec.kind}-{index}", port, argv, proc_env, core))
        bench.procs.wait_listening(started)
        servers = [proc for proc in started if proc.role != "redis"]
        redis = [proc for proc in started if proc.role == "redis"]
        yield Stack(spec, [p.port for p in servers], {p.role: p.pid for p in [*servers, *redis]})
    finally:
        for proc in reversed(started):
            bench.procs.stop(proc)


@dataclass
class Context:
    """One scenario on one stack: its rooms, its sockets, and where each socket goes."""

    bench: Bench
    stack: Stack
    rooms: list[tuple[int, str]]  # (primary key, slug); primary key 0 on the bare stack
    load: Load = field(init=False)

    def __post_init__(self) -> None:
        self.load = Load(len(self.rooms))

    def target(self, index: int) -> Target:
        """Socket i: room i mod R; the members of a room alternate between processes; one user per socket."""
        rooms, ports = len(self.rooms), self.stack.ports
        return Target(
            port=ports[(index // rooms) % len(ports)],
            slug=self.rooms[index % rooms][1],
            room=index % rooms,
            session=self.bench.users[index % len(self.bench.users)][0],
        )

    async def room_ends(self) -> dict[int, int]:
        """Each room's newest seq: from the database, or on the bare stack from what was sent."""
        if not self.stack.spec.django:
            return {room: self.load.sent_per_room[room] for room in range(len(self.rooms))}
        by_pk = await asyncio.to_thread(fixtures.last_seqs, [pk for pk, _ in self.rooms])
        return {index: by_pk.get(pk, 0) for index, (pk, _) in enumerate(self.rooms)}


def make_rooms(bench: Bench, spec: StackSpec, label: str, count: int, sockets: int) -> list[tuple[int, str]]:
    """Fresh rooms for a scenario; the users of its first `sockets` sockets become members (as Context.target)."""
    if not spec.django:
        return [(0, f"{label}-{i}") for i in range(count)]
    rooms = fixtures.make_rooms(f"{label} {spec.name}", count, bench.users[0][1])
    users = bench.users
    fixtures.add_members({(users[i % len(users)][1], rooms[i % count][0]) for i in range(sockets)})
    return rooms
