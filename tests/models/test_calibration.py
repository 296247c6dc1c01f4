"""The calibrated gate: fitted on a bank of labelled texts with the real models, cached per model pair,
and deciding SAVE or SKIP from the cerebellum's category scores and the embedder's neighbours."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from pydantic import ValidationError

from seeds import SeedStore, open_store
from server.models import calibration
from server.models.calibration import BankText, CalibrationError, GateCalibration, load_bank, load_or_fit
from server.models.cerebellum import Cerebellum
from server.models.embedder import Embedder
from server.models.prompts import CATEGORIES, decision_for
from server.pipeline.loading import open_memory
from server.pipeline.memory import Memory
from server.settings import Settings
from tests.helpers.fakes import ScriptedBrain

EVAL_CASES = Path(__file__).resolve().parents[2] / "eval" / "cases"


def small_bank(size_per_side: int = 12) -> list[BankText]:
    """Part of the shipped bank: both sides, so a fit with SmolLM2 takes seconds, not minutes."""
    bank = load_bank()
    saves = [b for b in bank if b.save][:size_per_side]
    skips = [b for b in bank if not b.save][:size_per_side]
    return saves + skips


def write_bank(path: Path, bank: Sequence[BankText]) -> Path:
    """A bank file in the shipped bank's format."""
    rows = [{"text": b.text, "decision": "SAVE" if b.save else "SKIP", "category": b.category} for b in bank]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def fit_with(
    cerebellum: Cerebellum, embedder: Embedder, cache: Path, smollm2: Path, bank: Sequence[BankText]
) -> tuple[GateCalibration, list[str]]:
    asked: list[str] = []

    def scores(text: str) -> Mapping[str, float]:
        asked.append(text)
        return cerebellum.memorize(text).scores

    fitted = load_or_fit(cache, smollm2, smollm2, scores, embedder.embed_document, bank=bank)
    return fitted, asked


def test_the_shipped_bank_has_both_sides_and_no_eval_case(tmp_path: Path) -> None:
    bank = load_bank()
    assert sum(b.save for b in bank) >= 100 and sum(not b.save for b in bank) >= 100
    for item in bank:
        assert decision_for(item.category) == ("SAVE" if item.save else "SKIP"), item

    def norm(text: str) -> str:
        return " ".join(text.casefold().split()).strip(" !.！。")

    # A fit on eval texts would make the eval measure its own training set.
    eval_texts = {norm(json.loads(line)["text"]) for f in EVAL_CASES.glob("memorize*.jsonl") for line in f.open()}
    assert eval_texts, "the eval cases are missing"
    assert not [b.text for b in bank if norm(b.text) in eval_texts]


def test_a_bad_bank_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    path.write_text('{"text": "ok", "decision": "SAVE", "category": "fact"}\n{"text": "x", "decision": "MAYBE"}\n')
    with pytest.raises(CalibrationError, match=r"bank.jsonl:2"):
        load_bank(path)
    path.write_text('{"text": "ok", "decision": "SAVE", "category": "fact"}\n')
    with pytest.raises(CalibrationError, match="both decisions"):
        load_bank(path)


@pytest.mark.slow
def test_a_fit_with_the_real_models_is_cached_and_reused(
    cerebellum: Cerebellum, embedder: Embedder, smollm2: Path, tmp_path: Path
) -> None:
    bank = small_bank()
    fitted, asked = fit_with(cerebellum, embedder, tmp_path, smollm2, bank)
    assert len(asked) == len(bank)  # one gate question per bank text
    assert fitted.categories == list(CATEGORIES)
    assert len(fitted.vectors) == len(bank) and fitted.saves == [b.save for b in bank]
    # The threshold is set out of fold so that at most 3 % of the texts to keep are skipped.
    assert fitted.out_of_fold["skipped_saves"] <= calibration.MAX_SKIPPED_SAVES + 1 / 12
    assert 0.0 <= fitted.out_of_fold["saved_skips"] <= 1.0
    assert list((tmp_path / "calibration").glob("gate-*.json"))

    again, asked_again = fit_with(cerebellum, embedder, tmp_path, smollm2, bank)
    assert asked_again == []  # read from the cache: no model call
    assert again == fitted

    # Another bank (or model, or prompt version) is another key: fitted anew.
    _, asked_other = fit_with(cerebellum, embedder, tmp_path, smollm2, bank[1:])
    assert len(asked_other) == len(bank) - 1


