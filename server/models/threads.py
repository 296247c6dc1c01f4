"""How many CPU threads the cerebellum uses for its next model call: every core the machine leaves free.

llama.cpp's threads wait for each other at every step of a decode. On a quiet machine every core
helps (a decision on 2 threads takes half the time of one on 1); beside another busy program, a
thread that must share its core stalls all the others (measured on 2 cores: 17 times slower). So the
count is chosen before each model call from what the rest of the machine did in the last second or
two, read from /proc/stat: the cores that other processes kept busy are left to them, and at least
one thread always runs.

A sampler thread reads /proc/stat (and this process's own /proc/self/stat, whose use is not
"others") every SAMPLE_SECONDS, so the choice costs nothing at decision time and reflects what the
machine is doing now rather than a minute ago, as the load average would. Where /proc is missing
(macOS, Windows), the 1-minute load average stands in.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.25
WINDOW_SAMPLES = 6  # the choice looks at the last ~1.5 s
# A core counts as free when other processes use less than this share of it: a quiet desktop's
# background work (an editor, a browser tab) stays well under it, a build or a test run does not.
BUSY_SHARE = 0.3

ChooseThreads = Callable[[], int]


def fixed(threads: int) -> ChooseThreads:
    """Always the same count (a --threads setting)."""
    return lambda: threads


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ticks_total_and_idle(stat: str) -> tuple[int, int]:
    # "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
    fields = [int(value) for value in stat.split("\n", 1)[0].split()[1:8]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def _own_ticks(stat: str) -> int:
    # /proc/self/stat: the command may hold spaces and parentheses; fields resume after the last ')'.
    after = stat.rsplit(")", 1)[1].split()
    return int(after[11]) + int(after[12])  # utime, stime (fields 14 and 15)


class ByLoad:
    """Threads for the next model call: the cores other processes leave free, between 1 and `most`."""

    def __init__(self, most: int | None = None, *, proc: Path = Path("/proc")) -> None:
        self.cores = cores()
        self.most = max(1, min(most or self.cores, self.cores))
        self._proc = proc
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=WINDOW_SAMPLES)
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self.readable = self._sample()
        if self.readable and self.most > 1:
            self._sampler = threading.Thread(target=self._run, name="cpu-load", daemon=True)
            self._sampler.start()

    def _sample(self) -> bool:
        try:
            total, idle = _ticks_total_and_idle((self._proc / "stat").read_text())
            own = _own_ticks((self._proc / "self" / "stat").read_text())
        except (OSError, ValueError, IndexError):
            return False
        self._samples.append((total, idle, own))
        return True

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            if not self._sample():
                return

    def others_busy(self) -> float:
        """Cores' worth of CPU that other processes used over the last window (0 when unknown)."""
        if not self.readable:
            try:
                return max(0.0, os.getloadavg()[0] - 1.0)  # the load average counts our own decision too
            except OSError:
                return 0.0
        if len(self._samples) < 2:
            return 0.0
        total0, idle0, own0 = self._samples[0]
        total1, idle1, own1 = self._samples[-1]
        elapsed = total1 - total0  # ticks of every core together
        if elapsed <= 0:
            return 0.0
        busy = (elapsed - (idle1 - idle0)) - (own1 - own0)
        return max(0.0, busy / elapsed * self.cores)

    def __call__(self) -> int:
        if self.most == 1:
            return 1
        free = self.cores - self.others_busy()
        return max(1, min(self.most, int(free + BUSY_SHARE)))

    def close(self) -> None:
        self._stop.set()


def chooser(threads: int | None) -> ChooseThreads:
    """A fixed count when one is set, else by the machine's load."""
    return fixed(threads) if threads is not None else ByLoad()


def describe(choose: ChooseThreads) -> str:
    if isinstance(choose, ByLoad):
        return f"by load, 1-{choose.most} of {choose.cores} cores"
    return f"{choose()} fixed"


def wait_for_samples(choose: ChooseThreads, seconds: float = 2 * SAMPLE_SECONDS) -> None:
    """Give a fresh sampler time for its first window (benchmarks, tests)."""
    if isinstance(choose, ByLoad) and choose.readable:
        time.sleep(seconds)
