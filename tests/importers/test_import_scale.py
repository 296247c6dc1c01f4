"""An import at size: which items the arbiter is asked about (stored memories from the remember floor, the
import's own items only when close, near-identical texts folded without it), the batches written in bulk on both
engines under the import's one operation, and a dry run that writes nothing at all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seeds import Seed, SeedStore, utc_now
from server.importers.pipeline import ImportOptions, ImportSummary, import_items
from server.importers.sources import read_source
from server.models.cerebellum import ArbitrateVerdict
from server.models.prompts import Candidate
from server.pipeline.memory import Memory
from tests.cli.test_cli import run
from tests.helpers.fakes import HashEmbedder


@dataclasses.dataclass
class ReadingBrain:
    """An arbiter that reads the text as a person would for these notes: "now" replaces the first candidate
    shown (UPDATE, saying the new text), anything else says the same as it (NONE). Records what it was shown."""

    name: str = "reading-brain"
    asked: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list[tuple[str, list[str]]])

    def memorize(self, text: str) -> Any:
        raise AssertionError("curated memories skip the gate")

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        self.asked.append((text, [c.text for c in candidates]))
        if " now " in f" {text} ":
            return ArbitrateVerdict("UPDATE", candidates[0].id, text, "replaces the stored value", 1.0)
        return ArbitrateVerdict("NONE", candidates[0].id, "", "says the same", 1.0)


def similarity(a: str, b: str) -> float:
    embedder = HashEmbedder()
    return float(np.dot(embedder.embed_document(a), embedder.embed_document(b)))


def import_mem0(memory: Memory, tmp_path: Path, texts: list[str], **options: Any) -> ImportSummary:
    source = tmp_path / "mem0.json"
    source.write_text(json.dumps([{"memory": text} for text in texts]))
    return import_items(
        memory,
        read_source("mem0", source),
        ImportOptions(default_scope="team", **options),
        format_name="mem0",
        source=str(source),
    )


STORED = "shop-api: the session cache uses Redis 7 in production"
CONTRADICTION = "shop-api: the session cache now uses Valkey 8 in production"
REORDERED = "shop-api: in production the session cache uses Redis 7"
SIBLING = "shop-api: the job queue now uses Valkey 8 in production"


def test_a_contradiction_of_a_stored_memory_reaches_the_arbiter_and_updates_it(
    tmp_path: Path, store: SeedStore
) -> None:
    # The contradiction is only moderately close by vector: above remember's floor, below reconcile's.
    assert 0.5 <= similarity(STORED, CONTRADICTION) < 0.9
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.9)  # pyright: ignore[reportArgumentType]
    stored = memory.remember(STORED, "team", force=True).seed
    assert stored is not None
    summary = import_mem0(memory, tmp_path, [CONTRADICTION])
    assert summary.updated == 1 and summary.arbitrated == 1
    assert brain.asked == [(CONTRADICTION, [STORED])]
    assert [seed.text for seed in store.list_seeds()] == [CONTRADICTION]
    assert summary.operation_id is not None
    memory.undo(summary.operation_id)
    assert [seed.text for seed in store.list_seeds()] == [STORED]


def test_a_reordering_is_folded_without_the_model_and_a_rewording_by_it(tmp_path: Path, store: SeedStore) -> None:
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.9)  # pyright: ignore[reportArgumentType]
    memory.remember(STORED, "team", force=True)
    reworded = "shop-api: the production session cache is Redis 7"
    summary = import_mem0(memory, tmp_path, [REORDERED, reworded])
    outcomes = {outcome.text: outcome for outcome in summary.outcomes}
    assert outcomes[REORDERED].status == "merged" and "no value of its own" in outcomes[REORDERED].reason
    assert outcomes[reworded].status == "merged"
    assert [text for text, _ in brain.asked] == [reworded]  # the reordering never reached the model
    assert summary.arbitrated == 1 and store.count() == 1


def test_a_near_identical_text_with_another_value_still_goes_to_the_arbiter(tmp_path: Path, store: SeedStore) -> None:
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.9)  # pyright: ignore[reportArgumentType]
    memory.remember("the staging database listens on port 5432", "team", force=True)
    summary = import_mem0(memory, tmp_path, ["the staging database listens on port 5433"])
    assert summary.arbitrated == 1 and len(brain.asked) == 1


def test_the_imports_own_items_are_compared_only_when_close(tmp_path: Path, store: SeedStore) -> None:
    # Two items of one curated source, as close as the contradiction above is to what was stored: someone kept
    # both, so the arbiter is not asked (reconcile's floor); the same pair against a stored seed is asked about.
    assert 0.5 <= similarity(CONTRADICTION, SIBLING) < 0.9
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.9)  # pyright: ignore[reportArgumentType]
    summary = import_mem0(memory, tmp_path, [CONTRADICTION, SIBLING], batch_size=1)  # the first written first
    assert summary.kept == 2 and summary.arbitrated == 0 and brain.asked == []
    again = import_mem0(memory, tmp_path, [STORED])
    assert again.arbitrated == 1 and brain.asked[0][1][0] in (CONTRADICTION, SIBLING)


def test_a_batch_is_written_in_bulk_with_new_ids_and_undone_whole(engine_store: SeedStore) -> None:
    engine_store.bind_embedder("hash-embedder", 64)
    embedder = HashEmbedder()
    gone = engine_store.add("team", "a seed removed before the import", embedder.embed_document("removed"))
    engine_store.delete(gone.id, reason="test")
    now = utc_now()
    texts = [f"note {i}: service s{i} restarts at {i}:00" for i in range(300)]
    seeds = [
        (Seed(0, "team", text, "fact", ("t",), "import", now, now), embedder.embed_document(text)) for text in texts
    ]
    with engine_store.continue_operation("op-bulk", "import", "team", "bulk test") as op:
        stored = op.add_many(seeds)
    assert [seed.text for seed in stored] == texts
    ids = [seed.id for seed in stored]
    assert min(ids) > gone.id and len(set(ids)) == 300  # never an id a seed has had
    assert [seed.text for seed in engine_store.list_seeds("team")] == texts
    hit = engine_store.search(embedder.embed_document(texts[7]), "team", 1)[0]
    assert hit.seed.id == ids[7] and hit.similarity == pytest.approx(1.0, abs=1e-5)
    assert engine_store.history(ids[0])[0].action == "ADD"
    later = engine_store.add("team", "after the import", embedder.embed_document("after"))
    assert later.id > max(ids)
    engine_store.undo("op-bulk")
    assert [seed.text for seed in engine_store.list_seeds("team")] == ["after the import"]


def test_a_dry_run_of_a_store_not_made_yet_leaves_no_file(
    tmp_path: Path, smollm2: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "not-yet" / "seeds.db"
    for name, value in {
        "CEREBELLUM_DB": str(db),
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_OFFLINE": "1",
        "CEREBELLUM_RECONCILE_SIMILARITY": "1.0",
        "COLUMNS": "250",
    }.items():
        monkeypatch.setenv(name, value)
    source = Path(__file__).parents[1] / "data" / "peers" / "mem0-get-all.json"
    out, _ = run(capsys, "import", "--from", "mem0", str(source), "--dry-run")
    assert "would be kept" in out
    assert not db.exists() and not db.parent.exists()


LB = " behind the internal load balancer for public traffic"


def test_observations_of_two_entities_are_not_compared_however_alike(tmp_path: Path, store: SeedStore) -> None:
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.6)  # pyright: ignore[reportArgumentType]
    graph = [  # the legacy file's shape: an entity may come twice, its observations read in order
        {"type": "entity", "name": "auth-api", "entityType": "service", "observations": ["listens on port 9090" + LB]},
        {
            "type": "entity",
            "name": "billing-api",
            "entityType": "service",
            "observations": ["listens on port 9091" + LB],
        },
        {
            "type": "entity",
            "name": "auth-api",
            "entityType": "service",
            "observations": ["now listens on port 9095" + LB],
        },
    ]
    source = tmp_path / "memory.jsonl"
    source.write_text("\n".join(json.dumps(entity) for entity in graph))
    items = read_source("server-memory", source)
    assert similarity(items[0].text, items[1].text) >= 0.6  # alike by vector
    summary = import_items(
        memory, items, ImportOptions(default_scope="team"), format_name="server-memory", source=str(source)
    )
    # The billing-api note was never shown against auth-api's; auth-api's change was, against its own note only.
    assert similarity(items[2].text, items[1].text) >= 0.6
    assert brain.asked == [(items[2].text, [items[0].text])]
    assert summary.updated == 1
    assert sorted(seed.text for seed in store.list_seeds()) == [items[2].text, items[1].text]


# -- the runners that measure it (eval/): kept from rotting on tiny data ----------------------------------------


def test_the_threshold_runner_chooses_on_labelled_pairs_and_counts_a_source(tmp_path: Path, embedder: Any) -> None:
    from eval import import_threshold
    from eval.common import Models
    from server.settings import Settings

    cases = tmp_path / "cases.jsonl"
    lines = (Path(__file__).parents[2] / "eval" / "cases" / "arbitrate.jsonl").read_text().splitlines()
    cases.write_text("\n".join(lines[:8]) + "\n")
    source = tmp_path / "memory.jsonl"
    graph = [{"type": "entity", "name": "auth-api", "entityType": "service", "observations": ["a", "b c", "b c d"]}]
    source.write_text(json.dumps(graph[0]))
    models = Models(Settings(), embedder, None)
    report = import_threshold.run(models, cases, cases, 0.95, ("server-memory", source))
    selection = report["selection"]
    assert selection["same_pairs"] > 0 and selection["different_pairs"] > 0
    assert selection["same_reaching_arbiter"] >= 0.95  # the rule it was chosen by
    assert report["check"]["same_reaching_arbiter"] == selection["same_reaching_arbiter"]  # same cases
    assert report["source"]["items_with_an_earlier_item"] == 2
    assert any("import threshold" in line for line in import_threshold.render(report))


def test_the_write_phase_benchmark_writes_both_ways(postgres_url: str) -> None:
    from eval import bench_migrate

    report = bench_migrate.import_writes(130, postgres_url, rounds=1)
    assert report["seeds"] == 130 and len(report["per_seed_s"]) == 1 and len(report["bulk_s"]) == 1


def test_a_stored_memory_is_found_behind_many_of_the_imports_own_items(tmp_path: Path, store: SeedStore) -> None:
    brain = ReadingBrain()
    memory = Memory(store, brain, HashEmbedder(), candidate_similarity=0.5, reconcile_similarity=0.99)  # pyright: ignore[reportArgumentType]
    memory.remember(STORED, "team", force=True)
    # Forty earlier items closer to the contradiction than the stored memory is, written in earlier batches.
    crowd = [f"shop-api: the session cache now uses Valkey 8 now Valkey 8 zone {i}" for i in range(40)]
    assert min(similarity(CONTRADICTION, text) for text in crowd) > similarity(CONTRADICTION, STORED)
    assert max(similarity(STORED, text) for text in crowd) < 0.5  # not themselves about the stored memory
    summary = import_mem0(memory, tmp_path, [*crowd, CONTRADICTION], batch_size=8)
    assert [stored for _, shown in brain.asked for stored in shown if stored == STORED] == [STORED]
    last = summary.outcomes[-1]
    assert last.text == CONTRADICTION and last.status == "updated" and last.seed_id == 1
    assert STORED not in [seed.text for seed in store.list_seeds()]
