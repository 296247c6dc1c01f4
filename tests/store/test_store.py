"""The seed store on both engines, the same tests: a real SQLite file with sqlite-vec, and a real PostgreSQL with
pgvector (vectors made by hand). Tests taking `bound` or `store` run on each; the others are about one engine."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from seeds import (
    EmbedderMismatch,
    OperationNotFound,
    SeedNotFound,
    SeedStore,
    UndoRefused,
    connect,
    normalize_text,
    open_store,
    sqlite_library,
    text_hash,
)
from seeds.sqlite_db import MIGRATIONS, StoreError


def unit(*values: float) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


@pytest.fixture
def store(engine_store: SeedStore) -> SeedStore:
    return engine_store


@pytest.fixture
def bound(store: SeedStore) -> SeedStore:
    store.bind_embedder("test-embedder.gguf", 4)
    return store


def test_connect_loads_sqlite_vec_on_this_python(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    (version,) = conn.execute("SELECT vec_version()").fetchone()
    assert version.startswith("v0.1.")
    binding, _ = sqlite_library()
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        assert binding == "sqlean"  # this Python cannot load extensions itself
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn.close()


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "seeds.db"
    open_store(path).close()
    open_store(path).close()  # a second open must not re-run anything
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this cerebellum-mcp knows"):
        open_store(path)


def test_add_get_and_knn_search_by_cosine(bound: SeedStore) -> None:
    a = bound.add("proj", "alpha", unit(1, 0, 0, 0), category="lesson", tags=["x"])
    b = bound.add("proj", "beta", unit(1, 1, 0, 0))
    bound.add("proj", "gamma", unit(0, 0, 1, 0))
    assert bound.get(a.id) == a
    assert a.tags == ("x",) and a.category == "lesson"

    hits = bound.search(unit(1, 0.1, 0, 0), "proj", k=2)
    assert [h.seed.id for h in hits] == [a.id, b.id]
    assert hits[0].similarity == pytest.approx(math.cos(math.atan(0.1)), abs=1e-5)
    assert hits[0].similarity > hits[1].similarity


def test_search_stays_in_its_scope(bound: SeedStore) -> None:
    bound.add("one", "in one", unit(1, 0, 0, 0))
    other = bound.add("two", "in two", unit(1, 0, 0, 0))
    assert [h.seed.id for h in bound.search(unit(1, 0, 0, 0), "two", k=5)] == [other.id]
    assert len(bound.search(unit(1, 0, 0, 0), None, k=5)) == 2
    assert bound.search(unit(1, 0, 0, 0), "three", k=5) == []


def test_exact_lookup_ignores_case_width_spacing_and_final_punctuation(bound: SeedStore) -> None:
    seed = bound.add("p", "Use  uv for Python installs.", unit(1, 0, 0, 0))
    assert bound.find_exact("p", "use uv for python installs") == seed
    assert bound.find_exact("p", "\uff35\uff53\uff45 uv for Python installs!") == seed  # full-width letters
    assert bound.find_exact("other", "use uv for python installs") is None
    assert bound.find_exact("p", "use pip for python installs") is None
    assert normalize_text("  A\tB\n") == "a b"
    assert text_hash("数据库 用 Postgres。") == text_hash("数据库 用 postgres")


def test_update_keeps_the_previous_version_in_history(bound: SeedStore) -> None:
    seed = bound.add("p", "staging DB is on port 5432", unit(1, 0, 0, 0), category="fact", tags=["db"])
    updated, op_id = bound.update(
        seed.id, "staging DB is on port 5433", unit(1, 0.2, 0, 0), reason="port changed", trigger_text="it's 5433 now"
    )
    assert updated.text == "staging DB is on port 5433"
    assert updated.created_at == seed.created_at
    assert bound.get(seed.id) == updated
    assert bound.find_exact("p", "staging DB is on port 5433") == updated
    assert bound.find_exact("p", "staging DB is on port 5432") is None

    (entry,) = bound.history(seed.id)
    assert entry.operation_id == op_id
    assert entry.action == "UPDATE"
    assert entry.reason == "port changed"
    assert entry.trigger_text == "it's 5433 now"
    assert entry.previous == seed
    # The new vector replaced the old one in the index.
    assert bound.embedding(seed.id) == pytest.approx(unit(1, 0.2, 0, 0), abs=1e-6)


def test_delete_keeps_the_seed_and_its_vector_in_history(bound: SeedStore) -> None:
    seed = bound.add("p", "we deploy with Fabric", unit(0, 1, 0, 0))
    removed, _ = bound.delete(seed.id, reason="retracted", trigger_text="we stopped using Fabric")
    assert removed == seed
    assert bound.get(seed.id) is None
    assert bound.search(unit(0, 1, 0, 0), "p", k=5) == []
    (entry,) = bound.history(seed.id)
    assert entry.action == "DELETE" and entry.previous == seed
    with pytest.raises(SeedNotFound):
        bound.delete(seed.id, reason="again")


def test_an_operation_that_fails_changes_nothing(bound: SeedStore) -> None:
    a = bound.add("p", "first", unit(1, 0, 0, 0))
    b = bound.add("p", "second", unit(0, 1, 0, 0))
    with pytest.raises(SeedNotFound), bound.operation("reconcile-update", "p", "merge") as op:
        op.update(a.id, "first and second", unit(1, 1, 0, 0))
        op.delete(b.id)
        op.delete(9999)  # fails: the update and delete above must roll back
    assert bound.get(a.id) == a
    assert bound.get(b.id) == b
    assert bound.history(a.id) == [] and bound.history(b.id) == []


def test_ids_are_never_reused_after_a_delete(bound: SeedStore) -> None:
    a = bound.add("p", "a", unit(1, 0, 0, 0))
    bound.delete(a.id, reason="x")
    b = bound.add("p", "b", unit(1, 0, 0, 0))
    assert b.id > a.id


def test_another_embedder_on_the_same_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seeds.db"
    store = open_store(path)
    store.bind_embedder("minilm.gguf", 4)
    store.add("p", "kept", unit(1, 0, 0, 0))
    store.close()

    reopened = open_store(path)
    reopened.bind_embedder("minilm.gguf", 4)  # the same one is fine
    with pytest.raises(EmbedderMismatch, match=r"'minilm\.gguf' \(4 dimensions\).*'qwen3-embedding\.gguf' \(8"):
        reopened.bind_embedder("qwen3-embedding.gguf", 8)
    with pytest.raises(EmbedderMismatch):
        reopened.bind_embedder("other.gguf", 4)
    with pytest.raises(EmbedderMismatch, match="expected a 4-dimension embedding"):
        reopened.add("p", "wrong size", [1.0, 0.0])
    assert reopened.count("p") == 1
    assert reopened.embedder == ("minilm.gguf", 4)
    reopened.close()


def test_two_connections_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "seeds.db"
    first, second = open_store(path), open_store(path)
    first.bind_embedder("e.gguf", 4)
    second.bind_embedder("e.gguf", 4)
    seed = first.add("p", "from the first process", unit(1, 0, 0, 0))
    assert second.get(seed.id) == seed
    assert [h.seed.id for h in second.search(unit(1, 0, 0, 0), "p", 1)] == [seed.id]
    assert first.integrity_check() == "ok"
    first.close()
    second.close()


def test_keyword_search_matches_content_words_with_stemming(bound: SeedStore) -> None:
    a = bound.add("p", "The deploy script retries failed uploads three times.", unit(1, 0, 0, 0))
    bound.add("p", "Lunch is at noon.", unit(0, 1, 0, 0))
    bound.add("q", "The deploy script retries failed uploads three times.", unit(1, 0, 0, 0))
    (hit,) = bound.keyword_search("How many times does it retry an upload?", "p", 5)
    assert hit[0] == a and hit[1] > 0
    assert bound.keyword_search("what is it?", "p", 5) == []  # nothing but question words
    assert len(bound.keyword_search("deploy", None, 5)) == 2
    # The index follows updates and deletes.
    bound.update(a.id, "Uploads are retried five times.", unit(1, 0, 0, 0), reason="changed")
    assert bound.keyword_search("deploy script", "p", 5) == []
    assert bound.keyword_search("uploads", "p", 5)[0][0].id == a.id
    bound.delete(a.id, reason="gone")
    assert bound.keyword_search("uploads", "p", 5) == []


def test_chinese_keywords_are_found_inside_text_without_spaces(bound: SeedStore) -> None:
    # A run of Chinese characters is one token to a word tokenizer: both engines match its character grams.
    hit = bound.add("p", "我们的数据库部署在Postgres上，端口是5433。", unit(1, 0, 0, 0))
    bound.add("p", "午饭在十二点。", unit(0, 1, 0, 0))
    other = bound.add("q", "测试环境的数据库每周日重置。", unit(1, 0, 0, 0))
    assert [s.id for s, _ in bound.keyword_search("数据库的端口是多少？", "p", 5)] == [hit.id]
    assert [s.id for s, _ in bound.keyword_search("数据库", None, 5)] == [hit.id, other.id]
    assert [s.id for s, _ in bound.keyword_search("端口", "p", 5)] == [hit.id]  # a 2-character word
    assert [s.id for s, _ in bound.keyword_search("Postgres 端口", "p", 5)] == [hit.id]  # words and grams
    assert bound.keyword_search("晚饭", "p", 5) == []
    # The gram index follows updates and deletes, and the inbox is searched the same way.
    bound.update(hit.id, "我们的缓存部署在Redis上。", unit(1, 0, 0, 0), reason="changed")
    assert bound.keyword_search("端口", "p", 5) == []
    bound.delete(other.id, reason="gone")
    assert bound.keyword_search("数据库", None, 5) == []
    waiting = bound.receive("p", "发布窗口改到周四下午。")
    assert bound.inbox_search("什么时候发布？", "p", 5) == [waiting]


@pytest.mark.parametrize(
    ("version", "text", "query"),
    [
        (1, "Written before full-text search existed.", "full-text search"),  # gains the word index
        (5, "生产数据库只能通过跳板机访问。", "跳板机"),  # gains the Chinese gram index
    ],
)
def test_an_older_store_gains_the_later_keyword_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int, text: str, query: str
) -> None:
    path = tmp_path / "old.db"
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS[:version])
    old = open_store(path)
    old.bind_embedder("e.gguf", 4)
    seed = old.add("p", text, unit(1, 0, 0, 0))
    old.close()
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS)
    upgraded = open_store(path)
    assert [s for s, _ in upgraded.keyword_search(query, "p", 5)] == [seed]
    assert upgraded.integrity_check() == "ok"
    upgraded.close()


def test_inbox_search_finds_pending_texts_by_content_words_never_skipped_ones(bound: SeedStore) -> None:
    waiting = bound.receive("p", "The staging database listens on port 5433.", tags=["db"])
    bound.receive("q", "The staging database of team q listens on port 6543.")
    skipped = bound.receive("p", "ok, the staging database is up again")
    bound.skip(skipped.id, "status: a passing remark")
    (found,) = bound.inbox_search("Which port does the staging database use?", "p", 5)
    assert found == waiting and found.tags == ("db",) and found.state == "pending"
    assert bound.inbox_search("ports", "p", 5) == [waiting]  # stemmed, as seeds are
    assert {r.scope for r in bound.inbox_search("staging database", None, 5)} == {"p", "q"}
    assert {r.scope for r in bound.inbox_search("staging database", ["q", "p", "q"], 5)} == {"p", "q"}
    assert len(bound.inbox_search("staging database", None, 1)) == 1
    assert bound.inbox_search("staging database", [], 5) == []
    assert bound.inbox_search("what is it?", "p", 5) == []  # nothing but question words
    assert bound.inbox_search("passing remark", "p", 5) == []  # only the skipped text has those words
    # Decided: it leaves the inbox, and the search, in the same transaction that stores the seed.
    bound.add("p", waiting.text, unit(1, 0, 0, 0), settles=waiting.id)
    assert bound.inbox_search("staging database", "p", 5) == []


def test_a_store_from_schema_4_indexes_the_texts_already_in_its_inbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS[:4])
    old = open_store(path)
    waiting = old.receive("p", "Received before the inbox had a full-text index.")
    old.close()
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS)
    upgraded = open_store(path)
    assert upgraded.inbox_search("full-text index", "p", 5) == [waiting]
    upgraded.close()


def test_a_snapshot_sees_a_text_either_waiting_or_decided_never_both(tmp_path: Path) -> None:
    reader, decider = open_store(tmp_path / "s.db"), open_store(tmp_path / "s.db")
    try:
        reader.bind_embedder("e", 4)
        decider.bind_embedder("e", 4)
        waiting = reader.receive("p", "Decided by another process while recall reads.")
        with reader.snapshot():
            assert reader.inbox_search("decided process", "p", 5) == [waiting]
            decider.add("p", waiting.text, unit(1, 0, 0, 0), settles=waiting.id)  # the other server decides it
            assert reader.keyword_search("decided process", "p", 5) == []
            assert reader.inbox_search("decided process", "p", 5) == [waiting]
        assert [seed.text for seed, _ in reader.keyword_search("decided process", "p", 5)] == [waiting.text]
        assert reader.inbox_search("decided process", "p", 5) == []
    finally:
        reader.close()
        decider.close()


def test_neighbours_are_the_seeds_stored_beside_it_in_the_same_session(bound: SeedStore) -> None:
    a = bound.add("p", "one", unit(1, 0, 0, 0))
    bound.add("other", "elsewhere", unit(1, 0, 0, 0))
    b = bound.add("p", "two", unit(1, 0, 0, 0))
    c = bound.add("p", "three", unit(1, 0, 0, 0))
    assert bound.neighbours([b.id], "p") == {b.id: [a.id, c.id]}
    assert bound.neighbours([a.id], "p") == {a.id: [b.id]}
    assert bound.neighbours([a.id], "p", within_seconds=-1) == {a.id: []}  # no session that short


# -- undo and purge -------------------------------------------------------------------------------


def snapshot(store: SeedStore, seed_id: int) -> tuple[object, ...]:
    """Everything a user could observe about one seed: its row, its vector and its full-text entry."""
    seed = store.get(seed_id)
    if seed is None:
        return (None,)
    words = [w for w in seed.text.split() if w.isalpha()]
    keyword_ids = {s.id for s, _ in store.keyword_search(" ".join(words), seed.scope, 50)}
    nearest = store.search(store.embedding(seed_id), seed.scope, 1)
    return (
        seed,
        tuple(round(v, 6) for v in store.embedding(seed_id)),
        seed_id in keyword_ids,
        nearest[0].seed.id if nearest else None,
        store.find_exact(seed.scope, seed.text) == seed,
    )


def test_undo_of_an_update_restores_the_seed_exactly(bound: SeedStore) -> None:
    seed = bound.add("p", "staging DB is on port 5432", unit(1, 0, 0, 0), category="fact", tags=["db", "staging"])
    bound.add("p", "unrelated lunch note", unit(0, 0, 0, 1))
    before = snapshot(bound, seed.id)
    _, op_id = bound.update(seed.id, "staging moved to port 5433", unit(0, 1, 0, 0), reason="r", category="lesson")
    assert snapshot(bound, seed.id) != before

    outcome = bound.undo(op_id)
    assert snapshot(bound, seed.id) == before
    assert bound.get(seed.id) == seed  # same timestamps, category and tags too
    assert bound.keyword_search("5433 moved", "p", 5) == []  # the undone text left the full-text index
    assert [s.id for s in outcome.restored] == [seed.id] and outcome.removed == ()
    assert outcome.undone.id == op_id and outcome.undone.undone_by == outcome.operation.id
    # The undo is an operation of its own, visible in the seed's history.
    assert [(e.operation_id, e.action) for e in bound.history(seed.id)] == [
        (op_id, "UPDATE"),
        (outcome.operation.id, "UPDATE"),
    ]
    assert bound.history(seed.id)[1].previous.text == "staging moved to port 5433"
    recorded = bound.get_operation(op_id)
    assert recorded is not None and recorded.undone_by == outcome.operation.id
    assert outcome.operation.kind == "undo" and outcome.operation.undoes == op_id
    assert bound.integrity_check() == "ok"


def test_undo_of_a_delete_brings_the_seed_back_with_its_id(bound: SeedStore) -> None:
    seed = bound.add("p", "we deploy with Fabric", unit(0, 1, 0, 0), tags=["deploy"])
    before = snapshot(bound, seed.id)
    _, op_id = bound.delete(seed.id, reason="retracted")
    later = bound.add("p", "added after the delete", unit(1, 0, 0, 0))
    outcome = bound.undo(op_id)
    assert snapshot(bound, seed.id) == before
    assert [s.id for s in outcome.restored] == [seed.id]
    assert bound.count("p") == 2 and bound.get(later.id) == later
    assert bound.history(seed.id)[-1].action == "ADD"
    # New seeds still get fresh ids, never the restored one.
    assert bound.add("p", "next", unit(0, 0, 1, 0)).id > later.id


def test_undo_twice_is_refused_and_undoing_the_undo_reapplies_the_operation(bound: SeedStore) -> None:
    seed = bound.add("p", "uses Python 3.11", unit(1, 0, 0, 0))
    updated, op_id = bound.update(seed.id, "uses Python 3.12", unit(1, 1, 0, 0), reason="upgrade")
    undo = bound.undo(op_id)
    with pytest.raises(UndoRefused, match=f"already undone by {undo.operation.id}"):
        bound.undo(op_id)
    redo = bound.undo(undo.operation.id)
    assert bound.get(seed.id) == updated
    assert redo.operation.undoes == undo.operation.id
    with pytest.raises(UndoRefused, match="already undone"):
        bound.undo(undo.operation.id)
    # Undo of a delete's undo removes the seed again.
    _, delete_op = bound.delete(seed.id, reason="gone")
    back = bound.undo(delete_op)
    assert bound.get(seed.id) == updated
    again = bound.undo(back.operation.id)
    assert bound.get(seed.id) is None and [s.id for s in again.removed] == [seed.id]
    assert bound.search(unit(1, 1, 0, 0), "p", 5) == [] and bound.keyword_search("Python", "p", 5) == []


def test_undo_is_refused_while_a_later_operation_changed_the_same_seed(bound: SeedStore) -> None:
    seed = bound.add("p", "v1", unit(1, 0, 0, 0))
    _, first = bound.update(seed.id, "v2", unit(1, 0, 0, 0), reason="r")
    v2 = bound.get(seed.id)
    _, second = bound.delete(seed.id, reason="r")
    with pytest.raises(UndoRefused, match=f"changed again since, by {second}.*Undo {second} first"):
        bound.undo(first)
    assert bound.get(seed.id) is None  # the refused undo changed nothing
    assert bound.get_operation(first) is not None and bound.get_operation(first).undone_by is None  # type: ignore[union-attr]
    bound.undo(second)
    assert bound.get(seed.id) == v2
    bound.undo(first)
    assert bound.get(seed.id) == seed


def test_undo_of_a_merge_restores_both_seeds_and_unknown_ids_are_refused(bound: SeedStore) -> None:
    a = bound.add("p", "first", unit(1, 0, 0, 0))
    b = bound.add("p", "second", unit(0, 1, 0, 0))
    before = (snapshot(bound, a.id), snapshot(bound, b.id))
    with bound.operation("reconcile-update", "p", "merge", trigger_text="second") as op:
        op.update(a.id, "first and second", unit(1, 1, 0, 0))
        op.delete(b.id)
    outcome = bound.undo(op.id)
    assert (snapshot(bound, a.id), snapshot(bound, b.id)) == before
    assert {s.id for s in outcome.restored} == {a.id, b.id}
    with pytest.raises(OperationNotFound, match="No operation with id 'op_nope'"):
        bound.undo("op_nope")
    assert [o.id for o in bound.operations("p")] == [outcome.operation.id, op.id]


def test_purge_history_forgets_old_operations_for_good(bound: SeedStore, tmp_path: Path) -> None:
    kept = bound.add("q", "other scope seed", unit(0, 0, 1, 0))
    _, other_op = bound.update(kept.id, "other scope seed, updated", unit(0, 0, 1, 0), reason="r")
    seed = bound.add("p", "The zanzibarquux credential rotation happens monthly.", unit(1, 0, 0, 0))
    _, op_id = bound.delete(seed.id, reason="forget it")
    assert bound.purge_history(before="2000-01-01").operations == 0

    skipped = bound.receive("p", "ok thanks, zanzibarquux!")
    bound.skip(skipped.id, "chatter")
    waiting = bound.receive("p", "Still to be decided.")
    purged = bound.purge_history(scope="p")
    assert (purged.operations, purged.versions, purged.skipped) == (1, 1, 1)
    assert [r.id for r in bound.inbox("pending")] == [waiting.id] and bound.inbox("skipped") == []
    assert bound.history(seed.id) == []
    with pytest.raises(OperationNotFound):
        bound.undo(op_id)
    assert bound.get_operation(other_op) is not None  # another scope's history is kept
    if bound.engine == "sqlite":
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("seeds.db"))
        assert b"other scope seed" in raw
        assert b"zanzibarquux" not in raw  # neither the row, nor the WAL, nor the full-text index keeps it
    assert bound.keyword_search("zanzibarquux", None, 5) == [] and bound.inbox_search("zanzibarquux", None, 5) == []
    with pytest.raises(ValueError, match="not an ISO 8601"):
        bound.purge_history(before="last tuesday")
    assert bound.purge_history().operations == 1
    assert bound.integrity_check() == "ok"


def test_history_from_schema_3_survives_the_undo_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS[:3])
    old = open_store(path)
    old.bind_embedder("e.gguf", 4)
    seed = old.add("p", "before undo existed", unit(1, 0, 0, 0))
    old.close()
    # A delete as the schema-3 code recorded it (the current code writes the `undoes` column).
    conn, op_id = connect(path), "op_schema3"
    conn.execute(
        "INSERT INTO operations (id, kind, scope, reason, trigger_text, created_at) VALUES (?, 'delete', 'p', 'r', "
        "NULL, '2026-01-01T00:00:00.000+00:00')",
        (op_id,),
    )
    conn.execute(
        "INSERT INTO seed_history (operation_id, seed_id, action, scope, text, category, tags, source, created_at, "
        "updated_at, embedding, recorded_at) SELECT ?, s.id, 'DELETE', s.scope, s.text, s.category, s.tags, s.source, "
        "s.created_at, s.updated_at, v.embedding, s.updated_at FROM seeds s JOIN seed_vectors v ON v.seed_id = s.id",
        (op_id,),
    )
    conn.execute("DELETE FROM seed_vectors")
    conn.execute("DELETE FROM seeds")
    conn.close()
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS)
    upgraded = open_store(path)
    assert [e.operation_id for e in upgraded.history(seed.id)] == [op_id]
    upgraded.undo(op_id)
    assert upgraded.get(seed.id) == seed
    assert upgraded.search(unit(1, 0, 0, 0), "p", 1)[0].seed == seed
    assert [e.action for e in upgraded.history(seed.id)] == ["DELETE", "ADD"]
    upgraded.close()


def test_a_store_from_schema_7_gains_the_decisions_log_and_keeps_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seeds.records import Decided

    path = tmp_path / "old.db"
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS[:7])
    old = open_store(path)
    old.bind_embedder("e.gguf", 4)
    kept = old.add("p", "The API listens on port 8080.", unit(1, 0, 0, 0))
    old.close()
    monkeypatch.setattr("seeds.sqlite_db.MIGRATIONS", MIGRATIONS)
    upgraded = open_store(path)
    try:
        assert upgraded.list_seeds("p") == [kept] and upgraded.decisions_about(kept.id) == []
        added = upgraded.add(
            "p", "The worker listens on port 9090.", unit(0, 1, 0, 0), decided=Decided("ADD", "worker port", 12.5)
        )
        (logged,) = upgraded.decisions_about(added.id)
        assert (logged.label, logged.seed_id, logged.latency_ms) == ("ADD", added.id, 12.5)
        assert upgraded.integrity_check() == "ok"
    finally:
        upgraded.close()


def test_an_id_past_what_the_engines_hold_names_nothing(engine_store: SeedStore) -> None:
    """Ids come from tool arguments, command lines and addresses: one too large for the engine's integer is no
    seed and no inbox text (the driver cannot even bind it), whatever asks for it."""
    from seeds import AlreadySettled, SeedNotFound

    engine_store.bind_embedder("e.gguf", 4)
    kept = engine_store.add("p", "The API listens on port 8080.", unit(1, 0, 0, 0))
    for huge in (2**63, 2**64 + 5, -(2**63) - 1):
        assert engine_store.get(huge) is None
        with pytest.raises(SeedNotFound):
            engine_store.require(huge)
        with pytest.raises(SeedNotFound):
            engine_store.embedding(huge)
        assert engine_store.history(huge) == engine_store.operations_about(huge) == []
        assert engine_store.decisions_about(huge) == []
        assert engine_store.inbox_entry(huge) is None
        assert engine_store.purge_seed(huge) == (0, 0)
        with pytest.raises(AlreadySettled), engine_store.review(huge, "review-discard", "x"):
            pass
    assert engine_store.list_seeds("p") == [kept]
