"""Every request over stdio gets an answer, even one whose JSON carries a lone surrogate escape.

Found from outside: `"\\ud800"` in a remember's text or a recall's query (JSON allows the escape)
got neither a result nor an error, because the SDK's parser refused the whole line.
"""

from __future__ import annotations

import json
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from seeds import open_store
from server.transport.wire import INVALID_TEXT, repair_line
from tests.conftest import CHILD_ENV
from tests.protocol.test_mcp import cerebellum_command


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (r'{"t": "a \ud800 b"}', f"a {INVALID_TEXT} b"),
        (r'{"t": "low \udc00 alone"}', f"low {INVALID_TEXT} alone"),
        (r'{"t": "end \uDBFF"}', f"end {INVALID_TEXT}"),
        (r'{"t": "pair \ud83d\ude00 kept"}', "pair \U0001f600 kept"),
        (r'{"t": "escaped \\ud800 backslash"}', "escaped \\ud800 backslash"),
        (r'{"t": "odd \\\ud800 run"}', f"odd \\{INVALID_TEXT} run"),
        (r'{"t": "plain \u00e9"}', "plain é"),
    ],
)
def test_repair_line_replaces_only_lone_surrogate_escapes(raw: str, text: str) -> None:
    assert json.loads(repair_line(raw))["t"] == text


class Wire:
    """A server process spoken to in raw JSON lines, as a client in another language would."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.next_id = 0

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def call(self, line_for_id: str, timeout: float = 60) -> dict[str, Any]:
        """Send a request line (with `{id}` in it) and return the answer that carries its id."""
        self.next_id += 1
        self.send(line_for_id.replace("{id}", str(self.next_id)))
        assert self.process.stdout is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            answer = json.loads(self.process.stdout.readline())
            if answer.get("id") == self.next_id:
                return answer
        pytest.fail(f"no answer within {timeout} s to {line_for_id[:80]}")


def tool_call(name: str, arguments: str) -> str:
    params = '{"name": "' + name + '", "arguments": ' + arguments + "}"
    return '{"jsonrpc": "2.0", "id": {id}, "method": "tools/call", "params": ' + params + "}"


def test_lone_surrogates_in_any_argument_get_a_clear_error_over_stdio(tmp_path: Path, smollm2: Path) -> None:
    db = tmp_path / "seeds.db"
    process = subprocess.Popen(
        [
            *(cerebellum_command(), "--db", str(db), "--model", str(smollm2), "--embedder", str(smollm2)),
            *("--scope", "wire", "--threads", "2", "--context-size", "2048", "--offline"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**CHILD_ENV, "PATH": "/usr/bin:/bin", "CEREBELLUM_DEADLINE_SECONDS": "120"},
    )
    wire = Wire(process)
    try:
        init = wire.call(
            '{"jsonrpc": "2.0", "id": {id}, "method": "initialize", "params": {"protocolVersion": "2025-06-18", '
            '"capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}'
        )
        assert "result" in init
        wire.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        bad_calls = {
            "text": tool_call("remember", r'{"text": "The API port is 80\ud800 now.", "force": true}'),
            "query": tool_call("recall", r'{"query": "which \udfff port"}'),
            "tag": tool_call("remember", r'{"text": "The API listens on port 8080.", "tags": ["ops\ud800"]}'),
            "scope": tool_call("recall", r'{"query": "port", "scope": "proj\ud800"}'),
        }
        for what, line in bad_calls.items():
            answer = wire.call(line)
            result = answer["result"]
            assert result["isError"] is True, (what, answer)
            message = result["content"][0]["text"]
            assert ("not valid Unicode" in message) if what != "scope" else ("Invalid scope" in message), message
        # The server goes on serving, and none of the refused texts was stored or queued.
        good = wire.call(tool_call("remember", '{"text": "The API listens on port 8080.", "force": true}'), 180)
        assert good["result"]["structuredContent"]["status"] == "saved"
    finally:
        process.terminate()
        process.wait(timeout=30)
    store = open_store(db)
    try:
        assert [seed.text for seed in store.list_seeds("wire")] == ["The API listens on port 8080."]
        assert store.inbox("pending", None, 10) == []
    finally:
        store.close()
