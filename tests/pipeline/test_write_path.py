"""The write path: a text is committed before any model work, and no model failure loses it.

Each behaviour runs with the real SmolLM2 GGUF and a real SQLite file; a crashing cerebellum is
the one thing a real model can't be asked to do, so that case wraps the real model.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from seeds import AlreadySettled, SeedStore, connect, open_store
from server.models.cerebellum import ArbitrateVerdict, Cerebellum, MemorizeVerdict
from server.models.embedder import Embedder
from server.models.prompts import Candidate
from server.pipeline.errors import DecisionFailed
from server.pipeline.memory import Memory
from server.pipeline.recall import keyword_recall
from server.pipeline.results import RecallResult, RememberResult
from server.pipeline.store_ops import receive
from server.protocol.app import create_server
from server.settings import Settings
from tests.conftest import CHILD_ENV
from tests.helpers.fakes import ScriptedBrain
from tests.protocol.test_mcp import cerebellum_command, structured

pytestmark = pytest.mark.anyio


def make_settings(tmp_path: Path, model: Path, embedder: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db": tmp_path / "seeds.db",
        "model": str(model),
        "embedder": str(embedder),
        "threads": 2,
        "context_size": 2048,
        "candidate_similarity": 0.0,
        "offline": True,
        "deadline_seconds": 300,
        "model_retry_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def pending_and_seeds(db: Path | str, text: str) -> tuple[int, int]:
    # The store's own binding: two SQLite libraries in one process must not share a file (POSIX locks).
    conn = connect(db)
    try:
        pending = conn.execute("SELECT count(*) FROM inbox WHERE state = 'pending' AND text = ?", (text,)).fetchone()
        seeds = conn.execute("SELECT count(*) FROM seeds WHERE text = ?", (text,)).fetchone()
        return int(pending[0]), int(seeds[0])
    finally:
        conn.close()


async def wait_until_decided(db: Path | str, text: str, timeout: float = 120) -> None:
    seen = pending_and_seeds(db, text)
    with anyio.move_on_after(timeout):
        while seen != (0, 1):
            await anyio.sleep(0.1)
            seen = pending_and_seeds(db, text)
    assert seen == (0, 1), f"(pending, stored) is {seen} after {timeout} s"


# -- the plain core -----------------------------------------------------------------------------


@dataclass
class CrashingCerebellum:
    """The real model behind a switch that makes it fail the way a crashed llama.cpp call does."""

    inner: Cerebellum
    crash: bool = True
    name: str = "crashing"

    def memorize(self, text: str) -> MemorizeVerdict:
        if self.crash:
            raise RuntimeError("llama_decode returned -1")
        return self.inner.memorize(text)

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        if self.crash:
            raise RuntimeError("llama_decode returned -1")
        return self.inner.arbitrate(text, candidates)


def test_a_crashing_model_leaves_the_text_in_the_inbox_to_decide_later(
    store: SeedStore, cerebellum: Cerebellum, embedder: Embedder
) -> None:
    brain = CrashingCerebellum(cerebellum)
    memory = Memory(store, brain, embedder)
    text = "The release checklist lives in docs/release.md."
    with pytest.raises(DecisionFailed, match="llama_decode"):
        memory.remember(text, "p")
    [waiting] = store.inbox("pending")
    assert waiting.text == text and waiting.attempts == 1 and "llama_decode" in (waiting.last_error or "")
    assert store.count() == 0

    brain.crash = False  # the model is back
    [result] = memory.drain()
    assert store.inbox("pending") == []
    # Decided now, whichever way the small model's gate goes: kept as a seed, or kept as skipped with a reason.
    if result.status == "saved":
        assert result.seed is not None and result.seed.text == text and store.count("p") == 1
    else:
        assert result.status == "skipped" and [r.text for r in store.inbox("skipped")] == [text]


def test_a_skipped_text_is_kept_with_its_reason_for_review(memory: Memory, store: SeedStore) -> None:
    result = memory.remember("fix(parser): handle empty lines (#42)", "p")
    assert result.status == "skipped" and result.inbox_id is not None
    [kept] = store.inbox("skipped")
    assert kept.id == result.inbox_id and kept.text.startswith("fix(parser)") and kept.reason
    assert store.count() == 0 and store.inbox("pending") == []


def test_no_text_is_lost_when_the_model_calls_it_a_duplicate(store: SeedStore, embedder: Embedder) -> None:
    """A model's "same as seed N" can be wrong; the text is then kept for review, not thrown away."""
    brain = ScriptedBrain(action="NONE", target="first")  # a small model that calls everything the same
    memory = Memory(store, brain, embedder, candidate_similarity=0.0)
    stored = memory.remember("Deploys go out on Tuesdays after the release review.", "p", force=True)
    assert stored.status == "saved" and stored.seed is not None
    text = "Deploys go out on Tuesdays and Thursdays after the release review."
    result = memory.remember(text, "p")
    assert result.status == "duplicate" and result.seed is not None and result.seed.id == stored.seed.id
    assert result.arbiter is not None and result.arbiter.decided_by == "model"
    [kept] = store.inbox("skipped")
    assert kept.id == result.inbox_id and kept.text == text
    assert f"duplicate of seed {stored.seed.id}" in (kept.reason or "")
    assert store.count("p") == 1 and store.inbox("pending") == []
    # An identical text is not kept twice: dropping it loses nothing.
    again = memory.remember("deploys go out on tuesdays after the release review.", "p")
    assert again.status == "duplicate" and again.arbiter is not None and again.arbiter.decided_by == "exact-match"
    assert again.inbox_id is None and len(store.inbox("skipped")) == 1


