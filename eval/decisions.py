"""`python -m eval decisions`: the model card's decision table (memorize, arbitrate and intent), for any GGUF.

A cases file's task is read from its cases: `"task": "intent"` lines are intent cases, lines with
`existing` arbitrate cases, the rest memorize cases.

Two modes, so the card's baseline-vs-tuned comparison has its analogue:
- pipeline: every case goes through `Memory.remember`, the code path of the MCP tool;
- prompt: the cerebellum's own verdict, asked directly, with nothing around it.
(For intent, pipeline is `server.pipeline.route.classify`: the rules, then the model's label with the recall floor.)
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from eval.common import Models, latency
from seeds import open_store
from server.models.cerebellum import Cerebellum, CerebellumError, Usage
from server.models.prompts import INTENT_PROMPT_VERSION, Candidate
from server.pipeline import route as intents
from server.rules.intent import INTENTS

Mode = Literal["pipeline", "prompt"]
STATUS_TO_ACTION = {"saved": "ADD", "updated": "UPDATE", "deleted": "DELETE", "duplicate": "NONE", "skipped": "SKIP"}


def load_cases(path: Path, limit: int | None = None) -> tuple[str, list[dict[str, Any]]]:
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit is not None:
        cases = cases[:limit]
    if not cases:
        raise SystemExit(f"no cases in {path}")
    task = "intent" if cases[0].get("task") == "intent" else "arbitrate" if "existing" in cases[0] else "memorize"
    return task, cases


def _intent_case(models: Models, case: dict[str, Any], mode: Mode) -> tuple[str | None, str, int, float]:
    """(predicted intent or None, who decided, parse failures, ms)."""
    assert models.cerebellum is not None
    started = time.perf_counter()
    try:
        if mode == "prompt":
            label = models.cerebellum.intent(case["text"])
            return label.intent, "model", 0, (time.perf_counter() - started) * 1000
        verdict = intents.classify(case["text"], models.cerebellum)
    except CerebellumError:
        return None, "model", 1, (time.perf_counter() - started) * 1000
    failures = 1 if verdict.decided_by == "fallback" else 0
    return verdict.intent, verdict.decided_by, failures, (time.perf_counter() - started) * 1000


def intent_summary(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-label recall (of the cases expecting a label, the share predicted as it) and the confusion
    table (expected -> predicted -> count), over the four intents."""
    labels = list(INTENTS)
    confusion = {expected: dict.fromkeys([*labels, "unparsed"], 0) for expected in labels}
    for outcome in outcomes:
        confusion[outcome["expected"]][outcome["predicted"] or "unparsed"] += 1
    recall = {
        label: round(row[label] / total, 4) if (total := sum(row.values())) else None
        for label, row in confusion.items()
    }
    by_rule = [o for o in outcomes if o.get("decided_by") == "rule"]
    return {
        "per_label_recall": recall,
        "confusion": confusion,
        "decided_by_rule": len(by_rule),
        "rule_accuracy": round(sum(o["expected"] == o["predicted"] for o in by_rule) / len(by_rule), 4)
        if by_rule
        else None,
    }


def _memorize_case(models: Models, case: dict[str, Any], mode: Mode, workdir: Path) -> tuple[str | None, int, float]:
    """(predicted SAVE/SKIP or None, parse failures, ms)."""
    assert models.cerebellum is not None
    if mode == "prompt":
        started = time.perf_counter()
        try:
            verdict = models.cerebellum.memorize(case["text"])
        except CerebellumError:
            return None, 1, (time.perf_counter() - started) * 1000
        return verdict.decision, 0, (time.perf_counter() - started) * 1000
    store = open_store(workdir / f"{case['id']}.db")
    memory = models.memory(store)
    started = time.perf_counter()
    result = memory.remember(case["text"], "eval")
    elapsed = (time.perf_counter() - started) * 1000
    store.close()
    return ("SKIP" if result.status == "skipped" else "SAVE"), memory.parse_failures, elapsed


