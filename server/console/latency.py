"""Decision latency as this process measured it: the pipeline logs each decision's time
("remember in SCOPE: STATUS (N ms)"); a handler on that logger keeps the last ones, in memory only (no text)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

KEPT = 5000


@dataclass(frozen=True)
class Timing:
    at: float
    status: str
    milliseconds: float


class DecisionTimes(logging.Handler):
    """Collects (status, milliseconds) from server.pipeline.memory's decision log lines."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.timings: deque[Timing] = deque(maxlen=KEPT)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg != "remember in %s: %s (%.0f ms)" or not isinstance(args, tuple) or len(args) != 3:
            return
        with self._guard:
            self.timings.append(Timing(time.time(), str(args[1]), float(args[2])))  # pyright: ignore[reportArgumentType]

    def snapshot(self) -> list[Timing]:
        with self._guard:
            return list(self.timings)


_installed: DecisionTimes | None = None


def decision_times() -> DecisionTimes:
    """The process's one collector, attached to server.pipeline.memory's logger on first use. The services log at INFO
    by default; at a higher log level no decision line is made and the overview says there are no timings."""
    global _installed
    if _installed is None:
        _installed = DecisionTimes()
        logging.getLogger("server.pipeline.memory").addHandler(_installed)
    return _installed
