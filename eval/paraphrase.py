"""`python -m eval paraphrase`: how well the embedder matches a text with its translation.

For aligned English/Chinese pairs: how often the true translation ranks first among all the
set's texts in the other language (both directions), and the cosine similarity of true pairs
against random pairs. The duplicate thresholds of the pipeline are set per embedder from these
figures. Pairs come from a JSON Lines file with `en` and `zh` fields, or from two line-aligned
files `NAME.eng` and `NAME.cmn` (pass either).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from eval.common import Models, percentile


def load_pairs(path: Path, limit: int | None = None) -> list[tuple[str, str]]:
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        pairs = [(str(r["en"]), str(r["zh"])) for r in rows]
    else:
        stem = str(path.with_suffix(""))
        english = Path(stem + ".eng").read_text(encoding="utf-8").splitlines()
        chinese = Path(stem + ".cmn").read_text(encoding="utf-8").splitlines()
        if len(english) != len(chinese):
            raise SystemExit(f"{stem}.eng and {stem}.cmn have different line counts")
        pairs = list(zip(english, chinese, strict=True))
    pairs = [(en.strip(), zh.strip()) for en, zh in pairs if en.strip() and zh.strip()]
    return pairs[:limit] if limit is not None else pairs


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(sum(values) / len(values), 4),
        "p5": round(percentile(values, 5), 4),
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
    }


def run(models: Models, pairs_path: Path, *, limit: int | None = None, seed: int = 0) -> dict[str, Any]:
    import numpy as np

    pairs = load_pairs(pairs_path, limit)
    started = time.perf_counter()
    english = np.array([models.embedder.embed_document(en) for en, _ in pairs], dtype=np.float32)
    chinese = np.array([models.embedder.embed_document(zh) for _, zh in pairs], dtype=np.float32)
    embed_ms = (time.perf_counter() - started) * 1000 / (2 * len(pairs))
    similarity = english @ chinese.T  # unit vectors: cosine
    n = len(pairs)
    true = [float(similarity[i, i]) for i in range(n)]
    rng = random.Random(seed)
    shuffled = [(i, rng.randrange(n - 1)) for i in range(n)]
    unrelated = [float(similarity[i, j if j < i else j + 1]) for i, j in shuffled]
    en_to_zh = float(np.mean(np.argmax(similarity, axis=1) == np.arange(n)))
    zh_to_en = float(np.mean(np.argmax(similarity, axis=0) == np.arange(n)))
    # The threshold that best separates true from random pairs here (Youden's J).
    candidates = sorted(set(true + unrelated))
    best = max(
        candidates,
        key=lambda t: sum(v >= t for v in true) / n - sum(v >= t for v in unrelated) / n,
    )
    return {
        "pairs": n,
        "top1_en_to_zh": round(en_to_zh, 4),
        "top1_zh_to_en": round(zh_to_en, 4),
        "true_pairs": _stats(true),
        "random_pairs": _stats(unrelated),
        "separating_threshold": round(best, 4),
        "true_above_threshold": round(sum(v >= best for v in true) / n, 4),
        "random_above_threshold": round(sum(v >= best for v in unrelated) / n, 4),
        "embed_ms_per_text": round(embed_ms, 2),
        **models.describe(),
    }


def render(report: dict[str, Any]) -> list[str]:
    t, r = report["true_pairs"], report["random_pairs"]
    return [
        f"paraphrase: {report['pairs']} English/Chinese pairs",
        f"  embedder {report['embedder']} (sha256 {report['embedder_sha256'][:12]}…)",
        f"  translation ranked first   en→zh {report['top1_en_to_zh']:.3f}   zh→en {report['top1_zh_to_en']:.3f}",
        f"  cosine, true pairs         mean {t['mean']:.3f}  p5 {t['p5']:.3f}  p50 {t['p50']:.3f}  p95 {t['p95']:.3f}",
        f"  cosine, random pairs       mean {r['mean']:.3f}  p5 {r['p5']:.3f}  p50 {r['p50']:.3f}  p95 {r['p95']:.3f}",
        f"  separating threshold       {report['separating_threshold']:.3f} "
        f"(true above {report['true_above_threshold']:.3f}, random above {report['random_above_threshold']:.3f})",
        f"  embedding time             {report['embed_ms_per_text']:.1f} ms per text",
    ]
