"""`migrate` SQLite → PostgreSQL at size: how long copying a whole store takes (`SeedStore.load` of a dump).

    python -m eval bench migrate --sizes 10000,100000 [--import-writes 10000] [--db postgresql://…|embedded] [--json]

The source store is filled with `add_many` (one transaction), vectors of 384 dimensions drawn at random
(seeded) and normalized: the load's cost is the rows and the HNSW index's inserts, which don't depend on
where the vectors came from. Timed: the dump (read) and the load (write, one transaction) separately.

`--import-writes N`: an import's write phase on PostgreSQL, N new seeds in batches of the import's size, each
batch one transaction of its operation (`continue_operation`) with its progress mark, as the import pipeline
writes them: a statement group per seed (`Operation.add`, as before) against one statement batch per table
(`Operation.add_many`, migrate's bulk path), each into a fresh store, alternating, in one run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_recall import postgres_location
from seeds import Seed, open_store, utc_now
from seeds.copy import StoreDump
from server.importers.pipeline import BATCH_SIZE

DIMENSION = 384


def run(sizes: list[int], db: str, import_size: int = 0) -> dict[str, Any]:
    report: dict[str, Any] = {"dimension": DIMENSION, "runs": []}
    rng = np.random.default_rng(5)
    with postgres_location(db) as url, tempfile.TemporaryDirectory(prefix="cerebellum-migrate-") as tmp:
        for size in sizes:
            source = open_store(Path(tmp) / f"source-{size}.db")
            target = open_store(url)
            try:
                source.bind_embedder("bench-random", DIMENSION)
                vectors = rng.standard_normal((size, DIMENSION)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                items = [(f"note {i}: the service on port {3000 + i % 5000} restarts nightly", v.tolist())
                         for i, v in enumerate(vectors)]  # fmt: skip
                source.add_many("bench", items)
                started = time.perf_counter()
                dump = source.dump()
                dumped = time.perf_counter() - started
                started = time.perf_counter()
                target.load(dump, replace=True)
                loaded = time.perf_counter() - started
                report["runs"].append(
                    {"seeds": size, "dump_s": round(dumped, 1), "load_s": round(loaded, 1), "count": target.count()}
                )
            finally:
                source.close()
                target.close()
    if import_size:
        report["import_writes"] = import_writes(import_size, db)
    return report


def import_writes(size: int, db: str, rounds: int = 2) -> dict[str, Any]:
    """An import's write phase on PostgreSQL: per seed (before) and in bulk (now), `rounds` times each, alternating."""
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((size, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = utc_now()
    seeds = [
        (Seed(0, "bench", f"note {i}: the service on port {3000 + i % 5000} restarts nightly", "fact", (), "import",
              now, now), v.tolist())
        for i, v in enumerate(vectors)
    ]  # fmt: skip
    times: dict[str, list[float]] = {"per_seed_s": [], "bulk_s": []}
    with postgres_location(db) as url:
        for _ in range(rounds):
            for way in ("per_seed_s", "bulk_s"):
                target = open_store(url)
                try:
                    target.load(StoreDump(embedder=("bench-random", DIMENSION), meta={}), replace=True)
                    started = time.perf_counter()
                    for start in range(0, size, BATCH_SIZE):
                        batch = seeds[start : start + BATCH_SIZE]
                        with target.continue_operation("bench-import", "import", "bench", "bench") as op:
                            if way == "bulk_s":
                                op.add_many(batch)
                            else:
                                for seed, vector in batch:
                                    op.add(seed, vector)
                            op.set_meta("import:bench", str(start + len(batch)))
                    times[way].append(round(time.perf_counter() - started, 1))
                    assert target.count() == size
                finally:
                    target.close()
    return {"seeds": size, "batch": BATCH_SIZE, **times}


def render(report: dict[str, Any]) -> list[str]:
    lines = [
        f"migrate SQLite -> PostgreSQL, {run['seeds']} seeds ({report['dimension']} dims): dump {run['dump_s']} s, "
        f"load {run['load_s']} s ({run['count']} seeds in the target)"
        for run in report["runs"]
    ]
    writes = report.get("import_writes")
    if writes:
        lines.append(
            f"import write phase on PostgreSQL, {writes['seeds']} seeds in batches of {writes['batch']}: a statement "
            f"group per seed {writes['per_seed_s']} s, one statement batch per table {writes['bulk_s']} s"
        )
    return lines
