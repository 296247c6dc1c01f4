"""Safe by default: undo and forget, scopes kept apart, secrets redacted, on a real store.

Decisions that SmolLM2 cannot make on demand (UPDATE, DELETE, a merge) come from a scripted
cerebellum in front of the real store and the real SmolLM2 embedder, as in test_memory.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from seeds import OperationNotFound, SeedNotFound, SeedStore, UndoRefused
from server.models.embedder import Embedder
from server.pipeline.memory import Memory
from server.rules import secrets
from server.rules.secrets import SecretInText
from tests.helpers.fakes import HashEmbedder, ScriptedBrain


def scripted(store: SeedStore, embedder: object, **script: object) -> tuple[Memory, ScriptedBrain]:
    brain = ScriptedBrain(**script)  # type: ignore[arg-type]
    memory = Memory(store, brain, embedder, candidate_similarity=-1.0, reconcile_similarity=-1.0)  # type: ignore[arg-type]
    return memory, brain


def state(store: SeedStore, scope: str | None = None) -> list[tuple[object, ...]]:
    """What a user can observe of a scope: every seed, its vector, whether full-text search finds it by its words."""
    observed: list[tuple[object, ...]] = []
    for seed in store.list_seeds(scope):
        found = {s.id for s, _ in store.keyword_search(seed.text, seed.scope, 100)}
        observed.append((seed, tuple(round(v, 6) for v in store.embedding(seed.id)), seed.id in found))
    return observed


# -- undo round trips -------------------------------------------------------------------------


def test_undo_of_a_remember_update_restores_the_seed_exactly(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, action="UPDATE", target="first", merged="Staging DB port is 5434.")
    store.add("p", "Staging DB port is 5433.", embedder.embed_document("Staging DB port is 5433."), tags=["db"])
    before = state(store)
    result = memory.remember("The staging port moved to 5434.", "p")
    assert result.status == "updated" and result.operation_id is not None
    assert state(store) != before

    undone = memory.undo(result.operation_id)
    assert state(store) == before
    assert undone.undone_operation_id == result.operation_id and undone.undone_kind == "update"
    assert [s.text for s in undone.restored] == ["Staging DB port is 5433."]
    assert memory.recall("staging port 5434", "p").hits[0].text == "Staging DB port is 5433."
    with pytest.raises(UndoRefused, match="already undone"):
        memory.undo(result.operation_id)


def test_undo_of_a_remember_delete_brings_the_seed_back(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder, action="DELETE", target="first")
    old = store.add("p", "We deploy with Fabric.", embedder.embed_document("We deploy with Fabric."))
    before = state(store)
    result = memory.remember("That was wrong: we never used Fabric.", "p")
    assert result.status == "deleted" and store.get(old.id) is None and result.operation_id is not None
    undone = memory.undo(result.operation_id)
    assert state(store) == before
    assert [s.id for s in undone.restored] == [old.id]


def test_undo_of_reconcile_merge_and_update(store: SeedStore, embedder: Embedder) -> None:
    memory, brain = scripted(store, embedder, action="NONE", target="first")
    for text in ("Use ruff for linting.", "use ruff for linting", "Python 3.11 everywhere.", "We moved to 3.12."):
        store.add("p", text, embedder.embed_document(text))
    before = state(store)
    merged = memory.reconcile("p")
    assert merged.actions and all(a.action == "merge-duplicate" and a.applied for a in merged.actions)
    assert state(store) != before
    for action in reversed(merged.actions):  # newest first
        assert action.operation_id is not None
        memory.undo(action.operation_id)
    assert state(store) == before

    brain.action, brain.merged = "UPDATE", "Python 3.12 everywhere, and lint with ruff."
    updated = memory.reconcile("p")
    assert "update" in {a.action for a in updated.actions}  # the exact twin is still merged as a duplicate
    for action in reversed(updated.actions):
        assert action.operation_id is not None
        undone = memory.undo(action.operation_id)
        if action.action == "update":
            assert {s.id for s in undone.restored} == {action.seed_id, action.target_id}
    assert state(store) == before


def test_forget_is_explicit_scoped_and_undoable(store: SeedStore, embedder: Embedder) -> None:
    memory, _ = scripted(store, embedder)
    kept = memory.remember("The API gateway runs on port 8080.", "other", force=True)
    saved = memory.remember("Lunch is at noon on Fridays.", "p", force=True)
    assert saved.seed is not None and kept.seed is not None
    before = state(store)
    with pytest.raises(SeedNotFound, match="in scope 'p'"):
        memory.forget(kept.seed.id, "p")  # an id from another project is not reached from this one
    with pytest.raises(SeedNotFound):
        memory.forget(999_999)
    assert state(store) == before

    gone = memory.forget(saved.seed.id, "p")
    assert gone.seed.text == "Lunch is at noon on Fridays." and store.get(saved.seed.id) is None
    assert memory.recall("lunch", "p").hits == []
    (entry,) = store.history(saved.seed.id)
    assert entry.operation_id == gone.operation_id and entry.reason == "forgotten on request"
    memory.undo(gone.operation_id)
    assert state(store) == before
    with pytest.raises(OperationNotFound):
        memory.undo("op_000000000000")


# -- scopes ---------------------------------------------------------------------------------------


def test_recall_stays_in_its_scope_unless_asked_and_hits_name_theirs(store: SeedStore) -> None:
    memory, _ = scripted(store, HashEmbedder())
    for scope in ("shop-api", "billing", "infra"):
        memory.remember(f"The {scope} service deploys with Helm charts.", scope, force=True)
    one = memory.recall("deploys with Helm", "shop-api")
    assert one.scope == "shop-api" and {h.scope for h in one.hits} == {"shop-api"}
    every = memory.recall("deploys with Helm", "*")
    assert every.scope == "*" and {h.scope for h in every.hits} == {"shop-api", "billing", "infra"}
    some = memory.recall("deploys with Helm", ["billing", "infra", "billing"])
    assert some.scope == "billing,infra" and {h.scope for h in some.hits} == {"billing", "infra"}
    assert memory.recall("deploys with Helm", []).hits == []


def test_reconcile_of_every_scope_never_pairs_seeds_across_scopes(store: SeedStore) -> None:
    memory, brain = scripted(store, HashEmbedder(), action="NONE", target="first")
    ids: dict[str, set[int]] = {}
    for scope in ("a", "b"):
        for text in ("Tests run with pytest -x.", "We run the tests with pytest -x."):
            ids.setdefault(scope, set()).add(store.add(scope, text, memory.embedder.embed_document(text)).id)
    result = memory.reconcile("*")
    assert result.scope == "*" and result.examined == 4
    assert {a.scope for a in result.actions} == {"a", "b"}
    for action in result.actions:
        assert {action.seed_id, action.target_id} <= ids[action.scope]
    for shown in brain.shown:
        assert set(shown) <= ids["a"] or set(shown) <= ids["b"]
    assert store.count("a") == store.count("b") == 1
    assert memory.reconcile(["a"]).examined == 1


# -- redact mode ------------------------------------------------------------------------------------


def corpus_positives() -> list[dict[str, str]]:
    corpus = Path(__file__).parents[1] / "data" / "secrets.jsonl"
    return [row for row in map(json.loads, corpus.read_text(encoding="utf-8").splitlines()) if row["secret"]]


def test_redact_mode_stores_placeholders_and_no_secret_reaches_disk_logs_or_models(
    store: SeedStore, caplog: pytest.LogCaptureFixture
) -> None:
    # The fast embedder keeps every text it is given: what reaches it is what would reach the real one.
    caplog.set_level(logging.DEBUG)
    recording = HashEmbedder()
    brain = ScriptedBrain()
    memory = Memory(store, brain, recording, candidate_similarity=0.9, secrets_mode="redact")  # type: ignore[arg-type]
    positives = corpus_positives()
    for row in positives:
        result = memory.remember(row["text"], "p", tags=["from-corpus"])
        assert result.status in ("saved", "duplicate", "skipped"), row["id"]
        assert result.redacted, row["id"]
    stored = store.list_seeds("p")
    assert stored and all("[REDACTED:" in seed.text for seed in stored)
    assert all(secrets.find_secrets(seed.text) == [] for seed in stored)
    memory.remember("An ordinary lesson, stored.", "p", force=True)
    found = memory.recall("connect with postgres://app:Zq8vR2mK9tLp@db.internal/app", "p")
    assert "Zq8vR2mK9tLp" not in found.query and "[REDACTED:" in found.query

    raw = b"".join(
        Path(store.path + suffix).read_bytes() for suffix in ("", "-wal") if Path(store.path + suffix).exists()
    )
    assert b"An ordinary lesson, stored." in raw and b"[REDACTED:" in raw  # the check can see stored text
    model_inputs = "\n".join(brain.prompts + recording.seen)
    assert "[REDACTED:" in model_inputs
    for row in positives:
        assert row["value"].encode() not in raw, row["id"]
        assert row["value"] not in model_inputs, row["id"]
        assert row["value"] not in caplog.text, row["id"]
    assert "Zq8vR2mK9tLp" not in model_inputs


def test_refuse_mode_refuses_secrets_in_tags_too(store: SeedStore) -> None:
    memory, _ = scripted(store, HashEmbedder())
    with pytest.raises(SecretInText, match="GitHub token"):
        memory.remember("A fine text.", "p", tags=["ghp_" + "Ab3dE" * 7 + "x"])
    assert store.count() == 0
    redacting = Memory(store, ScriptedBrain(), HashEmbedder(), secrets_mode="redact")
    result = redacting.remember("A fine text.", "p", tags=["ghp_" + "Ab3dE" * 7 + "x"], force=True)
    assert result.seed is not None and result.seed.tags == ["[REDACTED:github-token]"]
