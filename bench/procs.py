"""Server processes for the benchmark: start, pin, measure and always stop them."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Not resolved: a checkout that links bench/ in runs against its own app.
ROOT = Path(__file__).absolute().parent.parent
BIN = Path(sys.executable).parent
DAPHNE = str(BIN / "daphne")
SERVER_CORE = 0
CLIENT_CORE = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# Taken at import, before this process pins itself to the client core.
CPUS = frozenset(os.sched_getaffinity(0))


def can_pin() -> bool:
    return {SERVER_CORE, CLIENT_CORE} <= CPUS


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pin_client() -> None:
    """The load generator (this process) runs on its own core."""
    if can_pin():
        os.sched_setaffinity(0, {CLIENT_CORE})


def _server_preexec(core: int | None) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        raise_nofile()
        if core is not None:
            os.sched_setaffinity(0, {core})

    return preexec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not listen within {timeout:.0f} s:\n{tail(log)}")


async def signal_for_file(pid: int, signum: int, path: Path, what: str, limit: float) -> None:
    """Signal a server to write `path` (a heap snapshot, its collector's record) and wait until it has."""
    os.kill(pid, signum)
    began = time.monotonic()
    while not path.exists():  # noqa: ASYNC240  # a stat between sleeps, in a bench client: no thread needed
        if time.monotonic() - began > limit:
            raise RuntimeError(f"the server wrote no {what} within {limit:.0f} s")
        await asyncio.sleep(0.1)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Proc:
    """One started process, its log and its role (shown in reports)."""

    role: str
    port: int
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Procs:
    """Every process the bench started; `stop_all` ends each of them by its own pid."""

    log_dir: Path
    pin: bool = field(default_factory=can_pin)
    started: list[Proc] = field(default_factory=list)

    def start(self, role: str, port: int, argv: list[str], env: dict[str, str], core: int = SERVER_CORE) -> Proc:
        """Spawn a process (pinned to `core`, open-file limit raised); see wait_listening."""
        log = self.log_dir / f"{role}-{port}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the bench, which stops them in order
                preexec_fn=_server_preexec(core if self.pin else None),
            )
        proc = Proc(role, port, popen, log)
        self.started.append(proc)
        return proc

    def wait_listening(self, procs: list[Proc]) -> None:
        """Until each started process accepts connections on its port (they start side by side)."""
        for proc in procs:
            wait_for_port(proc.port, proc.popen, proc.log)

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        if proc.alive():
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout)
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.started)):
            self.stop(proc)


def redis_argv(port: int) -> list[str]:
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


# How a stack serves the ASGI app: as `make run` does (daphne on uvloop), daphne on
# its default asyncio loop, or uvicorn, for comparison. uvicorn is installed apart
# (`make bench`), never into the app's environment: it brings click, and with click
# importable autobahn colours the debug text it formats for every frame it sends
# (7.5 µs a frame here instead of 2.7, about a tenth of daphne's cost per frame).
SERVERS = ("daphne", "daphne-asyncio", "daphne-traced", "daphne-gc", "daphne-cprofile", "uvicorn")
UVICORN_LIB = ROOT / "bench" / ".uvicorn"


def server_argv(server: str, port: int, application: str) -> list[str]:
    if server == "uvicorn":
        options = ["--loop", "uvloop", "--ws", "websockets", "--ws-max-size", "65536", "--no-access-log"]
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), *options, application]
    if server == "daphne":  # as `make run`: its options are project/serve.py's
        return [sys.executable, "-m", "project.serve", "-b", "127.0.0.1", "-p", str(port), application]
    if server == "daphne-traced":  # the same with tracemalloc on (bench.memory)
        return [sys.executable, "-m", "bench.traced_serve", "-b", "127.0.0.1", "-p", str(port), application]
    if server == "daphne-cprofile":  # the same with cProfile on the event loop's thread (bench.profile --cprofile)
        return [sys.executable, "-m", "bench.cprofile_serve", "-b", "127.0.0.1", "-p", str(port), application]
    if server == "daphne-gc":  # the same with its garbage collections timed (bench.tail)
        return [sys.executable, "-m", "bench.gc_serve", "-b", "127.0.0.1", "-p", str(port), application]
    from project.serve import DEFAULTS  # the same options on daphne's own loop

    return [DAPHNE, "-b", "127.0.0.1", "-p", str(port), *DEFAULTS, application]


def bare_argv(port: int, frame_bytes: int) -> list[str]:
    return [sys.executable, "-m", "bench.bare_server", "--port", str(port), "--frame-bytes", str(frame_bytes)]


# Measuring ----------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    rss_kib: int


def usage(pid: int) -> Usage:
    """CPU time (user + system, all threads) and resident memory of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, see proc(5)).
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return Usage(cpu, rss)


def machine_busy_seconds() -> float:
    """User + nice + system time of all CPUs (not idle, I/O wait or interrupts), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return sum(int(value) for value in fields[1:4]) / CLOCK_TICKS


@dataclass
class Window:
    """CPU % and peak RSS of some processes over a stretch of wall time."""

    pids: dict[str, int]
    started_at: float = 0.0
    start: dict[str, Usage] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)

    busy_at_start: float = 0.0

    def open(self) -> Window:
        self.started_at = time.monotonic()
        self.busy_at_start = machine_busy_seconds()
        self.start = {role: usage(pid) for role, pid in self.pids.items()}
        self.peak_rss = {role: u.rss_kib for role, u in self.start.items()}
        return self

    def sample(self) -> None:
        for role, pid in self.pids.items():
            self.peak_rss[role] = max(self.peak_rss.get(role, 0), usage(pid).rss_kib)

    def close(self) -> dict[str, dict[str, float]]:
        """Per process: CPU % of one core over the window and peak RSS in MiB; "others": everything else."""
        elapsed = max(time.monotonic() - self.started_at, 1e-6)
        result, ours = {}, 0.0
        for role, pid in self.pids.items():
            now = usage(pid)
            self.peak_rss[role] = max(self.peak_rss.get(role, 0), now.rss_kib)
            ours += now.cpu_seconds - self.start[role].cpu_seconds
            cpu = (now.cpu_seconds - self.start[role].cpu_seconds) / elapsed * 100
            result[role] = {"cpu": round(cpu, 1), "rss_mib": round(self.peak_rss[role] / 1024, 1)}
        others = max(0.0, machine_busy_seconds() - self.busy_at_start - ours) / elapsed * 100
        result["others"] = {"cpu": round(others, 1), "rss_mib": 0.0}
        return result
