"""`python -m eval locomo`: retrieval recall@k on LoCoMo conversations through the recall tool's code path.

Every dialogue turn becomes a seed (prefixed by speaker and session date) in a fresh store, one
scope per conversation; each question is asked through `Memory.recall`; a hit is any evidence
turn among the top k. Category 5 (adversarial: the answer is not in the conversation) is reported
apart. The data is only read from the path given: it is never copied into the repository.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from eval.common import Models, latency
from seeds import open_store


def turns_of(conversation: dict[str, Any]) -> list[tuple[str, str]]:
    """(dia_id, seed text) for every turn, in order."""
    sessions = sorted(
        (int(m.group(1)), key)
        for key in conversation
        if (m := re.fullmatch(r"session_(\d+)", key)) and isinstance(conversation[key], list)
    )
    turns: list[tuple[str, str]] = []
    for number, key in sessions:
        date = conversation.get(f"session_{number}_date_time", "")
        for turn in conversation[key]:
            text = turn.get("text", "")
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            turns.append((turn["dia_id"], f"{turn['speaker']} ({date}): {text}"))
    return turns


def run(models: Models, data_path: Path, ks: list[int], *, limit: int | None = None) -> dict[str, Any]:
    samples = json.loads(data_path.read_text(encoding="utf-8"))
    if isinstance(samples, dict):
        samples = [samples]
    k_max = max(ks)
    hits: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    timings: list[float] = []
    n_turns = 0
    with tempfile.TemporaryDirectory(prefix="cerebellum-locomo-") as tmp:
        store = open_store(Path(tmp) / "locomo.db")
        memory = models.memory(store)
        for sample in samples:
            scope = re.sub(r"[^A-Za-z0-9._:/-]", "-", str(sample.get("sample_id", "conversation")))
            dia_of_seed: dict[int, str] = {}
            for dia_id, text in turns_of(sample["conversation"]):
                # Stored as they are: retrieval is measured here, not the gate.
                seed = store.add(scope, text, models.embedder.embed_document(text), source="locomo")
                dia_of_seed[seed.id] = dia_id
                n_turns += 1
            questions = sample["qa"] if limit is None else sample["qa"][:limit]
            for qa in questions:
                evidence = set(qa.get("evidence") or [])
                if not evidence:
                    continue
                started = time.perf_counter()
                result = memory.recall(str(qa["question"]), scope, k_max)
                timings.append((time.perf_counter() - started) * 1000)
                ranked = [dia_of_seed.get(hit.id) for hit in result.hits]
                group = "adversarial" if int(qa["category"]) == 5 else "answerable"
                for k in ks:
                    found = any(d in evidence for d in ranked[:k])
                    hits[group][k].append(found)
                    hits[f"category {qa['category']}"][k].append(found)
        store.close()

    def rate(values: list[bool]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    answerable = hits["answerable"]
    report: dict[str, Any] = {
        "conversations": len(samples),
        "turns": n_turns,
        "questions": len(answerable[k_max]),
        "adversarial_questions": len(hits["adversarial"][k_max]),
        **{f"recall@{k}": rate(answerable[k]) for k in ks},
        "adversarial": {f"recall@{k}": rate(hits["adversarial"][k]) for k in ks},
        "per_category": {
            group: {"n": len(by_k[k_max]), **{f"recall@{k}": rate(by_k[k]) for k in ks}}
            for group, by_k in sorted(hits.items())
            if group.startswith("category")
        },
        **latency(timings),
        **models.describe(),
    }
    return report


def render(report: dict[str, Any], ks: list[int]) -> list[str]:
    lines = [
        f"locomo: {report['conversations']} conversations, {report['turns']} turns, "
        f"{report['questions']} answerable questions (+{report['adversarial_questions']} adversarial)",
        f"  embedder {report['embedder']} (sha256 {report['embedder_sha256'][:12]}…)",
        "  answerable   " + "  ".join(f"R@{k} {report[f'recall@{k}']:.3f}" for k in ks),
        "  adversarial  " + "  ".join(f"R@{k} {report['adversarial'][f'recall@{k}']:.3f}" for k in ks),
        f"  recall latency ms  p50 {report['p50_ms']:.1f}  p95 {report['p95_ms']:.1f}",
        "  per category:",
    ]
    for group, row in report["per_category"].items():
        lines.append(f"    {group:<12} n={row['n']:<4} " + "  ".join(f"R@{k} {row[f'recall@{k}']:.3f}" for k in ks))
    return lines
