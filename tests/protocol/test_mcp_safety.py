"""forget, undo, scopes and redaction through the SDK's in-process client."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types

from seeds import SeedStore
from server.pipeline.memory import Memory
from server.pipeline.results import ForgetResult, RecallResult, RememberResult, UndoResult
from server.protocol.app import create_server
from server.rules.scopes import scope_from_root
from server.settings import Settings
from tests.helpers.fakes import HashEmbedder, ScriptedBrain

pytestmark = pytest.mark.anyio


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error
    return str(result.content[0].text)


def fast_memory(settings: Settings, store: SeedStore) -> Memory:
    return Memory.from_settings(store, ScriptedBrain(), HashEmbedder(), settings)


async def ready(client: Client) -> Client:
    """Wait until the server's models are in and its inbox worker made its first pass.

    A remember sent while the worker's first pass runs can be decided by the worker and answered
    `queued` (a race in the server, reported); these tests are about what the decision stores.
    """
    with anyio.fail_after(300):
        while structured(await client.call_tool("recall", {"query": "warm up", "scope": "*"})).get("note"):
            await anyio.sleep(0.2)  # keyword-only: the models are still loading
    await anyio.sleep(0.05)
    return client


def roots(*uris: str) -> Any:
    async def list_roots(_: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=uri) for uri in uris])  # type: ignore[arg-type]

    return list_roots


async def test_forget_and_undo_round_trip_with_the_real_models(tmp_path: Path, smollm2: Path) -> None:
    settings = Settings(
        db=tmp_path / "seeds.db",
        model=str(smollm2),
        embedder=str(smollm2),
        threads=2,
        context_size=2048,
        offline=True,
        deadline_seconds=300,  # about what the decision stores, not its speed: a loaded machine may take > 10 s
    )
    text = "The nightly export job is called ledger-sync."
    async with Client(create_server(settings)) as client:
        await ready(client)
        saved = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": text, "force": True}))
        )
        assert saved.seed is not None
        gone = ForgetResult.model_validate(structured(await client.call_tool("forget", {"seed_id": saved.seed.id})))
        assert gone.seed.text == text
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "ledger-sync"})))
        assert found.hits == []

        back = UndoResult.model_validate(
            structured(await client.call_tool("undo", {"operation_id": gone.operation_id}))
        )
        assert back.undone_kind == "forget" and [s.id for s in back.restored] == [saved.seed.id]
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "ledger-sync"})))
        assert [(h.id, h.text, h.created_at) for h in found.hits] == [(saved.seed.id, text, saved.seed.created_at)]

        assert "already undone" in error_text(await client.call_tool("undo", {"operation_id": gone.operation_id}))
        assert "No operation" in error_text(await client.call_tool("undo", {"operation_id": "op_0123456789ab"}))
        assert "not an operation id" in error_text(await client.call_tool("undo", {"operation_id": "DROP TABLE"}))
        assert "No seed with id 424242" in error_text(await client.call_tool("forget", {"seed_id": 424242}))
        # The refused calls changed nothing.
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "ledger-sync"})))
        assert [h.id for h in found.hits] == [saved.seed.id]


async def test_the_default_scope_comes_from_the_clients_first_root(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True)
    project = "file:///home/me/src/shop-api"
    server = create_server(settings, memory_factory=fast_memory)
    async with Client(server, mode="legacy", list_roots_callback=roots(project, "file:///tmp")) as client:
        await ready(client)
        saved = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": "Orders are paged by 50.", "force": True}))
        )
        assert saved.seed is not None and saved.seed.scope == scope_from_root(project)
        here = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "orders paged"})))
        assert here.scope == scope_from_root(project) and [h.id for h in here.hits] == [saved.seed.id]

    server = create_server(settings, memory_factory=fast_memory)
    async with Client(server, mode="legacy", list_roots_callback=roots("file:///home/me/src/billing")) as client:
        await ready(client)
        # Another project does not see it, unless it asks for every scope; each hit names its scope.
        other = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "orders paged"})))
        assert other.hits == []
        every = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": "orders paged", "scope": "*"}))
        )
        assert [(h.id, h.scope) for h in every.hits] == [(saved.seed.id, scope_from_root(project))]
        listed = RecallResult.model_validate(
            structured(
                await client.call_tool("recall", {"query": "orders paged", "scope": [scope_from_root(project), "x"]})
            )
        )
        assert [h.id for h in listed.hits] == [saved.seed.id]
        assert "Invalid scope" in error_text(
            await client.call_tool("recall", {"query": "orders", "scope": ["ok", "not ok!"]})
        )
        assert "one scope" in error_text(await client.call_tool("remember", {"text": "x", "scope": "*"}))
        assert "No seed with id" in error_text(await client.call_tool("forget", {"seed_id": saved.seed.id}))
        # An id past what either engine stores names no memory (found by the property test: it crashed forget).
        for huge in (2**63, 2**70, -(2**63) - 1):
            assert f"No seed with id {huge}" in error_text(await client.call_tool("forget", {"seed_id": huge}))

    # Without roots the setting's scope is used; a scope set explicitly wins over the roots.
    async with Client(create_server(settings, memory_factory=fast_memory)) as client:
        await ready(client)
        result = structured(await client.call_tool("remember", {"text": "No roots here.", "force": True}))
        assert result["seed"]["scope"] == "default"
    pinned = settings.model_copy(update={"scope": "pinned"})
    server = create_server(pinned, memory_factory=fast_memory)
    async with Client(server, mode="legacy", list_roots_callback=roots(project)) as client:
        await ready(client)
        result = structured(await client.call_tool("remember", {"text": "Pinned by the user.", "force": True}))
        assert result["seed"]["scope"] == "pinned"


async def test_the_server_closes_its_models_and_store_when_it_stops(tmp_path: Path) -> None:
    # Unclosed, the models' background warm-up went on decoding while the process exited: a segfault.
    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True)
    opened: list[Memory] = []
    closed: list[str] = []

    def tracked(settings: Settings, store: SeedStore) -> Memory:
        memory = fast_memory(settings, store)
        original = memory.close

        def close() -> None:
            closed.append("closed")
            original()

        memory.close = close  # type: ignore[method-assign]
        opened.append(memory)
        return memory

    async with Client(create_server(settings, memory_factory=tracked)) as client:
        await ready(client)
        assert closed == []
    assert closed == ["closed"] and opened[0].lock.closed
    with pytest.raises(Exception):  # noqa: B017 - the store's own closed-connection error, whatever the engine
        opened[0].store.count()


async def test_a_client_whose_roots_fail_is_asked_once_and_gets_the_default_scope(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True)
    asked: list[str] = []

    async def broken_roots(_: Any) -> types.ListRootsResult:
        asked.append("roots/list")
        raise RuntimeError("this client cannot list its roots")

    failing: Any = broken_roots  # the callback's declared type wants a result; this one raises instead
    server = create_server(settings, memory_factory=fast_memory)
    async with Client(server, mode="legacy", list_roots_callback=failing) as client:
        await ready(client)
        for text in ("Roots failed once.", "Roots failed twice."):
            result = structured(await client.call_tool("remember", {"text": text, "force": True}))
            assert result["seed"]["scope"] == "default"
    # The second call did not wait on a client that failed before (each wait can last 5 s).
    assert asked == ["roots/list"]


def test_scope_names_from_roots_are_readable_stable_and_valid() -> None:
    from server.rules.scopes import SCOPE_PATTERN

    name = scope_from_root("file:///home/me/src/shop-api")
    assert name.startswith("shop-api-") and len(name) == len("shop-api-") + 8
    assert scope_from_root("file:///home/me/src/shop-api/") == name
    assert scope_from_root("file:///home/you/shop-api") != name  # same folder name, another project
    for uri in ("file:///C:/Users/Me/My%20Project", "file:///home/me/%E9%A1%B9%E7%9B%AE", "file:///", "https://x/y"):
        assert SCOPE_PATTERN.match(scope_from_root(uri)), uri
    assert scope_from_root("file:///C:/Users/Me/My%20Project").startswith("My-Project-")


async def test_redact_mode_through_the_tool(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True, secrets="redact")
    token = "ghp_" + "Ab3dE" * 7 + "x"
    async with Client(create_server(settings, memory_factory=fast_memory)) as client:
        await ready(client)
        saved = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": f"CI pushes with token {token}.", "force": True}))
        )
        assert saved.seed is not None and saved.seed.text == "CI pushes with token [REDACTED:github-token]."
        assert saved.redacted == ["github-token"]
    assert token.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_the_secrets_mode_is_a_flag_and_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.main import build_parser, settings_from_args

    assert "CEREBELLUM_SECRETS" in build_parser().format_help()
    assert settings_from_args(build_parser().parse_args([])).secrets == "refuse"
    monkeypatch.setenv("CEREBELLUM_SECRETS", "redact")
    assert settings_from_args(build_parser().parse_args([])).secrets == "redact"
    assert settings_from_args(build_parser().parse_args(["--secrets", "refuse"])).secrets == "refuse"


async def test_a_queued_text_is_redacted_before_it_reaches_the_inbox(tmp_path: Path) -> None:
    # No model can be loaded: remember keeps the text in the inbox to decide later. The secret must not go there.
    missing = str(tmp_path / "nowhere.gguf")
    settings = Settings(db=tmp_path / "seeds.db", model=missing, embedder=missing, offline=True, secrets="redact")
    token = "ghp_" + "Ab3dE" * 7 + "x"
    async with Client(create_server(settings)) as client:
        kept = RememberResult.model_validate(
            structured(await client.call_tool("remember", {"text": f"CI pushes with token {token}.", "force": True}))
        )
        assert kept.status == "queued" and kept.redacted == ["github-token"]
        # recall lists it as queued, as it was kept; a query with the secret is searched without it.
        found = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": f"which token does CI push with? {token}"}))
        )
        assert token not in found.query and "[REDACTED:github-token]" in found.query
        assert [q.text for q in found.queued] == ["CI pushes with token [REDACTED:github-token]."]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("seeds.db"))
    assert b"CI pushes with token [REDACTED:github-token]." in raw and token.encode() not in raw


async def test_without_roots_the_launch_folder_names_the_scope_and_recall_says_why(tmp_path: Path) -> None:
    # Claude Code on protocol 2026-07-28 can't be asked for roots; it starts its stdio servers in the project.
    settings = Settings(db=tmp_path / "seeds.db", model="unused", embedder="unused", offline=True)
    folder = tmp_path / "shop-api"
    folder.mkdir()
    expected = scope_from_root(folder.as_uri())
    server = create_server(settings, memory_factory=fast_memory, launch_folder=folder)
    async with Client(server) as client:
        await ready(client)
        text = "Invoices are numbered per year."
        result = structured(await client.call_tool("remember", {"text": text, "force": True}))
        assert result["seed"]["scope"] == expected
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "invoices"})))
        assert found.scope == expected and len(found.hits) == 1
        assert found.scope_source == "launch-folder" and str(folder) in (found.scope_reason or "")
        named = RecallResult.model_validate(
            structured(await client.call_tool("recall", {"query": "invoices", "scope": "elsewhere"}))
        )
        assert named.scope_source == "argument" and named.hits == []
    # A root the client offers comes before the launch folder; --scope before both.
    server = create_server(settings, memory_factory=fast_memory, launch_folder=folder)
    async with Client(server, mode="legacy", list_roots_callback=roots("file:///home/me/src/billing")) as client:
        await ready(client)
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "invoices"})))
        assert found.scope == scope_from_root("file:///home/me/src/billing") and found.scope_source == "roots"
    pinned = settings.model_copy(update={"scope": "pinned"})
    server = create_server(pinned, memory_factory=fast_memory, launch_folder=folder)
    async with Client(server, mode="legacy", list_roots_callback=roots("file:///home/me/src/billing")) as client:
        await ready(client)
        found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "invoices"})))
        assert (found.scope, found.scope_source) == ("pinned", "setting")


def test_the_scope_rule_and_what_is_no_project_folder(tmp_path: Path) -> None:
    from server.settings import project_folder, project_scope

    settings = Settings(db=tmp_path / "seeds.db")
    assert project_folder("/", env={}) is None and project_folder(Path.home(), env={}) is None
    assert project_folder(None, env={}) is None
    # Claude Code's own name for the project wins over a working folder the agent moved into.
    assert project_folder(tmp_path / "sub", env={"CLAUDE_PROJECT_DIR": str(tmp_path)}) == tmp_path
    assert project_folder(tmp_path / "sub", env={}) == tmp_path / "sub"
    folder = project_folder(tmp_path, env={})
    assert project_scope(settings, folder=folder, folder_source="hook-folder").scope == scope_from_root(
        tmp_path.as_uri()
    )
    assert project_scope(settings).source == "default" and project_scope(settings).scope == "default"
    root = project_scope(settings, root="file:///srv/app", folder=folder)
    assert (root.scope, root.source) == (scope_from_root("file:///srv/app"), "roots")


@contextmanager
def small_disk(folder: Path, megabytes: int) -> Iterator[Path]:
    """A real size-capped filesystem (tmpfs) at `folder`: needs root and mount, as CI has."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is made with a small tmpfs, which needs root and mount; this runs as another user")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"a full disk is made with a small tmpfs, and mount refused here: {made.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
