"""The model lock: one lock around everything that touches the models or makes a decision.

llama.cpp contexts are not thread-safe, and two concurrent remembers of the same text must not both be ADDed,
so every decision holds it. Background work (the warm-up, the gate's fit) takes it one step at a time and steps
aside for any caller waiting. Closing the models goes through it too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator

from server.errors import ServerError


class ModelsClosed(ServerError):
    """Background work found the models closed (the server is stopping)."""


class ModelLock:
    """The one lock around everything that touches the models or makes a decision. Background work
    (the gate's fit: hundreds of questions, a minute or more) takes it one question at a time with
    `background()` and steps aside whenever a caller is waiting, so a remember is never held up for
    longer than one question."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0
        self._background = False
        """Whether background work holds the lock now (one step of it)."""
        self.closed = False
        """Set when the models are closed: background work stops at its next step, callers get ModelsClosed."""

    def __enter__(self) -> ModelLock:
        with self._count:
            self._waiting += 1
        self._lock.acquire()
        with self._count:
            self._waiting -= 1
        if self.closed:
            self._lock.release()
            raise ModelsClosed("the models were closed: the server is stopping")
        return self

    def __exit__(self, *_: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    @contextlib.contextmanager
    def background(self) -> Generator[None]:
        while True:
            while self._waiting:
                time.sleep(0.005)
            self._lock.acquire()
            if self.closed:
                self._lock.release()
                raise ModelsClosed("the models were closed")
            if not self._waiting:
                break
            self._lock.release()  # a caller came in meanwhile: its turn first
        self._background = True
        try:
            yield
        finally:
            self._background = False
            self._lock.release()

    def close(self, *, wait_for_background: bool = True) -> bool:
        """Mark the models closed and take the lock once the work holding it is done (True: the caller closes
        the models, then `release()`s). Without `wait_for_background`, False at once when a step of background
        work holds it: that step is abandoned, running on to its end on its own thread; nothing starts after it."""
        self.closed = True
        while not self._lock.acquire(timeout=0.02):
            if self._background and not wait_for_background:
                return False
        return True

    def release(self) -> None:
        self._lock.release()
