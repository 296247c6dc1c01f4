"""The gate's calibration: SAVE or SKIP from the cerebellum's whole category distribution and the
embedder's nearest labelled texts, fitted once per model pair on a bank of labelled texts.

Why: a small model's top category is often wrong in a consistent way (the 1.5B stand-in reads "I'm
now editing server.py" as a decision), and no prompt wording or single offset fixed that on texts
written after the prompt. Its probabilities over all ten categories still separate the two sides
better than its first choice does, and how such texts sit among labelled neighbours in the
embedder's space is a second, independent view. A logistic rule over both is fitted on the bank
that ships with the package (`gate_bank.jsonl`: 312 texts written for it, none an eval case),
with its threshold set out of fold so that at most 3 % of the bank's texts to keep are skipped.
The fit depends on the model, the embedder, the prompts and the bank, so it is cached under a key
of all four and redone when one changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from server.errors import ServerError
from server.models import prompts

logger = logging.getLogger(__name__)

BANK_FILE = Path(__file__).with_name("gate_bank.jsonl")
SHIPPED_DIR = Path(__file__).with_name("gate_fits")
NEIGHBOURS = 5
MAX_SKIPPED_SAVES = 0.03  # losing a lesson costs more than keeping a status line
FOLDS = 5
REGULARIZATION = 10.0
_STEPS = 3000
_RATE = 0.5
FORMAT = 1  # of the cached file; a change refits


class CalibrationError(ServerError):
    """The bank or a cached calibration could not be used."""


@dataclass(frozen=True)
class BankText:
    text: str
    save: bool
    category: str


def load_bank(path: Path | None = None) -> list[BankText]:
    path = BANK_FILE if path is None else path
    bank: list[BankText] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            decision, category = row["decision"], row["category"]
            text = row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CalibrationError(f"{path}:{number}: not a bank line ({exc})") from exc
        if decision not in ("SAVE", "SKIP") or not isinstance(text, str) or not text.strip():
            raise CalibrationError(f"{path}:{number}: needs a text and a decision of SAVE or SKIP")
        bank.append(BankText(text, decision == "SAVE", str(category)))
    if not any(b.save for b in bank) or all(b.save for b in bank):
        raise CalibrationError(f"{path}: the bank needs texts of both decisions")
    return bank


def bank_digest(bank: Sequence[BankText]) -> str:
    digest = hashlib.sha256()
    for item in bank:
        digest.update(json.dumps([item.text, item.save]).encode("utf-8"))
    return digest.hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """Name, size and the hash of the first 4 MB: enough to tell model files apart, read in milliseconds."""
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(4 << 20)).hexdigest()[:16]
    return f"{path.name}:{path.stat().st_size}:{head}"


@dataclass(frozen=True)
class GateCalibration:
    """A fitted SAVE/SKIP rule: a logistic score over the category log-probabilities and the
    neighbour vote, and the threshold above which a text is saved."""

    key: str
    categories: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    vectors: list[list[float]]
    saves: list[bool]
    out_of_fold: dict[str, float]
    """The rule's error rates on the bank, each text judged by a rule fitted without it."""

    def save_margin(self, scores: Mapping[str, float], embedding: Sequence[float]) -> float:
        """Above zero: save. The features are the ones the rule was fitted on."""
        row = [*category_features(scores, self.categories), neighbour_vote(self.vectors, self.saves, embedding)]
        return _score(row, self.mean, self.scale, self.weights, self.bias) - self.threshold

    def decide(
        self, scores: Mapping[str, float], embedding: Sequence[float], category: str
    ) -> tuple[Literal["SAVE", "SKIP"], str, float]:
        """The decision, the category to report (the likeliest one on the decided side), and the margin."""
        margin = self.save_margin(scores, embedding)
        decision: Literal["SAVE", "SKIP"] = "SAVE" if margin > 0 else "SKIP"
        if prompts.decision_for(category) != decision:
            side = [c for c in self.categories if prompts.decision_for(c) == decision and c in scores]
            if side:
                category = max(side, key=lambda c: scores[c])
        return decision, category, margin

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)})

    @classmethod
    def from_json(cls, raw: str) -> GateCalibration:
        try:
            data = json.loads(raw)
            if data.pop("format", None) != FORMAT:
                raise CalibrationError("the cached calibration has an older format")
            return cls(**data)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise CalibrationError(f"the cached calibration is unreadable: {exc}") from exc


