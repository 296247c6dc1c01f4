"""`python -m eval keywords`: Chinese keyword search, SQLite (FTS5) beside PostgreSQL (tsvector + pg_trgm).

Documents: the Chinese side of aligned English/Chinese sets (JSON Lines with `zh`, or NAME.cmn),
all in one store. Queries: for each document, a few Chinese words taken from it: two spans of two
characters (most Chinese words are one or two characters) from its runs of Chinese characters,
drawn at random (seeded), separated by a space, as a person types keywords. There is no word
segmenter here, so a span may cut across two words; both engines get the same queries. A hit is the
document among the top k of `SeedStore.keyword_search` (the keyword half of hybrid recall; no
vectors are involved). Reported per engine: hit@1, hit@10 (the hit rate), MRR@10, and the p50 time.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.bench_recall import postgres_location
from eval.common import latency
from seeds import open_store

SCOPE = "keywords"
_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")


def chinese_documents(paths: Sequence[Path]) -> list[str]:
    texts: list[str] = []
    for path in paths:
        if path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    texts.append(str(json.loads(line)["zh"]))
        else:
            texts += [line.strip() for line in path.with_suffix(".cmn").read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(t for t in texts if t))


def query_for(text: str, rng: random.Random, words: int = 2) -> str | None:
    """A few two-character spans of the text's Chinese runs, space-separated; None if it has too few."""
    spans = [run[i : i + 2] for run in _RUN.findall(text) for i in range(0, len(run) - 1, 2)]
    spans = list(dict.fromkeys(spans))
    if len(spans) < words:
        return None
    return " ".join(rng.sample(spans, words))


def run(paths: Sequence[Path], *, postgres: str | None, k: int = 10, seed: int = 7) -> dict[str, Any]:
    documents = chinese_documents(paths)
    rng = random.Random(seed)
    index_of = {text: i for i, text in enumerate(documents)}
    cases = [(i, q) for i, text in enumerate(documents) if (q := query_for(text, rng)) is not None]
    report: dict[str, Any] = {
        "runner": "keywords",
        "sets": [p.name for p in paths],
        "documents": len(documents),
        "queries": len(cases),
        "k": k,
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="cerebellum-keywords-") as tmp, postgres_location(postgres or "") as pg:
        locations = {"sqlite": str(Path(tmp) / "keywords.db")}
        if postgres:
            locations["postgresql"] = pg
        for name, location in locations.items():
            store = open_store(location)
            try:
                if not store.is_empty():
                    raise SystemExit(f"eval keywords: the {name} store at {store.path} already holds data")
                store.bind_embedder("keyword-bench-none", 2)  # no vectors are searched: one constant one
                store.add_many(SCOPE, [(text, [1.0, 0.0]) for text in documents])
                ranks: list[int | None] = []
                ms: list[float] = []
                for target, query in cases:
                    started = time.perf_counter()
                    hits = store.keyword_search(query, SCOPE, k)
                    ms.append((time.perf_counter() - started) * 1000)
                    found = [index_of[seed.text] for seed, _ in hits]
                    ranks.append(found.index(target) + 1 if target in found else None)
                n = len(ranks) or 1
                report["engines"][name] = {
                    "hit_at_1": round(sum(r == 1 for r in ranks) / n, 3),
                    f"hit_at_{k}": round(sum(r is not None for r in ranks) / n, 3),
                    f"mrr_at_{k}": round(sum(1 / r for r in ranks if r is not None) / n, 3),
                    "p50_ms": latency(ms)["p50_ms"],
                }
            finally:
                store.close()
    report["examples"] = [q for _, q in cases[:5]]
    return report


def render(report: dict[str, Any]) -> list[str]:
    k = report["k"]
    lines = [
        f"keywords: {report['documents']} Chinese documents ({', '.join(report['sets'])}), {report['queries']} "
        f"queries of two 2-character spans each (e.g. {' / '.join(report['examples'][:3])})",
        f"  engine        hit@1   hit@{k}   MRR@{k}   p50 ms",
    ]
    for name, f in report["engines"].items():
        lines.append(
            f"  {name:11}  {f['hit_at_1']:6.3f}  {f[f'hit_at_{k}']:6.3f}  {f[f'mrr_at_{k}']:7.3f}  {f['p50_ms']:7.2f}"
        )
    return lines