def _arbitrate_case(
    models: Models, case: dict[str, Any], mode: Mode, workdir: Path, gate: bool
) -> tuple[str | None, str | None, int, float]:
    """(predicted action or None, predicted target case-id, parse failures, ms)."""
    assert models.cerebellum is not None
    store = open_store(workdir / f"{case['id']}.db")
    memory = models.memory(store)
    by_seed: dict[int, str] = {}
    for existing in case["existing"]:  # stored as they are: no gate, no arbiter
        seed = store.add("eval", existing["text"], models.embedder.embed_document(existing["text"]))
        by_seed[seed.id] = existing["id"]
    try:
        if mode == "prompt":
            shown = [Candidate(seed_id, store.require(seed_id).text, "") for seed_id in by_seed]
            started = time.perf_counter()
            try:
                verdict = models.cerebellum.arbitrate(case["new"], shown)
            except CerebellumError:
                return None, None, 1, (time.perf_counter() - started) * 1000
            elapsed = (time.perf_counter() - started) * 1000
            target = by_seed.get(verdict.target) if verdict.target is not None else None
            return verdict.action, target if verdict.action != "ADD" else None, 0, elapsed
        started = time.perf_counter()
        result = memory.remember(case["new"], "eval", force=not gate)
        elapsed = (time.perf_counter() - started) * 1000
        action = STATUS_TO_ACTION[result.status]
        target = by_seed.get(result.seed.id) if result.seed is not None and action != "ADD" else None
        return action, target, memory.parse_failures, elapsed
    finally:
        store.close()


def model_work(spent: list[Usage]) -> dict[str, float]:
    """What the model did per decision, the same on any machine: the figure a slowdown in the code shows in
    (the tokens each decision ran through the model; a cached prompt head is not among them)."""
    n = len(spent) or 1
    calls = sum(u.calls for u in spent)
    return {
        "model_calls_per_decision": round(calls / n, 2),
        "evaluated_tokens_per_decision": round(sum(u.evaluated_tokens for u in spent) / n, 1),
        "evaluated_tokens_per_model_call": round(sum(u.evaluated_tokens for u in spent) / max(1, calls), 1),
        "generated_tokens_per_decision": round(sum(u.completion_tokens for u in spent) / n, 1),
    }


def run(
    models: Models, cases_path: Path, mode: Mode, *, limit: int | None = None, gate: bool = False
) -> dict[str, Any]:
    task, cases = load_cases(cases_path, limit)
    timings: list[float] = []
    parse_failures = 0
    per_kind: dict[str, list[bool]] = defaultdict(list)
    outcomes: list[dict[str, Any]] = []
    counts = {"save_expected": 0, "skip_expected": 0, "false_positive": 0, "false_negative": 0}
    none_total = none_hit = 0

    spent: list[Usage] = []
    brain = models.cerebellum
    with tempfile.TemporaryDirectory(prefix="cerebellum-eval-") as tmp:
        workdir = Path(tmp)
        for case in cases:
            before = brain.total if isinstance(brain, Cerebellum) else Usage()
            if task == "intent":
                predicted, decided_by, failures, elapsed = _intent_case(models, case, mode)
                expected = case["expected"]
                correct = predicted == expected
                kind = case.get("kind", "?")
                outcomes.append(
                    {"id": case["id"], "expected": expected, "predicted": predicted, "decided_by": decided_by}
                )
            elif task == "memorize":
                predicted, failures, elapsed = _memorize_case(models, case, mode, workdir)
                expected = case["expected"]
                correct = predicted == expected
                kind = case.get("category", "?")
                if expected == "SAVE":
                    counts["save_expected"] += 1
                    counts["false_negative"] += predicted != "SAVE"
                else:
                    counts["skip_expected"] += 1
                    counts["false_positive"] += predicted == "SAVE"
                outcomes.append({"id": case["id"], "expected": expected, "predicted": predicted})
            else:
                predicted, target, failures, elapsed = _arbitrate_case(models, case, mode, workdir, gate)
                expected = case["expected"]
                correct = predicted == expected and (expected == "ADD" or target == case["target"])
                kind = case.get("kind", "?")
                if expected == "NONE":
                    none_total += 1
                    none_hit += correct
                outcomes.append(
                    {
                        "id": case["id"],
                        "expected": expected,
                        "target": case["target"],
                        "predicted": predicted,
                        "predicted_target": target,
                    }
                )
            timings.append(elapsed)
            spent.append((brain.total if isinstance(brain, Cerebellum) else Usage()) - before)
            parse_failures += failures
            per_kind[kind].append(correct)

    n = len(cases)
    correct_total = sum(sum(v) for v in per_kind.values())
    report: dict[str, Any] = {
        "task": task,
        "mode": mode,
        "n": n,
        "accuracy": round(correct_total / n, 4),
        "fp_rate": None,
        "fn_rate": None,
        "none_recall": None,
        "parse_failures": parse_failures,
        "per_kind": {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in sorted(per_kind.items())},
        **latency(timings),
        **model_work(spent),
        **models.describe(),
        "outcomes": outcomes,
    }
    if task == "intent":
        report.update(intent_summary(outcomes), intent_prompts=INTENT_PROMPT_VERSION, recall_floor=intents.RECALL_FLOOR)
    elif task == "memorize":
        report["fp_rate"] = round(counts["false_positive"] / max(1, counts["skip_expected"]), 4)
        report["fn_rate"] = round(counts["false_negative"] / max(1, counts["save_expected"]), 4)
    else:
        report["none_recall"] = round(none_hit / none_total, 4) if none_total else None
    return report


