"""Smoke runs of the eval runners on SmolLM2 and tiny data made for these tests, so they cannot rot.

The full runs (all cases, the stand-in models, LoCoMo and the translation sets) are benchmarks,
recorded in eval/RESULTS.md, not tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHILD_ENV

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"


def run_eval(*args: str) -> tuple[list[str], dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "eval", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**CHILD_ENV, "PATH": "/usr/bin:/bin", "CEREBELLUM_THREADS": "2"},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


@pytest.mark.parametrize(
    ("task", "mode"), [("memorize", "pipeline"), ("memorize", "prompt"), ("arbitrate", "pipeline")]
)
def test_decisions_runner_prints_the_cards_table(smollm2: Path, task: str, mode: str) -> None:
    cases = ROOT / "eval" / "cases" / f"{task}.jsonl"
    text, report = run_eval(
        "decisions",
        "--cases",
        str(cases),
        "--model",
        str(smollm2),
        "--embedder",
        str(smollm2),
        "--mode",
        mode,
        "--limit",
        "4",
    )
    assert report["task"] == task and report["mode"] == mode and report["n"] == 4
    for key in ("accuracy", "fp_rate", "fn_rate", "none_recall", "p50_ms", "p95_ms", "parse_failures", "per_kind"):
        assert key in report
    assert 0.0 <= report["accuracy"] <= 1.0
    assert report["parse_failures"] == 0
    assert sum(kind["n"] for kind in report["per_kind"].values()) == 4
    # What the model did per decision, which a slowdown in the code shows in on any machine.
    calls, tokens = report["model_calls_per_decision"], report["evaluated_tokens_per_decision"]
    if mode == "prompt":
        assert calls == 1 and tokens > 0
    assert any(line.strip().startswith("model work") and f"{tokens} tokens evaluated" in line for line in text)
    assert len(report["outcomes"]) == 4
    if task == "memorize":
        assert report["fp_rate"] is not None and report["fn_rate"] is not None
    else:
        # The first cases are exact duplicates: the pipeline settles them without the model.
        assert report["none_recall"] == 1.0
    assert text[0].startswith(f"decisions: {task}, 4 cases, mode {mode}")
    assert any("accuracy" in line for line in text)


def test_locomo_runner_reports_recall_at_k(smollm2: Path) -> None:
    text, report = run_eval("locomo", "--data", str(DATA / "locomo-tiny.json"), "--embedder", str(smollm2))
    assert report["turns"] == 6 and report["questions"] == 3 and report["adversarial_questions"] == 1
    # Six turns only: the evidence is always within the top 10.
    assert report["recall@10"] == 1.0
    assert report["recall@1"] <= report["recall@5"] <= report["recall@10"]
    assert set(report["per_category"]) == {"category 1", "category 4", "category 5"}
    assert any(line.strip().startswith("answerable") for line in text)


def test_paraphrase_runner_reports_translation_ranking(smollm2: Path) -> None:
    _, report = run_eval("paraphrase", "--pairs", str(DATA / "pairs-tiny.jsonl"), "--embedder", str(smollm2))
    assert report["pairs"] == 5
    assert 0.0 <= report["top1_en_to_zh"] <= 1.0
    assert -1.0 <= report["random_pairs"]["mean"] <= 1.0
    assert report["true_pairs"]["p5"] <= report["true_pairs"]["p95"]


def test_write_benchmark_compares_prefix_reuse_with_reevaluation(smollm2: Path) -> None:
    text, report = run_eval(
        "bench", "write", "--data", str(DATA / "locomo-tiny.json"), "--model", str(smollm2), "--embedder", str(smollm2)
    )
    assert report["n"] == 6 and report["same_decisions"] == 6  # reuse changes the cost, never the decision
    reused, fresh = report["model_calls"]["reused"], report["model_calls"]["re-evaluated"]
    # With the head cached, a call evaluates only its own tokens: a fraction of the whole prompt.
    assert reused["evaluated_tokens_per_model_call"] < fresh["evaluated_tokens_per_model_call"] / 2
    assert fresh["evaluated_tokens_per_model_call"] == fresh["prompt_tokens_per_model_call"]
    assert 0.0 <= report["share_without_model_call"] <= report["share_without_arbitration"] <= 1.0
    assert report["floor"]["p50_ms"] > 0 and report["pipeline_over_floor_p50"] is not None
    assert any("pipeline / floor" in line for line in text)
    # The read-once floor adds the stored notes the arbiter read; when it read any, the ratio to it
    # is reported beside the plain floor's.
    if report["share_without_arbitration"] < 1.0:
        assert report["pipeline_over_read_floor_p50"] is not None
        assert report["pipeline_over_floor_p50_with_arbitration"] is not None
    assert any("read-once floor" in line for line in text)


def test_recall_benchmark_times_both_engines_and_checks_the_index_against_exact(
    smollm2: Path, postgres_url: str, tmp_path: Path
) -> None:
    args = ["bench", "recall", "--data", str(DATA / "locomo-tiny.json"), "--embedder", str(smollm2)]
    args += ["--sizes", "20,60", "--queries", "5", "--db", postgres_url, "--cache", str(tmp_path / "cache")]
    text, report = run_eval(*args)
    assert [row["seeds"] for row in report["rows"]] == [20, 60]
    for row in report["rows"]:
        for engine in ("sqlite", "postgresql"):
            assert 0 < row[engine]["search_p50_ms"] <= row[engine]["search_p95_ms"] and row[engine]["knn_p50_ms"] > 0
        # sqlite-vec scans every vector: it finds exactly NumPy's top 10.
        assert row["sqlite"]["recall_at_10"] == 1.0
        assert 0.5 <= row["postgresql"]["recall_at_10"] <= 1.0
        assert set(row["postgresql"]["ef_search_sweep"]) == {"40", "100", "200", "400"}
    # The tiny conversation has fewer real turns than 20: the rest are joins of real ones, all embedded.
    assert report["real_documents"] < 20 and report["documents"] == report["embedded_documents"] == 60
    assert not report["rows"][0]["real_only"] and report["rows"][1]["all_embedded"]
    # The documents' vectors are cached (one chunk here), keyed by the embedder and the texts.
    assert len(list((tmp_path / "cache").glob("*-doc-*.npy"))) == 1
    assert any("PostgreSQL / SQLite search time" in line for line in text)


def test_startup_benchmark_times_initialize_and_the_first_decision(smollm2: Path) -> None:
    text, report = run_eval("bench", "startup", "--model", str(smollm2), "--embedder", str(smollm2))
    assert 0 < report["initialize_ms"] <= report["tools_list_ms"] <= report["first_remember_ms"]
    assert report["first_remember_status"] in {"saved", "skipped"}  # decided, not queued
    assert report["first_remember_decided_by"] == "model"
    assert text[0].startswith("bench startup")


def test_threads_benchmark_sets_the_policies_side_by_side_quiet_and_busy(smollm2: Path) -> None:
    text, report = run_eval("bench", "threads", "--model", str(smollm2), "--embedder", str(smollm2), "--limit", "1")
    policies = {"1 thread", f"{report['cores']} threads", "by load"}
    for condition in ("quiet", "busy"):
        for task in ("memorize", "arbitrate", "intent"):
            rows = report[condition][task]
            assert set(rows) == policies
            if rows["1 thread"]["model_calls_per_decision"]:  # (a rule or an exact match asks no model)
                assert rows["1 thread"]["threads_used"] == [1]
                assert rows[f"{report['cores']} threads"]["threads_used"] == [report["cores"]]
            # The same case through the same pipeline: the same work whatever the threads.
            tokens = {row["evaluated_tokens_per_decision"] for row in rows.values()}
            assert len(tokens) == 1
        assert report[condition]["recall"]["p50_ms"] > 0
    if report["cores"] > 1:
        # Another process on every core: the by-load rule leaves them to it.
        assert report["busy_others_cores"] > report["cores"] - 1
        asked = [report["busy"][task]["by load"]["threads_used"] for task in ("memorize", "arbitrate", "intent")]
        assert any(asked), "no case asked the model: the choice was never made"
        assert all(used == [1] for used in asked if used)
    assert any("by load" in line for line in text)
