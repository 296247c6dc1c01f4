"""`migrate` SQLite → PostgreSQL at size: how long copying a whole store takes (`SeedStore.load` of a dump).

    python -m eval bench migrate --sizes 10000,100000 [--db postgresql://…|embedded] [--json]

The source store is filled with `add_many` (one transaction), vectors of 384 dimensions drawn at random
(seeded) and normalized: the load's cost is the rows and the HNSW index's inserts, which don't depend on
where the vectors came from. Timed: the dump (read) and the load (write, one transaction) separately.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_recall import postgres_location
from seeds import open_store

DIMENSION = 384


def run(sizes: list[int], db: str) -> dict[str, Any]:
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
    return report


def render(report: dict[str, Any]) -> list[str]:
    return [
        f"migrate SQLite -> PostgreSQL, {run['seeds']} seeds ({report['dimension']} dims): dump {run['dump_s']} s, "
        f"load {run['load_s']} s ({run['count']} seeds in the target)"
        for run in report["runs"]
    ]