def render(report: dict[str, Any]) -> list[str]:
    lines = [
        f"decisions: {report['task']}, {report['n']} cases, mode {report['mode']}",
        f"  cerebellum {report.get('model')} (sha256 {str(report.get('model_sha256'))[:12]}…), "
        f"embedder {report['embedder']} (sha256 {report['embedder_sha256'][:12]}…), {report['prompts']}",
        f"  accuracy      {report['accuracy']:.3f}",
    ]
    if report.get("gate_calibration") and report["mode"] == "pipeline":
        calibration = report["gate_calibration"]
        errors = calibration["out_of_fold"]
        lines.insert(
            2,
            f"  gate calibration {calibration['key']}, out of fold on its bank: "
            f"saves skipped {errors['skipped_saves']:.3f}, skips saved {errors['saved_skips']:.3f}",
        )
    if report["task"] == "intent":
        lines[1] += f", {report['intent_prompts']}"
        recall = report["per_label_recall"]
        lines.append(
            "  recall by label  " + "  ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in recall.items())
        )
        if report["mode"] == "pipeline":
            lines.append(f"  decided by rule  {report['decided_by_rule']} (accuracy {report['rule_accuracy']})")
        lines.append("  confusion (rows expected, columns predicted):")
        columns = list(next(iter(report["confusion"].values())))
        lines.append("    " + " " * 10 + "".join(f"{c:>10}" for c in columns))
        for expected, row in report["confusion"].items():
            lines.append(f"    {expected:<10}" + "".join(f"{row[c]:>10}" for c in columns))
    elif report["task"] == "memorize":
        lines += [f"  FP rate       {report['fp_rate']:.3f}", f"  FN rate       {report['fn_rate']:.3f}"]
    elif report["none_recall"] is not None:
        lines.append(f"  NONE recall   {report['none_recall']:.3f}")
    lines += [
        f"  latency ms    p50 {report['p50_ms']:.0f}  p95 {report['p95_ms']:.0f}  mean {report['mean_ms']:.0f}",
        f"  model work    {report['model_calls_per_decision']} calls and "
        f"{report['evaluated_tokens_per_decision']} tokens evaluated per decision "
        f"({report['evaluated_tokens_per_model_call']} per call), "
        f"{report['generated_tokens_per_decision']} generated; threads {report['threads']}",
        f"  parse failures {report['parse_failures']}",
        "  per kind:",
    ]
    lines += [f"    {kind:<24} {v['n']:>4}  {v['accuracy']:.3f}" for kind, v in report["per_kind"].items()]
    return lines