def category_features(scores: Mapping[str, float], categories: Sequence[str]) -> list[float]:
    missing = [c for c in categories if c not in scores]
    if missing:
        raise CalibrationError(f"the cerebellum gave no score for {', '.join(missing)}")
    return [float(scores[c]) for c in categories]


def neighbour_vote(
    vectors: Sequence[Sequence[float]], saves: Sequence[bool], embedding: Sequence[float], exclude: int | None = None
) -> float:
    """Log-odds that a text is one to keep, from the labels of its nearest bank texts (`exclude`: a bank
    text's own index, when the bank votes on itself)."""
    import numpy as np

    similarity = np.asarray(vectors, dtype=np.float32) @ np.asarray(embedding, dtype=np.float32)
    if exclude is not None:
        similarity[exclude] = -np.inf
    nearest = np.argsort(-similarity)[:NEIGHBOURS]
    share = float(np.mean([saves[int(i)] for i in nearest]))
    return math.log((share + 0.05) / (1 - share + 0.05))  # smoothed: five neighbours never give ±inf


def _score(
    row: Sequence[float], mean: Sequence[float], scale: Sequence[float], weights: Sequence[float], bias: float
) -> float:
    return bias + sum(w * (x - m) / s for x, m, s, w in zip(row, mean, scale, weights, strict=True))


def _fit_logistic(
    rows: Sequence[Sequence[float]], labels: Sequence[float]
) -> tuple[list[float], list[float], list[float], float]:
    """Class-balanced, L2-regularized logistic regression on standardized features (plain gradient descent:
    eleven features and a few hundred rows need nothing more)."""
    import numpy as np

    x: Any = np.asarray(rows, dtype=np.float64)
    y: Any = np.asarray(labels, dtype=np.float64)
    mean: Any = x.mean(axis=0)
    scale: Any = x.std(axis=0) + 1e-6
    z: Any = (x - mean) / scale
    positives = float(y.sum())
    balance: Any = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    weights: Any = np.zeros(z.shape[1])
    bias = 0.0
    for _ in range(_STEPS):
        error: Any = balance * (1 / (1 + np.exp(-(z @ weights + bias))) - y)
        weights -= _RATE * (z.T @ error / len(y) + weights / (REGULARIZATION * len(y)))
        bias -= _RATE * float(error.mean())
    return [float(v) for v in mean], [float(v) for v in scale], [float(v) for v in weights], bias


def fit(
    key: str, scores: Sequence[Mapping[str, float]], vectors: Sequence[Sequence[float]], saves: Sequence[bool]
) -> GateCalibration:
    """Fit the rule on the bank's scores and embeddings. The threshold comes from out-of-fold scores,
    so it is set on texts the rule did not see."""
    import numpy as np

    categories: list[str] = list(prompts.CATEGORIES)
    rows: list[list[float]] = [
        [*category_features(s, categories), neighbour_vote(vectors, saves, v, exclude=i)]
        for i, (s, v) in enumerate(zip(scores, vectors, strict=True))
    ]
    labels = [1.0 if s else 0.0 for s in saves]
    order: Any = np.random.default_rng(0).permutation(len(rows))
    out_of_fold: Any = np.zeros(len(rows))
    for fold in np.array_split(order, FOLDS):
        held_out: list[int] = [int(i) for i in fold]
        train: list[int] = [int(i) for i in np.setdiff1d(order, fold)]
        mean, scale, weights, bias = _fit_logistic([rows[i] for i in train], [labels[i] for i in train])
        for i in held_out:
            out_of_fold[i] = _score(rows[i], mean, scale, weights, bias)
    is_save: Any = np.asarray(saves)
    keep: Any = np.sort(out_of_fold[is_save])
    threshold = float(keep[int(MAX_SKIPPED_SAVES * len(keep))]) - 1e-9
    skipped: Any = out_of_fold <= threshold
    errors = {
        "skipped_saves": float((skipped & is_save).sum() / is_save.sum()),
        "saved_skips": float((~skipped & ~is_save).sum() / (~is_save).sum()),
    }
    mean, scale, weights, bias = _fit_logistic(rows, labels)
    vectors_kept = [[float(x) for x in v] for v in vectors]
    return GateCalibration(key, categories, mean, scale, weights, bias, threshold, vectors_kept, list(saves), errors)


