"""The remember / recall / reconcile pipeline on a real store and the real SmolLM2 GGUF.

SmolLM2-135M is too weak to make chosen decisions on demand, so the paths that need a particular
verdict (UPDATE, DELETE, a broken answer) also run with a scripted cerebellum in front of the real
store and the real embedder. Everything else runs the real model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import pytest

from seeds import SeedStore, open_store
from server.models.cerebellum import ArbitrateVerdict, Cerebellum, MemorizeVerdict
from server.models.embedder import Embedder
from server.models.prompts import CATEGORIES, Candidate
from server.pipeline.memory import Memory
from server.pipeline.results import RememberStatus
from tests.helpers.fakes import ScriptedBrain

if TYPE_CHECKING:
    from server.models.calibration import GateCalibration

TEXTS = [
    "Lesson: pytest-xdist workers must each get their own SQLite file, or the fixtures deadlock.",
    "fix: handle None in the config parser (#123)",
    "ok thanks!",
    "We decided to use uv instead of pip-tools for locking dependencies, because it is 10x faster.",
    "The user prefers early returns over nested if statements.",
    "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nKeyError: 'id'",
    "我们的预发布数据库在 5433 端口，不是 5432。",
    "Running the test suite now...",
]


@dataclass
class CountingCerebellum:
    """The real model, with a count of the calls the pipeline makes to it."""

    inner: Cerebellum
    memorize_calls: int = 0
    arbitrate_calls: int = 0
    name: str = "counting"

    def memorize(self, text: str) -> MemorizeVerdict:
        self.memorize_calls += 1
        return self.inner.memorize(text)

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        self.arbitrate_calls += 1
        return self.inner.arbitrate(text, candidates)


@pytest.fixture
def store(engine_store: SeedStore) -> SeedStore:
    """The store-facing pipeline tests (scripted decisions) run on both engines, SQLite and PostgreSQL."""
    return engine_store


@pytest.fixture
def memory(tmp_path: Path, cerebellum: Cerebellum, embedder: Embedder) -> Iterator[Memory]:
    """The real-model tests are about SmolLM2's decisions, not the engine: one SQLite store keeps them quick."""
    sqlite_store = open_store(tmp_path / "seeds.db")
    yield Memory(sqlite_store, cerebellum, embedder, candidate_similarity=0.0, reconcile_similarity=0.0)
    sqlite_store.close()


def scripted(store: SeedStore, embedder: Embedder, **script: object) -> tuple[Memory, ScriptedBrain]:
    brain = ScriptedBrain(**script)  # type: ignore[arg-type]
    return Memory(store, brain, embedder, candidate_similarity=-1.0, reconcile_similarity=-1.0), brain


# -- the real model -----------------------------------------------------------------------------


def test_every_remember_ends_in_a_declared_status(memory: Memory) -> None:
    declared = set(get_args(RememberStatus))
    for text in TEXTS:
        result = memory.remember(text, "proj")
        assert result.status in declared
        if result.status == "skipped":
            assert result.seed is None and result.gate is not None and result.gate.decision == "SKIP"
        else:
            assert result.seed is not None
        if result.gate is not None and result.gate.decided_by == "model":
            assert result.gate.category in CATEGORIES
    # Whatever was decided, the store agrees with what remember said it did.
    seeds = memory.store.list_seeds("proj")
    assert all(s.text.strip() for s in seeds)
    assert memory.parse_failures == 0


@pytest.fixture
def counting(cerebellum: Cerebellum) -> CountingCerebellum:
    return CountingCerebellum(cerebellum)


@pytest.fixture
def counted_memory(store: SeedStore, counting: CountingCerebellum, embedder: Embedder) -> Memory:
    return Memory(store, counting, embedder, candidate_similarity=0.0)


def test_an_exact_duplicate_is_none_without_asking_the_model(
    counted_memory: Memory, counting: CountingCerebellum, store: SeedStore
) -> None:
    memory = counted_memory
    first = memory.remember("Always run ruff before committing.", "proj", force=True)
    assert first.status == "saved" and first.seed is not None
    calls = (counting.memorize_calls, counting.arbitrate_calls)

    again = memory.remember("  always run RUFF before committing ", "proj")
    assert again.status == "duplicate"
    assert again.seed is not None and again.seed.id == first.seed.id
    assert again.arbiter is not None and again.arbiter.action == "NONE"
    assert again.arbiter.decided_by == "exact-match"
    assert (counting.memorize_calls, counting.arbitrate_calls) == calls
    assert store.count("proj") == 1


