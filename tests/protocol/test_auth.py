"""Bearer tokens for `serve --http`: the token file and its commands, the 401s, and the scopes a token holds.

The HTTP tests run the real Streamable HTTP app under uvicorn on a loopback port with `--auth tokens`
(in this process, with the fast stand-in models: the subject is who may call, not what is decided) and
talk to it with the SDK's Streamable HTTP client or plain HTTP requests. One test runs the real
`serve --http 0.0.0.0:PORT` process with SmolLM2.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client  # pyright: ignore[reportPrivateUsage]

from seeds import SeedStore, open_store
from server.cli.main import main
from server.pipeline.memory import Memory
from server.pipeline.results import ForgetResult, RecallResult, RememberResult, UndoResult
from server.pipeline.store_ops import forget_seed
from server.protocol.app import create_server
from server.protocol.auth import AuthSetupError, http_auth
from server.protocol.tokens import TokenError, TokenFile, TokenFileError
from server.settings import Settings
from server.transport.http import MCP_PATH
from tests.conftest import CHILD_ENV
from tests.helpers.fakes import HashEmbedder, ScriptedBrain
from tests.protocol.test_mcp import cerebellum_command, structured
from tests.transport.test_http import free_port, wait_for_port

pytestmark = pytest.mark.anyio

OTHER_TEXT = "The other team's deploy key rotation happens on Fridays at noon."
SHOP_TEXT = "The shop deploy runs on Fridays after the tests pass."


def fast_memory(settings: Settings, store: SeedStore) -> Memory:
    return Memory.from_settings(store, ScriptedBrain(), HashEmbedder(), settings)


def error_text(result: Any) -> str:
    assert result.is_error, result
    return str(result.content[0].text)


# -- the token file and its commands ---------------------------------------------------------------


def test_a_token_file_keeps_only_hashes_with_mode_0600_and_finds_a_token_until_it_is_revoked(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "data" / "tokens.json")
    assert tokens.records() == ()  # no file yet: no tokens
    record, token = tokens.add("laptop", "shop, notes")
    assert token.startswith("cbm_") and len(token) > 40
    assert record.scopes == ("shop", "notes") and not record.every_scope
    raw = tokens.path.read_text()
    assert token not in raw and record.sha256 in raw
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    everything, other = tokens.add("admin", "*")
    assert everything.every_scope
    assert tokens.verify(token) == record and tokens.verify(other) == everything
    assert tokens.verify(token + "x") is None and tokens.verify("") is None
    tokens.revoke("laptop")
    assert tokens.verify(token) is None and tokens.verify(other) == everything
    assert [r.name for r in TokenFile(tokens.path).records()] == ["admin"]


def test_token_commands_refuse_clearly_and_change_nothing(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens.json")
    tokens.add("laptop", "shop")
    before = tokens.path.read_bytes()
    for name, scopes, message in [
        ("laptop", "notes", "already a token named 'laptop'"),
        ("bad name", "shop", "Invalid token name"),
        ("x", "shop,*", "'*' already means every scope"),
        ("x", "shop,,notes", "empty name"),
        ("x", "my project", "Invalid scope 'my project'"),
        ("x", "-shop", "Invalid scope '-shop'"),
    ]:
        with pytest.raises(TokenError, match=message):
            tokens.add(name, scopes)
    with pytest.raises(TokenError, match=r"no token named 'phone'.*laptop"):
        tokens.revoke("phone")
    assert tokens.path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"version": 2, "tokens": []}', b'{"version": 1, "tokens": [{"name": "x"}]}', b"\xff\xfe"],
)
def test_a_corrupt_token_file_is_named_accepts_no_token_and_is_never_overwritten(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    tokens = TokenFile(path)
    with pytest.raises(TokenFileError, match=f"The token file {path} can't be used.*move it aside"):
        tokens.records()
    with pytest.raises(TokenFileError):
        tokens.add("laptop", "shop")
    with pytest.raises(TokenFileError):
        tokens.revoke("laptop")
    assert tokens.verify("cbm_anything") is None
    assert path.read_bytes() == content


def test_the_token_cli_prints_the_token_once_lists_without_hashes_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "tokens.json"
    main(["token", "add", "laptop", "--scopes", "shop,notes", "--tokens-file", str(path)])
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("cbm_") and out == token + "\n"  # the token alone on stdout, for $(...)
    assert "can't be shown again" in err and "Authorization: Bearer" in err and token not in err
    (record,) = TokenFile(path).records()
    assert TokenFile(path).verify(token) == record

    monkeypatch.setenv("CEREBELLUM_TOKENS_FILE", str(path))  # the setting, as the environment gives it
    main(["token", "list"])
    out, _ = capsys.readouterr()
    assert "laptop" in out and "shop, notes" in out and record.created in out
    assert record.sha256 not in out and token not in out

    with pytest.raises(SystemExit, match="already a token named 'laptop'"):
        main(["token", "add", "laptop", "--scopes", "shop"])
    with pytest.raises(SystemExit, match="Invalid scope"):
        main(["token", "add", "ci", "--scopes", "a b"])
    with pytest.raises(SystemExit, match="no token named 'ci'"):
        main(["token", "revoke", "ci"])
    main(["token", "revoke", "laptop"])
    out, _ = capsys.readouterr()
    assert "Revoked token 'laptop'" in out
    main(["token", "list"])
    assert "No tokens in" in capsys.readouterr().out
    path.write_text("{oops")
    with pytest.raises(SystemExit, match=f"token file {path} can't be used"):
        main(["token", "list"])
    assert path.read_text() == "{oops"


@pytest.mark.slow
def test_serving_beyond_loopback_needs_tokens_and_says_how_to_add_one(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    command = [cerebellum_command(), "--db", str(tmp_path / "seeds.db"), "serve", "--tokens-file", str(tokens)]
    env = {**os.environ, **CHILD_ENV}
    result = subprocess.run([*command, "--http", "0.0.0.0:8765"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert f"the token file {tokens} has none" in result.stderr and "cerebellum-mcp token add" in result.stderr
    tokens.write_text("{broken")
    result = subprocess.run(
        [*command, "--http", "127.0.0.1:8765", "--auth", "tokens"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0 and f"The token file {tokens} can't be used" in result.stderr
    assert tokens.read_text() == "{broken"
    assert not (tmp_path / "seeds.db").exists()  # refused before anything was opened
    # Loopback without --auth tokens stays tokenless, whatever the token file holds.
    assert http_auth(Settings(tokens_file=tokens), "127.0.0.1", 8765, MCP_PATH, loopback=True) is None
    with pytest.raises(AuthSetupError, match="--auth tokens is set"):
        http_auth(Settings(tokens_file=tokens, auth="tokens"), "::1", 8765, MCP_PATH, loopback=True)


# -- over HTTP ---------------------------------------------------------------------------------------


@asynccontextmanager
async def http_server(settings: Settings) -> AsyncIterator[str]:
    """The Streamable HTTP app with tokens (`--auth tokens` on loopback), under uvicorn in this event loop."""
    port = free_port()
    auth = http_auth(settings, "127.0.0.1", port, MCP_PATH, loopback=True)
    assert auth is not None
    app = create_server(settings, memory_factory=fast_memory, auth=auth).streamable_http_app(
        streamable_http_path=MCP_PATH, host="127.0.0.1"
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(30):
            while not server.started:
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}{MCP_PATH}"
        finally:
            server.should_exit = True


@asynccontextmanager
async def connected(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client


def store_state(db: Path) -> tuple[object, ...]:
    """Everything a call could change: seeds (all scopes), operations, the inbox."""
    store = open_store(db)
    try:
        seeds = [(s.id, s.scope, s.text, s.tags, s.updated_at) for s in store.list_seeds(None)]
        operations = [(o.id, o.kind, o.scope, o.undone_by) for o in store.operations()]
        inbox = [(r.id, r.scope, r.text, r.state) for state in ("pending", "skipped") for r in store.inbox(state)]
        return seeds, operations, inbox, store.get_meta("reconcile_cursor:other")
    finally:
        store.close()


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Settings, dict[str, Any]]:
    """A store with memories in 'shop' and 'other' and an operation in 'other' (a forget, undoable), and
    a token file: one token holding 'shop', one holding 'shop' and 'notes', one holding every scope."""
    db = tmp_path / "seeds.db"
    settings = Settings(
        db=db,
        tokens_file=tmp_path / "tokens.json",
        auth="tokens",
        deadline_seconds=30,
        log_level="DEBUG",
    )
    memory = fast_memory(settings, open_store(db))
    ids: dict[str, Any] = {}
    ids["other"] = memory.remember(OTHER_TEXT, "other", force=True).seed.id  # type: ignore[union-attr]
    ids["shop"] = memory.remember(SHOP_TEXT, "shop", force=True).seed.id  # type: ignore[union-attr]
    gone = memory.remember("The other team's staging box is called kestrel.", "other", force=True)
    assert gone.seed is not None
    ids["other_forget"] = forget_seed(memory.store, gone.seed.id, "other").operation_id
    memory.store.close()
    tokens = TokenFile(settings.tokens_file)
    ids["shop_token"] = tokens.add("shop-only", "shop")[1]
    ids["two_token"] = tokens.add("two", "shop,notes")[1]
    ids["all_token"] = tokens.add("admin", "*")[1]
    return settings, ids


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_requests_without_a_valid_token_get_401_and_change_nothing(
    seeded: tuple[Settings, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    settings, ids = seeded
    caplog.set_level(logging.DEBUG)
    revoked = TokenFile(settings.tokens_file).add("old", "*")[1]
    TokenFile(settings.tokens_file).revoke("old")
    before = store_state(Path(settings.db))
    good = ids["all_token"]
    async with http_server(settings) as url, httpx2.AsyncClient(timeout=30) as http:
        origin = url.removesuffix(MCP_PATH)
        metadata_url = f"{origin}/.well-known/oauth-protected-resource{MCP_PATH}"
        # A session opened with a valid token, to try the others on.
        opened = await http.post(url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {good}"})
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        forget = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "forget", "arguments": {"seed_id": ids["other"], "scope": "*"}},
        }
        unauthorized: dict[str, dict[str, str]] = {
            "no header": {},
            "wrong token": {"Authorization": "Bearer cbm_" + "A" * 43},
            "revoked token": {"Authorization": f"Bearer {revoked}"},
            "no token after Bearer": {"Authorization": "Bearer"},
            "another scheme": {"Authorization": f"Basic {good}"},
            "no scheme": {"Authorization": good},
            "two spaces": {"Authorization": f"Bearer  {good}"},
            "token with a tail": {"Authorization": f"Bearer {good}x"},
            "token cut short": {"Authorization": f"Bearer {good[:-1]}"},
        }
        refused = 0
        for what, headers in unauthorized.items():
            for body, extra in ((INITIALIZE, {}), (forget, {"mcp-session-id": session})):
                answer = await http.post(url, json=body, headers={**ACCEPT, **extra, **headers})
                assert answer.status_code == 401, what
                challenge = answer.headers["www-authenticate"]
                assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata_url}"' in challenge, what
                assert answer.json() == {"error": "invalid_token", "error_description": "Authentication required"}
                assert OTHER_TEXT not in answer.text
                refused += 1
            answer = await http.get(url, headers={"Accept": "text/event-stream", "mcp-session-id": session, **headers})
            assert answer.status_code == 401, what
        # A valid token on a session another token opened: as if the session did not exist.
        hijack = await http.post(
            url,
            json=forget,
            headers={**ACCEPT, "mcp-session-id": session, "Authorization": f"Bearer {ids['shop_token']}"},
        )
        assert hijack.status_code == 404 and OTHER_TEXT not in hijack.text
        # The SDK's own client without a token gets nowhere either.
        with pytest.raises(Exception):  # noqa: B017 - the client reports the 401 as it likes; the point is it fails
            async with connected(url, None) as client:
                await client.call_tool("recall", {"query": "deploy", "scope": "*"})
        # What a client needs to find out how to authenticate is public.
        document = await http.get(metadata_url)
        assert document.status_code == 200
        assert document.json()["resource"] == url and document.json()["bearer_methods_supported"] == ["header"]
    assert refused == 2 * len(unauthorized)
    assert store_state(Path(settings.db)) == before
    for token in (good, revoked, ids["shop_token"]):
        assert token not in caplog.text  # the SDK's, uvicorn's and our loggers, at DEBUG


async def test_a_token_is_refused_on_every_tool_and_resource_of_a_scope_it_does_not_hold(
    seeded: tuple[Settings, dict[str, Any]],
) -> None:
    settings, ids = seeded
    before = store_state(Path(settings.db))
    other_id = ids["other"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("remember", {"text": "Other: the release train leaves on Tuesdays.", "scope": "other", "force": True}),
        ("recall", {"query": "deploy Fridays", "scope": "other"}),
        ("recall", {"query": "deploy Fridays", "scope": ["shop", "other"]}),
        ("reconcile", {"scope": "other"}),
        ("reconcile", {"scope": ["other"], "dry_run": True}),
        ("forget", {"seed_id": other_id, "scope": "other"}),
        ("forget", {"seed_id": other_id, "scope": "*"}),
        ("undo", {"operation_id": ids["other_forget"]}),
        ("route", {"message": "Remember: the other team deploys on Fridays.", "scope": "other"}),
        ("route", {"message": "When does the other team deploy?", "scope": "other"}),
    ]
    async with http_server(settings) as url:
        async with connected(url, ids["shop_token"]) as client:
            for tool, arguments in calls:
                message = error_text(await client.call_tool(tool, arguments))
                assert "'shop'" in message and "Nothing was" in message, (tool, message)
                if tool != "forget" or arguments["scope"] != "*":
                    assert "'other'" in message, (tool, message)
                assert OTHER_TEXT not in message
            for uri in (f"seeds://other/{other_id}", "seeds://other/recent"):
                with pytest.raises(Exception, match="does not hold scope 'other'") as refused:
                    await client.read_resource(uri)
                assert OTHER_TEXT not in str(refused.value)
        async with connected(url, ids["two_token"]) as client:
            # No scope named, and the default ('default', no roots here) is not one of its two: asked to name one.
            message = error_text(await client.call_tool("remember", {"text": "A note with no scope.", "force": True}))
            assert "names no scope" in message and "'shop', 'notes'" in message
            message = error_text(await client.call_tool("recall", {"query": "deploy"}))
            assert "names no scope" in message
    assert store_state(Path(settings.db)) == before


async def test_a_limited_token_works_in_its_scopes_and_star_means_the_scopes_it_holds(
    seeded: tuple[Settings, dict[str, Any]],
) -> None:
    settings, ids = seeded
    async with http_server(settings) as url:
        async with connected(url, ids["shop_token"]) as client:
            # Its one scope is the default of a call that names none.
            saved = RememberResult.model_validate(
                structured(await client.call_tool("remember", {"text": "Shop: the cache is Redis 7.", "force": True}))
            )
            assert saved.status == "saved" and saved.seed is not None and saved.seed.scope == "shop"
            found = RecallResult.model_validate(
                structured(await client.call_tool("recall", {"query": "deploy Fridays", "scope": "*"}))
            )
            assert found.hits and {hit.scope for hit in found.hits} == {"shop"}
            assert OTHER_TEXT not in json.dumps(found.model_dump())
            tidy = structured(await client.call_tool("reconcile", {"scope": "*", "dry_run": True}))
            assert tidy["scope"] == "shop"
            recent = await client.read_resource("seeds://shop/recent")
            assert SHOP_TEXT in str(recent.contents[0])
            gone = ForgetResult.model_validate(
                structured(await client.call_tool("forget", {"seed_id": ids["shop"], "scope": "*"}))
            )
            assert gone.seed.scope == "shop"
            back = UndoResult.model_validate(
                structured(await client.call_tool("undo", {"operation_id": gone.operation_id}))
            )
            assert [seed.id for seed in back.restored] == [ids["shop"]]
        async with connected(url, ids["all_token"]) as client:
            everything = RecallResult.model_validate(
                structured(await client.call_tool("recall", {"query": "deploy Fridays", "scope": "*"}))
            )
            assert {hit.scope for hit in everything.hits} == {"shop", "other"}
            undone = UndoResult.model_validate(
                structured(await client.call_tool("undo", {"operation_id": ids["other_forget"]}))
            )
            assert undone.scope == "other"


async def test_a_token_revoked_while_its_session_is_open_is_refused_from_the_next_call(
    seeded: tuple[Settings, dict[str, Any]],
) -> None:
    settings, ids = seeded
    async with http_server(settings) as url, connected(url, ids["shop_token"]) as client:
        structured(await client.call_tool("recall", {"query": "deploy", "scope": "shop"}))
        TokenFile(settings.tokens_file).revoke("shop-only")
        before = store_state(Path(settings.db))
        with pytest.raises(Exception):  # noqa: B017 - an HTTP 401 under the client
            with anyio.fail_after(30):
                await client.call_tool("forget", {"seed_id": ids["shop"], "scope": "shop"})
    assert store_state(Path(settings.db)) == before


@pytest.mark.slow
async def test_serve_http_on_every_interface_with_tokens_and_the_real_model(tmp_path: Path, smollm2: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens.json")
    token = tokens.add("web-client", "web")[1]
    port = free_port()
    env = {
        **os.environ,
        **CHILD_ENV,
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_DEADLINE_SECONDS": "300",
        "CEREBELLUM_TOKENS_FILE": str(tokens.path),
        "CEREBELLUM_LOG_LEVEL": "DEBUG",
    }
    args = ["--db", str(tmp_path / "seeds.db"), "--model", str(smollm2), "--embedder", str(smollm2), "--offline"]
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [
            cerebellum_command(),
            *args,
            "serve",
            "--http",
            f"0.0.0.0:{port}",
            "--public-url",
            "https://memory.example/mcp",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        env=env,
    )
    url = f"http://127.0.0.1:{port}{MCP_PATH}"
    text = "Lesson: the remote memory endpoint needs a bearer token from `cerebellum-mcp token add`."
    try:
        wait_for_port(port, process)
        async with httpx2.AsyncClient(timeout=30) as http:
            refused = await http.post(url, json=INITIALIZE, headers=ACCEPT)
            assert refused.status_code == 401
            assert (
                'resource_metadata="https://memory.example/.well-known/oauth-protected-resource/mcp"'
                in refused.headers["www-authenticate"]
            )
            document = await http.get(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource{MCP_PATH}")
            assert document.json()["resource"] == "https://memory.example/mcp"
        async with connected(url, token) as client:
            saved = RememberResult.model_validate(
                structured(await client.call_tool("remember", {"text": text, "force": True}))
            )
            assert saved.status == "saved" and saved.seed is not None and saved.seed.scope == "web"
            found = RecallResult.model_validate(
                structured(await client.call_tool("recall", {"query": "remote memory bearer token"}))
            )
            assert [hit.id for hit in found.hits] == [saved.seed.id]
            message = error_text(await client.call_tool("remember", {"text": text, "scope": "elsewhere"}))
            assert "does not hold scope 'elsewhere'" in message and "'web'" in message
    finally:
        process.terminate()
        process.wait(timeout=60)
    logged = log.read_text()
    assert "bearer tokens required: 1 in" in logged and token not in logged
    assert process.stdout is not None and process.stdout.read() == b""
    store = open_store(tmp_path / "seeds.db")
    try:
        assert [(seed.scope, seed.text) for seed in store.list_seeds(None)] == [("web", text)]
    finally:
        store.close()
