"""The writer the crash test kills: remembers N notes through the real pipeline and store, printing each id.

Usage: python -m tests.helpers.crash_writer DB ROUND COUNT. A line `<seed id> <index>` is printed and flushed
only after remember() has returned, so every printed line is a remember the caller saw succeed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from seeds import open_store
from server.pipeline.memory import Memory
from tests.helpers.fakes import HashEmbedder, ScriptedBrain


def note(round_number: int, index: int) -> str:
    return f"Round {round_number} note {index}: the service on port {5000 + index} restarts nightly."


def main() -> None:
    db, round_number, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    memory = Memory(open_store(db), ScriptedBrain(), HashEmbedder(), candidate_similarity=0.0)
    for index in range(count):
        result = memory.remember(note(round_number, index), "crash")
        assert result.seed is not None
        sys.stdout.write(f"{result.seed.id} {index}\n")
        sys.stdout.flush()
    memory.close()


if __name__ == "__main__":
    main()
