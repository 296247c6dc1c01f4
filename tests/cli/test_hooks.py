"""Claude Code hooks end to end: the `cerebellum-mcp hook claude-code ...` command with a payload in the
documented format on stdin, a real store, SmolLM2 for the session-end gate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from seeds import open_store
from server.cli import hooks
from server.pipeline.memory import Memory
from server.settings import Settings
from tests.conftest import CHILD_ENV
from tests.helpers.fakes import HashEmbedder, ScriptedBrain

GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def run_hook(event: str, payload: dict[str, Any], *flags: str, db: Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "server", "--db", str(db), "hook", "claude-code", event, *flags],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
        env={**CHILD_ENV, "PATH": "/usr/bin:/bin", "CEREBELLUM_THREADS": "2", **(env or {})},
    )


def prompt_payload(prompt: str, cwd: Path) -> dict[str, Any]:
    return {
        "session_id": "abc123",
        "transcript_path": str(cwd / "t.jsonl"),
        "cwd": str(cwd),
        "hook_event_name": "UserPromptSubmit",
        "prompt": prompt,
    }


def seeded(tmp_path: Path, scope: str, *texts: str) -> Path:
    db = tmp_path / "seeds.db"
    store = open_store(db)
    memory = Memory(store, ScriptedBrain(), HashEmbedder(), candidate_similarity=2.0)
    for text in texts:
        memory.remember(text, scope, force=True)
    store.close()
    return db


@pytest.mark.slow
def test_user_prompt_hook_prints_the_memories_as_additional_context(tmp_path: Path) -> None:
    project = tmp_path / "shop-api"
    project.mkdir()
    scope = hooks.hook_scope(Settings(), str(project))
    db = seeded(
        tmp_path,
        scope,
        "We decided to keep the job queue in Redis, because retries are simpler.",
        "The staging API runs on port 8081.",
    )
    # A generous budget: this test is about the output, and the machine's cores are shared.
    run = run_hook(
        "user-prompt", prompt_payload("What did we decide about the job queue?", project), "--budget", "30", db=db
    )
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout)
    context = output["hookSpecificOutput"]["additionalContext"]
    assert output["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert "Redis" in context and f"seeds://{scope}/1" in context
    assert "port 8081" not in context  # the other memory does not bear on it (the scope's hash may hold "8081")

    # Nothing applies: nothing printed at all (Claude Code adds nothing).
    for prompt in ("thanks!", "Rename `foo` to `bar` in this file.", "What did we decide about the logo colours?"):
        quiet = run_hook("user-prompt", prompt_payload(prompt, project), "--budget", "30", db=db)
        assert quiet.returncode == 0 and quiet.stdout == "", (prompt, quiet.stdout)
    # Another project's folder is another scope.
    other = run_hook("user-prompt", prompt_payload("What did we decide about the job queue?", tmp_path), db=db)
    assert other.stdout == ""


def test_user_prompt_hook_never_prints_a_secret_and_keeps_its_budget(tmp_path: Path, smollm2: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    db = seeded(tmp_path, hooks.hook_scope(Settings(), str(project)), "The deploy job uses the token in vault.")
    secret = run_hook("user-prompt", prompt_payload(f"what did we decide? token {GITHUB_TOKEN}", project), db=db)
    assert secret.returncode == 0 and secret.stdout == ""
    assert GITHUB_TOKEN not in secret.stderr
    # Work that outlasts the budget (here: loading the models, with no time at all) is not waited for:
    # the hook says nothing and exits.
    started = time.monotonic()
    slow = run_hook(
        "user-prompt",
        prompt_payload("What did we decide about the deploy job?", project),
        "--budget",
        "0",
        "--models",
        db=db,
        env={"CEREBELLUM_MODEL": str(smollm2), "CEREBELLUM_EMBEDDER": str(smollm2)},
    )
    assert slow.returncode == 0 and slow.stdout == ""
    assert time.monotonic() - started < 30  # the interpreter's start on shared cores; the work itself is dropped
    began = time.monotonic()
    assert hooks.within(0.2, lambda: time.sleep(5)) is None
    assert time.monotonic() - began < 1.0
    garbage = subprocess.run(
        [sys.executable, "-m", "server", "--db", str(db), "hook", "claude-code", "user-prompt"],
        input="not json",
        capture_output=True,
        text=True,
        timeout=60,
        env={**CHILD_ENV, "PATH": "/usr/bin:/bin"},
    )
    assert garbage.returncode == 0 and garbage.stdout == ""


def transcript(path: Path, turns: list[tuple[str, Any]]) -> Path:
    lines = []
    for i, (kind, content) in enumerate(turns):
        role = "assistant" if kind == "assistant" else "user"
        lines.append(
            json.dumps(
                {
                    "type": role,
                    "uuid": f"u{i}",
                    "sessionId": "s1",
                    "timestamp": "2026-12-01T10:00:00Z",
                    "message": {"role": role, "content": content},
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def session_payload(path: Path, project: Path, event: str = "SessionEnd") -> dict[str, Any]:
    return {
        "session_id": "s1",
        "transcript_path": str(path),
        "cwd": str(project),
        "hook_event_name": event,
        "reason": "prompt_input_exit",
    }


SESSION = [
    ("user", "Lesson: the e2e tests hang unless REDIS_URL is set."),
    ("assistant", [{"type": "text", "text": "Got it.\n\nDecision: the worker retries three times."}]),
    ("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "Remember: tool output is no turn"}]),
    ("user", "thanks!"),
    ("user", "What did we decide about retries?"),
    ("user", "what is the staging database?"),
    ("user", "<command-name>/clear</command-name>"),
    ("user", f"remember: the deploy token is {GITHUB_TOKEN}"),
]


@pytest.mark.slow
def test_the_harvest_leaves_out_questions_and_sends_each_turn_once(tmp_path: Path) -> None:
    # No shared service here (the tests' default is --standalone): the turns wait in the inbox, for the
    # next server's worker; nothing is decided, no model is loaded.
    project = tmp_path / "proj"
    project.mkdir()
    db = tmp_path / "seeds.db"
    path = transcript(tmp_path / "s1.jsonl", SESSION[:4])
    run = run_hook("pre-compact", session_payload(path, project, "PreCompact"), db=db)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and "3 turns" in run.stderr and "2 sent to the inbox" in run.stderr, run.stderr
    # The session goes on after the compaction, then ends: only the new turns are read.
    transcript(tmp_path / "s1.jsonl", SESSION)
    end = run_hook("session-end", session_payload(path, project), db=db)
    assert end.returncode == 0 and "3 turns" in end.stderr and "1 refused" in end.stderr, end.stderr
    assert "0 sent" in end.stderr, end.stderr
    assert GITHUB_TOKEN not in end.stderr
    store = open_store(db)
    try:
        waiting = [received.text for received in store.inbox("pending", hooks.hook_scope(Settings(), str(project)))]
    finally:
        store.close()
    assert waiting == [SESSION[0][1], "Decision: the worker retries three times."]
    again = run_hook("session-end", session_payload(path, project), db=db)
    assert "0 turns" in again.stderr


def test_what_only_asks_is_never_kept() -> None:
    settings = Settings()
    for question in ("what is the staging database?", "Which port does the API use? And the worker?", "why?"):
        assert hooks.only_asks(question) and hooks._left_out(hooks.Turn(0, "user", question), settings), question
    for statement in (
        "The staging database is db-stg-3.",
        "We moved the API to port 8081. Why? The old one clashed.",
        "From now on, always run the linters before pushing",
    ):
        assert not hooks._left_out(hooks.Turn(0, "user", statement), settings), statement


def test_a_close_memory_is_shown_whatever_the_form_says() -> None:
    close_at = Settings().candidate_similarity
    text = "We keep the job queue in Redis, because retries are simpler."
    redis = hooks.Hit("seeds://p/1", text, "decision", "", 0.3)
    terms = hooks._terms
    # A question about the past takes a memory sharing one content word.
    assert hooks.bears_on(terms("What did we decide about the queue?"), redis, "asks", close_at)
    # A message whose form leaves it open needs a clear match: two content words (plurals folded) ...
    assert hooks.bears_on(terms("the worker should handle queue retries"), redis, "open", close_at)
    # ... or a close vector and one word, or a very close vector alone; one stray word is not enough.
    assert not hooks.bears_on(terms("add a queue icon to the sidebar"), redis, "open", close_at)
    near = hooks.Hit(redis.uri, redis.text, redis.category, "", close_at + 0.01)
    assert hooks.bears_on(terms("add a queue icon to the sidebar"), near, "open", close_at)
    very = hooks.Hit(redis.uri, redis.text, redis.category, "", close_at + hooks.CLEAR_MARGIN)
    assert hooks.bears_on(terms("how do background tasks get scheduled"), very, "open", close_at)
    assert not hooks.bears_on(terms("how do background tasks get scheduled"), near, "open", close_at)


@pytest.mark.slow
def test_session_start_prints_a_short_digest_of_standing_memories(tmp_path: Path) -> None:
    project = tmp_path / "shop-api"
    project.mkdir()
    scope = hooks.hook_scope(Settings(), str(project))
    db = tmp_path / "seeds.db"
    store = open_store(db)
    memory = Memory(store, ScriptedBrain(), HashEmbedder(), candidate_similarity=2.0)
    memory.remember("The staging API runs on port 8081.", scope, force=True)  # a fact: not a standing memory
    memory.remember("Decision: invoices are numbered per year, never globally.", scope)
    memory.remember("Lesson: run the migrations before the integration tests.", scope)
    for n in range(40):
        memory.remember(f"Decision: rule number {n} about the {n}th module's naming, kept short.", scope)
    memory.remember("Decision: another project's rule.", "elsewhere")
    store.close()
    payload = {"session_id": "s1", "cwd": str(project), "hook_event_name": "SessionStart", "source": "startup"}
    run = run_hook("session-start", payload, db=db)
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout)["hookSpecificOutput"]
    assert output["hookEventName"] == "SessionStart"
    context = output["additionalContext"]
    assert "rule number 39" in context and "(decision," in context  # newest first
    assert "port 8081" not in context and "another project" not in context
    assert len(context) <= hooks.DIGEST_CHARS
    # A project with no memories gets nothing at all.
    empty = run_hook("session-start", {**payload, "cwd": str(tmp_path)}, db=db)
    assert empty.returncode == 0 and empty.stdout == ""


@pytest.mark.slow
def test_config_writes_both_hooks_into_settings_json(tmp_path: Path) -> None:
    target = tmp_path / ".claude" / "settings.json"
    target.parent.mkdir()
    mine = {"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo mine"}]}]}, "model": "x"}
    target.write_text(json.dumps(mine), encoding="utf-8")
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-m", "server", "config", "claude-code", "--hooks", "--path", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**CHILD_ENV, "PATH": "/usr/bin:/bin"},
        )
        assert run.returncode == 0, run.stderr
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["model"] == "x"
    prompts = written["hooks"]["UserPromptSubmit"]
    assert prompts[0]["hooks"][0]["command"] == "echo mine" and len(prompts) == 2  # merged, not duplicated
    ours = prompts[1]["hooks"][0]
    assert ours["type"] == "command" and ours["command"].endswith("hook claude-code user-prompt")
    assert ours["timeout"] == hooks.USER_PROMPT_TIMEOUT_SECONDS
    others = (("SessionStart", "session-start"), ("PreCompact", "pre-compact"), ("SessionEnd", "session-end"))
    for event, name in others:
        (group,) = written["hooks"][event]
        assert group["hooks"][0]["command"].endswith(f"hook claude-code {name}")
        assert group["hooks"][0]["timeout"] <= 60  # Claude Code cancels a SessionEnd hook at about 60 s
    assert list(tmp_path.joinpath(".claude").glob("settings.json.bak-*"))


def test_the_lean_client_reads_both_answer_shapes_and_does_without_a_service(tmp_path: Path) -> None:
    from server.transport import lean_client

    answer = b'{"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": {"hits": []}}}'
    assert lean_client._rpc_result("application/json", answer) == json.loads(answer)
    # A handler that ran past the server's ping window answers as an event stream: the last event is the answer.
    stream = (
        b'event: message\ndata: {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}\n\n'
        b": ping\n\nevent: message\ndata: " + answer + b"\n\n"
    )
    assert lean_client._rpc_result("text/event-stream", stream) == json.loads(answer)
    assert lean_client._rpc_result("text/event-stream", b": ping\n\n") is None
    nothing = tmp_path / "none.sock"
    began = time.monotonic()
    assert lean_client.status(nothing) is None and not lean_client.warm(nothing, "key")
    assert lean_client.call_tool(nothing, "recall", {"query": "x"}, 1.0) is None and not lean_client.wake(nothing)
    assert time.monotonic() - began < 1.0
