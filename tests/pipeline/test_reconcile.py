"""Reconcile sweeps that report progress and resume after an interruption (real store, real SmolLM2 embedder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from seeds import SeedStore
from server.models.cerebellum import ArbitrateVerdict, Cerebellum, MemorizeVerdict
from server.models.embedder import Embedder
from server.models.prompts import Candidate
from server.pipeline.memory import Memory
from server.pipeline.reconcile import RECONCILE_CURSOR_KEY


@dataclass
class AskedAbout:
    """Records which seed each arbitration was about; answers with the real model, or ADD (keep both) at unit speed.

    SmolLM2 takes seconds per arbitration on two busy cores; what is tested here is which seeds are asked
    about, not the answer (reconcile with the model's answers is tested in test_memory.py and test_resources.py).
    """

    inner: Cerebellum | None = None
    texts: list[str] = field(default_factory=list[str])
    name: str = "recording"

    def memorize(self, text: str) -> MemorizeVerdict:
        assert self.inner is not None
        return self.inner.memorize(text)

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        self.texts.append(text)
        if self.inner is None:
            return ArbitrateVerdict("ADD", None, "", "keep both", 0.0)
        return self.inner.arbitrate(text, candidates)


class Stop(Exception):
    pass


TEXTS = [
    f"Service {name} listens on port {port}."
    for name, port in (("alpha", 8001), ("beta", 8002), ("gamma", 8003), ("delta", 8004), ("epsilon", 8005))
]


def test_an_interrupted_sweep_goes_on_where_it_stopped(
    store: SeedStore, cerebellum: Cerebellum, embedder: Embedder
) -> None:
    brain = AskedAbout(cerebellum)
    # A threshold above any pair's similarity: every seed is looked at, none is arbitrated or changed,
    # so the sweep's bookkeeping is what is tested.
    memory = Memory(store, brain, embedder, reconcile_similarity=1.01)
    seeds = [store.add("p", text, embedder.embed_document(text)) for text in TEXTS]
    store.add("other", "Unrelated.", embedder.embed_document("Unrelated."))

    seen: list[tuple[int, int, int]] = []

    def stop_after_two(done: int, total: int, seed_id: int) -> None:
        seen.append((done, total, seed_id))
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        memory.reconcile("p", progress=stop_after_two)
    assert seen == [(1, 5, seeds[0].id), (2, 5, seeds[1].id)]
    assert store.get_meta(RECONCILE_CURSOR_KEY + "p") is not None
    assert store.get_meta(RECONCILE_CURSOR_KEY + "other") is None

    # A dry run plans from where the real sweep would go on, and moves nothing.
    plan = memory.reconcile("p", dry_run=True)
    assert (plan.resumed_after, plan.examined) == (seeds[1].id, 3)
    assert store.get_meta(RECONCILE_CURSOR_KEY + "p") is not None

    seen.clear()
    resumed = memory.reconcile("p", progress=lambda d, t, s: seen.append((d, t, s)))
    assert resumed.resumed_after == seeds[1].id and resumed.examined == 3
    assert [s for _, _, s in seen] == [seed.id for seed in seeds[2:]]
    assert store.get_meta(RECONCILE_CURSOR_KEY + "p") is None  # finished: the mark is gone

    fresh = memory.reconcile("p")
    assert fresh.resumed_after is None and fresh.examined == 5


def test_a_resumed_sweep_does_not_ask_the_model_again_about_seeds_it_finished(
    store: SeedStore, embedder: Embedder
) -> None:
    brain = AskedAbout()
    memory = Memory(store, brain, embedder, reconcile_similarity=-1.0)  # every seed has older neighbours
    for text in TEXTS[:4]:
        store.add("p", text, embedder.embed_document(text))

    def stop_after_three(done: int, total: int, seed_id: int) -> None:
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        memory.reconcile("p", progress=stop_after_three)
    assert brain.texts == TEXTS[1:3]  # the first seed has nothing older
    brain.texts.clear()
    result = memory.reconcile("p")
    assert result.examined == 1 and result.arbitrated == 1
    assert brain.texts == [TEXTS[3]]  # only the seed after the mark
    brain.texts.clear()
    assert memory.reconcile("p").examined == 4 and brain.texts == TEXTS[1:4]  # a finished sweep starts over
