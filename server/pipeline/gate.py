"""The memorize gate: is a text worth keeping? A rule where the text's shape settles it, else the cerebellum's
verdict, weighed by the fitted (calibrated) rule once there is one; and the models' background preparation,
which warms them up and fits that rule between decisions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from server.models.calibration import CalibrationError
from server.models.cerebellum import CerebellumError, shares_of
from server.pipeline.lock import ModelLock, ModelsClosed
from server.pipeline.ports import Decides, Embeds
from server.pipeline.results import GateVerdict, top_shares
from server.rules import signals

if TYPE_CHECKING:
    from server.models.calibration import GateCalibration

logger = logging.getLogger(__name__)

GateFitter = Callable[[Callable[[], contextlib.AbstractContextManager[object]]], "GateCalibration"]
"""fitter(step): the gate's rule, each bank question asked inside step() (a fit in the background)."""
LazyGateFitter = Callable[[], "GateCalibration"]
"""fitter(): the gate's rule, fitted or read when the gate first asks the model (where the model loads late)."""


class Gate:
    """The gate's verdict on one text; holds the fitted rule once it is there."""

    def __init__(
        self,
        cerebellum: Decides,
        embedder: Embeds,
        *,
        calibration: GateCalibration | None = None,
        fitter: LazyGateFitter | None = None,
    ) -> None:
        self.cerebellum = cerebellum
        self.embedder = embedder
        self.calibration = calibration
        """A fitted SAVE/SKIP rule over the cerebellum's category scores and the embedder's neighbours."""
        self._fitter = fitter
        self.failures = 0
        """Answers of the cerebellum that could not be used (the text was kept instead)."""

    def verdict(self, text: str, force: bool) -> tuple[GateVerdict, list[float] | None]:
        """The gate's verdict, and the text's embedding if the calibrated gate needed it already."""
        if force:
            return GateVerdict(
                decision="SAVE", category="fact", reason="the caller asked to keep it", decided_by="force"
            ), None
        # A text whose shape settles the question is decided by rule; the model is not asked.
        signal = signals.classify(text)
        if signal is not None:
            return GateVerdict(
                decision=signal.decision, category=signal.category, reason=signal.rule, decided_by="rule"
            ), None
        try:
            verdict = self.cerebellum.memorize(text)
        except CerebellumError as exc:
            # Keeping a text that should have been skipped costs little; losing one costs a lesson.
            self.failures += 1
            logger.warning("memorize gate failed, keeping the text: %s", exc)
            return GateVerdict(
                decision="SAVE", category="fact", reason=f"gate failed: {exc}", decided_by="fallback"
            ), None
        decision, category, reason = verdict.decision, verdict.category, verdict.reason
        shares = top_shares(shares_of(verdict.scores))
        margin: float | None = None
        calibration = self.rule()
        embedding = None
        if calibration is not None and verdict.scores:
            # The calibrated gate weighs the text's neighbours too; a text the plain gate skips is never embedded.
            embedding = self.embedder.embed_document(text)
            try:
                decision, category, fitted_margin = calibration.decide(verdict.scores, embedding, category)
                margin = round(fitted_margin, 3)
                reason = f"{reason}; the calibrated gate says {decision} (margin {fitted_margin:+.2f})"
            except (CalibrationError, ValueError) as exc:
                # A rule that doesn't fit this model's answers is dropped, not allowed to stall every remember.
                logger.warning("the gate calibration does not fit these models, using the plain gate: %s", exc)
                self.calibration = None
        return GateVerdict(
            decision=decision, category=category, reason=reason, decided_by="model", shares=shares, margin=margin
        ), embedding

    def rule(self) -> GateCalibration | None:
        """The fitted gate rule, fitted or read by the lazy fitter on the first call. None: the plain gate
        (no fitter, or the fit failed: the gate works without it, so a bad bank or cache never stops remember)."""
        if self.calibration is None and self._fitter is not None:
            fit, self._fitter = self._fitter, None
            try:
                self.calibration = fit()
            except (CalibrationError, CerebellumError, OSError, ValueError) as exc:
                logger.warning("could not calibrate the gate, using the plain gate: %s", exc)
        return self.calibration


def prepare_in_background(
    lock: ModelLock, gate: Gate, warm_up: Sequence[Callable[[], object]] = (), fitter: GateFitter | None = None
) -> threading.Thread:
    """Warm the models up and fit the gate's rule on a thread of their own, one step at a time, while
    decisions go on: each step yields the models to any decision that is waiting (a decision that
    comes before the warm-up is done evaluates the prompt heads it needs itself). Until the fit is
    ready the plain gate decides. `fitter(step)` runs each bank question inside `step()`.

    Nothing that fails here ends the server or stops a decision: a failing warm-up step is logged (once, with
    how many failed), a failed fit leaves the plain gate (logged), and models closed meanwhile end the thread.
    """

    def warm() -> bool:
        started = time.perf_counter()
        failed: list[str] = []
        for step in warm_up:
            try:
                with lock.background():
                    step()
            except ModelsClosed:
                return False
            except Exception as exc:  # a decision evaluates what it needs anyway
                if not failed:
                    logger.warning("a warm-up step failed: %s", exc)
                failed.append(f"{type(exc).__name__}: {exc}")
        if len(failed) > 1:
            logger.warning("%d warm-up steps failed in all; decisions evaluate what they need", len(failed))
        if warm_up:
            logger.info("cerebellum warmed up in %.0f ms", (time.perf_counter() - started) * 1000)
        return True

    def fit(fitter: GateFitter) -> None:
        try:
            gate.calibration = fitter(lock.background)
            logger.info("the calibrated gate is in use from now on")
        except ModelsClosed:
            logger.info("the gate's fit stopped with the models; it goes on at the next start")
        except (CalibrationError, CerebellumError, OSError, ValueError) as exc:
            logger.warning("could not calibrate the gate, keeping the plain gate: %s", exc)
        except Exception:  # the thread must not die silently: the plain gate goes on either way
            logger.exception("the gate's fit failed, keeping the plain gate")

    def run() -> None:
        try:
            if warm() and fitter is not None:
                fit(fitter)
        except Exception:  # nothing in the background may end the process or go unlogged
            logger.exception("the models' background preparation failed; decisions go on without it")

    thread = threading.Thread(target=run, name="cerebellum-prepare", daemon=True)
    thread.start()
    return thread
