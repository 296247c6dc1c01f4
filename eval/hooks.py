"""The Claude Code hooks, measured with the shared service warm (`python -m eval hooks`).

- **prompt** (`--cases eval/cases/prompt-hook.jsonl`): starts a shared service for the models given, in a
  folder of its own, stores each case's memories in the scope of a project folder of its own, waits until
  the service has decided them all, then runs the real hook command (`cerebellum-mcp hook claude-code
  user-prompt`, a new process each time, as Claude Code runs it) for each case's prompt with the case's
  folder as `cwd`. Reported: the hook's wall time (what it adds to the prompt) p50 / p95, and which of the
  case's memories it printed: `found` (an expected memory printed), `missed` (an expected memory not
  printed), `extra` (a memory printed that the case does not expect), `silent_ok` (nothing expected,
  nothing printed). The same prompts are run with no service (the store alone: keyword recall), and,
  for comparison, through the gate the hook used before: the service's `route` (write=False), which shows
  memories only when the cerebellum's intent says RECALL or BOTH, with the time that call took.
- **session-end** (`--turns 20`): a transcript of N user turns (statements of decisions, preferences and
  facts, questions, acknowledgements) each followed by an agent turn, some with a labelled decision; the
  hook's time to hand them to the warm service, and, with `--wait`, until the service has decided them.

Case format: `{"id", "memories": [text, ...], "prompt", "expected": [indices of the memories that bear on it]}`.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server.cli import hooks
from server.settings import Settings
from server.transport.service import call_service, ensure_service, service_place, service_status, stop_service

URI = re.compile(r"\[(seeds://[^\]]+)\]")


def _environment(settings: Settings, service_dir: Path, db: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CEREBELLUM_DB": str(db),
        "CEREBELLUM_MODEL": settings.model,
        "CEREBELLUM_EMBEDDER": settings.embedder,
        "CEREBELLUM_SERVICE_DIR": str(service_dir),
        "CEREBELLUM_CALIBRATE_GATE": json.dumps(settings.calibrate_gate),
        "CEREBELLUM_OFFLINE": "true",
        "CEREBELLUM_STANDALONE": "false",
        "CEREBELLUM_LOG_LEVEL": "WARNING",
        "CEREBELLUM_DEADLINE_SECONDS": "300",  # storing the cases' memories waits for the decisions
        **extra,
    }


def _settings_in(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _warm(settings: Settings, timeout: float = 600.0) -> None:
    ensure_service(settings)
    place = service_place(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = service_status(place)
        if status is not None and status.models == "loaded" and not status.pending:
            return
        time.sleep(0.5)
    raise RuntimeError("the shared service did not load its models (or decide its inbox) in time")


def _hook(event: str, payload: dict[str, Any], env: dict[str, str], *flags: str) -> tuple[float, str, str]:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "server", "hook", "claude-code", event, *flags],
        input=json.dumps(payload),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return time.monotonic() - started, run.stdout, run.stderr


def _score(shown: set[int], expected: set[int]) -> dict[str, int]:
    return {
        "found": len(shown & expected),
        "missed": len(expected - shown),
        "extra": len(shown - expected),
        "silent_ok": int(not expected and not shown),
    }


def _summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    times = sorted(row[key]["seconds"] for row in rows)
    totals = {name: sum(row[key][name] for row in rows) for name in ("found", "missed", "extra", "silent_ok")}
    expected = totals["found"] + totals["missed"]
    return {
        **totals,
        "recall": round(totals["found"] / expected, 3) if expected else None,
        "p50_ms": round(statistics.median(times) * 1000),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))] * 1000),
    }


def run_prompts(settings: Settings, cases_path: Path, limit: int | None = None) -> dict[str, Any]:
    cases = [json.loads(line) for line in cases_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = cases[:limit] if limit else cases
    work = Path(tempfile.mkdtemp(prefix="cerebellum-eval-hooks-"))
    env = _environment(settings, work / "svc", work / "seeds.db")
    served = _settings_in(env)
    rows: list[dict[str, Any]] = []
    try:
        _warm(served)
        ids: dict[str, dict[int, int]] = {}
        for case in cases:
            folder = work / case["id"]
            folder.mkdir()
            scope = hooks.hook_scope(served, str(folder))
            ids[case["id"]] = {}
            for index, text in enumerate(case["memories"]):
                saved = call_service(served, "remember", {"text": text, "scope": scope, "force": True}, 300)
                if saved is None:
                    raise RuntimeError(f"{case['id']}: the service did not store {text!r}")
                seed = saved.get("seed")
                if seed is None:
                    raise RuntimeError(f"{case['id']}: remember answered {saved.get('status')} for {text!r}")
                ids[case["id"]][int(seed["id"])] = index
        _warm(served)
        for case in cases:
            folder = work / case["id"]
            scope = hooks.hook_scope(served, str(folder))
            expected = set(case["expected"])
            payload = {"session_id": "eval", "cwd": str(folder), "hook_event_name": "UserPromptSubmit"}
            payload["prompt"] = case["prompt"]

            def shown(output: str, case_id: str = case["id"]) -> set[int]:
                return {ids[case_id][int(uri.rsplit("/", 1)[1])] for uri in URI.findall(output)}

            row: dict[str, Any] = {"id": case["id"], "prompt": case["prompt"], "expected": sorted(expected)}
            for name, extra in (("service", {}), ("keywords", {"CEREBELLUM_STANDALONE": "true"})):
                seconds, out, _ = _hook("user-prompt", payload, {**env, **extra})
                got = shown(out)
                row[name] = {"seconds": seconds, "shown": sorted(got), **_score(got, expected)}
            started = time.monotonic()
            routed = call_service(served, "route", {"message": case["prompt"], "scope": scope, "write": False}, 300)
            seconds = time.monotonic() - started
            got = set()
            intent = routed.get("intent") if routed else None
            if routed and routed.get("memories"):
                terms = hooks._terms(case["prompt"])  # the filter the hook applied to route's memories before
                for hit in routed["memories"]["hits"]:
                    close = hit.get("similarity") is not None and hit["similarity"] >= served.candidate_similarity
                    if close or terms & hooks._terms(hit["text"]):
                        got.add(ids[case["id"]][int(hit["id"])])
            row["route"] = {"seconds": seconds, "intent": intent, "shown": sorted(got), **_score(got, expected)}
            rows.append(row)
    finally:
        stop_service(served)
    return {
        "model": Path(settings.model).name,
        "embedder": Path(settings.embedder).name,
        "cases": len(rows),
        "service": _summary(rows, "service"),
        "keywords": _summary(rows, "keywords"),
        "route": _summary(rows, "route"),
        "rows": rows,
    }


def run_latency(settings: Settings, repeat: int) -> dict[str, Any]:
    """The prompt hook's added time with the service warm, `repeat` times, interleaved with a bare interpreter
    start and an import of the hook's modules, so that a loaded machine's share can be told from the hook's."""
    work = Path(tempfile.mkdtemp(prefix="cerebellum-eval-hook-latency-"))
    env = _environment(settings, work / "svc", work / "seeds.db")
    served = _settings_in(env)
    folder = work / "shop"
    folder.mkdir()
    text = "We decided to keep the job queue in Redis, because retries are simpler there."
    timings: dict[str, list[float]] = {"hook": [], "python": [], "imports": []}
    shown = 0
    try:
        _warm(served)
        call_service(served, "remember", {"text": text, "scope": hooks.hook_scope(served, str(folder))}, 300)
        _warm(served)
        payload = {"session_id": "eval", "cwd": str(folder), "hook_event_name": "UserPromptSubmit"}
        payload["prompt"] = "The worker drops jobs when the queue restarts, can you look into the retry logic?"
        for _ in range(repeat):
            seconds, out, _ = _hook("user-prompt", payload, env)
            timings["hook"].append(seconds)
            shown += "Redis" in out
            for name, code in (("python", "pass"), ("imports", "import server.cli.main, server.cli.hooks")):
                started = time.monotonic()
                subprocess.run([sys.executable, "-c", code], env=env, check=True)
                timings[name].append(time.monotonic() - started)
    finally:
        stop_service(served)

    def p50(values: list[float]) -> int:
        return round(statistics.median(values) * 1000)

    return {
        "model": Path(settings.model).name,
        "embedder": Path(settings.embedder).name,
        "repeat": repeat,
        "shown": shown,
        "hook_p50_ms": p50(timings["hook"]),
        "hook_p95_ms": round(sorted(timings["hook"])[min(repeat - 1, int(repeat * 0.95))] * 1000),
        "python_p50_ms": p50(timings["python"]),
        "imports_p50_ms": p50(timings["imports"]),
        "load_average": os.getloadavg()[0],
    }


