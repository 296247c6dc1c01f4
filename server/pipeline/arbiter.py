"""The arbiter's question: which stored seeds a new text is compared with, and how it relates to them
(ADD, UPDATE, DELETE or NONE), from the cerebellum's answer or a safe fallback when that answer is unusable.

remember (server/pipeline/memory.py), reconcile (server/pipeline/reconcile.py) and the importers all ask it here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Literal

from seeds import ScoredSeed, SeedStore
from server.models.cerebellum import AskedPair, CerebellumError
from server.models.prompts import Candidate
from server.pipeline.ports import Decides, Embeds
from server.pipeline.results import ArbiterVerdict, ComparedSeed, top_shares
from server.rules import signals

logger = logging.getLogger(__name__)

CROSS_SCRIPT_POOL = 4  # nearest seeds looked through for ones in the other script
CROSS_SCRIPT_CANDIDATES = 2  # at most this many of those shown to the arbiter
CALIBRATION_PAIRS = [
    ("The deploy script lives in scripts/deploy.sh.", "部署脚本在 scripts/deploy.sh。"),
    ("We use PostgreSQL for the main database.", "我们的主数据库用的是 PostgreSQL。"),
]
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

CrossScript = Literal["auto", "always", "never"]


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def script_of(text: str) -> str:
    """'cjk' when the text has at least as many CJK characters as Latin words (and two or more), else 'latin'."""
    cjk = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]{2,}", text))
    return "cjk" if cjk >= 2 and cjk >= latin_words else "latin"


def same_subject_possible(text: str, similar: Sequence[ScoredSeed]) -> list[ScoredSeed]:
    """The similar seeds that may be about the subject of `text`: a seed that names another identifier
    (and another value with it) is a fact about something else, however alike the sentences are, so
    the arbiter is not asked whether the text repeats or updates it."""
    kept: list[ScoredSeed] = []
    for hit in similar:
        why = signals.distinct_subjects(hit.seed.text, text)
        if why is None:
            kept.append(hit)
        else:
            logger.debug("seed %d is not a candidate: %s", hit.seed.id, why)
    return kept


class Arbiter:
    """Finds the stored seeds a text should be compared with, and asks the cerebellum how it relates to them."""

    def __init__(
        self,
        store: SeedStore,
        cerebellum: Decides,
        embedder: Embeds,
        *,
        candidates: int = 5,
        candidate_similarity: float = 0.5,
        cross_script: CrossScript = "auto",
    ) -> None:
        self.store = store
        self.cerebellum = cerebellum
        self.embedder = embedder
        self.candidates = candidates
        self.candidate_similarity = candidate_similarity
        self.cross_script: CrossScript = cross_script
        """Whether the nearest seeds in the other script go to the arbiter whatever their similarity:
        auto, when the embedder can't match a text with its translation."""
        self.failures = 0
        """Answers of the cerebellum that could not be used (the text was added instead)."""
        self._crosslingual: bool | None = None

    def candidates_for(self, text: str, embedding: list[float], scope: str) -> list[ScoredSeed]:
        """The stored seeds the arbiter should see: those similar enough to be the same subject.

        An embedder that cannot match a text with its translation (an English-only one) says
        nothing about seeds in the other script, so the few nearest of those are shown to the
        model too: there, only the model can tell a translation from another fact.
        """
        pool = self.store.search(embedding, scope, self.candidates * CROSS_SCRIPT_POOL)
        similar = [hit for hit in pool[: self.candidates] if hit.similarity >= self.candidate_similarity]
        if self.cross_script == "always" or (self.cross_script == "auto" and not self.crosslingual()):
            own = script_of(text)
            other = [hit for hit in pool if script_of(hit.seed.text) != own and hit not in similar]
            similar += other[:CROSS_SCRIPT_CANDIDATES]
        return same_subject_possible(text, similar)

    def crosslingual(self) -> bool:
        """Whether the embedder puts an English text and its Chinese translation close (checked once)."""
        if self._crosslingual is None:
            pairs = [self.embedder.embed_document(t) for pair in CALIBRATION_PAIRS for t in pair]
            sims = [dot(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
            self._crosslingual = min(sims) >= self.candidate_similarity
            logger.info("embedder %s matches translations: %s (%s)", self.embedder.name, self._crosslingual, sims)
        return self._crosslingual

    def judge(self, text: str, similar: Sequence[ScoredSeed]) -> tuple[ArbiterVerdict, str]:
        """The arbiter's verdict on a text against similar seeds, and its merged text for an UPDATE. An answer
        that can't be used (unparsable, or an action on no shown seed) is an ADD: adding loses nothing."""
        shown = [Candidate(hit.seed.id, hit.seed.text, hit.seed.updated_at) for hit in similar]
        ids = [c.id for c in shown]
        compared = [ComparedSeed(id=hit.seed.id, similarity=round(hit.similarity, 4)) for hit in similar]
        try:
            answer = self.cerebellum.arbitrate(text, shown)
        except CerebellumError as exc:
            self.failures += 1
            logger.warning("arbiter failed, adding the text: %s", exc)
            return _added(f"arbiter failed: {exc}", ids, compared), ""
        compared = [_with_answer(seed, {pair.target: pair for pair in answer.asked}) for seed in compared]
        if answer.action != "ADD" and answer.target not in ids:
            # An action on no (or an unknown) seed can't be applied; adding loses nothing.
            reason = f"the arbiter said {answer.action} without naming a shown seed; added instead"
            return _added(reason, ids, compared), ""
        return ArbiterVerdict(
            action=answer.action,
            target_id=answer.target if answer.action != "ADD" else None,
            reason=answer.reason,
            decided_by="model",
            candidates=ids,
            compared=compared,
        ), answer.merged


def _added(reason: str, ids: list[int], compared: list[ComparedSeed]) -> ArbiterVerdict:
    """The verdict when the model's answer can't be used: ADD, which loses nothing."""
    return ArbiterVerdict(
        action="ADD", target_id=None, reason=reason, decided_by="fallback", candidates=ids, compared=compared
    )


def _with_answer(seed: ComparedSeed, asked: dict[int, AskedPair]) -> ComparedSeed:
    """A compared seed with the pairwise arbiter's answer about it, if it was asked about it."""
    pair = asked.get(seed.id)
    if pair is None:
        return seed
    return seed.model_copy(
        update={
            "relation": pair.relation,
            "shares": top_shares(pair.shares, 4),
            "first_relation": pair.first or None,
            "check": pair.check or None,
            "check_shares": top_shares(pair.check_shares, 2),
        }
    )
