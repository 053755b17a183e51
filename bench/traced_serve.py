"""`python -m project.serve` with tracemalloc on, for bench.memory.

On SIGUSR1 the server collects garbage and writes a snapshot of its Python heap to snapshot_path(its pid, n),
n = 0, 1, ... in order. Python runs the handler at the event loop's next Python callback
(an idle server still runs the heartbeat every 2 s).
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path


def snapshot_path(pid: int, number: int) -> Path:
    return Path(tempfile.gettempdir()) / f"chat-bench-heap-{pid}-{number}.snapshot"


def main() -> None:
    tracemalloc.start()  # one frame per allocation: enough to tell which package allocated it
    numbers = itertools.count()

    def write_snapshot(signum: int, frame: object) -> None:
        path = snapshot_path(os.getpid(), next(numbers))
        partial = path.with_suffix(".partial")
        try:
            gc.collect()  # count what is reachable, not cycles the collector has yet to visit
            tracemalloc.take_snapshot().dump(str(partial))
            partial.rename(path)  # the reader waits for the finished name
        except Exception as error:  # never into whatever the signal interrupted; the reader times out
            print(f"heap snapshot {path} failed: {error!r}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, write_snapshot)
    from project.serve import main as serve

    serve()


if __name__ == "__main__":
    main()