def render_latency(report: dict[str, Any]) -> list[str]:
    return [
        f"prompt hook added time, service warm, {report['repeat']} runs, {report['model']} + {report['embedder']}: "
        f"p50 {report['hook_p50_ms']} ms, p95 {report['hook_p95_ms']} ms (memory shown {report['shown']}/"
        f"{report['repeat']}); bare interpreter p50 {report['python_p50_ms']} ms, importing the CLI and the hooks "
        f"p50 {report['imports_p50_ms']} ms; load average {report['load_average']:.1f}"
    ]


SESSION_USER = [
    "We decided to keep the job queue in Redis, because retries are simpler there.",
    "what is the staging database?",
    "I prefer small pull requests, one change each.",
    "thanks!",
    "The billing service reads its rates from config/rates.yaml.",
    "Why does the nightly export take so long?",
    "From now on, always run the linters before pushing.",
    "ok, go ahead",
    "Lesson: the e2e tests hang unless REDIS_URL is set.",
    "Can you rename this function to parse_rates?",
    "Deploys to production happen only from the release branch.",
    "which port does the API listen on?",
    "The frontend talks to the API through the /v2 prefix now, not /v1.",
    "looks good",
    "We use UTC timestamps everywhere in the database.",
    "What did we decide about retries?",
    "Never commit the .env file; the secrets live in the vault.",
    "great, thanks",
    "The search index is rebuilt nightly at 02:00 by the reindex-all cron job.",
    "Run the tests again please.",
]


