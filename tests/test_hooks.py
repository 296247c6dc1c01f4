"""Claude Code hooks end to end: the `cerebellum-mcp hook claude-code ...` command with a payload in the
documented format on stdin, a real store, SmolLM2 for the session-end gate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from seeds import SeedStore
from server import hooks
from server.memory import Memory
from server.settings import Settings
from tests.conftest import CHILD_ENV
from tests.fakes import HashEmbedder, ScriptedBrain

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
    store = SeedStore.open(db)
    memory = Memory(store, ScriptedBrain(), HashEmbedder(), candidate_similarity=2.0)
    for text in texts:
        memory.remember(text, scope, force=True)
    store.close()
    return db


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


def test_session_end_hook_keeps_the_right_turns(tmp_path: Path, smollm2: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    db = tmp_path / "seeds.db"
    path = transcript(
        tmp_path / "s1.jsonl",
        [
            ("user", "Lesson: the e2e tests hang unless REDIS_URL is set."),
            ("assistant", [{"type": "text", "text": "Got it.\n\nDecision: the worker retries three times."}]),
            ("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "Remember: tool output is no turn"}]),
            ("user", "thanks!"),
            ("user", "What did we decide about retries?"),
            ("user", "<command-name>/clear</command-name>"),
            ("user", f"remember: the deploy token is {GITHUB_TOKEN}"),
        ],
    )
    payload = {
        "session_id": "s1",
        "transcript_path": str(path),
        "cwd": str(project),
        "hook_event_name": "SessionEnd",
        "reason": "prompt_input_exit",
    }
    # SmolLM2's vectors are all alike: its arbiter would merge any two notes. The arbiter is not this test's subject.
    env = {
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_OFFLINE": "true",
        "CEREBELLUM_CANDIDATE_SIMILARITY": "1.0",
    }
    run = run_hook("session-end", payload, db=db, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and GITHUB_TOKEN not in run.stderr
    store = SeedStore.open(db)
    try:
        scope = hooks.hook_scope(Settings(), str(project))
        texts = {seed.text for seed in store.list_seeds(scope)}
        waiting = {received.text for received in store.inbox("pending", scope, None)}
        kept = texts | waiting
        # Labelled lessons and decisions pass the gate by rule, whatever SmolLM2 thinks.
        assert "Lesson: the e2e tests hang unless REDIS_URL is set." in texts
        assert "Decision: the worker retries three times." in texts
        assert not any("thanks" in t or "What did we decide" in t or "tool output" in t for t in kept)
        assert not any(GITHUB_TOKEN in t for t in kept)
        # Checked through recall, as a user would.
        found = hooks.prompt_context(
            prompt_payload("What did we decide about the e2e tests?", project), Settings(db=db)
        )
        assert found is not None and any("REDIS_URL" in line for line in found.lines)
    finally:
        store.close()
    # The same session ending again (a /clear, then an exit) sends nothing twice.
    again = run_hook("session-end", payload, db=db, env=env)
    assert again.returncode == 0 and "0 turns" in again.stderr


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
    assert written["hooks"]["SessionEnd"][0]["hooks"][0]["command"].endswith("hook claude-code session-end")
    assert list(tmp_path.joinpath(".claude").glob("settings.json.bak-*"))
