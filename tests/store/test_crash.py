"""A writer killed with SIGKILL at random points loses nothing it reported as stored, and the file stays whole.

Ten rounds on one real SQLite + sqlite-vec file: a subprocess remembers 200 notes (fast stand-in
models, the real pipeline and store) and prints each seed id once remember() has returned; it is
killed at a random moment. After each kill the next process opens the file the dead one left
(WAL and all): every printed note must be there with its text and its vector, the seed, vector and
full-text tables must agree, and `PRAGMA integrity_check` must say ok.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from seeds import open_store
from tests.helpers import ROOT, script
from tests.helpers.crash_writer import note

pytestmark = pytest.mark.slow

WRITER = script("crash_writer")
ROUNDS, NOTES = 10, 200


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_remembers_that_returned_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "seeds.db"
    seed = int.from_bytes(os.urandom(4))
    rng = random.Random(seed)
    confirmed: dict[int, str] = {}
    killed_mid_run = 0
    for round_number in range(ROUNDS):
        child = subprocess.Popen(
            [*WRITER, str(db), str(round_number), str(NOTES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        assert child.stdout is not None
        target = rng.randrange(1, NOTES)
        lines: list[str] = []
        while len(lines) < target:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0, 0.01))  # land anywhere in the next remember, not just between two
        child.send_signal(signal.SIGKILL)
        lines.extend(child.stdout.readlines())  # printed before the kill: they returned too
        child.wait()
        child.stdout.close()
        killed_mid_run += len(lines) < NOTES
        for line in lines:
            seed_id, index = map(int, line.split())
            confirmed[seed_id] = note(round_number, index)

        store = open_store(db)
        try:
            assert store.integrity_check() == "ok", f"round {round_number}, random seed {seed}"
            for seed_id, text in confirmed.items():
                stored = store.get(seed_id)
                assert stored is not None and stored.text == text, f"seed {seed_id} lost (random seed {seed})"
                assert len(store.embedding(seed_id)) == 64
            conn = store._conn  # pyright: ignore[reportPrivateUsage]
            seeds = conn.execute("SELECT count(*) FROM seeds").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM seed_vectors").fetchone()[0] == seeds
            conn.execute("INSERT INTO seeds_fts (seeds_fts) VALUES ('integrity-check')")
        finally:
            store.close()
    assert killed_mid_run >= ROUNDS // 2, "most kills should land while the writer is still writing"
    assert len(confirmed) >= ROUNDS
