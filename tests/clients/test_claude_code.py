"""The real Claude Code (`@anthropic-ai/claude-code` from the npm registry) with cerebellum, as a user sets it up.

The project's `.mcp.json` is written by `cerebellum-mcp config claude-code --write` and approved in the
user's settings (`enabledMcpjsonServers`); the shared service is warm (started first, SmolLM2 as both
models, a service folder and store of the test's own). The model is a mock of the Anthropic Messages API
(eval/claude_code.py), scripted per session; what Claude Code sent it is read back from its records.
Skipped, saying why, where npm or the registry can't be reached (CI reaches them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eval.claude_code import (
    ClaudeCode,
    ClaudeCodeUnavailable,
    ClaudeRun,
    MockAnthropic,
    Text,
    ToolUse,
    conversation,
    install_claude_code,
    tool_results,
)
from eval.clients import processes_marked
from server.settings import Settings
from server.transport.service import ServiceStatus, ensure_service, service_place, service_status, stop_service
from tests.conftest import CHILD_ENV
from tests.protocol.test_mcp import cerebellum_command

FACT = "Decision: we deploy the staging site with `make release-staging`, never by hand from a laptop."


@pytest.fixture(scope="module")
def claude_command() -> list[str]:
    try:
        return install_claude_code()
    except ClaudeCodeUnavailable as exc:
        pytest.skip(f"the real Claude Code is not available here: {exc}")


@dataclass
class Project:
    """A project folder set up for Claude Code with cerebellum, the shared service warm behind it."""

    folder: Path
    home: Path
    env: dict[str, str]
    settings: Settings
    service: ServiceStatus
    claude_command: list[str]

    def claude(self, api: MockAnthropic) -> ClaudeCode:
        return ClaudeCode(self.claude_command, self.home, api, extra_env=self.env)

    def session(self, prompt: str, api: MockAnthropic, debug: Path) -> ClaudeRun:
        """One `claude -p` session in the project, its debug log (MCP servers' stderr included) in `debug`."""
        done = self.claude(api).prompt(prompt, cwd=self.folder, extra=["--debug-file", str(debug)])
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert not api.errors, api.errors
        return done


def server_stderr(debug: Path) -> list[str]:
    """What the cerebellum stdio launch wrote on its stderr, as Claude Code logged it."""
    return [line for line in debug.read_text().splitlines() if 'MCP server "cerebellum" Server stderr:' in line]


def sigint_ignored(debug: Path) -> list[str]:
    """Claude Code's note that the launch outlived its SIGINT by 100 ms (it sends SIGTERM then)."""
    return [line for line in debug.read_text().splitlines() if "SIGINT failed" in line and "cerebellum" in line]


@pytest.fixture
def project(tmp_path: Path, smollm2: Path, claude_command: list[str]) -> Iterator[Project]:
    service_dir = tmp_path / "svc"
    env = {
        **CHILD_ENV,
        "CEREBELLUM_STANDALONE": "false",
        "CEREBELLUM_SERVICE_DIR": str(service_dir),
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_DEADLINE_SECONDS": "120",
    }
    folder, home = tmp_path / "project", tmp_path / "home"
    folder.mkdir()
    # As the README says: the entry written into the project's .mcp.json, then approved for this user.
    flags = ["--db", str(tmp_path / "seeds.db"), "--model", str(smollm2), "--embedder", str(smollm2), "--offline"]
    written = subprocess.run(
        [cerebellum_command(), "config", "claude-code", "--write", *flags],
        cwd=folder,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps({"enabledMcpjsonServers": ["cerebellum"]}))

    # The same settings the launch reads (its flags, and this environment), so it finds this service.
    saved = dict(os.environ)
    os.environ.update(env)
    settings = Settings(db=tmp_path / "seeds.db", model=str(smollm2), embedder=str(smollm2), offline=True)
    try:
        service = ensure_service(settings)
        place = service_place(settings)
        status = service
        while status.models == "loading":
            time.sleep(0.1)
            status = service_status(place) or status
        assert status.models == "loaded", status
        project = Project(folder, home, env, settings, status, claude_command)
        # The normal state: not the first session since the install. The first one's launch lists the tools
        # through the relay (the SDK imported first: seconds); it keeps the lists, and every later launch
        # answers them at once (server/transport/front.py). A tool call keeps this one open until the relay is up.
        first = conversation([ToolUse("mcp__cerebellum__recall", {"query": "anything stored?"})], [Text("OK")])
        with MockAnthropic(first) as api:
            project.session("What do you remember?", api, tmp_path / "first.log")
        yield project
    finally:
        stop_service(settings, timeout=10)
        for pid in processes_marked("CEREBELLUM_SERVICE_DIR", str(service_dir)):
            os.kill(pid, signal.SIGKILL)
        os.environ.clear()
        os.environ.update(saved)


def test_claude_mcp_list_shows_cerebellum_connected(project: Project, tmp_path: Path) -> None:
    with MockAnthropic() as api:
        listed = project.claude(api).mcp_list(cwd=project.folder)
    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("cerebellum:")]
    assert "Connected" in line, listed.stdout


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def test_what_the_agent_remembers_in_one_session_it_recalls_in_the_next(project: Project, tmp_path: Path) -> None:
    remember = conversation(
        [ToolUse("mcp__cerebellum__remember", {"text": FACT})],
        [Text("Noted: staging deploys go through make release-staging.")],
    )
    with MockAnthropic(remember) as api:
        project.session("We deploy staging with make release-staging. Remember that.", api, tmp_path / "one.log")
        first, *_, last = api.main_requests()
    # The first request already names cerebellum's tools: the server was connected in time.
    assert {"mcp__cerebellum__remember", "mcp__cerebellum__recall"} <= set(first.tool_names)
    assert "still connecting" not in first.text()
    (stored,) = tool_results(last.body)
    assert not stored.get("is_error"), stored
    assert json.loads(result_text(stored))["status"] == "saved", stored

    recall = conversation(
        [ToolUse("mcp__cerebellum__recall", {"query": "how do we deploy the staging site?"})],
        [Text("With make release-staging.")],
    )
    with MockAnthropic(recall) as api:
        project.session("How do we deploy staging?", api, tmp_path / "two.log")
        last = api.main_requests()[-1]
    (found,) = tool_results(last.body)
    hits = json.loads(result_text(found))["hits"]
    assert FACT in [hit["text"] for hit in hits], found

    # The warm service served both sessions, and the launches said nothing on stderr.
    status = service_status(service_place(project.settings))
    assert status is not None and status.pid == project.service.pid
    for debug in (tmp_path / "one.log", tmp_path / "two.log"):
        assert server_stderr(debug) == [] and sigint_ignored(debug) == []
        assert 'MCP server "cerebellum": Sending SIGINT' in debug.read_text()  # what the check above is about