def test_force_skips_the_gate_and_the_arbiter_sees_only_its_scope(
    counted_memory: Memory, counting: CountingCerebellum, store: SeedStore
) -> None:
    memory = counted_memory
    other = memory.remember("The API gateway runs on port 8080.", "other-project", force=True)
    result = memory.remember("ok thanks!", "proj", force=True)
    assert counting.memorize_calls == 0
    assert result.gate is not None and result.gate.decided_by == "force"
    # Nothing in "proj" yet: no candidates, so no arbitration, even though "other-project" has a seed.
    assert result.status == "saved"
    assert result.arbiter is not None and result.arbiter.decided_by == "no-candidates"
    assert counting.arbitrate_calls == 0
    assert other.seed is not None and store.get(other.seed.id) is not None


def test_the_arbiter_is_shown_similar_seeds_and_can_only_name_those(memory: Memory) -> None:
    memory.remember("The staging database listens on port 5433.", "proj", force=True)
    memory.remember("Deploys go out every Tuesday after standup.", "proj", force=True)
    result = memory.remember("Staging DB port is 5433.", "proj", force=True)
    assert result.arbiter is not None
    assert result.arbiter.decided_by in ("model", "fallback")
    if result.arbiter.decided_by == "model":
        assert set(result.arbiter.candidates) <= {s.id for s in memory.store.list_seeds("proj")} | {
            result.seed.id if result.seed else -1
        }
        if result.arbiter.target_id is not None:
            assert result.arbiter.target_id in result.arbiter.candidates


def test_recall_finds_what_was_remembered_in_its_scope(memory: Memory) -> None:
    saved = memory.remember("Use the staging cluster for load tests, never production.", "proj", force=True)
    memory.remember("Lunch is at noon on Fridays.", "elsewhere", force=True)
    assert saved.seed is not None
    result = memory.recall("Use the staging cluster for load tests, never production.", "proj", k=3)
    assert result.scope == "proj"
    assert [hit.id for hit in result.hits] == [saved.seed.id]
    assert result.hits[0].similarity == pytest.approx(1.0, abs=0.01)
    assert result.hits[0].score == pytest.approx(1.0, abs=0.01)  # first by vector and by keywords
    assert result.hits[0].created_at == saved.seed.created_at
    assert memory.recall("anything", "empty-scope").hits == []


def test_reconcile_with_the_real_model_only_touches_seeds_of_its_scope(memory: Memory) -> None:
    for text in ("Use Postgres 16 in CI.", "CI uses Postgres 16.", "The CI database is Postgres 16."):
        memory.remember(text, "proj", force=True)
    memory.remember("CI uses Postgres 16.", "other", force=True)
    before = {s.id for s in memory.store.list_seeds("proj")}

    plan = memory.reconcile("proj", dry_run=True)
    assert plan.dry_run and all(not a.applied for a in plan.actions)
    assert {s.id for s in memory.store.list_seeds("proj")} == before  # a dry run changes nothing

    done = memory.reconcile("proj")
    for action in done.actions:
        assert {action.seed_id, action.target_id} <= before
        assert action.applied and action.operation_id is not None
    removed = before - {s.id for s in memory.store.list_seeds("proj")}
    assert len(removed) == len(done.actions)
    assert memory.store.count("other") == 1


# -- chosen verdicts, scripted in front of the real store and embedder ---------------------------


def test_update_replaces_the_text_and_history_keeps_the_old_one(store: SeedStore, embedder: Embedder) -> None:
    memory, brain = scripted(store, embedder, action="UPDATE", target="first", merged="Staging DB port is 5434.")
    old = store.add("p", "Staging DB port is 5433.", embedder.embed_document("Staging DB port is 5433."))
    result = memory.remember("The staging port moved to 5434.", "p")
    assert result.status == "updated"
    assert result.seed is not None and result.seed.id == old.id
    assert result.seed.text == "Staging DB port is 5434."
    assert result.previous_text == "Staging DB port is 5433."
    assert brain.shown == [[old.id]]
    (entry,) = store.history(old.id)
    assert entry.previous.text == "Staging DB port is 5433."
    assert entry.operation_id == result.operation_id
    assert entry.trigger_text == "The staging port moved to 5434."
    # The new text is searchable under its own vector.
    hits = store.search(embedder.embed_document("Staging DB port is 5434."), "p", 1)
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-3)


