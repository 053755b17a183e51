"""`python -m project.serve` with cProfile on the event loop's thread, for bench.profile --cprofile.

py-spy samples show where the GIL's holder is, which overstates a thread the kernel stopped inside a call (a write
to Redis on the same core) and hides C code that runs without it. cProfile counts every call of the event loop's
thread and its CPU time (time.thread_time), at the price of running slower. On SIGUSR1 the server starts
afresh; on SIGUSR2 it writes what it counted since to cprofile_path(its pid) (pstats).
"""

from __future__ import annotations

import cProfile
import os
import signal
import tempfile
import time
from pathlib import Path


def cprofile_path(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"chat-bench-cprofile-{pid}.pstats"


def main() -> None:
    profiler = cProfile.Profile(time.thread_time)

    def restart(signum: int, frame: object) -> None:
        profiler.disable()
        profiler.clear()
        profiler.enable()

    def write(signum: int, frame: object) -> None:
        profiler.disable()
        path = cprofile_path(os.getpid())
        partial = path.with_suffix(".partial")
        profiler.dump_stats(str(partial))
        partial.rename(path)

    signal.signal(signal.SIGUSR1, restart)
    signal.signal(signal.SIGUSR2, write)
    from project.serve import main as serve

    profiler.enable()
    serve()


if __name__ == "__main__":
    main()