def test_a_text_is_decided_once_even_by_two_processes(tmp_path: Path) -> None:
    first, second = open_store(tmp_path / "s.db"), open_store(tmp_path / "s.db")
    try:
        received = first.receive("p", "Use ruff for linting.")
        assert first.claim(received.id, "server-a", lease_seconds=60) is not None
        assert second.claim(received.id, "server-b", lease_seconds=60) is None  # a's lease holds
        first.bind_embedder("e", 2)
        second.bind_embedder("e", 2)
        first.add("p", received.text, [1.0, 0.0], settles=received.id)
        with pytest.raises(AlreadySettled):  # b's late decision writes nothing
            second.add("p", received.text, [1.0, 0.0], settles=received.id)
        assert second.count() == 1 and second.inbox("pending") == []
        # An expired lease can be taken over (its process died mid-decision).
        stale = first.receive("p", "Another text.")
        assert first.claim(stale.id, "server-a", lease_seconds=-1) is not None
        assert second.claim(stale.id, "server-b", lease_seconds=60) is not None
    finally:
        first.close()
        second.close()


STAGING = "Lesson: the staging database listens on port 5433, not 5432."
STAGING_QUERY = "which port does the staging database use"


def test_recall_lists_a_queued_text_until_it_is_decided_then_once_as_a_memory(memory: Memory, store: SeedStore) -> None:
    waiting = receive(store, STAGING, "p", force=True).received  # as a remember past its deadline: kept, not decided
    receive(store, "Lesson: team q's staging database listens on port 6543.", "q", force=True)
    skipped = store.receive("p", "ok, the staging database port is open again")
    store.skip(skipped.id, "status: a passing remark")

    found = memory.recall(STAGING_QUERY, "p")
    assert found.hits == []
    assert [(q.inbox_id, q.scope, q.text, q.received_at) for q in found.queued] == [
        (waiting.id, "p", STAGING, waiting.received_at)
    ]
    # Without the models (the server while they load): the same queued texts, by keywords.
    assert keyword_recall(store, STAGING_QUERY, "p", 5, "models loading").queued == found.queued
    assert {q.scope for q in memory.recall(STAGING_QUERY, "*").queued} == {"p", "q"}
    assert {q.scope for q in memory.recall(STAGING_QUERY, ["q", "elsewhere"]).queued} == {"q"}
    assert memory.recall(STAGING_QUERY, "elsewhere").queued == []

    (decided,) = memory.drain("p")
    assert decided.status == "saved" and decided.seed is not None
    found = memory.recall(STAGING_QUERY, "p")
    assert found.queued == [] and [(h.id, h.text) for h in found.hits] == [(decided.seed.id, STAGING)]
    assert [q.scope for q in memory.recall(STAGING_QUERY, "*").queued] == ["q"]  # q's text still waits


# -- through the MCP server -----------------------------------------------------------------


async def test_a_text_left_in_the_inbox_is_decided_after_a_restart(tmp_path: Path, smollm2: Path) -> None:
    settings = make_settings(tmp_path, smollm2, smollm2)
    text = "Lesson: the cache must be warmed before the benchmark, or the first run is 10x slower."
    store = open_store(settings.db)
    store.receive("default", text, force=True)  # the server that received it died before deciding
    store.close()
    async with Client(create_server(settings)) as client:
        await client.list_tools()
        await wait_until_decided(settings.db, text)


