"""`cerebellum-mcp serve --http`: the SDK's Streamable HTTP client against a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from seeds import open_store
from server.pipeline.results import RecallResult, RememberResult
from server.rules.scopes import scope_from_root
from server.transport.http import AddressError, parse_address
from tests.conftest import CHILD_ENV
from tests.protocol.test_mcp import TOOLS, cerebellum_command, structured

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with status {process.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on port {port} after {timeout} s")


def serve(tmp_path: Path, smollm2: Path, address: str) -> subprocess.Popen[bytes]:
    args = ["--db", str(tmp_path / "seeds.db"), "--model", str(smollm2), "--embedder", str(smollm2), "--offline"]
    env = {
        **os.environ,
        **CHILD_ENV,
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_DEADLINE_SECONDS": "300",
    }
    return subprocess.Popen(
        [cerebellum_command(), *args, "serve", "--http", address],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "server.log").open("wb"),  # a file, not a pipe nobody reads while the server runs
        env=env,
    )


@pytest.mark.slow
async def test_the_tools_over_streamable_http_and_a_graceful_sigterm(tmp_path: Path, smollm2: Path) -> None:
    port = free_port()
    process = serve(tmp_path, smollm2, str(port))
    text = "Lesson: the HTTP endpoint of the memory server is /mcp on port 8765 by default."
    try:
        wait_for_port(port, process)
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=300) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
            saved = RememberResult.model_validate(
                structured(await client.call_tool("remember", {"text": text, "force": True, "scope": "web"}))
            )
            assert saved.status == "saved" and saved.seed is not None and saved.seed.scope == "web"
            found = RecallResult.model_validate(
                structured(await client.call_tool("recall", {"query": "HTTP endpoint port", "scope": "web"}))
            )
            assert [hit.id for hit in found.hits] == [saved.seed.id]
            refused = await client.call_tool("remember", {"text": "x", "scope": "*"})
            assert refused.is_error
        # The project header `config claude-code --http` writes names the scope of a call that names none.
        project = tmp_path / "shop-api"
        headers = {"X-Cerebellum-Project": project.as_uri()}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300)) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
        ):
            found = RecallResult.model_validate(structured(await client.call_tool("recall", {"query": "HTTP port"})))
            assert found.scope == scope_from_root(project.as_uri()) and found.scope_source == "project-header"
            assert found.hits == []  # what was stored in 'web' is another scope's
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            while process.poll() is None:
                await anyio.sleep(0.1)
        # uvicorn re-raises the signal once it has shut down cleanly: the exit status says SIGTERM.
        assert process.returncode in (0, -signal.SIGTERM)
        assert process.stdout is not None and process.stdout.read() == b""  # logs go to stderr only
        assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    store = open_store(tmp_path / "seeds.db")
    try:
        assert [seed.text for seed in store.list_seeds("web")] == [text]
    finally:
        store.close()


@pytest.mark.slow
def test_http_addresses_default_to_loopback_and_other_hosts_are_refused_without_tokens(tmp_path: Path) -> None:
    assert parse_address("8765") == ("127.0.0.1", 8765)
    assert parse_address("localhost:9000") == ("localhost", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(AddressError, match="port from 1 to 65535"):
        parse_address("127.0.0.1:http")
    result = subprocess.run(
        [
            cerebellum_command(),
            *("--db", str(tmp_path / "seeds.db"), "serve", "--http", "0.0.0.0:8765"),
            *("--tokens-file", str(tmp_path / "tokens.json")),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **CHILD_ENV},
        timeout=60,
    )
    assert result.returncode != 0 and "reachable from other machines" in result.stderr
    assert "cerebellum-mcp token add" in result.stderr  # tests/protocol/test_auth.py serves it with tokens
    assert not (tmp_path / "seeds.db").exists()  # refused before anything was opened
