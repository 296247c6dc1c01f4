"""`python -m eval bench threads`: decisions and recall on a quiet machine and beside a busy one, for each
way of choosing the cerebellum's threads (one, every core, by the machine's load), side by side in one run.

One cerebellum is loaded; its thread choice is swapped case by case (the three policies take turns on the
same case, so drift in the machine's speed falls on all three alike). The decisions are the pipeline's
(`eval decisions`' own case runners: memorize and arbitrate through `Memory.remember`, intent through
`intent.classify`) over the held-out sets; recall is `Memory.recall` over a few stored notes. "Busy" is
another process evaluating prompts with a GGUF on every core, as a second model server or a build would.
Also printed: model calls and tokens evaluated per decision, which do not depend on the machine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from eval import decisions
from eval.clients import QUERIES, REMEMBERED, busy_cores
from eval.common import Models, latency
from seeds import open_store
from server.models.cerebellum import Usage
from server.models.threads import ByLoad, ChooseThreads, cores, fixed, wait_for_samples

CASES = Path(__file__).parent / "cases"
SETS = {
    "memorize": ["memorize-heldout-3.jsonl", "memorize-heldout-4.jsonl"],
    "arbitrate": ["arbitrate-heldout.jsonl"],
    "intent": ["intent-heldout-4.jsonl"],
}


def _cases(task: str, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in SETS[task]:
        found += decisions.load_cases(CASES / name)[1]
    return found[:limit]


def _decide(models: Models, task: str, case: dict[str, Any], workdir: Path) -> tuple[bool, float]:
    """(right, ms) for one case, through the same code as `eval decisions --mode pipeline`."""
    if task == "memorize":
        predicted, _, ms = decisions._memorize_case(models, case, "pipeline", workdir)  # pyright: ignore[reportPrivateUsage]
        return predicted == case["expected"], ms
    if task == "arbitrate":
        action, target, _, ms = decisions._arbitrate_case(models, case, "pipeline", workdir, False)  # pyright: ignore[reportPrivateUsage]
        return action == case["expected"] and (case["expected"] == "ADD" or target == case["target"]), ms
    predicted, _, _, ms = decisions._intent_case(models, case, "pipeline")  # pyright: ignore[reportPrivateUsage]
    return predicted == case["expected"], ms


def _recall_ms(models: Models, workdir: Path, rounds: int) -> list[float]:
    import time

    store = open_store(workdir / "recall.db")
    memory = models.memory(store)
    for text in REMEMBERED:
        store.add("bench", text, models.embedder.embed_document(text))
    timings: list[float] = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            memory.recall(query, "bench", k=5)
            timings.append((time.perf_counter() - started) * 1000)
    store.close()
    return timings


def _condition(models: Models, policies: dict[str, ChooseThreads], limit: int, workdir: Path) -> dict[str, Any]:
    brain = models.cerebellum
    assert brain is not None
    result: dict[str, Any] = {}
    for task in SETS:
        rows: dict[str, list[tuple[bool, float, Usage, int]]] = {name: [] for name in policies}
        for index, case in enumerate(_cases(task, limit)):
            for name, policy in policies.items():
                brain.choose_threads = policy
                brain.forget_last()
                before = brain.total
                right, ms = _decide(models, task, case, workdir / f"{task}-{name}-{index}")
                spent = brain.total - before
                rows[name].append((right, ms, spent, brain.threads if spent.calls else 0))
        result[task] = {
            name: {
                **latency([r[1] for r in picked]),
                "accuracy": round(sum(r[0] for r in picked) / len(picked), 3),
                **decisions.model_work([r[2] for r in picked]),
                "threads_used": sorted({r[3] for r in picked if r[3]}),  # of the decisions that asked the model
            }
            for name, picked in rows.items()
        }
    result["recall"] = latency(_recall_ms(models, workdir, 3))
    return result


def run(models: Models, busy: Path, limit: int) -> dict[str, Any]:
    brain = models.cerebellum
    assert brain is not None
    n = cores()
    by_load = ByLoad()
    policies: dict[str, ChooseThreads] = {"1 thread": fixed(1), f"{n} threads": fixed(n), "by load": by_load}
    original = brain.choose_threads
    report: dict[str, Any] = {"runner": "bench-threads", **models.describe(), "cores": n, "limit": limit}
    try:
        with tempfile.TemporaryDirectory(prefix="cerebellum-bench-threads-") as tmp:
            wait_for_samples(by_load)
            (Path(tmp) / "quiet").mkdir()
            report["quiet"] = _condition(models, policies, limit, Path(tmp) / "quiet")
            with busy_cores(busy, n):
                wait_for_samples(by_load)
                report["busy_others_cores"] = round(by_load.others_busy(), 2)
                (Path(tmp) / "busy").mkdir()
                report["busy"] = _condition(models, policies, limit, Path(tmp) / "busy")
    finally:
        brain.choose_threads = original
        by_load.close()
    report["busy_over_quiet_p50"] = {
        task: {
            name: round(report["busy"][task][name]["p50_ms"] / max(0.1, report["quiet"][task][name]["p50_ms"]), 2)
            for name in policies
        }
        for task in SETS
    }
    report["busy_over_quiet_p50"]["recall"] = round(
        report["busy"]["recall"]["p50_ms"] / max(0.1, report["quiet"]["recall"]["p50_ms"]), 2
    )
    return report


def render(report: dict[str, Any]) -> list[str]:
    lines = [
        f"bench threads: cerebellum {report['model']}, embedder {report['embedder']}, {report['cores']} cores, "
        f"{report['limit']} cases a task; busy = another process on every core "
        f"(seen by the by-load rule as {report.get('busy_others_cores')} cores' worth)",
        f"  {'task':<10} {'threads':<10} {'quiet p50':>10} {'p95':>8} {'busy p50':>10} {'p95':>8} "
        f"{'busy/quiet':>10} {'accuracy q/b':>13} {'tokens/decision':>16} {'calls':>6} {'used q/b':>10}",
    ]
    for task in SETS:
        for name, quiet in report["quiet"][task].items():
            busy = report["busy"][task][name]
            lines.append(
                f"  {task:<10} {name:<10} {quiet['p50_ms']:>10.0f} {quiet['p95_ms']:>8.0f} {busy['p50_ms']:>10.0f} "
                f"{busy['p95_ms']:>8.0f} {report['busy_over_quiet_p50'][task][name]:>10.2f} "
                f"{quiet['accuracy']:>6.3f}/{busy['accuracy']:.3f} {quiet['evaluated_tokens_per_decision']:>16} "
                f"{quiet['model_calls_per_decision']:>6} "
                f"{','.join(map(str, quiet['threads_used']))}/{','.join(map(str, busy['threads_used']))}"
            )
    q, b = report["quiet"]["recall"], report["busy"]["recall"]
    lines.append(
        f"  recall     (embedder) {q['p50_ms']:>10.1f} {q['p95_ms']:>8.1f} {b['p50_ms']:>10.1f} {b['p95_ms']:>8.1f} "
        f"{report['busy_over_quiet_p50']['recall']:>10.2f}"
    )
    return lines