def calibration_key(cerebellum: Path, embedder: Path, bank: Sequence[BankText]) -> str:
    parts = [file_fingerprint(cerebellum), file_fingerprint(embedder), prompts.PROMPT_VERSION, bank_digest(bank)]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:20]


def cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / "calibration" / f"gate-{key}.json"


def shipped_file(key: str) -> Path:
    """A fit that ships with the package (made by a maintainer with `cerebellum-mcp calibrate --ship`)."""
    return SHIPPED_DIR / f"gate-{key}.json"


def ready_fit(cache_dir: Path, key: str) -> GateCalibration | None:
    """The fit for this key if one is at hand (the user's cache, then the package's own), else None.
    A cached file that can't be used is ignored (and refitted)."""
    for candidate in (cache_file(cache_dir, key), shipped_file(key)):
        if not candidate.is_file():
            continue
        try:
            calibration = GateCalibration.from_json(candidate.read_text(encoding="utf-8"))
        except (CalibrationError, OSError) as exc:
            logger.warning("refitting the gate calibration: %s can not be used (%s)", candidate, exc)
            continue
        if calibration.key == key:
            return calibration
    return None


Step = Callable[[], AbstractContextManager[object]]
"""What each bank question runs inside: the models' lock, taken for one question at a time."""


def _features(
    partial: Path,
    bank: Sequence[BankText],
    memorize_scores: Callable[[str], Mapping[str, float]],
    embed: Callable[[str], Sequence[float]],
    step: Step,
) -> tuple[list[Mapping[str, float]], list[list[float]]]:
    """Each bank text's category scores and embedding. They are appended to `partial` as they come, so
    a process that stops halfway (a short-lived launch) leaves its work to the next one."""
    done: dict[int, tuple[dict[str, float], list[float]]] = {}
    if partial.is_file():
        for line in partial.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[int(row["i"])] = ({str(k): float(v) for k, v in row["scores"].items()}, list(row["vector"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line cut short by a killed process: asked again
    if done:
        logger.info("gate calibration: %d of %d bank texts already scored, going on", len(done), len(bank))
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        sink = partial.open("a", encoding="utf-8")
    except OSError as exc:
        logger.warning("could not keep the gate calibration's progress in %s: %s", partial, exc)
        sink = None
    try:
        for i, item in enumerate(bank):
            if i in done:
                continue
            with step():
                scores = dict(memorize_scores(item.text))
                vector = [float(x) for x in embed(item.text)]
            done[i] = (scores, vector)
            if sink is not None:
                sink.write(json.dumps({"i": i, "scores": scores, "vector": vector}) + "\n")
                sink.flush()
    finally:
        if sink is not None:
            sink.close()
    return [done[i][0] for i in range(len(bank))], [done[i][1] for i in range(len(bank))]


def load_or_fit(
    cache_dir: Path,
    cerebellum_path: Path,
    embedder_path: Path,
    memorize_scores: Callable[[str], Mapping[str, float]],
    embed: Callable[[str], Sequence[float]],
    bank: Sequence[BankText] | None = None,
    step: Step = nullcontext,
) -> GateCalibration:
    """The calibration for this model pair, prompts and bank: from the cache, from the package, or a new
    fit (minutes on a small CPU with a 1.5B model: every bank text is one memorize question, each run
    inside `step()`), saved for the next start. A fit that is interrupted goes on where it stopped."""
    bank = load_bank() if bank is None else bank
    key = calibration_key(cerebellum_path, embedder_path, bank)
    ready = ready_fit(cache_dir, key)
    if ready is not None:
        return ready
    cached = cache_file(cache_dir, key)
    partial = cached.with_suffix(".features.jsonl")
    logger.info("calibrating the gate on %d labelled texts (once for this model pair)", len(bank))
    scores, vectors = _features(partial, bank, memorize_scores, embed, step)
    calibration = fit(key, scores, vectors, [item.save for item in bank])
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")  # two servers may fit at once
        temporary.write_text(calibration.to_json(), encoding="utf-8")
        temporary.replace(cached)  # whole or not at all: another process may read it
        partial.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not cache the gate calibration in %s: %s", cached.parent, exc)
    logger.info("gate calibrated: out of fold, %s", calibration.out_of_fold)
    return calibration
