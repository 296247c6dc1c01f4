"""The one file-lock helper: an exclusive flock on a file, held for a block or for the life of a process.

Used for the token file (two token commands don't lose each other's change), the shared service's place
(one service per store and settings) and its start-up. POSIX only, as flock is; on Windows, where no
shared service runs, `exclusive` holds nothing and `try_exclusive` always succeeds.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def exclusive(path: Path) -> Generator[None]:
    """Wait for, then hold, the lock on `path` (created, mode 0600, if missing) until the block ends."""
    if sys.platform == "win32":  # pragma: no cover - no flock there
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def try_exclusive(path: Path) -> IO[str] | None:
    """The lock on `path` if nobody holds it, as an open file to keep (closing it releases the lock); else None."""
    handle = open(path, "a+")  # noqa: SIM115 - held open by the caller for as long as it needs the lock
    if sys.platform == "win32":  # pragma: no cover - no flock there
        return handle
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
