"""MCP resources, the prompt, reconcile progress and cancellation, through the SDK client on the real store and GGUF."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import Client

from seeds import SeedStore, open_store
from server.models.cerebellum import ArbitrateVerdict, MemorizeVerdict
from server.models.embedder import Embedder
from server.models.prompts import Candidate
from server.pipeline.loading import open_memory
from server.pipeline.memory import Memory
from server.pipeline.results import ReconcileResult, RememberResult, seed_uri
from server.protocol.app import create_server
from server.settings import Settings

pytestmark = pytest.mark.anyio


async def remember(client: Client, text: str, scope: str) -> RememberResult:
    result = await client.call_tool("remember", {"text": text, "scope": scope, "force": True})
    assert not result.is_error, result.content
    return RememberResult.model_validate(result.structured_content)


def text_of(contents: Any) -> str:
    (content,) = contents.contents
    return content.text


async def test_seeds_are_resources_linked_from_the_tools(settings: Settings) -> None:
    # No arbitration (SmolLM2 would merge any two texts): each remember saves a new seed.
    settings = settings.model_copy(update={"candidate_similarity": 1.0})
    async with Client(create_server(settings)) as client:
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        assert set(templates) == {"seeds://{scope}/{id}", "seeds://{scope}/recent"}
        assert all(t.mime_type == "application/json" and t.description for t in templates.values())

        first = await remember(client, "The release checklist lives in docs/RELEASE.md.", "team/web")
        second = await remember(client, "Frontend builds use Vite with the React plugin.", "team/web")
        assert first.seed is not None and second.seed is not None
        # The tool's output links to the seed; a scope with '/' is percent-encoded in it.
        assert first.seed.uri == f"seeds://team%2Fweb/{first.seed.id}" == seed_uri("team/web", first.seed.id)

        one = json.loads(text_of(await client.read_resource(first.seed.uri)))
        assert one["id"] == first.seed.id and one["text"] == "The release checklist lives in docs/RELEASE.md."
        assert one["scope"] == "team/web" and one["uri"] == first.seed.uri

        recent = json.loads(text_of(await client.read_resource("seeds://team%2Fweb/recent")))
        assert recent["scope"] == "team/web"
        assert [s["id"] for s in recent["seeds"]] == [second.seed.id, first.seed.id]

        recall = await client.call_tool("recall", {"query": "release checklist", "scope": "team/web"})
        assert recall.structured_content is not None
        assert first.seed.uri in [hit["uri"] for hit in recall.structured_content["hits"]]

        # A seed read through the wrong scope, or an id that is no seed, is an error that says what to do.
        for uri, message in (
            (f"seeds://other/{first.seed.id}", "No seed"),
            ("seeds://team%2Fweb/999", "No seed 999"),
            ("seeds://team%2Fweb/abc", "Invalid seed id"),
        ):
            with pytest.raises(Exception, match=message):
                await client.read_resource(uri)


async def test_the_prompt_tells_an_agent_when_to_remember_and_recall(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert "memory-habits" in prompts and prompts["memory-habits"].description
        assert [a.name for a in prompts["memory-habits"].arguments or []] == ["scope"]
        result = await client.get_prompt("memory-habits", {"scope": "my-project"})
    (message,) = result.messages
    text = message.content.text  # type: ignore[union-attr]
    assert "`recall`" in text and "`remember`" in text and "`reconcile`" in text
    assert "scope `my-project`" in text and "seeds://{scope}/recent" in text


async def test_reconcile_reports_progress_for_every_seed(settings: Settings) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    # No arbitration (SmolLM2 takes seconds a question on busy cores): the progress is what is tested.
    settings = settings.model_copy(update={"candidate_similarity": 1.01, "reconcile_similarity": 1.01})
    async with Client(create_server(settings)) as client:
        for text in ("Use Postgres 16 in CI.", "Deploys go out on Tuesdays.", "Lint with ruff."):
            await remember(client, text, "p")
        result = await client.call_tool("reconcile", {"scope": "p", "dry_run": True}, progress_callback=on_progress)
        assert not result.is_error
    assert [(p, t) for p, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(m and m.startswith("seed ") for _, _, m in seen)


@dataclass
class SlowBrain:
    """Keeps both seeds of every pair, slowly: a sweep long enough to be cancelled halfway (unit-speed fake;
    the real model's answers in a sweep are tested in test_memory.py)."""

    asked: list[str] = field(default_factory=list[str])
    name: str = "slow"

    def memorize(self, text: str) -> MemorizeVerdict:
        return MemorizeVerdict("SAVE", "fact", "kept", 0.0)

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        self.asked.append(text)
        time.sleep(0.3)
        return ArbitrateVerdict("ADD", None, "", "both kept", 300.0)


async def test_a_cancelled_reconcile_call_goes_on_where_it_stopped_next_time(
    settings: Settings, embedder: Embedder
) -> None:
    store = open_store(settings.db)
    store.bind_embedder(embedder.name, embedder.dimension)
    texts = [f"Service number {n} listens on port {8000 + n}." for n in range(8)]
    for text in texts:
        store.add("p", text, embedder.embed_document(text))
    brain = SlowBrain()
    memory = Memory(store, brain, embedder, reconcile_similarity=-1.0)
    memory.close = store.close  # type: ignore[method-assign]  # the server closes it; the embedder is the session's
    reported: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append(progress)

    async with Client(create_server(settings, memory_factory=lambda _settings, _store: memory)) as client:
        async with anyio.create_task_group() as tg:

            async def sweep() -> None:
                await client.call_tool("reconcile", {"scope": "p"}, progress_callback=on_progress)

            tg.start_soon(sweep)
            with anyio.fail_after(60):
                while len(reported) < 3:
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()  # the client gives up: the SDK sends notifications/cancelled
        with anyio.fail_after(60):
            while memory.lock.locked():  # the server's worker thread stops at its next seed
                await anyio.sleep(0.05)
        stopped_after = len(brain.asked)
        assert 2 <= stopped_after < len(texts) - 1

        result = await client.call_tool("reconcile", {"scope": "p"})
        assert not result.is_error, result.content
        resumed = ReconcileResult.model_validate(result.structured_content)
    assert resumed.resumed_after is not None
    # Every seed was asked about once over the two calls: none again, none skipped.
    assert brain.asked == texts[1:]
    assert resumed.examined == len(texts) - 1 - stopped_after


async def test_resources_answer_while_the_models_are_still_loading(settings: Settings, embedder: Embedder) -> None:
    store = open_store(settings.db)
    store.bind_embedder(embedder.name, embedder.dimension)
    seed = store.add("p", "Deploys go out on Tuesdays.", embedder.embed_document("Deploys go out on Tuesdays."))
    store.close()
    release = threading.Event()

    def slow_factory(s: Settings, opened: SeedStore) -> Memory:
        release.wait(timeout=120)
        return open_memory(s, opened)

    try:
        async with Client(create_server(settings, memory_factory=slow_factory)) as client:
            with anyio.fail_after(30):
                one = json.loads(text_of(await client.read_resource(seed_uri("p", seed.id))))
                recent = json.loads(text_of(await client.read_resource("seeds://p/recent")))
            assert not release.is_set()  # the models are not loaded yet
            assert one["text"] == "Deploys go out on Tuesdays." and [s["id"] for s in recent["seeds"]] == [seed.id]
            release.set()
    finally:
        release.set()