async def test_a_full_disk_answers_every_call_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The store's disk fills up. Every call is still answered: a remember with the store's own message (or
    queued, with it), a recall with what is stored, and the server goes on serving; once space is freed,
    every text that was answered saved or queued is stored."""
    memories: list[Memory] = []

    def kept_memory(settings: Settings, store: SeedStore) -> Memory:
        memories.append(fast_memory(settings, store))
        return memories[0]

    with small_disk(tmp_path / "disk", 8) as disk:
        settings = Settings(
            db=disk / "seeds.db", model="unused", embedder="unused", offline=True, scope="disk", deadline_seconds=1
        )
        filler = disk / "filler"
        acknowledged: list[str] = []
        refusals: list[str] = []

        def fill_the_disk() -> None:
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)

        async with Client(create_server(settings, memory_factory=kept_memory)) as client:
            await ready(client)
            texts = [f"Service {n} listens on port {9000 + n} and logs to /var/log/service-{n}.log." for n in range(40)]
            for text in texts[:3]:
                answer = RememberResult.model_validate(
                    structured(await client.call_tool("remember", {"text": text, "force": True}))
                )
                assert answer.status == "saved"
                acknowledged.append(text)
            # A text is in the inbox and its decision waits for the model when the disk fills up: claiming it
            # for the decision is the first write that fails.
            with memories[0].lock:
                answer = RememberResult.model_validate(
                    structured(await client.call_tool("remember", {"text": texts[3], "force": True}))
                )
                assert answer.status == "queued"
                acknowledged.append(texts[3])
                fill_the_disk()
            await anyio.sleep(0.5)  # the waiting decision runs and fails
            for text in texts[4:]:
                result = await client.call_tool("remember", {"text": text, "force": True})
                if result.is_error:
                    refusals.append(error_text(result))
                else:
                    answer = RememberResult.model_validate(structured(result))
                    assert answer.status in ("saved", "queued"), answer
                    acknowledged.append(text)
                    if answer.status == "queued":
                        assert answer.note is not None and "free disk space" in answer.note, answer.note
                if len(refusals) >= 3:
                    break
            assert refusals, "the disk never filled: the test did not test anything"
            assert all("full" in message and "free disk space" in message for message in refusals), refusals
            # Still serving: a recall answers with what is stored.
            found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "service port"})))
            assert found.hits
            # Space freed: whatever was acknowledged and not decided yet is decided by the worker.
            filler.unlink()
            with anyio.fail_after(60):
                while memories[0].store.inbox("pending", None, None):
                    await client.call_tool("remember", {"text": "A note that wakes the worker up.", "force": True})
                    await anyio.sleep(0.2)
            # Still serving after the worker's catch-up: a remember is decided, a recall answers.
            after = RememberResult.model_validate(
                structured(await client.call_tool("remember", {"text": texts[-1] + " (again)", "force": True}))
            )
            assert after.status == "saved", after
            stored = [seed.text for seed in memories[0].store.list_seeds("disk", 1000)]
            # Every text acknowledged (saved, or queued with the store's reason) is stored, and once.
            assert [text for text in acknowledged if stored.count(text) != 1] == []