def test_an_unreadable_cache_is_refitted_not_fatal(
    cerebellum: Cerebellum, embedder: Embedder, smollm2: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bank = small_bank(6)
    fitted, _ = fit_with(cerebellum, embedder, tmp_path, smollm2, bank)
    (cached,) = (tmp_path / "calibration").glob("gate-*.json")
    cached.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        refitted, asked = fit_with(cerebellum, embedder, tmp_path, smollm2, bank)
    assert len(asked) == len(bank)
    assert refitted == fitted  # the same data and the same deterministic fit
    assert "refitting the gate calibration" in caplog.text
    assert GateCalibration.from_json(cached.read_text()) == fitted  # the cache was mended


def hand_made(dimension: int = 2, threshold: float = 0.0) -> GateCalibration:
    """A rule that saves exactly when the 'status' score is low: enough to see the decision flip."""
    weights = [0.0] * len(CATEGORIES) + [0.0]
    weights[CATEGORIES.index("status")] = -1.0
    return GateCalibration(
        key="hand-made",
        categories=list(CATEGORIES),
        mean=[0.0] * (len(CATEGORIES) + 1),
        scale=[1.0] * (len(CATEGORIES) + 1),
        weights=weights,
        bias=-2.0,  # save when status's log-probability is below -2
        threshold=threshold,
        vectors=[[1.0] + [0.0] * (dimension - 1), [0.0, 1.0] + [0.0] * (dimension - 2)],
        saves=[True, False],
        out_of_fold={"skipped_saves": 0.0, "saved_skips": 0.0},
    )


def test_the_calibrated_decision_names_a_category_on_its_own_side() -> None:
    scores = dict.fromkeys(CATEGORIES, -5.0) | {"decision": -0.5, "status": -1.0, "chatter": -3.0}
    decision, category, margin = hand_made().decide(scores, [1.0, 0.0], "decision")
    assert (decision, category) == ("SKIP", "status")  # the likeliest kind to skip, not the model's "decision"
    assert margin < 0
    scores["status"] = -6.0
    assert hand_made().decide(scores, [1.0, 0.0], "decision")[:2] == ("SAVE", "decision")
    with pytest.raises(CalibrationError, match="no score for"):
        hand_made().decide({"status": -1.0}, [1.0, 0.0], "status")


def test_remember_follows_the_calibrated_gate_and_keeps_the_skip_for_review(
    store: SeedStore, embedder: Embedder
) -> None:
    scores = dict.fromkeys(CATEGORIES, -5.0) | {"decision": -0.5, "status": -1.0}
    brain = ScriptedBrain(gate="SAVE", scores=scores)
    memory = Memory(store, brain, embedder, gate_calibration=hand_made(embedder.dimension))
    result = memory.remember("Now editing server.py, tests next.", "proj")
    assert result.status == "skipped" and result.gate is not None
    assert result.gate.decided_by == "model" and result.gate.category == "status"
    assert "calibrated gate says SKIP" in result.gate.reason
    skipped = store.inbox("skipped", "proj")
    assert [r.text for r in skipped] == ["Now editing server.py, tests next."]

    # Without the calibration the same model answer saves the text.
    plain = Memory(store, brain, embedder)
    assert plain.remember("Now editing server.py, tests next.", "other").status == "saved"


def test_a_calibration_that_does_not_fit_the_models_falls_back_to_the_plain_gate(
    store: SeedStore, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    scores = dict.fromkeys(CATEGORIES, -5.0) | {"decision": -0.5, "status": -1.0}
    # Bank vectors of another dimension than this embedder's: the rule can't be applied.
    memory = Memory(store, ScriptedBrain(gate="SAVE", scores=scores), embedder, gate_calibration=hand_made(3))
    with caplog.at_level(logging.WARNING):
        result = memory.remember("We pin numpy below 2 until the wheels catch up.", "proj")
    assert result.status == "saved" and memory.gatekeeper.calibration is None
    assert "does not fit these models" in caplog.text


def test_the_server_loads_the_calibration_with_the_models(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = write_bank(tmp_path / "bank.jsonl", small_bank(5))
    monkeypatch.setattr(calibration, "BANK_FILE", bank)
    settings = settings.model_copy(update={"calibrate_gate": True, "cache_dir": tmp_path / "cache"})
    store = open_store(settings.db)
    memory = open_memory(settings, store)
    try:
        # The first load of a model pair fits the gate in the background; the models are ready already.
        assert memory.preparing is not None and memory.gatekeeper.calibration is None
        memory.preparing.join(timeout=300)
        assert memory.gatekeeper.calibration is not None and len(memory.gatekeeper.calibration.vectors) == 10
        assert [p.name.endswith(".json") for p in (tmp_path / "cache" / "calibration").iterdir()] == [True]
        result = memory.remember("The nightly export job writes to s3://reports/nightly/.", "proj")
        assert result.gate is not None and "calibrated gate says" in result.gate.reason
    finally:
        memory.close()
    # The next load reads the fit at once: no background fit.
    store = open_store(settings.db)
    again = open_memory(settings, store)
    try:
        assert again.gatekeeper.calibration == memory.gatekeeper.calibration  # at once, not in the background
    finally:
        again.close()


def test_a_broken_bank_leaves_the_server_with_the_plain_gate(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_text('{"text": "half a line"\n', encoding="utf-8")
    monkeypatch.setattr(calibration, "BANK_FILE", bank)
    settings = settings.model_copy(update={"calibrate_gate": True, "cache_dir": tmp_path / "cache"})
    store = open_store(settings.db)
    with caplog.at_level(logging.WARNING):
        memory = open_memory(settings, store)
        if memory.preparing is not None:
            memory.preparing.join(timeout=60)
    try:
        assert memory.gatekeeper.calibration is None and "the plain gate" in caplog.text
        result = memory.remember("The nightly export job writes to s3://reports/nightly/.", "proj")
        assert result.status in ("saved", "skipped") and result.gate is not None
        assert "calibrated" not in result.gate.reason
    finally:
        memory.close()


def test_a_remember_during_the_first_fit_is_decided_at_once_by_the_plain_gate(
    store: SeedStore, embedder: Embedder
) -> None:
    scores = dict.fromkeys(CATEGORIES, -5.0) | {"decision": -0.5, "status": -1.0}
    memory = Memory(store, ScriptedBrain(gate="SAVE", scores=scores), embedder)
    asked: list[int] = []
    started = threading.Event()

    def slow_fit(step: Callable[[], AbstractContextManager[object]]) -> GateCalibration:
        for i in range(100):  # a hundred questions of 20 ms: the remember must not wait for them all
            with step():
                asked.append(i)
                started.set()
                time.sleep(0.02)
        return hand_made(embedder.dimension)

    fit = memory.prepare_in_background((), slow_fit)
    assert started.wait(10)
    during = memory.remember("Now editing server.py, tests next.", "proj")
    questions_by_then = len(asked)
    assert during.status == "saved"  # decided, not queued: the plain gate keeps what the model calls a decision
    assert during.gate is not None and "calibrated" not in during.gate.reason
    assert fit.is_alive() and questions_by_then < 100  # it got the models between two of the fit's questions
    fit.join(timeout=30)
    after = memory.remember("Now running the linters, then the tests.", "proj")
    assert after.status == "skipped" and after.gate is not None and "calibrated gate says SKIP" in after.gate.reason


def test_an_interrupted_fit_goes_on_where_it_stopped(
    cerebellum: Cerebellum, embedder: Embedder, smollm2: Path, tmp_path: Path
) -> None:
    bank = small_bank(5)
    asked: list[str] = []
    stop_at = [4]

    class Stopped(Exception):
        """The process stops mid-fit (a short-lived launch exits)."""

    def scores(text: str) -> Mapping[str, float]:
        asked.append(text)
        if len(asked) == stop_at[0]:
            raise Stopped
        return cerebellum.memorize(text).scores

    with pytest.raises(Stopped):
        load_or_fit(tmp_path, smollm2, smollm2, scores, embedder.embed_document, bank=bank)
    (partial,) = (tmp_path / "calibration").glob("*.features.jsonl")
    assert len(partial.read_text().splitlines()) == 3
    asked.clear()
    stop_at[0] = 0
    fitted = load_or_fit(tmp_path, smollm2, smollm2, scores, embedder.embed_document, bank=bank)
    assert asked == [b.text for b in bank[3:]]  # only the texts not scored before
    assert not partial.exists() and len(fitted.vectors) == len(bank)
    fresh, _ = fit_with(cerebellum, embedder, tmp_path / "fresh", smollm2, bank)
    assert fresh.weights == pytest.approx(fitted.weights) and fresh.threshold == pytest.approx(fitted.threshold)


def test_a_users_own_bank_is_validated_and_keys_the_fit(tmp_path: Path, smollm2: Path) -> None:
    broken = tmp_path / "mine.jsonl"
    broken.write_text('{"text": "ok", "decision": "KEEP", "category": "fact"}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"mine.jsonl:1.*SAVE or SKIP"):
        Settings(gate_bank=broken)
    with pytest.raises(ValidationError, match="can't be read"):
        Settings(gate_bank=tmp_path / "missing.jsonl")
    mine = write_bank(tmp_path / "bank.jsonl", small_bank(3))
    settings = Settings(gate_bank=mine)
    assert settings.gate_bank == mine
    own = calibration.calibration_key(smollm2, smollm2, load_bank(mine))
    assert own != calibration.calibration_key(smollm2, smollm2, load_bank())
