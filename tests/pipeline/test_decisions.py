"""The decisions log: every remember's decision is recorded with what it did, who decided, the model's shares, the
stored seeds the arbiter compared and the time it took; on both engines; purges take it with the texts it quotes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from seeds import SeedStore, open_store
from server.pipeline.memory import Memory
from tests.helpers.fakes import HashEmbedder, ScriptedBrain

STORED = "The staging database runs PostgreSQL 16 on db-staging-2."
REFINED = "The staging database runs PostgreSQL 17 on db-staging-2 since the upgrade."


@pytest.fixture
def store(engine_store: SeedStore) -> SeedStore:
    return engine_store


def remember_with(store: SeedStore, text: str, **script: object) -> Memory:
    brain = ScriptedBrain(**script)  # type: ignore[arg-type]
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=-1.0, reconcile_similarity=-1.0)
    memory.remember(text, "proj")
    return memory


def test_each_outcome_is_recorded_with_its_seed_operation_and_inbox_entry(store: SeedStore) -> None:
    lesson = {"lesson": math.log(0.8), "chatter": math.log(0.15), "fact": math.log(0.05)}
    remember_with(store, STORED, scores=lesson)  # nothing stored yet: ADD, no candidates
    seed = store.list_seeds("proj")[0]
    remember_with(store, STORED)  # the same text: NONE by exact match, no model
    remember_with(store, "ok thanks", gate="SKIP")
    remember_with(
        store,
        REFINED,
        action="UPDATE",
        target="first",
        merged=REFINED,
        relation_shares={"UPDATE": 0.7, "SAME": 0.2, "DIFFERENT": 0.1},
    )
    remember_with(store, "The staging database is now gone.", action="DELETE", target="first")

    log = store.page_decisions(None, None, 10)
    assert [d.label for d in reversed(log)] == ["ADD", "NONE", "SKIP", "UPDATE", "DELETE"]
    add, none, skip, update, delete = reversed(log)
    assert all(d.scope == "proj" and d.latency_ms is not None and d.latency_ms >= 0 for d in log)

    assert (add.seed_id, add.text, add.operation_id) == (seed.id, STORED, None)
    gate = add.detail["gate"]
    assert isinstance(gate, dict) and gate["decided_by"] == "model"
    assert gate["shares"] == {"lesson": 0.8, "chatter": 0.15, "fact": 0.05}
    assert add.detail["arbiter"] == {
        "action": "ADD",
        "target_id": None,
        "reason": "nothing similar is stored",
        "decided_by": "no-candidates",
        "candidates": [],
        "compared": [],
    }

    assert none.seed_id == seed.id and none.inbox_id is None
    assert isinstance(none.detail["arbiter"], dict) and none.detail["arbiter"]["decided_by"] == "exact-match"

    skipped = store.inbox("skipped", "proj")
    assert skip.inbox_id == skipped[0].id and skip.seed_id is None and skip.text == "ok thanks"

    assert update.seed_id == seed.id and update.operation_id is not None
    arbiter = update.detail["arbiter"]
    assert isinstance(arbiter, dict)
    assert arbiter["compared"][0]["id"] == seed.id
    assert arbiter["compared"][0]["relation"] == "UPDATE"
    assert arbiter["compared"][0]["shares"] == {"UPDATE": 0.7, "SAME": 0.2, "DIFFERENT": 0.1}
    assert -1.0 <= arbiter["compared"][0]["similarity"] <= 1.0
    assert store.get_operation(update.operation_id) is not None

    assert delete.seed_id == seed.id and delete.operation_id not in (None, update.operation_id)
    # The seed's own story, oldest first: stored, repeated, refined, retracted.
    assert [d.label for d in store.decisions_about(seed.id)] == ["ADD", "NONE", "UPDATE", "DELETE"]
    assert store.decisions_for_inbox([skipped[0].id])[skipped[0].id].id == skip.id
    assert [d.id for d in store.decisions_for_operations([update.operation_id])[update.operation_id]] == [update.id]


def test_a_duplicate_the_model_judged_is_kept_for_review_beside_its_decision(store: SeedStore) -> None:
    remember_with(store, STORED)
    seed = store.list_seeds("proj")[0]
    remember_with(store, "Staging's database: PostgreSQL 16, host db-staging-2.", action="NONE", target="first")
    (kept,) = store.inbox("skipped", "proj")
    decision = store.decisions_for_inbox([kept.id])[kept.id]
    assert (decision.label, decision.seed_id, decision.text) == ("NONE", seed.id, kept.text)


def test_the_decisions_of_a_purged_memory_go_with_it(store: SeedStore) -> None:
    remember_with(store, STORED)
    seed = store.list_seeds("proj")[0]
    remember_with(store, REFINED, action="UPDATE", target="first", merged=REFINED)
    remember_with(store, "Lesson: always pin the image digest in deploys.")
    other = next(s for s in store.list_seeds("proj") if s.id != seed.id)
    store.purge_seed(seed.id)
    assert store.decisions_about(seed.id) == []
    texts = [d.text for d in store.page_decisions(None, None, 10)]
    assert texts == [other.text]


def test_purging_the_history_purges_the_decisions_of_that_scope(store: SeedStore) -> None:
    remember_with(store, STORED)
    brain = ScriptedBrain()
    Memory(store, brain, HashEmbedder(), candidate_similarity=-1.0).remember("Lesson: run migrations first.", "other")
    assert store.purge_preview("proj").decisions == 1
    purged = store.purge_history("proj", record=True)
    assert purged.decisions == 1
    assert [d.scope for d in store.page_decisions(None, None, 10)] == ["other"]
    record = store.get_operation(purged.operation_id or "")
    assert record is not None and "1 recorded decisions" in record.reason and STORED not in record.reason


def test_migrate_carries_the_decisions(store: SeedStore, tmp_path: Path) -> None:
    remember_with(store, STORED)
    remember_with(store, "ok thanks", gate="SKIP")
    copy = open_store(tmp_path / "copy.db")
    try:
        copy.load(store.dump())
        assert [(d.label, d.text) for d in copy.page_decisions(None, None, 10)] == [
            (d.label, d.text) for d in store.page_decisions(None, None, 10)
        ]
        remember_with(copy, "Lesson: a third one, after the copy.")
        assert len({d.id for d in copy.page_decisions(None, None, 10)}) == 3
    finally:
        copy.close()


def test_the_log_pages_by_label_and_scope_newest_first(store: SeedStore) -> None:
    for i in range(5):
        remember_with(store, f"Lesson {i}: keep the {i}th thing in mind.")
    remember_with(store, "ok thanks", gate="SKIP")
    first = store.page_decisions(["proj"], ["ADD"], 2)
    assert [d.text for d in first] == ["Lesson 4: keep the 4th thing in mind.", "Lesson 3: keep the 3th thing in mind."]
    second = store.page_decisions(["proj"], ["ADD"], 2, (first[-1].decided_at, first[-1].id))
    assert [d.text[:8] for d in second] == ["Lesson 2", "Lesson 1"]
    assert store.page_decisions(["elsewhere"], None, 10) == []
    days = store.decisions_per_day(None, "2000-01-01")
    assert sum(n for _, label, n in days if label == "ADD") == 5
    assert sum(n for _, label, n in days if label == "SKIP") == 1
    assert len(store.decision_latencies(["proj"], "2000-01-01")) == 6


def test_a_reconcile_sweep_records_its_decisions_beside_its_operations(store: SeedStore) -> None:
    embedder = HashEmbedder()
    brain = ScriptedBrain(
        action="UPDATE",
        target="first",
        merged="Python 3.12 everywhere.",
        relation_shares={"UPDATE": 0.55, "SAME": 0.45},
    )
    memory = Memory(store, brain, embedder, candidate_similarity=-1.0, reconcile_similarity=-1.0)
    older = store.add("p", "Python 3.11 everywhere.", embedder.embed_document("Python 3.11 everywhere."))
    twin = store.add("p", "python 3.11 everywhere", embedder.embed_document("python 3.11 everywhere"))
    newer = store.add("p", "We moved to Python 3.12.", embedder.embed_document("We moved to Python 3.12."))
    plan = memory.reconcile("p", dry_run=True)
    assert plan.actions and store.page_decisions(None, None, 10) == []  # a dry run records nothing
    done = memory.reconcile("p")
    logged = store.decisions_for_operations([a.operation_id or "" for a in done.actions])
    assert len(logged) == len(done.actions) == 2
    assert all(len(found) == 1 for found in logged.values())
    by_seed = {a.seed_id: logged[a.operation_id or ""][0] for a in done.actions}
    update = by_seed[newer.id]
    assert (update.label, update.seed_id, update.text) == ("UPDATE", older.id, "We moved to Python 3.12.")
    arbiter = update.detail["arbiter"]
    assert isinstance(arbiter, dict) and arbiter["compared"][0]["shares"] == {"UPDATE": 0.55, "SAME": 0.45}
    folded = by_seed[twin.id]
    assert (folded.label, folded.seed_id) == ("NONE", older.id)
    assert isinstance(folded.detail["arbiter"], dict) and folded.detail["arbiter"]["decided_by"] == "exact-match"
    # Both are in the older seed's story, and in the removed seeds' (through their operations).
    assert {d.id for d in store.decisions_about(older.id)} == {update.id, folded.id}
    assert [d.id for d in store.decisions_about(newer.id)] == [update.id]
