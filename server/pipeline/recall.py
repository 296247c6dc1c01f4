"""Recall: the stored seeds that bear on a query, best first.

Hybrid when the models are in (vector neighbours and BM25 keyword matches fused by reciprocal rank, session
neighbours sharing a little of a strong hit's score); keywords alone while the embedder is not loaded. Either
way the texts still waiting in the inbox that share the query's words come back apart, as `queued`.
"""

from __future__ import annotations

from collections.abc import Sequence

from seeds import SeedStore
from server.pipeline.arbiter import dot
from server.pipeline.ports import Embeds
from server.pipeline.results import QueuedText, RecallHit, RecallResult, SeedView
from server.rules.scopes import scope_filter, scope_label
from server.rules.secrets import SecretsMode, screen_secrets

RRF_K = 5  # reciprocal-rank fusion constant: small, so the top ranks of each list count most (set on LoCoMo dev)
RECALL_POOL = 50  # candidates taken from each ranking before fusion


def queued_matches(store: SeedStore, query: str, scopes: list[str] | None, k: int) -> list[QueuedText]:
    """The texts waiting in the inbox that match the query's words (embedded only once decided)."""
    return [QueuedText.of(received) for received in store.inbox_search(query, scopes, k)]


def screened_query(query: str, secrets_mode: SecretsMode) -> str:
    """The query as it may be searched: stripped, and with secrets refused or taken out (it is never stored)."""
    query = query.strip()
    if not query:
        raise ValueError("query is empty")
    return screen_secrets(query, "query", secrets_mode)[0]


def keyword_recall(
    store: SeedStore, query: str, scope: str | Sequence[str], k: int, note: str, secrets_mode: SecretsMode = "refuse"
) -> RecallResult:
    """BM25 keyword search alone: what recall can still do while the embedder is not loaded."""
    query = screened_query(query, secrets_mode)
    scopes = scope_filter(scope)
    with store.snapshot():
        matches = store.keyword_search(query, scopes, k)
        waiting = queued_matches(store, query, scopes, k)
    hits = [
        RecallHit(score=round((RRF_K + 1) / (RRF_K + rank + 1), 4), similarity=None, **SeedView.of(seed).model_dump())
        for rank, (seed, _) in enumerate(matches)
    ]
    return RecallResult(query=query, scope=scope_label(scope), hits=hits, queued=waiting, note=note)


class HybridRecall:
    """Vector and keyword rankings fused by reciprocal rank, with the weights the settings give."""

    def __init__(
        self, store: SeedStore, embedder: Embeds, *, keyword_weight: float = 1.0, neighbour_weight: float = 0.0
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.keyword_weight = keyword_weight
        self.neighbour_weight = neighbour_weight

    def recall(self, query: str, scopes: list[str] | None, label: str, k: int) -> RecallResult:
        """The k best seeds of `scopes` (None: every scope) for a screened query; `label` names the scopes in
        the result. Texts waiting in the inbox that share its words come back apart, in `queued`."""
        if k <= 0 or scopes == []:
            return RecallResult(query=query, scope=label, hits=[])
        # The embedder's own lock, not the models': a recall does not wait for a decision in progress.
        embedding = self.embedder.embed_query(query)
        # One snapshot of the file: a text another process decides meanwhile is a hit or queued, not both.
        with self.store.snapshot():
            hits = self.ranked(query, embedding, scopes, k)
            waiting = queued_matches(self.store, query, scopes, k)
        return RecallResult(query=query, scope=label, hits=hits, queued=waiting)

    def ranked(self, query: str, embedding: list[float], scopes: list[str] | None, k: int) -> list[RecallHit]:
        """The k best seeds for the query: vector and keyword ranks fused, session neighbours sharing."""
        pool = max(k, RECALL_POOL)
        by_vector = self.store.search(embedding, scopes, pool)
        by_keyword = self.store.keyword_search(query, scopes, pool) if self.keyword_weight > 0 else []
        fused: dict[int, float] = {}
        for rank, hit in enumerate(by_vector):
            fused[hit.seed.id] = fused.get(hit.seed.id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (seed, _) in enumerate(by_keyword):
            fused[seed.id] = fused.get(seed.id, 0.0) + self.keyword_weight / (RRF_K + rank + 1)
        if self.neighbour_weight > 0 and fused:
            strongest = sorted(fused, key=fused.__getitem__, reverse=True)[:RECALL_POOL]
            shared: dict[int, float] = {}
            for seed_id, around in self.store.neighbours(strongest).items():
                for neighbour in around:
                    share = self.neighbour_weight * fused[seed_id]
                    shared[neighbour] = max(shared.get(neighbour, 0.0), share)
            for seed_id, share in shared.items():
                fused[seed_id] = fused.get(seed_id, 0.0) + share
        best = sorted(fused, key=lambda seed_id: (-fused[seed_id], seed_id))[:k]
        seeds = {hit.seed.id: hit.seed for hit in by_vector} | {seed.id: seed for seed, _ in by_keyword}
        seeds |= self.store.get_many([seed_id for seed_id in best if seed_id not in seeds])
        # The vector ranking knows its hits' similarity; only the others' vectors are read (one statement or
        # one index lookup each, never one per hit).
        similarities = {hit.seed.id: hit.similarity for hit in by_vector}
        vectors = self.store.embeddings([seed_id for seed_id in best if seed_id not in similarities])
        similarities |= {seed_id: dot(embedding, vector) for seed_id, vector in vectors.items()}
        hits: list[RecallHit] = []
        for seed_id in best:
            seed = seeds.get(seed_id)
            if seed is None:  # removed meanwhile
                continue
            similarity = similarities.get(seed_id)
            hits.append(
                RecallHit(
                    score=round(fused[seed_id] * (RRF_K + 1) / (1 + self.keyword_weight), 4),
                    similarity=None if similarity is None else round(similarity, 4),
                    **SeedView.of(seed).model_dump(),
                )
            )
        return hits
