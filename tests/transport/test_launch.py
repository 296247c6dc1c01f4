"""The stdio launch as Claude Code meets it: the handshake answered at once by the front (server/transport/front.py),
in both protocol eras, the lists from the relay's earlier answers, and a quiet, prompt end.

The front's answers are compared with the relay's own (the SDK's) for every protocol version; the
launches are the real `cerebellum-mcp` command over pipes, attached to a shared service of the
test's own, SmolLM2 as both models.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from server.cli.main import build_parser
from server.launch import BOOLEAN_FLAGS, command_of, relays
from server.protocol.instructions import INSTRUCTIONS
from server.settings import Settings
from server.transport.front import (
    HANDSHAKE_VERSIONS,
    MODERN_VERSIONS,
    Front,
    fingerprint,
    handshake_result,
    installed_versions,
)
from server.transport.relay import create_relay
from server.transport.service import package_version
from tests.protocol.test_mcp import cerebellum_command
from tests.transport.test_service import attached_env, service_dir  # noqa: F401 - the fixture

# What Claude Code 2.1.332 sends first (its exact probe, read from the wire).
CLIENT_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {
        "name": "claude-code",
        "title": "Claude Code",
        "version": "2.1.332",
        "description": "Anthropic's agentic coding tool",
        "websiteUrl": "https://claude.com/claude-code",
    },
    "io.modelcontextprotocol/clientCapabilities": {
        "roots": {"listChanged": True},
        "elicitation": {"form": {}, "url": {}},
    },
}
PROBE = {
    "jsonrpc": "2.0",
    "id": "server-discover-probe-1",
    "method": "server/discover",
    "params": {"_meta": CLIENT_META},
}
LISTS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")


def initialize(version: str, id: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {"roots": {"listChanged": True}},
            "clientInfo": {"name": "claude-code", "version": "2.1.332"},
        },
    }


async def relay_answers(*messages: dict[str, Any]) -> list[str]:
    """What the relay itself (the SDK's server) writes for these messages, one connection, as wire lines."""
    relay = create_relay(Settings(), cast(Any, None))  # handshakes never reach the service link
    to_relay, relay_reads = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    relay_writes, from_relay = anyio.create_memory_object_stream[SessionMessage](16)
    lines: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(relay.run, relay_reads, relay_writes, relay.create_initialization_options())
        for message in messages:
            parsed = types.jsonrpc_message_adapter.validate_json(json.dumps(message), by_name=False)
            await to_relay.send(SessionMessage(parsed))
            if "id" in message:
                answer = await from_relay.receive()
                lines.append(answer.message.model_dump_json(by_alias=True, exclude_unset=True))
        await to_relay.aclose()
        tg.cancel_scope.cancel()
    return lines


class Memo:
    """A write-only binary stream that keeps what the front writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, data: bytes) -> int:
        self.lines += data.decode().splitlines()
        return len(data)

    def flush(self) -> None:
        pass


def front_answer(message: dict[str, Any]) -> str:
    out = Memo()
    front = Front(
        cast(Any, None), cast(Any, out), {"name": "cerebellum-mcp", "version": package_version()}, INSTRUCTIONS
    )
    front._take(json.dumps(message))  # pyright: ignore[reportPrivateUsage]
    assert len(out.lines) == 1, out.lines
    return out.lines[0]


@pytest.mark.anyio
@pytest.mark.parametrize("version", [*HANDSHAKE_VERSIONS, *MODERN_VERSIONS, "1999-01-01"])
async def test_the_front_answers_initialize_byte_for_byte_as_the_relay(version: str) -> None:
    (relay,) = await relay_answers(initialize(version))
    assert front_answer(initialize(version)) == relay


@pytest.mark.anyio
async def test_the_front_answers_the_discover_probe_byte_for_byte_as_the_relay() -> None:
    (relay,) = await relay_answers(PROBE)
    assert front_answer(PROBE) == relay
    assert json.loads(relay)["result"]["supportedVersions"] == list(MODERN_VERSIONS)


def test_the_front_leaves_requests_it_would_have_to_refuse_to_the_relay() -> None:
    info = {"name": "cerebellum-mcp", "version": "1"}
    assert handshake_result("initialize", {"protocolVersion": "2025-11-25"}, info, "") is None
    assert handshake_result("initialize", None, info, "") is None
    assert handshake_result("tools/call", {}, info, "") is None


def test_the_front_reads_the_versions_importlib_reads() -> None:
    assert installed_versions(["cerebellum-mcp"]) == {"cerebellum-mcp": package_version()}


def test_kept_lists_are_not_served_after_the_server_code_or_the_sdk_changes(tmp_path: Path) -> None:
    code = tmp_path / "server"
    code.mkdir()
    (code / "tools.py").write_text("TOOLS = 1\n")
    versions = {"cerebellum-mcp": "0.1.0", "mcp": "2.3.0", "mcp-types": "2.3.0"}
    before = fingerprint(versions, code)
    assert fingerprint(versions, code) == before
    assert fingerprint({**versions, "mcp": "2.4.0"}, code) != before
    (code / "tools.py").write_text("TOOLS = 22\n")  # a tool's description edited in place
    assert fingerprint(versions, code) != before
    edited = fingerprint(versions, code)
    (code / "protocol").mkdir()
    (code / "protocol" / "tools.py").write_text("TOOLS = 3\n")  # a module in one of the server's packages
    assert fingerprint(versions, code) != edited


def test_the_launch_reads_the_command_as_the_parser_does() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")  # pyright: ignore[reportPrivateUsage]
    serve = cast(Any, subparsers).choices["serve"]
    for options in (parser, serve):
        for action in options._actions:  # pyright: ignore[reportPrivateUsage]
            for flag in action.option_strings:
                takes_no_value = action.nargs == 0
                # A flag that takes no value must not be read as taking one: the next word may be the command.
                assert takes_no_value == (flag in BOOLEAN_FLAGS or flag in ("-h", "--help", "--version")), flag
    cases = {
        (): True,
        ("serve",): True,
        ("--db", "/tmp/x.db", "--scope", "serve"): True,
        ("--db=/tmp/x.db", "serve", "--scope", "p"): True,
        ("--offline", "serve"): True,
        ("--scope", "list"): True,
        ("--offline", "list"): False,
        ("hook", "claude-code", "user-prompt"): False,
        ("--db", "/tmp/x.db", "recall", "serve"): False,
        ("serve", "--http", "8765"): False,
        ("serve", "--service"): False,
        ("--standalone",): False,
        ("--version",): False,
    }
    for argv, relayed in cases.items():
        args = parser.parse_args(argv) if "--version" not in argv else None
        if args is not None:  # the parser's reading, for the record
            parser_relays = args.command in (None, "serve") and not (
                getattr(args, "http", None) or getattr(args, "service", False) or args.standalone
            )
            assert parser_relays == relayed, argv
        assert relays(argv, {}) == relayed, (argv, command_of(argv))
    assert not relays((), {"CEREBELLUM_STANDALONE": "true"}) and not relays((), {"cerebellum_standalone": "1"})
    assert relays((), {"CEREBELLUM_STANDALONE": "false"})


# -- the real launch ----------------------------------------------------------------------------------------


class Launch:
    """`cerebellum-mcp` over pipes, one JSON-RPC line at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [cerebellum_command()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def line(self, timeout: float = 120.0) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no answer within {timeout:g} s; stderr: {self.stderr_now()}"
            chunk = os.read(fd, 1 << 16)
            assert chunk, f"the launch closed its stdout; stderr: {self.stderr_now()}"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def ask(self, message: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        self.send(message)
        answer = json.loads(self.line(timeout))
        assert answer.get("id") == message["id"], answer
        return answer

    def stderr_now(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")

    def stop(self) -> str:
        """Close the wire, wait for the exit, and return stderr."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        return self.process.stderr.read().decode(errors="replace")


def modern(id: Any, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": {**params, "_meta": CLIENT_META}}


@pytest.mark.slow
def test_a_probe_given_up_on_then_initialize_are_both_answered_and_the_session_works(
    tmp_path: Path,
    smollm2: Path,
    service_dir: Path,  # noqa: F811 - the fixture
) -> None:
    # What Claude Code does when a probe is not answered within 2.5 s: initialize on the same connection.
    launch = Launch(attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_CACHE_DIR=str(tmp_path / "cache")))
    probe = launch.ask(PROBE)
    assert probe["result"]["supportedVersions"] == list(MODERN_VERSIONS)
    launch.send(initialize("2025-11-25", id=0))
    answer = json.loads(launch.line())
    assert "error" not in answer, answer
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    launch.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    # The session goes on in the handshake era, through the relay and the service.
    tools = launch.ask({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert {tool["name"] for tool in tools["result"]["tools"]} >= {"remember", "recall", "route"}
    call = {"name": "remember", "arguments": {"text": "Lesson: the front replays initialize.", "scope": "front"}}
    saved = launch.ask({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
    assert saved["result"]["structuredContent"]["status"] == "saved", saved

    # Claude Code ends a session with SIGINT, and SIGTERM 100 ms later: the launch is gone before that.
    assert launch.process.poll() is None
    sent = time.monotonic()
    launch.process.send_signal(signal.SIGINT)
    launch.process.wait(timeout=5)
    assert time.monotonic() - sent < 0.1
    assert launch.stderr_now() == ""  # no traceback, no INFO line


@pytest.mark.slow
def test_the_lists_come_back_byte_for_byte_from_the_relays_earlier_answers(
    tmp_path: Path,
    smollm2: Path,
    service_dir: Path,  # noqa: F811 - the fixture
) -> None:
    env = attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_CACHE_DIR=str(tmp_path / "cache"))
    answers: list[list[str]] = []
    for _ in range(2):
        launch = Launch(env)
        lines = [json.dumps(launch.ask(PROBE))]
        for number, method in enumerate(LISTS):
            launch.send(modern(number, method))
            lines.append(launch.line())
        answers.append(lines)
        assert launch.stop() == ""
        assert launch.process.returncode == 0
    first, second = answers
    assert second == first  # the second launch's came from the cache: the same bytes
    tools = json.loads(first[1])["result"]["tools"]
    assert {tool["name"] for tool in tools} >= {"remember", "recall", "route"}
    (cached,) = (tmp_path / "cache" / "listings").glob("*.json")
    assert set(json.loads(cached.read_text())["2026-07-28"]) == set(LISTS)


@pytest.mark.slow
def test_a_client_that_leaves_during_start_up_gets_a_quiet_prompt_exit(
    tmp_path: Path,
    smollm2: Path,
    service_dir: Path,  # noqa: F811 - the fixture
) -> None:
    launch = Launch(attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_CACHE_DIR=str(tmp_path / "cache")))
    launch.ask(PROBE)
    launch.send(modern(0, "tools/list"))  # the service is still starting: no answer yet
    started = time.monotonic()
    assert launch.stop() == ""
    assert launch.process.returncode == 0
    assert time.monotonic() - started < 10  # not the minute a service start may take