def test_delete_removes_the_retracted_seed_and_keeps_it_in_history(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, action="DELETE", target="first")
    old = store.add("p", "We deploy with Fabric.", embedder.embed_document("We deploy with Fabric."))
    result = memory.remember("That was wrong: we never used Fabric.", "p")
    assert result.status == "deleted"
    assert result.seed is not None and result.seed.id == old.id
    assert store.get(old.id) is None
    (entry,) = store.history(old.id)
    assert entry.action == "DELETE" and entry.previous.text == "We deploy with Fabric."
    assert entry.trigger_text == "That was wrong: we never used Fabric."


def test_skip_stores_nothing(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, gate="SKIP")
    result = memory.remember("ok thanks!", "p")
    assert result.status == "skipped" and result.seed is None
    assert store.count() == 0


def test_broken_model_answers_keep_the_text(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, fail=True)
    store.add("p", "Something similar.", embedder.embed_document("Something similar."))
    result = memory.remember("A lesson worth keeping.", "p")
    assert result.status == "saved"
    assert result.gate is not None and result.gate.decided_by == "fallback"
    assert result.arbiter is not None and result.arbiter.decided_by == "fallback"
    assert memory.parse_failures == 2
    assert store.count("p") == 2


@pytest.mark.parametrize("action", ["UPDATE", "DELETE", "NONE"])
def test_an_action_without_a_shown_target_adds_instead(store: SeedStore, embedder: Embedder, action: str) -> None:
    memory, _ = scripted(store, embedder, action=action, target=None)
    kept = store.add("p", "Existing seed.", embedder.embed_document("Existing seed."))
    result = memory.remember("New text.", "p")
    assert result.status == "saved"
    assert result.arbiter is not None and result.arbiter.decided_by == "fallback"
    assert store.get(kept.id) == kept


def test_reconcile_folds_duplicates_and_dry_run_matches_the_real_run(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, action="NONE", target="first")
    texts = ["Use ruff for linting.", "use ruff for linting", "Lint with ruff."]
    seeds = [store.add("p", t, embedder.embed_document(t)) for t in texts]
    store.add("q", "Lint with ruff.", embedder.embed_document("Lint with ruff."))

    plan = memory.reconcile("p", dry_run=True)
    assert store.count("p") == 3
    done = memory.reconcile("p")
    strip = {"applied", "operation_id"}
    assert [a.model_dump(exclude=strip) for a in plan.actions] == [a.model_dump(exclude=strip) for a in done.actions]
    assert done.actions[0].decided_by == "exact-match"  # the normalized twin needs no model
    assert [s.id for s in store.list_seeds("p")] == [seeds[0].id]
    assert store.count("q") == 1
    for action in done.actions:
        assert store.history(action.seed_id)[0].operation_id == action.operation_id


def test_reconcile_update_merges_into_the_older_seed(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, action="UPDATE", target="first", merged="Python 3.12 everywhere.")
    older = store.add("p", "Python 3.11 everywhere.", embedder.embed_document("Python 3.11 everywhere."))
    newer = store.add("p", "We moved to Python 3.12.", embedder.embed_document("We moved to Python 3.12."))
    result = memory.reconcile("p")
    (action,) = result.actions
    assert (action.action, action.seed_id, action.target_id) == ("update", newer.id, older.id)
    assert [s.text for s in store.list_seeds("p")] == ["Python 3.12 everywhere."]
    # One operation id covers both halves of the merge.
    assert store.history(older.id)[0].operation_id == store.history(newer.id)[0].operation_id == action.operation_id


def test_recall_finds_an_exact_name_by_keyword_and_ranks_by_both(memory: Memory) -> None:
    texts = [
        "The nightly export job is called ledger-sync and runs at 02:00.",
        "Frontend builds use Vite with the React plugin.",
        "Our Postgres backups are kept for 30 days in the cold bucket.",
    ]
    ids = []
    for text in texts:
        result = memory.remember(text, "proj", force=True)
        assert result.seed is not None
        ids.append(result.seed.id)
    hits = memory.recall("what time does ledger-sync run", "proj", k=3).hits
    assert hits[0].id == ids[0]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.similarity is not None and -1.0 <= h.similarity <= 1.0 for h in hits)


