"""`python -m project.serve` with its garbage collections timed, for bench.tail.

Every collection's generation, duration and CPU time are recorded (gc.callbacks). On SIGUSR2 the
server writes what it recorded since the last signal to gc_path(its pid, n), n = 0, 1, ... in order,
as JSON, with the CPU time a full collection takes then (it runs one), and starts afresh.
BENCH_GC replaces project.serve.tune_gc for a comparison: "off" (Python's defaults, nothing frozen)
or "freeze", "threshold=700,10,10", or both comma-joined ("freeze,threshold=...").
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path


def gc_path(pid: int, number: int) -> Path:
    return Path(tempfile.gettempdir()) / f"chat-bench-gc-{pid}-{number}.json"


def variant(spec: str):
    """A stand-in for project.serve.tune_gc, from BENCH_GC."""
    freeze = "freeze" in spec.split(",")
    threshold = [int(n) for n in spec.partition("threshold=")[2].split(",")[:3] if n] if "threshold=" in spec else []

    def tune_gc() -> None:
        if threshold:
            gc.set_threshold(*threshold)
        if freeze:
            gc.collect()
            gc.freeze()

    return tune_gc


def main() -> None:
    pauses: list[tuple[int, float, float]] = []  # generation, wall ms, CPU ms (this thread's)
    started = [0.0, 0.0]
    numbers = itertools.count()

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = time.perf_counter(), time.thread_time()
        else:
            wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
            pauses.append((info["generation"], wall * 1000, cpu * 1000))

    def write(signum: int, frame: object) -> None:
        path = gc_path(os.getpid(), next(numbers))
        recorded = list(pauses)
        began = time.thread_time()
        gc.collect()  # what a full collection costs now (CPU time), between two steps
        full_now = (time.thread_time() - began) * 1000
        pauses.clear()
        stats = {"pauses": recorded, "full_now_cpu_ms": full_now, "tracked": len(gc.get_objects())}
        stats["frozen"] = gc.get_freeze_count()
        path.with_suffix(".partial").write_text(json.dumps(stats))
        path.with_suffix(".partial").rename(path)

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR2, write)
    import project.serve

    spec = os.environ.get("BENCH_GC", "")
    if spec:
        project.serve.tune_gc = variant("" if spec == "off" else spec)
    print(f"gc: {spec or 'as project.serve'}", file=sys.stderr, flush=True)
    project.serve.main()


if __name__ == "__main__":
    main()
