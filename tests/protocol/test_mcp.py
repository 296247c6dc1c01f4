"""The MCP tools through the SDK's client: in process, and over stdio against the `cerebellum-mcp` command."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from seeds import SeedStore, connect, open_store
from server.pipeline.loading import open_memory
from server.pipeline.memory import Memory
from server.pipeline.results import RecallResult, ReconcileResult, RememberResult
from server.protocol.app import create_server
from server.settings import Settings
from tests.conftest import CHILD_ENV

pytestmark = pytest.mark.anyio

TOOLS = {"remember", "recall", "reconcile", "forget", "undo", "route"}


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_tools_are_listed_with_schemas_and_annotations(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert tools["recall"].annotations is not None and tools["recall"].annotations.read_only_hint is True
    assert tools["reconcile"].annotations is not None and tools["reconcile"].annotations.destructive_hint is True
    assert tools["remember"].annotations is not None and tools["remember"].annotations.read_only_hint is False
    assert tools["forget"].annotations is not None and tools["forget"].annotations.destructive_hint is True
    assert tools["undo"].annotations is not None and tools["undo"].annotations.read_only_hint is False
    assert tools["undo"].input_schema["required"] == ["operation_id"]
    for tool in tools.values():
        assert tool.output_schema is not None
        assert tool.description
    remember_args = tools["remember"].input_schema["properties"]
    assert {"text", "scope", "tags", "force"} <= set(remember_args)
    assert remember_args["text"]["description"]
    assert tools["remember"].input_schema["required"] == ["text"]


async def test_remember_recall_reconcile_in_process(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        saved = RememberResult.model_validate(
            structured(
                await client.call_tool(
                    "remember",
                    {"text": "The release checklist lives in docs/RELEASE.md.", "tags": ["docs"], "force": True},
                )
            )
        )
        assert saved.status == "saved" and saved.seed is not None
        assert saved.seed.scope == "default" and saved.seed.tags == ["docs"]

        again = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "the release checklist lives in docs/RELEASE.md"}))
        )
        assert again.status == "duplicate" and again.seed is not None and again.seed.id == saved.seed.id

        found = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": "The release checklist lives in docs/RELEASE.md."}))
        )
        assert found.hits[0].id == saved.seed.id
        assert found.hits[0].text == "The release checklist lives in docs/RELEASE.md."

        tidy = ReconcileResult.model_validate(structured(await client.call_tool("reconcile", {"dry_run": True})))
        assert tidy.dry_run and tidy.examined == 1 and tidy.actions == []

    # The MCP layer wrote to the file the settings named.
    conn = connect(settings.db)
    assert conn.execute("SELECT text FROM seeds").fetchall() == [("The release checklist lives in docs/RELEASE.md.",)]
    conn.close()


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("remember", {"text": "   "}, "The text is empty"),
        ("remember", {"text": "x" * 20_001}, "over the limit of 20000"),
        ("remember", {"text": "a\x00b"}, "NUL character"),
        ("remember", {"text": "lone \ud800 surrogate"}, "not valid Unicode"),
        ("remember", {"text": "ok", "tags": ["t"] * 21}, "too many"),
        ("remember", {"text": "ok", "tags": ["a" * 65]}, "Invalid tag"),
        ("remember", {"text": "ok", "tags": ["two\nlines"]}, "Invalid tag"),
        ("recall", {"query": "q" * 2_001}, "over the limit of 2000"),
        ("remember", {"text": "deploy token: ghp_" + "Ab3dE" * 7 + "x", "force": True}, "GitHub token"),
        ("recall", {"query": "postgres://app:Zq8vR2mK9tLp@db.internal/app"}, "nothing was stored"),
        ("remember", {"text": "x", "scope": "has spaces!"}, "Invalid scope"),
        ("recall", {"query": "", "k": 3}, "The query is empty"),
        ("recall", {"query": "x", "k": 0}, "k must be between 1 and 50"),
        ("recall", {"query": "x", "k": 500}, "k must be between 1 and 50"),
        ("reconcile", {"scope": "../etc"}, "Invalid scope"),
    ],
)
async def test_bad_arguments_get_a_clear_error_and_change_nothing(
    settings: Settings, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with Client(create_server(settings)) as client:
        structured(await client.call_tool("remember", {"text": "Kept before the bad call.", "force": True}))
        result = await client.call_tool(tool, arguments)
        assert result.is_error
        assert message in result.content[0].text  # type: ignore[union-attr]
        kept = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "Kept"})))
        assert [hit.text for hit in kept.hits] == ["Kept before the bad call."]


async def test_a_missing_model_is_reported_by_the_tools_not_by_a_crash(settings: Settings, tmp_path: Path) -> None:
    broken = settings.model_copy(update={"model": str(tmp_path / "nowhere.gguf")})
    async with Client(create_server(broken)) as client:
        assert len((await client.list_tools()).tools) == len(TOOLS)
        kept = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "Builds need Node 20.", "force": True}))
        )
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "Node builds"})))
        result = await client.call_tool("reconcile", {})
    # remember keeps the text and says why it could not decide; recall falls back to keywords.
    assert kept.status == "queued" and kept.inbox_id is not None
    assert kept.note is not None and "nowhere.gguf" in kept.note and "--model" in kept.note
    assert found.note is not None and "keyword search only" in found.note
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "nowhere.gguf" in text and "--model" in text


async def test_a_repeat_is_answered_duplicate_while_the_model_is_missing(settings: Settings, tmp_path: Path) -> None:
    async with Client(create_server(settings)) as client:
        saved = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "Builds need Node 20.", "force": True}))
        )
    assert saved.status == "saved" and saved.seed is not None
    broken = settings.model_copy(update={"model": str(tmp_path / "nowhere.gguf")})
    async with Client(create_server(broken)) as client:
        again = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "builds need Node 20"}))
        )
        other = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "Builds need Node 22 now."}))
        )
    # No model: the exact repeat is still answered at once (nothing queued for it); a new text waits.
    assert again.status == "duplicate" and again.seed is not None and again.seed.id == saved.seed.id
    assert again.arbiter is not None and again.arbiter.decided_by == "exact-match"
    assert other.status == "queued"
    store = open_store(settings.db)
    try:
        assert [received.text for received in store.inbox("pending")] == ["Builds need Node 22 now."]
    finally:
        store.close()


async def test_tools_answer_the_handshake_before_the_models_are_loaded(settings: Settings) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_factory(s: Settings, store: SeedStore) -> Memory:
        started.set()
        release.wait(timeout=120)
        return open_memory(s, store)

    async with Client(create_server(settings, memory_factory=slow_factory)) as client:
        # The handshake and listing complete while loading is still blocked.
        assert len((await client.list_tools()).tools) == len(TOOLS)
        with anyio.fail_after(30):
            while not started.is_set():
                await anyio.sleep(0.05)
        assert not release.is_set()
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                result = await client.call_tool("remember", {"text": "Waited for the models.", "force": True})
                assert RememberResult.model_validate(structured(result)).status == "saved"

            tg.start_soon(call)
            await anyio.sleep(0.2)
            release.set()  # the waiting call completes once the models are in


def cerebellum_command() -> str:
    command = shutil.which("cerebellum-mcp", path=str(Path(sys.executable).parent))
    assert command, "the cerebellum-mcp console script is not installed: run `make setup`"
    return command


async def test_stdio_subprocess_end_to_end(settings: Settings, smollm2: Path) -> None:
    params = StdioServerParameters(
        command=cerebellum_command(),
        args=[
            "--db",
            str(settings.db),
            "--model",
            str(smollm2),
            "--embedder",
            str(smollm2),
            "--scope",
            "e2e",
            "--threads",
            "2",
            "--context-size",
            "2048",
            "--offline",
        ],
        env={
            **CHILD_ENV,
            "CEREBELLUM_CANDIDATE_SIMILARITY": "0.0",
            "CEREBELLUM_RECONCILE_SIMILARITY": "0.0",
            "CEREBELLUM_DEADLINE_SECONDS": "300",
        },
    )
    texts = [
        "Lesson: the integration tests need REDIS_URL set, or they hang for a minute.",
        "We chose SQLite with WAL over Postgres for the local cache.",
        "The integration tests hang without REDIS_URL set.",
    ]
    async with Client(params, read_timeout_seconds=120) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == TOOLS
        results = [
            RememberResult.model_validate(structured(await client.call_tool("remember", {"text": text, "force": True})))
            for text in texts
        ]
        assert results[0].status == "saved" and results[0].seed is not None
        assert all(r.status in ("saved", "updated", "deleted", "duplicate") for r in results)
        assert all(r.seed is not None and r.seed.scope == "e2e" for r in results)

        recalled = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": texts[1]})))
        assert recalled.scope == "e2e"
        assert texts[1] in [hit.text for hit in recalled.hits] or results[1].status != "saved"

        tidy = ReconcileResult.model_validate(structured(await client.call_tool("reconcile", {})))
        assert tidy.scope == "e2e" and not tidy.dry_run
    conn = sqlite3.connect(settings.db)  # plain sqlite3 can read the tables (not the vectors)
    remaining = conn.execute("SELECT count(*) FROM seeds WHERE scope = 'e2e'").fetchone()[0]
    conn.close()
    assert remaining == tidy.examined - len(tidy.actions)


def test_cli_help_documents_every_flag() -> None:
    out = subprocess.run([cerebellum_command(), "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--db", "--model", "--embedder", "--scope", "--threads", "--context-size", "--offline", "--log-level"):
        assert flag in out
    assert "CEREBELLUM_MODEL" in out


def test_cli_refuses_a_bad_setting_with_a_message() -> None:
    run = subprocess.run([cerebellum_command(), "--scope", "no spaces please"], capture_output=True, text=True)
    assert run.returncode != 0
    assert "invalid setting" in run.stderr and "scope" in run.stderr
    assert run.stdout == ""
