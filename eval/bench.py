"""`python -m eval bench {write,recall,startup}`: the write path's speed, printed as figures.

- write: remember() over the turns of a LoCoMo conversation, twice in one run, interleaved text by
  text: with each task's prompt head restored from its cached KV state, and with every prompt
  evaluated from its first token. Per call: latency, model calls, prompt tokens evaluated. The
  floor is the new text's own tokens through the model once; pipeline / floor is reported, overall
  and split by whether the arbiter ran. The read-once floor adds the stored notes the arbiter read,
  each once: what any arbiter has to read. Also the share of calls that finished without an
  arbitration call, and without any model call.
- recall: recall() at growing store sizes on real embeddings, SQLite beside PostgreSQL (eval/bench_recall.py).
- startup: a `cerebellum-mcp` process over stdio: time to the `initialize` answer, and to the first
  remember the cerebellum decided.

Ratios are measured within one run; the machine is shared, so absolute times are rough.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.common import Models, latency
from eval.locomo import turns_of
from seeds import open_store
from server.models.cerebellum import Cerebellum, Usage


def _conversation_turns(data_path: Path, limit: int | None) -> list[str]:
    import json

    samples = json.loads(data_path.read_text(encoding="utf-8"))
    conversation = (samples[0] if isinstance(samples, list) else samples)["conversation"]
    texts = [text for _, text in turns_of(conversation)]
    return texts[:limit] if limit else texts


# -- write -------------------------------------------------------------------------------------


def run_write(models: Models, data_path: Path, *, limit: int | None = None) -> dict[str, Any]:
    cerebellum = models.cerebellum
    assert isinstance(cerebellum, Cerebellum)
    texts = _conversation_turns(data_path, limit)
    modes = {"reused": True, "re-evaluated": False}
    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    floors: list[float] = []
    read_floors: list[float] = []
    read: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cerebellum-bench-") as tmp:
        stores = {mode: open_store(Path(tmp) / f"{mode}.db") for mode in modes}
        memories = {mode: models.memory(store) for mode, store in stores.items()}
        cerebellum.warm_up()
        for text in texts:
            for mode, reuse in modes.items():
                cerebellum.reuse_prefix = reuse
                before = dataclasses.replace(cerebellum.total)  # a copy: the total is updated in place
                started = time.perf_counter()
                result = memories[mode].remember(text, "bench")
                elapsed = (time.perf_counter() - started) * 1000
                spent = Usage(
                    cerebellum.total.calls - before.calls,
                    cerebellum.total.prompt_tokens - before.prompt_tokens,
                    cerebellum.total.evaluated_tokens - before.evaluated_tokens,
                    cerebellum.total.completion_tokens - before.completion_tokens,
                    cerebellum.total.elapsed_ms - before.elapsed_ms,
                    cerebellum.total.restore_ms - before.restore_ms,
                    cerebellum.total.restores - before.restores,
                )
                arbitrated = result.arbiter is not None and result.arbiter.decided_by in ("model", "fallback")
                if reuse:
                    read = list(cerebellum.last_read) if arbitrated else []
                rows[mode].append(
                    {
                        "ms": elapsed,
                        "status": result.status,
                        "model_calls": spent.calls,
                        "arbitrated": arbitrated,
                        "evaluated_tokens": spent.evaluated_tokens,
                        "prompt_tokens": spent.prompt_tokens,
                        "restore_ms": spent.restore_ms,
                        "restores": spent.restores,
                    }
                )
            decided_by_model = bool(rows["reused"][-1]["model_calls"])
            floors.append(cerebellum.floor_ms(text) if decided_by_model else 0.0)
            read_floors.append(cerebellum.floor_ms(text, read) if decided_by_model else 0.0)
        cerebellum.reuse_prefix = True
        statuses = [(a["status"], b["status"]) for a, b in zip(rows["reused"], rows["re-evaluated"], strict=True)]
        for store in stores.values():
            store.close()

    reused, fresh = rows["reused"], rows["re-evaluated"]
    decided = [i for i, row in enumerate(reused) if row["model_calls"]]
    n = len(texts)

    def summary(mode_rows: list[dict[str, Any]], only: list[int] | None = None) -> dict[str, Any]:
        picked = [mode_rows[i] for i in only] if only is not None else mode_rows
        calls = sum(r["model_calls"] for r in picked) or 1
        return {
            **latency([r["ms"] for r in picked]),
            "evaluated_tokens_per_model_call": round(sum(r["evaluated_tokens"] for r in picked) / calls, 1),
            "prompt_tokens_per_model_call": round(sum(r["prompt_tokens"] for r in picked) / calls, 1),
        }

    ratio_ms = [reused[i]["ms"] / fresh[i]["ms"] for i in decided if fresh[i]["ms"] > 0]
    pipeline_over_floor = [reused[i]["ms"] / floors[i] for i in decided if floors[i] > 0]
    pipeline_over_read_floor = [reused[i]["ms"] / read_floors[i] for i in decided if read_floors[i] > 0]
    without_candidates = [i for i in decided if not reused[i]["arbitrated"] and floors[i] > 0]

    def p50(values: list[float], digits: int = 2) -> float | None:
        """The upper median of per-text ratios (the figure these ratios have always been reported as)."""
        return round(sorted(values)[len(values) // 2], digits) if values else None

    return {
        "runner": "bench-write",
        **models.describe(),
        "n": n,
        "same_decisions": sum(a == b for a, b in statuses),
        "all_calls": {mode: summary(mode_rows) for mode, mode_rows in rows.items()},
        "model_calls": {mode: summary(mode_rows, decided) for mode, mode_rows in rows.items()},
        "reused_over_reevaluated_p50": p50(ratio_ms, 3),
        "floor": latency([floors[i] for i in decided]),
        "pipeline_over_floor_p50": p50(pipeline_over_floor),
        # What the arbiter must read too: the text and each stored note it was shown, once.
        "read_floor": latency([read_floors[i] for i in decided]),
        "pipeline_over_read_floor_p50": p50(pipeline_over_read_floor),
        "pipeline_over_floor_p50_without_arbitration": p50([reused[i]["ms"] / floors[i] for i in without_candidates]),
        "pipeline_over_floor_p50_with_arbitration": p50(
            [reused[i]["ms"] / floors[i] for i in decided if reused[i]["arbitrated"] and floors[i] > 0]
        ),
        "head_restores": sum(r["restores"] for r in reused),
        "head_restore_ms_mean": round(
            sum(r["restore_ms"] for r in reused) / max(1, sum(r["restores"] for r in reused)), 2
        ),
        "share_without_arbitration": round(sum(not r["arbitrated"] for r in reused) / n, 3),
        "share_without_model_call": round(sum(r["model_calls"] == 0 for r in reused) / n, 3),
        "statuses": {s: sum(r["status"] == s for r in reused) for s in sorted({r["status"] for r in reused})},
    }


def render_write(report: dict[str, Any]) -> list[str]:
    lines = [
        f"bench write: {report['n']} LoCoMo turns through remember(), cerebellum {report.get('model')}, "
        f"embedder {report['embedder']}",
        f"  same decisions in both modes: {report['same_decisions']}/{report['n']}",
    ]
    for scope_name in ("model_calls", "all_calls"):
        label = "remembers that called the model" if scope_name == "model_calls" else "all remembers"
        lines.append(f"  {label}:")
        for mode, row in report[scope_name].items():
            lines.append(
                f"    {mode:13} p50 {row['p50_ms']:8.1f} ms  p95 {row['p95_ms']:8.1f} ms  "
                f"tokens evaluated per model call {row['evaluated_tokens_per_model_call']:6.1f} "
                f"of {row['prompt_tokens_per_model_call']:6.1f}"
            )
    lines += [
        f"  reused / re-evaluated latency, p50 of per-text ratios: {report['reused_over_reevaluated_p50']}",
        f"  floor (the text's own tokens once): p50 {report['floor']['p50_ms']} ms; "
        f"pipeline / floor p50 {report['pipeline_over_floor_p50']} "
        f"(without arbitration {report['pipeline_over_floor_p50_without_arbitration']}, "
        f"with {report['pipeline_over_floor_p50_with_arbitration']})",
        f"  read-once floor (the text and each stored note the arbiter read, once): p50 "
        f"{report['read_floor']['p50_ms']} ms; pipeline / read-once floor p50 {report['pipeline_over_read_floor_p50']}",
        f"  cached heads restored {report['head_restores']} times, {report['head_restore_ms_mean']} ms each "
        "(all that separate contexts per task could save)",
        f"  finished without arbitration: {report['share_without_arbitration']:.1%}; "
        f"without any model call: {report['share_without_model_call']:.1%}",
        f"  outcomes: {report['statuses']}",
    ]
    return lines


# -- startup -----------------------------------------------------------------------------------


def run_startup(model: str, embedder: str, *, text: str) -> dict[str, Any]:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    command = shutil.which("cerebellum-mcp", path=str(Path(sys.executable).parent)) or "cerebellum-mcp"
    figures: dict[str, Any] = {"runner": "bench-startup", "model": Path(model).name, "embedder": Path(embedder).name}

    async def measure() -> None:
        with tempfile.TemporaryDirectory(prefix="cerebellum-bench-") as tmp:
            params = StdioServerParameters(
                command=command,
                args=["--db", str(Path(tmp) / "s.db"), "--model", model, "--embedder", embedder, "--offline"],
                # The default launch: it starts the shared service (in this run's folder, stopped below).
                env={
                    **os.environ,
                    "CEREBELLUM_DEADLINE_SECONDS": "600",
                    "CEREBELLUM_SERVICE_DIR": str(Path(tmp) / "service"),
                },
            )
            started = time.perf_counter()
            async with Client(params, read_timeout_seconds=600) as client:
                figures["initialize_ms"] = round((time.perf_counter() - started) * 1000, 1)
                await client.list_tools()
                figures["tools_list_ms"] = round((time.perf_counter() - started) * 1000, 1)
                result = await client.call_tool("remember", {"text": text})
                figures["first_remember_ms"] = round((time.perf_counter() - started) * 1000, 1)
                content = result.structured_content or {}
                figures["first_remember_status"] = content.get("status")
                figures["first_remember_decided_by"] = (content.get("gate") or {}).get("decided_by")
                started_second = time.perf_counter()
                await client.call_tool("remember", {"text": text + " (second)"})
                figures["second_remember_ms"] = round((time.perf_counter() - started_second) * 1000, 1)
            subprocess.run([command, "service", "stop"], env=params.env, capture_output=True, timeout=60)

    anyio.run(measure)
    return figures


def render_startup(report: dict[str, Any]) -> list[str]:
    return [
        f"bench startup: cerebellum {report['model']}, embedder {report['embedder']}",
        f"  process start -> initialize answered: {report['initialize_ms']} ms "
        f"(tools/list by {report['tools_list_ms']} ms)",
        f"  process start -> first remember decided: {report['first_remember_ms']} ms "
        f"({report['first_remember_status']}, gate by {report['first_remember_decided_by']})",
        f"  a second remember on the warm server: {report['second_remember_ms']} ms",
    ]
