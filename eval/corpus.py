"""Real texts for the recall benchmark, embedded once and cached outside the repository.

The documents: every LoCoMo turn (speaker and date prefixed, as `eval locomo` stores them) and the
lines of any extra text files given (one text a line, or JSON Lines whose string fields are texts);
the queries: the LoCoMo questions. The public sets hold a few thousand texts, so a store of 100k is
filled with made-up documents after the real ones: two real English texts joined into one ("A B"),
pairs drawn at random (seeded), never repeated (three when a small set runs out of pairs). Those up to
--embedded documents are embedded like the real ones; beyond that (embedding 100k texts takes hours
on a shared 2-core machine) a made-up document's vector is the length-weighted mean of its parts'
real vectors (`blended`), which the benchmark checks against the real embedding of the ones it has.
Either way the vectors live where text embeddings live, with its dense, uneven neighbourhoods
(unlike random unit vectors).
The corpus is deterministic and every prefix of it is the corpus of that size, so the cache (chunks
of vectors keyed by the embedder's file hash and the chunk's texts) serves every size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.locomo import turns_of

logger = logging.getLogger(__name__)

CACHE = Path.home() / ".cache" / "cerebellum-mcp" / "bench"
CHUNK = 2000
_LATIN = re.compile(r"[A-Za-z]")


@dataclass
class Corpus:
    real: list[str]
    """The real documents, deduplicated, in a fixed shuffled order."""
    questions: list[str]

    def documents(self, n: int, *, seed: int = 7) -> tuple[list[str], list[tuple[int, ...]]]:
        """The first n documents: the real ones, then made-up joins of real English texts; and for each
        document the indexes (in `real`) of the real texts it is made of."""
        texts = list(self.real[:n])
        parts_of: list[tuple[int, ...]] = [(i,) for i in range(len(texts))]
        if len(texts) == n:
            return texts, parts_of
        seen = set(texts)
        english = [i for i, t in enumerate(self.real) if _LATIN.search(t)]
        rng = random.Random(seed)
        parts, misses = 2, 0
        while len(texts) < n:
            picked = tuple(rng.choice(english) for _ in range(parts))
            joined = " ".join(self.real[i] for i in picked)
            if joined in seen:
                misses += 1
                if misses > 1000:  # a small set runs out of pairs: join one more text
                    parts, misses = parts + 1, 0
                continue
            seen.add(joined)
            texts.append(joined)
            parts_of.append(picked)
        return texts, parts_of


def blended(real_vectors: Any, real: Sequence[str], parts_of: Sequence[tuple[int, ...]]) -> Any:
    """Stand-in vectors for made-up documents not embedded: the mean of their parts' real vectors,
    weighted by length (as mean pooling weighs tokens), normalized. Real documents keep their own."""
    import numpy as np

    lengths = np.asarray([max(1, len(t.split())) for t in real], dtype=np.float32)
    out = np.zeros((len(parts_of), real_vectors.shape[1]), dtype=np.float32)
    for row, parts in enumerate(parts_of):
        idx = list(parts)
        out[row] = (real_vectors[idx] * lengths[idx, None]).sum(axis=0)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _lines_of(path: Path) -> list[str]:
    texts: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if path.suffix == ".jsonl":
            record: dict[str, Any] = json.loads(line)
            texts += [v for k, v in record.items() if isinstance(v, str) and len(v) > 8 and k != "date"]
        else:
            texts.append(line)
    return texts


def load_corpus(locomo_path: Path, extra: Sequence[Path] = (), *, seed: int = 7) -> Corpus:
    samples = json.loads(locomo_path.read_text(encoding="utf-8"))
    if isinstance(samples, dict):
        samples = [samples]
    texts = [text for sample in samples for _, text in turns_of(sample["conversation"])]
    questions = [str(qa["question"]) for sample in samples for qa in sample["qa"]]
    for path in extra:
        texts += _lines_of(path)
    real = list(dict.fromkeys(texts))
    random.Random(seed).shuffle(real)
    return Corpus(real, list(dict.fromkeys(questions)))


def embedded(
    texts: Sequence[str],
    embed_many: Callable[[Sequence[str]], list[list[float]]],
    *,
    embedder_sha: str,
    kind: str,
    cache: Path = CACHE,
) -> Any:
    """The texts' vectors (float32, one row each), from the cache where it has them."""
    import numpy as np

    cache.mkdir(parents=True, exist_ok=True)
    parts: list[Any] = []
    started, done = time.monotonic(), 0
    for offset in range(0, len(texts), CHUNK):
        chunk = texts[offset : offset + CHUNK]
        digest = hashlib.sha256("\x00".join(chunk).encode("utf-8")).hexdigest()[:16]
        path = cache / f"{embedder_sha[:16]}-{kind}-{digest}.npy"
        if path.exists():
            parts.append(np.load(path))
            continue
        vectors = np.asarray(
            [v for start in range(0, len(chunk), 64) for v in embed_many(chunk[start : start + 64])], dtype=np.float32
        )
        np.save(path.with_suffix(".tmp.npy"), vectors)
        path.with_suffix(".tmp.npy").replace(path)
        parts.append(vectors)
        done += len(chunk)
        rate = done / max(1e-9, time.monotonic() - started)
        logger.warning(
            "embedded %d of %d %s texts (%.0f a second, cached in %s)",
            offset + len(chunk),
            len(texts),
            kind,
            rate,
            cache,
        )
    return np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
