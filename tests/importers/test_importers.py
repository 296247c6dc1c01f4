"""Importing other tools' memory (`import --from`): each format from files their own software made (or shaped
as their code writes them, tests/data/peers/README.md), tidied on the way in, undoable and resumable."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from eval.peers import notes
from seeds import SeedStore, open_store
from server.importers.pipeline import ImportOptions, ImportSummary, import_items
from server.importers.records import ImportItem, SourceError
from server.importers.sources import read_source
from server.models.cerebellum import Cerebellum
from server.models.embedder import Embedder
from server.pipeline.memory import Memory
from server.pipeline.transfer import export_lines
from server.rules.scopes import scope_from_root
from tests.cli.test_cli import fails, run
from tests.conftest import CHILD_ENV
from tests.helpers import ROOT, script
from tests.helpers.fakes import HashBrain, HashEmbedder, ScriptedBrain

PEERS = Path(__file__).parents[1] / "data" / "peers"
SECRETS = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "secrets.jsonl").read_text().splitlines()]


def fast_memory(store: SeedStore, brain: Any = None, **thresholds: float) -> Memory:
    return Memory(store, brain or ScriptedBrain(), HashEmbedder(), **thresholds)  # pyright: ignore[reportArgumentType]


def imported(
    memory: Memory, fmt: str, path: Path, *, scope: str | None = None, **options: Any
) -> tuple[list[ImportItem], ImportSummary]:
    items = read_source(fmt, path)
    summary = import_items(
        memory, items, ImportOptions(default_scope="team", scope=scope, **options), format_name=fmt, source=str(path)
    )
    return items, summary


def rows(store: SeedStore) -> list[tuple[Any, ...]]:
    """Everything a user sees of the seeds, ids and times included."""
    return [dataclasses.astuple(seed) for seed in store.list_seeds()]


def claude_mem_db(tmp_path: Path) -> Path:
    db = tmp_path / "claude-mem.db"
    conn = sqlite3.connect(db)
    conn.executescript((PEERS / "claude-mem.sql").read_text(encoding="utf-8"))
    conn.close()
    return db


def mms_db(tmp_path: Path) -> Path:
    db = tmp_path / "sqlite_vec.db"
    db.write_bytes(gzip.decompress((PEERS / "mcp-memory-service.db.gz").read_bytes()))
    return db


# -- the formats ----------------------------------------------------------------------------


def test_the_reference_servers_own_file_imports_observations_and_relations(store: SeedStore) -> None:
    path = PEERS / "server-memory.jsonl"
    assert not path.read_text().endswith("\n")  # as saveGraph writes it
    graph = [json.loads(line) for line in path.read_text().splitlines()]
    observations = [(e["name"], o) for e in graph if e["type"] == "entity" for o in e["observations"]]
    relations = [r for r in graph if r["type"] == "relation"]
    brain = ScriptedBrain()
    items, summary = imported(fast_memory(store, brain, reconcile_similarity=0.8), "server-memory", path)
    assert len(items) == len(observations) + len(relations) == summary.read
    stored = {seed.text for seed in store.list_seeds("team")}
    # Each observation names its entity; each relation is a sentence.
    assert all(
        f"{name}: {observation}" in stored or any(observation in s for s in stored)
        for name, observation in observations[:3]
    )
    assert "search-svc calls shop-api" in stored and "billing-lib publishes to web-client" in stored
    # The reworded pairs ("X listens on port N" / "port N is where X listens") share their words: the arbiter was
    # asked about them (ScriptedBrain adds), and only about texts this close to a stored one.
    assert summary.arbitrated == len(brain.shown) < len(items) // 3 and summary.kept == len(items)
    assert [p for p in brain.prompts if "is where" in p] == [
        "billing-lib: port 3593 is where the migrations listens",
        "web-client: port 3381 is where the scheduler listens",
    ]
    assert all(seed.source == "import:server-memory" for seed in store.list_seeds())


def test_server_memory_key_variants_and_the_legacy_file(tmp_path: Path) -> None:
    legacy = tmp_path / "memory.json"
    legacy.write_text(
        '{"type":"entity","entityName":"shop-api","entity_type":"service","observations":["runs on port 8080"],"x":1}\n'
        '{"type":"entity","id":"billing","entityType":"lib","observations":[{"content":"billing rounds per line"}]}\n'
        '{"type":"relation","from_id":"shop-api","to_id":"billing","relation_type":"depends_on","weight":2}',
        encoding="utf-8",
    )
    texts = [item.text for item in read_source("server-memory", legacy)]
    assert texts == ["shop-api: runs on port 8080", "billing rounds per line", "shop-api depends on billing"]
    document = tmp_path / "graph.json"
    document.write_text(
        json.dumps({"entities": [{"name": "a", "entityType": "t", "observations": ["a is fast"]}], "relations": []})
    )
    assert [item.text for item in read_source("server-memory", document)] == ["a is fast"]


def test_mcp_memory_service_database_and_exports_skip_deleted_memories(tmp_path: Path, store: SeedStore) -> None:
    db = mms_db(tmp_path)
    conn = sqlite3.connect(db)
    live = {row[0] for row in conn.execute("SELECT content FROM memories WHERE deleted_at IS NULL")}
    deleted = {row[0] for row in conn.execute("SELECT content FROM memories WHERE deleted_at IS NOT NULL")}
    conn.close()
    assert live and deleted
    from_db = read_source("mcp-memory-service", db)
    assert {item.text for item in from_db} == live
    export = read_source("mcp-memory-service", PEERS / "mcp-memory-service-export.json")
    assert {item.text for item in export} == live
    # Times kept: the epoch seconds it stores, as UTC.
    assert {i.text: i.created_at for i in from_db} == {i.text: i.created_at for i in export}
    assert all(item.created_at and item.created_at.endswith("+00:00") for item in from_db)
    # The dashboard's export: the API's memory shape (epoch and ISO times) under export_date.
    api = json.loads((PEERS / "mcp-memory-service-export.json").read_text())["memories"]
    dashboard = tmp_path / "mcp-memories-export-2026-12-05.json"
    dashboard.write_text(
        json.dumps(
            {
                "export_date": "2026-12-05T10:00:00Z",
                "total_memories": len(api),
                "exported_memories": len(api),
                "memories": [{**m, "created_at": None, "created_at_iso": "2026-01-02T03:04:05Z"} for m in api],
            }
        )
    )
    shown = read_source("mcp-memory-service", dashboard)
    assert {item.text for item in shown} == live and {i.created_at for i in shown} == {"2026-01-02T03:04:05.000+00:00"}
    _, summary = imported(fast_memory(store), "mcp-memory-service", db)
    assert summary.kept == len(live)
    assert {seed.created_at for seed in store.list_seeds()} == {item.created_at for item in from_db}
    assert not any(seed.text in deleted for seed in store.list_seeds())


def test_claude_mem_projects_become_scopes_and_its_prompts_go_through_the_gate(
    tmp_path: Path, store: SeedStore
) -> None:
    db = claude_mem_db(tmp_path)
    brain = ScriptedBrain(gate="SAVE")
    items, summary = imported(fast_memory(store, brain, reconcile_similarity=0.99), "claude-mem", db)
    assert {item.scope for item in items} == {"shop-api", "billing-lib"}
    by_origin = {outcome.origin: outcome for outcome in summary.outcomes}
    decision = by_origin["claude-mem.db:observations:1"]
    assert decision.status == "kept" and decision.text is not None
    assert decision.text.startswith("Retries capped at three: The payment worker")
    assert "- The worker retries a job at most 3 times" in decision.text  # its facts
    # Prompts are raw: "thanks" is an acknowledgement (the intent rules), the others are asked of the gate.
    assert by_origin["claude-mem.db:user_prompts:3"].status == "skipped"
    assert "not a memory" in by_origin["claude-mem.db:user_prompts:3"].reason
    # Observations and summaries are curated: the gate is asked about the prompts only (unless --gate).
    assert brain.prompts == [
        "The e2e tests hang again, can you look?",
        "From now on we always cap worker retries at three.",
    ]
    assert summary.gated == 2
    seed = next(s for s in store.list_seeds("shop-api") if s.text.startswith("Retries capped"))
    assert seed.category == "decision" and seed.created_at == "2026-11-02T10:05:00.000+00:00"
    assert "billing-lib" in store.scopes()


def test_gate_asks_about_curated_memories_too(store: SeedStore) -> None:
    brain = ScriptedBrain(gate="SKIP")
    _, summary = imported(fast_memory(store, brain), "basic-memory", PEERS / "basic-memory", gate=True)
    assert summary.gated == summary.read == len(brain.prompts) and summary.kept == 0
    assert summary.skipped == {"the gate said skip": summary.read} and store.count() == 0


def test_mem0_dump_and_openmemory_backup(tmp_path: Path, store: SeedStore) -> None:
    items, summary = imported(fast_memory(store), "mem0", PEERS / "mem0-get-all.json")
    assert len(items) == 3 and summary.kept == 2
    assert summary.skipped == {"duplicate in the source": 1}  # the same text, another case and a final dot
    staging = next(seed for seed in store.list_seeds() if "staging" in seed.text)
    assert (staging.created_at, staging.updated_at) == (
        "2026-10-03T19:30:00.000+00:00",
        "2026-10-05T16:00:00.000+00:00",
    )
    # OpenMemory's export: a zip with memories.json and memories.jsonl.gz (routers/backup.py); deleted ones are
    # not imported.
    lines = [
        {"id": "1", "content": "Uses tabs in Go files", "metadata": {}, "created_at": "2026-09-01T10:00:00+00:00",
         "updated_at": None, "state": "active", "app": "cursor", "categories": ["preferences"]},
        {"id": "2", "content": "Old API key rotated", "metadata": {}, "created_at": None, "updated_at": None,
         "state": "deleted", "app": None, "categories": []},
        {"id": "3", "content": "Deploys freeze in December", "metadata": {}, "created_at": None, "updated_at": None,
         "state": "archived", "app": None, "categories": ["work"]},
    ]  # fmt: skip
    sqlite_payload = {"user": {"user_id": "alice"}, "apps": [], "categories": [], "memories": lines}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("memories.json", json.dumps(sqlite_payload, indent=2))
        archive.writestr("memories.jsonl.gz", gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode()))
    backup = tmp_path / "memories_export_alice.zip"
    backup.write_bytes(buffer.getvalue())
    (tmp_path / "memories.json").write_text(json.dumps(sqlite_payload))
    (tmp_path / "memories.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(x) for x in lines).encode()))
    for path in (backup, tmp_path / "memories.json", tmp_path / "memories.jsonl.gz"):
        found = read_source("mem0", path)
        assert [item.text for item in found] == ["Uses tabs in Go files", "Deploys freeze in December"], path
    assert read_source("mem0", backup)[0].tags == ("preferences",)


def test_basic_memory_notes_observations_relations_and_times(store: SeedStore) -> None:
    items, _ = imported(fast_memory(store, reconcile_similarity=0.99), "basic-memory", PEERS / "basic-memory")
    texts = [item.text for item in items]
    assert "Queue Choice: We use RabbitMQ for order events, not Kafka #messaging (ops already runs it)" in texts
    assert "Queue Choice implements Order Service" in texts and "Queue Choice decided by Architecture Review" in texts
    assert not any("dead-letter" in text or "timecode" in text for text in texts)  # a task, a timecode
    decision = next(item for item in items if "RabbitMQ for order" in item.text)
    assert decision.category == "decision" and {"messaging", "architecture", "queue"} <= set(decision.tags)
    assert (decision.created_at, decision.updated_at) == (
        "2026-10-02T09:15:00.000+00:00",
        "2026-10-20T16:40:00.000+00:00",
    )
    assert any(text.startswith("Coffee Notes: The team brews pour-over") for text in texts)  # a note of prose
    assert store.count() == len(items)


@pytest.mark.slow
def test_claude_code_transcripts_with_the_real_model(
    store: SeedStore, cerebellum: Cerebellum, embedder: Embedder
) -> None:
    memory = Memory(store, cerebellum, embedder)
    items, summary = imported(memory, "claude-code", PEERS / "claude-code")
    project = scope_from_root(Path("/home/me/src/shop-api").as_uri())
    assert {item.scope for item in items} == {project}  # the project's own scope, as the hooks name it
    line = {int(outcome.origin.rsplit(":", 1)[1]): outcome for outcome in summary.outcomes}
    # Read as the session-end hook reads it: tool results, commands and the summary line are not turns.
    assert len(items) == 5 and sorted(line) == [2, 5, 6, 7, 9]
    assert line[6].status == "skipped" and "not a memory" in line[6].reason  # "thanks!"
    assert line[7].status == "skipped" and "not a memory" in line[7].reason  # a question about the past
    # A labelled decision or lesson passes the gate by rule, whatever SmolLM2 thinks; kept, or folded into another.
    for labelled in (5, 9):
        assert line[labelled].status in ("kept", "merged", "updated"), line[labelled]
    stored = store.list_seeds(project)
    assert stored and all(seed.created_at.startswith("2026-11-03T09:0") for seed in stored)


def test_our_own_export_through_the_tidying(tmp_path: Path, store: SeedStore) -> None:
    memory = fast_memory(store, reconcile_similarity=1.0)
    memory.remember("The release checklist lives in docs/RELEASE.md.", "web", tags=["docs"], force=True)
    exported = tmp_path / "export.jsonl"
    lines = list(export_lines(store))
    lines.append(json.dumps({"scope": "api", "text": "Builds use Bazel 7.", "category": "decision",
                             "created_at": "2026-01-05T10:00:00+00:00"}))  # fmt: skip
    exported.write_text("\n".join(lines) + "\n")
    items, summary = imported(memory, "jsonl", exported)
    assert [(i.scope, i.category, i.tags) for i in items] == [("web", "fact", ("docs",)), ("api", "decision", ())]
    assert summary.skipped == {"already stored": 1} and summary.kept == 1
    (seed,) = store.list_seeds("api")
    assert seed.created_at == "2026-01-05T10:00:00.000+00:00" and seed.category == "decision"
    exported.write_text(exported.read_text() + '{"scope": "api", "text": "password: hunter2hunter2"}\n')
    with pytest.raises(SourceError, match=r"(?s)export\.jsonl: .*line 3: text: the text contains a secret"):
        read_source("jsonl", exported)


# -- tidying --------------------------------------------------------------------------------


def secret_dump(tmp_path: Path) -> tuple[Path, list[str]]:
    """A mem0 dump of ordinary memories and memories holding the secrets of tests/data/secrets.jsonl."""
    planted = [row for row in SECRETS if row["secret"]][:6]
    results = [{"id": str(i), "memory": f"Note {i}: the build uses Bazel {i}.", "created_at": None} for i in range(4)]
    results += [{"id": f"s{i}", "memory": row["text"], "created_at": None} for i, row in enumerate(planted)]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"results": results}))
    return path, [row["value"] for row in planted]


def test_secrets_are_refused_or_redacted_and_never_stored_or_shown(tmp_path: Path, store: SeedStore) -> None:
    path, values = secret_dump(tmp_path)
    _, summary = imported(fast_memory(store, reconcile_similarity=0.99), "mem0", path)
    assert summary.refused == len(values) and summary.kept == 4
    leaked = [v for v in values if any(v in seed.text for seed in store.list_seeds())]
    assert leaked == [] and not any(v in summary.model_dump_json() for v in values)
    other = open_store(tmp_path / "redact.db")
    try:
        _, summary = imported(fast_memory(other, reconcile_similarity=0.99), "mem0", path, secrets_mode="redact")
        assert summary.refused == 0 and summary.redacted == len(values)
        texts = [seed.text for seed in other.list_seeds()]
        assert sum("[REDACTED:" in text for text in texts) == len(values)
        assert not [v for v in values if any(v in text for text in texts)]
    finally:
        other.close()


def test_dry_run_says_what_would_happen_and_writes_nothing(tmp_path: Path, store: SeedStore) -> None:
    memory = fast_memory(store, ScriptedBrain(action="NONE", target="first"), reconcile_similarity=0.8)
    memory.remember("billing-lib: the migrations listens on port 3593", "team", force=True)
    before = (rows(store), store.operations())
    _, summary = imported(memory, "server-memory", PEERS / "server-memory.jsonl", dry_run=True)
    assert (rows(store), store.operations()) == before and summary.operation_id is None
    statuses = {outcome.text: (outcome.status, outcome.reason) for outcome in summary.outcomes}
    assert statuses["billing-lib: the migrations listens on port 3593"][0] == "skipped"
    assert "already stored as seed 1" in statuses["billing-lib: the migrations listens on port 3593"][1]
    # Its rewording is near the stored seed: the arbiter says it says the same thing.
    status, reason = statuses["billing-lib: port 3593 is where the migrations listens"]
    assert status == "merged" and "seed 1" in reason
    assert summary.kept == summary.read - 1 - summary.merged
    # The real run does what the dry run said.
    _, real = imported(memory, "server-memory", PEERS / "server-memory.jsonl")
    assert [(o.status, o.text) for o in real.outcomes] == [(o.status, o.text) for o in summary.outcomes]


def test_near_duplicates_of_stored_seeds_go_to_the_arbiter_and_undo_takes_the_whole_import_back(
    tmp_path: Path, store: SeedStore
) -> None:
    brain = HashBrain()
    memory = fast_memory(store, brain, reconcile_similarity=0.6)
    for entity, observation in notes(400, seed=3)[:60]:
        if "token" not in observation:  # the notes with a credential are refused
            memory.remember(f"{entity}: {observation}", "team", force=True)
    before = rows(store)
    source = tmp_path / "memory.jsonl"
    pairs = notes(400, seed=3)[40:]  # overlaps what is stored: repeats, rewordings, contradictions
    graph: dict[str, list[str]] = {}
    for entity, observation in pairs:
        graph.setdefault(entity, []).append(observation)
    entities = [{"type": "entity", "name": e, "entityType": "project", "observations": list(dict.fromkeys(o))}
                for e, o in graph.items()]  # fmt: skip
    source.write_text("\n".join(json.dumps(entity) for entity in entities))
    _, summary = imported(memory, "server-memory", source, batch_size=16)
    assert summary.arbitrated > 0 and summary.updated > 0 and summary.retracted > 0 and summary.merged > 0
    assert summary.skipped.get("already stored", 0) > 0
    assert summary.operation_id is not None and rows(store) != before
    operation = store.get_operation(summary.operation_id)
    assert operation is not None and operation.kind == "import"
    memory.undo(summary.operation_id)
    assert rows(store) == before  # every add removed, every updated or retracted seed back as it was


@pytest.mark.slow
def test_an_import_of_thousands_undoes_in_one_operation(tmp_path: Path, store: SeedStore) -> None:
    source = tmp_path / "dump.jsonl"
    source.write_text("".join(json.dumps({"memory": f"fact number {i} about module m{i}"}) + "\n" for i in range(1500)))
    memory = fast_memory(store, reconcile_similarity=1.0)
    _, summary = imported(memory, "mem0", source)
    assert summary.kept == 1500 and store.count() == 1500
    assert summary.operation_id is not None
    memory.undo(summary.operation_id)
    assert store.count() == 0


def import_marks(db: Path) -> list[str]:
    """The marks of imports not finished (how far each got), read as another process would."""
    store = open_store(db)
    try:
        return [key for key in store.dump().meta if key.startswith("import:")]
    finally:
        store.close()


@pytest.mark.slow
def test_an_import_killed_with_sigkill_goes_on_and_ends_as_one_run(tmp_path: Path) -> None:
    results = [
        {"id": str(i), "memory": f"{e}: {o}", "created_at": f"2026-0{1 + i % 9}-1{i % 10}T10:00:00Z"}
        for i, (e, o) in enumerate(notes(160, seed=5))
    ]
    source = tmp_path / "dump.json"
    source.write_text(json.dumps({"results": results}))
    writer = script("import_writer")
    once = tmp_path / "once.db"
    subprocess.run(
        [*writer, str(once), str(source), "0"],
        check=True,
        timeout=300,
        env={**CHILD_ENV, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    killed = tmp_path / "killed.db"
    child = subprocess.Popen([*writer, str(killed), str(source), "0.02"], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if killed.exists() and import_marks(killed):
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    store = open_store(killed)
    try:
        partway = store.count()
    finally:
        store.close()
    again = subprocess.run(
        [*writer, str(killed), str(source), "0"], check=True, timeout=300, capture_output=True, text=True, cwd=ROOT
    )
    operation_id, resumed_after, _ = again.stdout.split()
    assert int(resumed_after) > 0 and partway > 0
    assert import_marks(killed) == []  # finished: no mark of an import to go on with is left
    first, second = open_store(once), open_store(killed)
    try:
        # The same seeds: ids, texts, categories, tags, times; but for when the arbiter updated a seed, which is
        # when each run did it.
        updated = {entry for op in first.operations() for entry in op.seed_ids if first.history(entry)[-1:] and
                   first.history(entry)[-1].action == "UPDATE"}  # fmt: skip
        assert updated and len(updated) < first.count()
        assert [r[:-1] for r in rows(second)] == [r[:-1] for r in rows(first)]
        assert [r for r in rows(second) if r[0] not in updated] == [r for r in rows(first) if r[0] not in updated]
        assert len(second.operations()) == 1 and second.operations()[0].id == operation_id
        second.undo(operation_id)  # one operation, the killed run's and the rest: undone whole
        assert second.count() == 0
    finally:
        first.close()
        second.close()


def test_an_interrupted_import_goes_on_or_after_its_undo_starts_again(tmp_path: Path, store: SeedStore) -> None:
    source = tmp_path / "dump.json"
    source.write_text(json.dumps([{"memory": f"{e}: {o}"} for e, o in notes(60, seed=4) if "token" not in o]))
    items = read_source("mem0", source)
    memory = fast_memory(store, reconcile_similarity=1.0)
    options = ImportOptions(default_scope="team", batch_size=8)

    def stop_at_30(done: int, total: int) -> None:
        if done == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_items(memory, items, options, format_name="mem0", source="dump.json", progress=stop_at_30)
    (first,) = store.operations()
    assert 0 < store.count() < 30
    memory.undo(first.id)  # the user takes the partial import back, then imports again
    summary = import_items(memory, items, options, format_name="mem0", source="dump.json")
    assert summary.resumed_after == 0 and summary.operation_id != first.id and store.count() == summary.kept
    with pytest.raises(KeyboardInterrupt):
        import_items(memory, items, dataclasses.replace(options, scope="other"), format_name="mem0",
                     source="dump.json", progress=stop_at_30)  # fmt: skip
    partway = store.count("other")
    rest = import_items(memory, items, dataclasses.replace(options, scope="other"), format_name="mem0", source="x")
    assert 0 < partway <= rest.resumed_after and rest.resumed_after + len(rest.outcomes) == len(items)
    assert [s.text for s in store.list_seeds("other")] == [s.text for s in store.list_seeds("team")]


def test_the_store_records_an_import_batch_by_batch_on_both_engines(engine_store: SeedStore, tmp_path: Path) -> None:
    memory = fast_memory(engine_store, HashBrain(), reconcile_similarity=0.6)
    memory.remember("shop-api: the cache uses Redis 7", "team", force=True)
    before = rows(engine_store)
    source = tmp_path / "dump.json"
    source.write_text(json.dumps([{"memory": f"{e}: {o}"} for e, o in notes(80, seed=8)]))
    _, summary = imported(memory, "mem0", source, batch_size=8)
    assert summary.operation_id is not None and engine_store.count() > 1
    operation = engine_store.get_operation(summary.operation_id)
    assert operation is not None and len(operation.seed_ids) >= summary.kept
    memory.undo(summary.operation_id)
    assert rows(engine_store) == before


# -- bad input ------------------------------------------------------------------------------


def test_bad_sources_are_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    text = (PEERS / "server-memory.jsonl").read_text()
    truncated = tmp_path / "memory.jsonl"
    truncated.write_text(text[: text.index("\n", text.index("\n") + 1) + 30])  # cut in line 3
    with pytest.raises(SourceError, match=r"memory\.jsonl:3: not JSON"):
        read_source("server-memory", truncated)
    ours = tmp_path / "export.jsonl"
    ours.write_text('{"scope": "web", "text": "The release checklist lives in docs/RELEASE.md."}\n')
    with pytest.raises(SourceError, match=r"export\.jsonl:1: not an entity or a relation"):
        read_source("server-memory", ours)
    garbage = tmp_path / "claude-mem.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(SourceError, match=r"claude-mem\.db: the SQLite database can't be read"):
        read_source("claude-mem", garbage)
    with pytest.raises(SourceError, match=r"claude-mem\.db: not a SQLite database"):
        read_source("claude-mem", ours.rename(tmp_path / "claude-mem.db"))
    transcript = tmp_path / "session.jsonl"
    lines = (PEERS / "claude-code" / "-home-me-src-shop-api").glob("*.jsonl").__next__().read_text().splitlines()
    transcript.write_text("\n".join([*lines[:4], "{not json", *lines[4:]]))
    with pytest.raises(SourceError, match=r"session\.jsonl:5: not JSON"):
        read_source("claude-code", transcript)
    with pytest.raises(SourceError, match=r"not a mem0 dump"):
        read_source("mem0", PEERS / "mcp-memory-service-export.json")
    with pytest.raises(SourceError, match=r"the frontmatter is not YAML"):
        note = tmp_path / "notes" / "bad.md"
        note.parent.mkdir()
        note.write_text("---\ntitle: [unclosed\n---\n- [fact] x\n")
        read_source("basic-memory", note.parent)


@pytest.mark.slow
def test_the_cli_imports_from_a_peer_and_undo_takes_it_back(
    tmp_path: Path, smollm2: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "seeds.db"
    for name, value in {
        "CEREBELLUM_DB": str(env),
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_OFFLINE": "1",
        "COLUMNS": "250",
        # SmolLM2's vectors are all alike: every note would go to its arbiter, which is not this test's subject.
        "CEREBELLUM_RECONCILE_SIMILARITY": "1.0",
    }.items():
        monkeypatch.setenv(name, value)
    source = PEERS / "server-memory.jsonl"
    out, _ = run(capsys, "import", "--from", "server-memory", str(source), "--scope", "proj", "--dry-run")
    assert "would be" in out and "nothing similar is stored" in out
    assert not env.exists()  # a dry run writes nothing, not even an empty store
    out, err = run(capsys, "import", "--from", "server-memory", str(source), "--scope", "proj")
    assert "18 items read" in out and "left" in err  # the progress bar says the time left
    operation = out.split("'cerebellum-mcp undo ")[1].split("'")[0]
    store = open_store(env)
    try:
        assert store.count("proj") > 0 and store.scopes() == ["proj"]
    finally:
        store.close()
    run(capsys, "undo", operation)
    store = open_store(env)
    try:
        assert store.count() == 0
    finally:
        store.close()
    # A bad source: a clear error naming the file and line, and nothing written.
    bad = tmp_path / "memory.jsonl"
    bad.write_text(source.read_text()[:300])
    message = fails(capsys, "import", "--from", "server-memory", str(bad))
    assert f"{bad}:2: not JSON" in message and "Nothing was imported" in message
    assert "--dry-run and --gate go with --from" in fails(capsys, "import", str(bad), "--dry-run")


@pytest.mark.skipif(shutil.which("npx") is None, reason="needs npm's npx to run @modelcontextprotocol/server-memory")
@pytest.mark.slow
def test_a_file_the_reference_server_writes_now_still_imports(tmp_path: Path, store: SeedStore) -> None:
    out = tmp_path / "memory.jsonl"
    made = [sys.executable, "-m", "eval.peers", "server-memory", str(out), "--count", "30", "--relations", "5"]
    subprocess.run(made, check=True, timeout=300, cwd=ROOT)
    items, summary = imported(fast_memory(store), "server-memory", out)
    assert len(items) >= 25 and summary.kept + summary.merged + sum(summary.skipped.values()) == len(items)
    assert any(seed.text.count(" ") >= 2 for seed in store.list_seeds())


def test_what_an_import_decides_about_a_stored_memory_is_in_its_history(store: SeedStore) -> None:
    brain = ScriptedBrain(action="UPDATE", target="first", relation_shares={"UPDATE": 0.8, "SAME": 0.2})
    memory = fast_memory(store, brain, reconcile_similarity=0.8)
    memory.remember("billing-lib: the migrations listens on port 3593", "team", force=True)
    (seed,) = store.list_seeds("team")
    imported(memory, "server-memory", PEERS / "server-memory.jsonl", dry_run=True)
    assert [d.label for d in store.decisions_about(seed.id)] == ["ADD"]  # a dry run logs nothing
    _, summary = imported(memory, "server-memory", PEERS / "server-memory.jsonl")
    assert summary.operation_id is not None
    logged = store.decisions_about(seed.id)
    assert [d.label for d in logged] == ["ADD", "UPDATE"]
    update = logged[1]
    assert update.operation_id == summary.operation_id and update.seed_id == seed.id
    assert update.text == "billing-lib: port 3593 is where the migrations listens"
    arbiter = update.detail["arbiter"]
    assert isinstance(arbiter, dict) and arbiter["compared"][0]["shares"] == {"UPDATE": 0.8, "SAME": 0.2}
