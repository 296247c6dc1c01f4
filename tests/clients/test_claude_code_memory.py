"""Memory in the real Claude Code (from the npm registry), against a mock Messages API (eval/claude_code.py):
one scope per project for the agent's tools and the hooks, with the shared service warm and SmolLM2 in both
roles. Skipped, saying why, where Claude Code can't be installed (no npm, no registry)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.claude_code import (
    ClaudeCode,
    ClaudeCodeUnavailable,
    MockAnthropic,
    Request,
    Text,
    ToolUse,
    cerebellum_server,
    conversation,
    install_claude_code,
    mcp_config,
    tool_results,
)
from eval.clients import processes_marked
from seeds import open_store
from server.cli import hooks
from server.rules.scopes import scope_from_root
from server.settings import Settings
from server.transport.service import ensure_service, service_place, service_status
from tests.transport.test_service import attached_env

DEPLOY = "Decision: we deploy the shop with make release, never by hand."
STATED = "We decided to keep the order history in Postgres 16, partitioned by month."
QUESTION = "what is the staging database?"


@pytest.fixture(scope="module")
def claude_command(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    try:
        return install_claude_code()
    except ClaudeCodeUnavailable as exc:
        pytest.skip(f"the real Claude Code is needed and could not be installed: {exc}")


@pytest.fixture
def cerebellum_env(tmp_path: Path, smollm2: Path) -> Iterator[dict[str, str]]:
    service_dir = tmp_path / "svc"
    # SmolLM2's vectors are all alike: its arbiter would merge any two notes, the subject of other tests.
    env = attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_CANDIDATE_SIMILARITY="1.0")
    yield env
    for pid in processes_marked("CEREBELLUM_SERVICE_DIR", str(service_dir)):
        os.kill(pid, signal.SIGKILL)


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        db=env["CEREBELLUM_DB"],
        model=env["CEREBELLUM_MODEL"],
        embedder=env["CEREBELLUM_EMBEDDER"],
        threads=int(env["CEREBELLUM_THREADS"]),
        context_size=int(env["CEREBELLUM_CONTEXT_SIZE"]),
        offline=True,
        deadline_seconds=float(env["CEREBELLUM_DEADLINE_SECONDS"]),
        candidate_similarity=1.0,
        calibrate_gate=False,
        standalone=False,
        service_dir=Path(env["CEREBELLUM_SERVICE_DIR"]),
    )


def warm_service(settings: Settings) -> None:
    ensure_service(settings)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = service_status(service_place(settings))
        if status is not None and status.models == "loaded" and not status.pending:
            return
        time.sleep(0.3)
    pytest.fail("the shared service did not load SmolLM2 (or decide its inbox) within 180 s")


def hook_settings(path: Path, env: dict[str, str]) -> Path:
    """The hooks `config claude-code --hooks` writes, into `path`."""
    run = subprocess.run(
        [sys.executable, "-m", "server", "config", "claude-code", "--hooks", "--path", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return path


def hook_context(requests: list[Request]) -> str:
    """Everything the hooks added to the main conversation's requests."""
    return "\n".join(request.text() for request in requests)


def seeds_of(settings: Settings, scope: str) -> list[str]:
    store = open_store(settings.db)
    try:
        return [seed.text for seed in store.list_seeds(scope)]
    finally:
        store.close()


def everything_stored(settings: Settings) -> list[str]:
    store = open_store(settings.db)
    try:
        left = store.inbox("pending", None, None) + store.inbox("skipped", None, None)
        return [seed.text for seed in store.list_seeds(None)] + [received.text for received in left]
    finally:
        store.close()


def wait_for_seed(settings: Settings, scope: str, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in seed for seed in seeds_of(settings, scope)):
            return
        time.sleep(0.5)
    pytest.fail(f"{text!r} was not stored in scope {scope} within {timeout:g} s: {seeds_of(settings, scope)}")


def test_one_scope_per_project_for_the_agents_tools_and_the_hooks(
    tmp_path: Path, claude_command: list[str], cerebellum_env: dict[str, str]
) -> None:
    settings = settings_of(cerebellum_env)
    warm_service(settings)  # the normal state: every session's launch starts it and it stays
    shop, other = tmp_path / "shop", tmp_path / "other"
    shop.mkdir()
    other.mkdir()
    shop_scope, other_scope = scope_from_root(shop.as_uri()), scope_from_root(other.as_uri())
    assert hooks.hook_scope(settings, str(shop)) == shop_scope
    servers = mcp_config(tmp_path / "mcp.json", {"cerebellum": cerebellum_server()})
    hooked = hook_settings(tmp_path / "settings.json", cerebellum_env)

    def session(api: MockAnthropic, prompt: str, cwd: Path) -> list[Request]:
        api.clear()
        claude = ClaudeCode(claude_command, tmp_path / "home", api, extra_env=cerebellum_env)
        run = claude.prompt(prompt, cwd=cwd, mcp_config=servers, settings=hooked, timeout=240)
        assert run.returncode == 0, run.stderr[-3000:]
        return api.main_requests()

    # 1. The agent remembers through its tool call, in the shop project; no scope named.
    remember = ToolUse("mcp__cerebellum__remember", {"text": DEPLOY})
    with MockAnthropic(conversation([remember], [Text("Noted.")])) as api:
        requests = session(api, "Please remember how we deploy: make release, never by hand.", shop)
        results = tool_results(requests[-1].body)
    assert results and "saved" in json.dumps(results), results
    assert DEPLOY in seeds_of(settings, shop_scope)  # the launch's folder named the scope, not 'default'

    # 2. A new session of the same project: the session-start digest and the prompt hook carry it.
    with MockAnthropic(conversation([Text("Use make release.")])) as api:
        requests = session(api, "How do we deploy the shop to production?", shop)
    context = hook_context(requests)
    assert "UserPromptSubmit hook additional context" in context and "make release" in context
    assert "Standing memories of this project" in context

    # 3. The session-end hook keeps a stated decision in the project's scope, and never a question.
    with MockAnthropic(conversation([Text("OK.")])) as api:
        session(api, STATED, shop)
        session(api, QUESTION, shop)
    wait_for_seed(settings, shop_scope, "Postgres 16")
    warm_service(settings)  # every turn handed over is decided
    assert not any("staging database" in text for text in everything_stored(settings))

    # 4. The agent's recall finds the session-end hook's memory in this project ...
    recall = ToolUse("mcp__cerebellum__recall", {"query": "Postgres order history"})
    with MockAnthropic(conversation([recall], [Text("Found it.")])) as api:
        requests = session(api, "Where do we keep the order history?", shop)
        found = json.dumps(tool_results(requests[-1].body))
    assert "Postgres 16" in found and "launch-folder" in found, found

    # 5. ... and another project finds none of it, through the hooks or the tools.
    with MockAnthropic(conversation([recall], [Text("Nothing.")])) as api:
        requests = session(api, "How do we deploy the shop to production?", other)
        found = json.dumps(tool_results(requests[-1].body))
    assert "make release" not in hook_context(requests[:1]) and "Postgres 16" not in found
    assert other_scope in found and seeds_of(settings, other_scope) == []