async def test_a_missing_model_queues_the_text_until_the_file_is_back(tmp_path: Path, smollm2: Path) -> None:
    model = tmp_path / "models" / "cerebellum.gguf"
    settings = make_settings(tmp_path, model, smollm2)
    text = "Deploys need the VPN: the registry is only reachable from inside."
    async with Client(create_server(settings)) as client:
        result = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": text, "force": True}))
        )
        assert result.status == "queued" and result.seed is None
        assert result.note is not None and "cerebellum.gguf" in result.note
        assert pending_and_seeds(settings.db, text) == (1, 0)
        model.parent.mkdir()
        shutil.copy(smollm2, model)  # the user downloads the model; the server retries on its own
        await wait_until_decided(settings.db, text)


async def test_a_corrupt_model_queues_the_text_until_it_is_replaced(tmp_path: Path, smollm2: Path) -> None:
    model = tmp_path / "cerebellum.gguf"
    with smollm2.open("rb") as source:
        model.write_bytes(source.read(1 << 20))  # a download cut off after 1 MB: right header, no tensors
    settings = make_settings(tmp_path, model, smollm2)
    text = "The nightly job rotates the logs at 03:00 UTC."
    async with Client(create_server(settings)) as client:
        result = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": text, "force": True}))
        )
        assert result.status == "queued" and result.note is not None and "could not be loaded" in result.note
        shutil.copy(smollm2, model)
        await wait_until_decided(settings.db, text)


async def test_a_decision_slower_than_the_deadline_answers_queued_and_finishes(tmp_path: Path, smollm2: Path) -> None:
    settings = make_settings(tmp_path, smollm2, smollm2, deadline_seconds=0.0)
    text = "Lesson: set PYTHONHASHSEED in CI, or the snapshot tests flake."
    async with Client(create_server(settings)) as client:
        result = RememberResult.model_validate(structured(await client.call_tool("remember", {"text": text})))
        assert result.status == "queued" and result.note is not None
        assert "within 0 s" in result.note or "loading" in result.note
        await wait_until_decided(settings.db, text)


@pytest.mark.slow
async def test_four_server_processes_with_a_hundred_concurrent_calls_each_keep_every_text(
    tmp_path: Path, smollm2: Path
) -> None:
    db = tmp_path / "shared.db"
    env = {
        **CHILD_ENV,
        "PATH": os.environ.get("PATH", ""),
        # Every text is new: no arbitration, so this measures the store under four writers.
        "CEREBELLUM_CANDIDATE_SIMILARITY": "1.0",
        "CEREBELLUM_THREADS": "1",
        "CEREBELLUM_CONTEXT_SIZE": "1024",
    }
    texts = {process: [f"Team {process} service {i} uses port {9000 + i}." for i in range(100)] for process in range(4)}
    statuses: list[str] = []

    async def one_process(process: int) -> None:
        params = StdioServerParameters(
            command=cerebellum_command(),
            args=["--db", str(db), "--model", str(smollm2), "--embedder", str(smollm2), "--offline"],
            env=env,
        )
        async with Client(params, read_timeout_seconds=300) as client:

            async def call(text: str) -> None:
                result = await client.call_tool("remember", {"text": text, "force": True})
                statuses.append(RememberResult.model_validate(structured(result)).status)

            async with anyio.create_task_group() as calls:
                for text in texts[process]:
                    calls.start_soon(call, text)
            # Calls past the deadline came back "queued"; the server decides them before we leave.
            with anyio.fail_after(300):
                while any(pending_and_seeds(db, text)[0] for text in texts[process]):
                    await anyio.sleep(0.5)

    async with anyio.create_task_group() as processes:
        for process in range(4):
            processes.start_soon(one_process, process)

    assert len(statuses) == 400 and set(statuses) <= {"saved", "queued"}
    conn = sqlite3.connect(db)
    stored = {row[0] for row in conn.execute("SELECT text FROM seeds")}
    assert stored == {text for batch in texts.values() for text in batch}
    assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