def session_transcript(path: Path, turns: int) -> Path:
    lines: list[str] = []
    for n in range(turns):
        user = SESSION_USER[n % len(SESSION_USER)]
        if n >= len(SESSION_USER):
            user = f"{user} (part {n // len(SESSION_USER) + 1})"
        agent = f"Done: I looked at that (step {n})."
        if n % 5 == 4:
            agent += f"\n\nDecision: module {n} keeps its public names stable across releases."
        for role, content in (("user", user), ("assistant", [{"type": "text", "text": agent}])):
            message = {"role": role, "content": content}
            lines.append(json.dumps({"type": role, "sessionId": "eval", "message": message}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_session_end(settings: Settings, turns: int, runs: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cerebellum-eval-session-end-"))
    env = _environment(settings, work / "svc", work / "seeds.db")
    served = _settings_in(env)
    results: list[dict[str, Any]] = []
    try:
        _warm(served)
        for run in range(runs):
            folder = work / f"project-{run}"
            folder.mkdir()
            path = session_transcript(work / f"session-{run}.jsonl", turns)
            payload = {"session_id": f"eval-{run}", "transcript_path": str(path), "cwd": str(folder)}
            payload["hook_event_name"] = "SessionEnd"
            handed, _, report = _hook("session-end", payload, env)
            _warm(served)  # until the service decided them: the next run starts from an empty inbox
            path = session_transcript(work / f"session-{run}-wait.jsonl", turns)
            payload = {**payload, "session_id": f"eval-{run}-wait", "transcript_path": str(path)}
            waited, _, waited_report = _hook("session-end", payload, env, "--wait")
            results.append(
                {
                    "hand_over_seconds": handed,
                    "report": report.strip(),
                    "wait_seconds": waited,
                    "wait_report": waited_report.strip(),
                }
            )
    finally:
        stop_service(served)
    return {
        "model": Path(settings.model).name,
        "embedder": Path(settings.embedder).name,
        "turns": turns,
        "hand_over_p50_ms": round(statistics.median(r["hand_over_seconds"] for r in results) * 1000),
        "decided_p50_s": round(statistics.median(r["wait_seconds"] for r in results), 1),
        "runs": results,
    }


def render_prompts(report: dict[str, Any]) -> list[str]:
    lines = [
        f"prompt hook on {report['cases']} cases, {report['model']} + {report['embedder']}",
        "| path | p50 ms | p95 ms | found | missed | extra | silent when nothing applies | recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    nothing = sum(1 for row in report["rows"] if not row["expected"])
    for name, label in (
        ("service", "hook, service warm (recall + form + evidence)"),
        ("keywords", "hook, no service (keyword recall)"),
        ("route", "service route: the model's intent gates (before)"),
    ):
        figures = report[name]
        lines.append(
            f"| {label} | {figures['p50_ms']} | {figures['p95_ms']} | {figures['found']} | {figures['missed']} | "
            f"{figures['extra']} | {figures['silent_ok']}/{nothing} | {figures['recall']} |"
        )
    for row in report["rows"]:
        if row["service"]["missed"] or row["service"]["extra"]:
            lines.append(f"  service wrong on {row['id']}: shown {row['service']['shown']}, expected {row['expected']}")
    return lines


def render_session_end(report: dict[str, Any]) -> list[str]:
    lines = [f"session-end hook, {report['turns']}-turn transcript, {report['model']} + {report['embedder']}"]
    for run in report["runs"]:
        lines.append(f"  hand over {run['hand_over_seconds']:.2f} s: {run['report']}")
        lines.append(f"  with --wait {run['wait_seconds']:.1f} s: {run['wait_report']}")
    lines.append(f"hand over p50 {report['hand_over_p50_ms']} ms; decided (--wait) p50 {report['decided_p50_s']} s")
    return lines
