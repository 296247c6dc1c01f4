"""What the tests share besides fixtures: fast stand-in models (fakes.py), GGUF copies with other metadata
(ggufcopy.py), and the scripts tests run as subprocesses (crash_writer.py, import_writer.py, pg_worker.py).

A script runs as `[*script(name), args…]` with `cwd=ROOT` (or ROOT on PYTHONPATH), so that it imports its
helpers as `tests.helpers.…`, as the tests do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The checkout's root."""


def script(name: str) -> list[str]:
    """The command that runs the helper script `tests/helpers/<name>.py`."""
    return [sys.executable, "-m", f"tests.helpers.{name}"]
