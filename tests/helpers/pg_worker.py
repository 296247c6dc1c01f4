"""A server process stand-in for tests/store/test_postgres.py: the real pipeline (Memory) and store on a shared
PostgreSQL.

Usage: python -m tests.helpers.pg_worker URL MODE WORKER COUNT LEASE_SECONDS
  remember: remember COUNT texts of its own, then decide whatever is still waiting (drain); prints
            `memorized N`: how many texts its cerebellum was asked about (each decision asks once).
  hang:     decide the oldest waiting text with a cerebellum that never answers (prints `deciding <id>`
            once it holds the claim), to be killed with SIGKILL while deciding.
"""

from __future__ import annotations

import sys
import time

import server.pipeline.memory
from seeds import open_store
from server.models.cerebellum import MemorizeVerdict
from server.pipeline.memory import Memory
from tests.helpers.fakes import HashEmbedder, ScriptedBrain


def text(worker: int, index: int) -> str:
    return f"Worker {worker} note {index}: the queue on port {6000 + 100 * worker + index} drains hourly."


class CountingBrain(ScriptedBrain):
    def __init__(self) -> None:
        super().__init__()
        self.memorized = 0

    def memorize(self, text: str) -> MemorizeVerdict:
        self.memorized += 1
        return super().memorize(text)


class HangingBrain(ScriptedBrain):
    def memorize(self, text: str) -> MemorizeVerdict:
        sys.stdout.write("deciding\n")
        sys.stdout.flush()
        time.sleep(3600)
        raise AssertionError("unreachable")


def main() -> None:
    url, mode, worker, count, lease = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    server.pipeline.memory.CLAIM_LEASE_SECONDS = lease
    store = open_store(url)
    if mode == "hang":
        memory = Memory(store, HangingBrain(), HashEmbedder(), candidate_similarity=0.0)
        (waiting,) = store.inbox("pending", limit=1)
        memory.decide(waiting.id)
        return
    brain = CountingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.0)
    statuses = [memory.remember(text(worker, index), "team").status for index in range(count)]
    drained = memory.drain()
    sys.stdout.write(f"memorized {brain.memorized} queued {statuses.count('queued')} drained {len(drained)}\n")
    memory.close()


if __name__ == "__main__":
    main()