def test_seeds_in_the_other_script_reach_the_arbiter_when_the_embedder_cannot_match_translations(
    store: SeedStore, embedder: Embedder
) -> None:
    brain = ScriptedBrain(action="NONE", target="first")
    # A floor no translation pair reaches: the embedder counts as English-only here.
    memory = Memory(store, brain, embedder, candidate_similarity=0.9999)
    assert memory.arbiter.crosslingual() is False
    english = store.add("p", "The deploy script lives in scripts/deploy.sh.", embedder.embed_document("x"))
    store.add("p", "Lunch is at noon.", embedder.embed_document("y"))
    brain.target = english.id
    result = memory.remember("部署脚本在 scripts/deploy.sh 里。", "p")
    assert english.id in brain.shown[0]
    assert result.status == "duplicate" and result.seed is not None and result.seed.id == english.id
    # A same-script text below the floor is not shown anything: nothing similar enough.
    brain.shown.clear()
    assert memory.remember("Tests run with pytest -x.", "p").status == "saved"
    assert brain.shown == []


def test_no_secret_from_the_corpus_reaches_the_database_file(store: SeedStore, embedder: Embedder) -> None:
    import json

    from server.rules.secrets import SecretInText

    memory, brain = scripted(store, embedder)
    corpus = Path(__file__).parents[1] / "data" / "secrets.jsonl"
    positives = [row for row in map(json.loads, corpus.read_text(encoding="utf-8").splitlines()) if row["secret"]]
    assert len(positives) >= 60
    for row in positives:
        with pytest.raises(SecretInText):
            memory.remember(row["text"], "p", force=True)
    memory.remember("An ordinary lesson, stored.", "p", force=True)
    if store.engine != "sqlite":
        stored = [seed.text for seed in store.list_seeds()] + [r.text for r in store.inbox("skipped")]
        assert stored == ["An ordinary lesson, stored."] and store.inbox() == []
        return
    raw = b"".join(
        Path(store.path + suffix).read_bytes() for suffix in ("", "-wal") if Path(store.path + suffix).exists()
    )
    assert b"An ordinary lesson, stored." in raw  # the check can see stored text
    for row in positives:
        assert row["value"].encode() not in raw, row["id"]
    assert store.count() == 1 and brain.shown == []


@pytest.mark.parametrize("arbiter", ["pairwise", "joint"])
def test_distinct_facts_of_one_template_are_each_kept(
    store: SeedStore, embedder: Embedder, cerebellum: Cerebellum, pairwise_cerebellum: Cerebellum, arbiter: str
) -> None:
    # Found from outside: with SmolLM2, 11 of 12 such facts were judged duplicates of the first (the
    # pairwise arbiter, as the server runs it); with Qwen2.5-Coder-1.5B, 5 of 12 were UPDATEs that
    # replaced another service's fact.
    brain = pairwise_cerebellum if arbiter == "pairwise" else cerebellum
    memory = Memory(store, brain, embedder, candidate_similarity=0.0)
    facts = [f"Fact 0-{i}: service s0x{i} listens on port {10000 + i}." for i in range(1, 13)]
    results = [memory.remember(fact, "proj", force=True) for fact in facts]
    assert [r.status for r in results] == ["saved"] * 12
    assert sorted(seed.text for seed in memory.store.list_seeds("proj")) == sorted(facts)
    for fact in (facts[0], facts[6], facts[11]):
        assert fact in [hit.text for hit in memory.recall(fact, "proj", k=3).hits]


def test_failures_in_the_background_preparation_are_logged_once_and_decisions_go_on(
    store: SeedStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The warm-up and the gate's fit run on a thread of their own: whatever they raise is logged (a failing
    warm-up step once, with the count), the plain gate stays, and remember goes on deciding."""
    from tests.helpers.fakes import HashEmbedder

    memory = Memory(store, ScriptedBrain(), HashEmbedder())

    def broken_step() -> None:
        raise RuntimeError("the prompt-head cache is unreadable")

    def broken_fit(step: object) -> GateCalibration:
        raise RuntimeError("the bank exploded")

    with caplog.at_level(logging.WARNING):
        memory.prepare_in_background([broken_step] * 3, broken_fit).join(timeout=30)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("a warm-up step failed" in m for m in messages) == 1
    assert any("3 warm-up steps failed in all" in m for m in messages)
    assert any("the gate's fit failed, keeping the plain gate" in m for m in messages)
    assert memory.gatekeeper.calibration is None
    assert memory.remember("Lesson: the staging database listens on port 5433.", "p").status == "saved"