async def test_recall_shows_a_text_remembered_while_the_model_is_missing_until_it_is_decided(
    tmp_path: Path, smollm2: Path
) -> None:
    model = tmp_path / "models" / "cerebellum.gguf"
    settings = make_settings(tmp_path, model, smollm2)
    store = open_store(settings.db)
    skipped = store.receive("default", "ok, the staging database port is open again")
    store.skip(skipped.id, "status: a passing remark")  # judged earlier: never shown
    store.close()
    async with Client(create_server(settings)) as client:
        (tool,) = [t for t in (await client.list_tools()).tools if t.name == "recall"]
        assert tool.description and "not decided yet" in tool.description
        assert tool.output_schema is not None and "queued" in tool.output_schema["properties"]

        kept = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": STAGING, "force": True}))
        )
        other = RememberResult.model_validate(
            structured(
                await client.call_tool(
                    "remember", {"text": "Lesson: team q's staging database uses port 6543.", "scope": "q"}
                )
            )
        )
        assert kept.status == other.status == "queued"

        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": STAGING_QUERY})))
        assert found.hits == [] and found.note is not None and "keyword search only" in found.note
        assert [(q.inbox_id, q.scope, q.text) for q in found.queued] == [(kept.inbox_id, "default", STAGING)]
        every = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": STAGING_QUERY, "scope": "*"}))
        )
        assert {q.inbox_id for q in every.queued} == {kept.inbox_id, other.inbox_id}
        listed = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": STAGING_QUERY, "scope": ["q"]}))
        )
        assert [q.inbox_id for q in listed.queued] == [other.inbox_id]

        model.parent.mkdir()
        shutil.copy(smollm2, model)  # the model is back: the server decides what waits
        await wait_until_decided(settings.db, STAGING)
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": STAGING_QUERY})))
        assert found.note is None and found.queued == []
        assert [h.text for h in found.hits] == [STAGING]


async def test_an_inbox_the_worker_cannot_read_is_logged_once_and_the_decider_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The inbox worker runs in the Decider's task group: an error there would end the server. A store that
    fails to list the inbox is logged once (not at every pass), and remembers and recalls are still answered."""
    from seeds import StoreError
    from server.pipeline import write
    from server.pipeline.decider import Decider
    from tests.helpers.fakes import HashEmbedder

    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True, deadline_seconds=5)
    passes: list[str] = []

    def failing_inbox_memory(settings: Settings, store: SeedStore) -> Memory:
        listed = store.inbox

        def inbox(state: str = "pending", *args: Any) -> Any:
            if state == "pending":
                passes.append(state)
                raise StoreError("database disk image is malformed")
            return listed(state, *args)  # pyright: ignore[reportArgumentType]

        store.inbox = inbox  # type: ignore[method-assign]
        return Memory.from_settings(store, ScriptedBrain(), HashEmbedder(), settings)

    with caplog.at_level("WARNING", logger="server.pipeline.decider"):
        async with Decider.running(settings, failing_inbox_memory) as decider:
            with anyio.fail_after(30):
                for _ in range(3):  # three passes of the worker, each failing the same way
                    seen = len(passes)
                    decider.wake_worker.set()
                    while len(passes) == seen:
                        await anyio.sleep(0.01)
            answer = await write.remember(decider, "Deploys run on Tuesdays.", "p", force=True, deadline=5)
            assert answer.status == "saved"
            memory = await decider.memory_ready()
            assert [hit.text for hit in memory.recall("deploys Tuesdays", "p").hits] == ["Deploys run on Tuesdays."]
    warnings = [r.getMessage() for r in caplog.records if "could not read the inbox" in r.getMessage()]
    assert len(passes) >= 3 and len(warnings) == 1, warnings
    assert "malformed" in warnings[0]


async def test_a_decision_that_fails_in_the_background_is_the_callers_answer_not_the_servers_end(
    tmp_path: Path,
) -> None:
    """Whatever a decision raises (here a bare error from the model, not one the pipeline expects) is the
    waiting call's answer, `queued` with the reason; the Decider goes on deciding the next text."""
    from server.pipeline import write
    from server.pipeline.decider import Decider, Failed
    from tests.helpers.fakes import HashEmbedder

    class Breaking(ScriptedBrain):
        def memorize(self, text: str) -> MemorizeVerdict:
            if "crash" in text:
                raise RuntimeError("llama_decode returned -3")
            return super().memorize(text)

    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True, deadline_seconds=5)

    def memory_factory(settings: Settings, store: SeedStore) -> Memory:
        return Memory.from_settings(store, Breaking(), HashEmbedder(), settings)

    async with Decider.running(settings, memory_factory) as decider:
        failed = await write.remember(decider, "This one will crash the model.", "p", deadline=5)
        assert failed.status == "queued" and failed.note is not None and "llama_decode" in failed.note
        assert failed.inbox_id is not None and isinstance(decider.finished[failed.inbox_id], Failed)
        saved = await write.remember(decider, "Lesson: pin numpy below 2 until the wheels catch up.", "p", deadline=5)
        assert saved.status == "saved"
