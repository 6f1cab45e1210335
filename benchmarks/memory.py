"""Peak memory of a command's processes, read from each one's own high-water mark.

`wait4`'s `ru_maxrss` cannot be used for a command started from the benchmark: Linux
records, at `exec`, the high-water mark of the memory the child was forked with, so a
command started by a 320 MB benchmark process reports at least 320 MB whatever it uses
itself. `VmHWM` in `/proc/<pid>/status` is the high-water mark of the process's own
memory since its `exec` (or of its fork, for a forked worker, which is what it holds).
Being a high-water mark, it can be sampled now and then and still give the peak; only
the last interval of a process's life can be missed.
"""

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


def _parents() -> dict[int, int]:
    """Every live process's parent pid."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(stat[1])
    return parents


def _high_water_kb(pid: int) -> int:
    """The process's `VmHWM` in KB (0 if it is gone or has no memory of its own)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class PeakMemory:
    """Sample the largest `VmHWM` among `root`'s descendants (and `root` itself).

    `also` is called at each sample for more roots: the batch workers' forkserver is
    reparented to the benchmark (its subreaper) when the command exits, and its workers
    with it.
    """

    def __init__(
        self, root: int, *, every: float = 0.2, also: Callable[[], set[int]] = set
    ) -> None:
        """Watch `root`'s tree, and the trees of the pids `also()` gives, every `every` s."""
        self._roots = {root}
        self._also = also
        self._every = every
        self._peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakMemory":
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        self._thread.join()

    @property
    def largest_kb(self) -> int:
        """The largest high-water mark seen of one process, in KB."""
        return max(self._peak.values(), default=0)

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self._every)
            self._sample()
            if stopping:
                return

    def _sample(self) -> None:
        self._roots |= self._also()
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, parent in parents.items():
            children.setdefault(parent, []).append(pid)
        pending = [pid for pid in self._roots if pid in parents]
        while pending:
            pid = pending.pop()
            if pid != os.getpid():
                self._peak[pid] = max(self._peak.get(pid, 0), _high_water_kb(pid))
            pending.extend(children.get(pid, ()))
