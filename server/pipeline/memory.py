"""The memory pipeline: remember, recall and reconcile over a seed store, a cerebellum and an embedder.

This is the one code path that the MCP tools, the CLI and eval all call. It is plain and
synchronous; the MCP layer runs it on worker threads. One lock serializes everything that
touches the models or makes a decision, because llama.cpp contexts are not thread-safe and two
concurrent remembers of the same text must not both be ADDed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from seeds import AlreadySettled, Received, ScoredSeed, Seed, SeedNotFound, SeedStore, StoreError
from server.models.calibration import CalibrationError
from server.models.cerebellum import ArbitrateVerdict, CerebellumError, MemorizeVerdict
from server.models.prompts import Candidate
from server.pipeline.results import (
    ArbiterVerdict,
    ForgetResult,
    GateVerdict,
    QueuedText,
    RecallHit,
    RecallResult,
    ReconcileAction,
    ReconcileKind,
    ReconcileResult,
    RememberResult,
    SeedView,
    UndoResult,
    settled,
)

# The result models moved to server/pipeline/results.py; these names stay importable from here for callers not
# moved yet.
from server.pipeline.results import RememberStatus as RememberStatus
from server.pipeline.results import queued as queued
from server.pipeline.results import seed_uri as seed_uri
from server.rules import secrets, signals
from server.rules.scopes import ALL_SCOPES, ScopeSelection, scope_filter, scope_label
from server.settings import Settings

if TYPE_CHECKING:
    from server.models.calibration import GateCalibration
    from server.models.cerebellum import Cerebellum
    from server.models.embedder import Embedder

logger = logging.getLogger(__name__)

RRF_K = 5  # reciprocal-rank fusion constant: small, so the top ranks of each list count most (set on LoCoMo dev)
RECALL_POOL = 50  # candidates taken from each ranking before fusion
CROSS_SCRIPT_POOL = 4  # nearest seeds looked through for ones in the other script
CROSS_SCRIPT_CANDIDATES = 2  # at most this many of those shown to the arbiter
CALIBRATION_PAIRS = [
    ("The deploy script lives in scripts/deploy.sh.", "部署脚本在 scripts/deploy.sh。"),
    ("We use PostgreSQL for the main database.", "我们的主数据库用的是 PostgreSQL。"),
]
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def script_of(text: str) -> str:
    """'cjk' when the text has at least as many CJK characters as Latin words (and two or more), else 'latin'."""
    cjk = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]{2,}", text))
    return "cjk" if cjk >= 2 and cjk >= latin_words else "latin"


def same_subject_possible(text: str, similar: Sequence[ScoredSeed]) -> list[ScoredSeed]:
    """The similar seeds that may be about the subject of `text`: a seed that names another identifier
    (and another value with it) is a fact about something else, however alike the sentences are, so
    the arbiter is not asked whether the text repeats or updates it."""
    kept: list[ScoredSeed] = []
    for hit in similar:
        why = signals.distinct_subjects(hit.seed.text, text)
        if why is None:
            kept.append(hit)
        else:
            logger.debug("seed %d is not a candidate: %s", hit.seed.id, why)
    return kept


class ModelsClosed(RuntimeError):
    """Background work found the models closed (the server is stopping)."""


class ModelLock:
    """The one lock around everything that touches the models or makes a decision. Background work
    (the gate's fit: hundreds of questions, a minute or more) takes it one question at a time with
    `background()` and steps aside whenever a caller is waiting, so a remember is never held up for
    longer than one question."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0
        self._background = False
        """Whether background work holds the lock now (one step of it)."""
        self.closed = False
        """Set when the models are closed: background work stops at its next step, callers get ModelsClosed."""

    def __enter__(self) -> ModelLock:
        with self._count:
            self._waiting += 1
        self._lock.acquire()
        with self._count:
            self._waiting -= 1
        if self.closed:
            self._lock.release()
            raise ModelsClosed("the models were closed: the server is stopping")
        return self

    def __exit__(self, *_: object) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    @contextlib.contextmanager
    def background(self) -> Generator[None]:
        while True:
            while self._waiting:
                time.sleep(0.005)
            self._lock.acquire()
            if self.closed:
                self._lock.release()
                raise ModelsClosed("the models were closed")
            if not self._waiting:
                break
            self._lock.release()  # a caller came in meanwhile: its turn first
        self._background = True
        try:
            yield
        finally:
            self._background = False
            self._lock.release()

    def close(self, *, wait_for_background: bool = True) -> bool:
        """Mark the models closed and take the lock once the work holding it is done (True: the caller closes
        the models, then `release()`s). Without `wait_for_background`, False at once when a step of background
        work holds it: that step is abandoned, running on to its end on its own thread; nothing starts after it."""
        self.closed = True
        while not self._lock.acquire(timeout=0.02):
            if self._background and not wait_for_background:
                return False
        return True

    def release(self) -> None:
        self._lock.release()


CLAIM_LEASE_SECONDS = 300  # a decision that takes longer may be taken over by another process


class SecretInText(ValueError):
    """The text holds a credential; it was not stored, embedded or shown to a model."""


class DecisionFailed(RuntimeError):
    """Deciding an inbox text failed for a reason other than the model's answer (the model crashed,
    the store refused the write). The text stays in the inbox, to be decided again later."""


SecretsMode = Literal["refuse", "redact"]
CrossScript = Literal["auto", "always", "never"]
GateFitter = Callable[[Callable[[], contextlib.AbstractContextManager[object]]], "GateCalibration"]
"""fitter(step): the gate's rule, each bank question asked inside step()."""


def refuse_secrets(text: str, what: str) -> None:
    # Checked before anything else touches the text: a credential must never reach the database,
    # its WAL, the logs or a model prompt.
    findings = secrets.find_secrets(text)
    if findings:
        raise SecretInText(
            f"The {what} contains {secrets.describe(findings)}; nothing was stored. Remove the secret "
            "(or replace it with a placeholder such as <API_KEY>) and send it again."
        )


def screen_secrets(text: str, what: str, mode: SecretsMode) -> tuple[str, list[str]]:
    """The text as it may be stored, embedded and shown to a model, and the kinds of secret taken out.

    refuse: a text with a credential raises SecretInText. redact: each credential is replaced by a
    typed placeholder such as `[REDACTED:github-token]`, before anything else sees the text.
    """
    if mode == "refuse":
        refuse_secrets(text, what)
        return text, []
    findings = secrets.find_secrets(text)
    return (secrets.redact(text, findings), sorted({f.kind for f in findings})) if findings else (text, [])


RECONCILE_KIND: dict[str, ReconcileKind] = {"NONE": "merge-duplicate", "UPDATE": "update", "DELETE": "delete"}
RECONCILE_CURSOR_KEY = "reconcile_cursor:"  # + scope: the last seed an unfinished sweep got through
ReconcileProgress = Callable[[int, int, int], None]
"""progress(done, total, seed_id), called after each seed a reconcile sweep looks at."""


class Embeds(Protocol):
    name: str
    dimension: int

    def embed_document(self, text: str) -> list[float]: ...
    def embed_query(self, text: str) -> list[float]: ...


class Decides(Protocol):
    name: str

    def memorize(self, text: str) -> MemorizeVerdict: ...
    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict: ...


def receive(
    store: SeedStore,
    text: str,
    scope: str,
    *,
    tags: Sequence[str] = (),
    force: bool = False,
    source: str = "agent",
    secrets_mode: SecretsMode = "refuse",
) -> Received:
    """Check a text and commit it to the inbox: from here on it is not lost, whatever the models do.

    Secrets are screened first (refused, or replaced by placeholders): the inbox is on disk too.
    """
    text = text.strip()
    if not text:
        raise ValueError("text is empty")
    text, redacted = screen_secrets(text, "text", secrets_mode)
    tags = [screen_secrets(tag, "tag", secrets_mode)[0] for tag in tags]
    received = store.receive(scope, text, tags=tags, force=force, source=source)
    return dataclasses.replace(received, redacted=tuple(redacted))


def exact_duplicate(store: SeedStore, scope: str, text: str) -> RememberResult | None:
    """remember's answer for a text already stored in its scope (the same up to case, spacing, full-width
    forms and final punctuation): a duplicate, decided with no model."""
    same = store.find_exact(scope, text.strip())
    if same is None:
        return None
    verdict = ArbiterVerdict(
        action="NONE", target_id=same.id, reason="the same text is already stored", decided_by="exact-match"
    )
    return RememberResult(status="duplicate", seed=SeedView.of(same), gate=None, arbiter=verdict)


def queued_matches(store: SeedStore, query: str, scopes: list[str] | None, k: int) -> list[QueuedText]:
    """The texts waiting in the inbox that match the query's words (embedded only once decided)."""
    return [QueuedText.of(received) for received in store.inbox_search(query, scopes, k)]


def keyword_recall(
    store: SeedStore, query: str, scope: ScopeSelection, k: int, note: str, secrets_mode: SecretsMode = "refuse"
) -> RecallResult:
    """BM25 keyword search alone: what recall can still do while the embedder is not loaded."""
    query = query.strip()
    if not query:
        raise ValueError("query is empty")
    query, _ = screen_secrets(query, "query", secrets_mode)
    scopes = scope_filter(scope)
    with store.snapshot():
        matches = store.keyword_search(query, scopes, k)
        waiting = queued_matches(store, query, scopes, k)
    hits = [
        RecallHit(score=round((RRF_K + 1) / (RRF_K + rank + 1), 4), similarity=None, **SeedView.of(seed).model_dump())
        for rank, (seed, _) in enumerate(matches)
    ]
    return RecallResult(query=query, scope=scope_label(scope), hits=hits, queued=waiting, note=note)


def forget_seed(store: SeedStore, seed_id: int, scope: str | None = None) -> ForgetResult:
    """Remove a seed on request, as an undoable operation. Needs no model, so it works while they load.

    With `scope` (other than "*"), only a seed of that scope is removed: an id from another
    project is refused as unknown rather than reaching across scopes.
    """
    seed = store.get(seed_id)
    if seed is None or (scope not in (None, ALL_SCOPES) and seed.scope != scope):
        where = "" if scope in (None, ALL_SCOPES) else f" in scope {scope!r}"
        raise SeedNotFound(f"No seed with id {seed_id}{where}.")
    with store.operation("forget", seed.scope, "forgotten on request") as op:
        removed = op.delete(seed_id)
    logger.info("forget in %s: seed %d (%s)", seed.scope, seed_id, op.id)
    return ForgetResult(seed=SeedView.of(removed), operation_id=op.id)


def undo_operation(store: SeedStore, operation_id: str) -> UndoResult:
    """Reverse a recorded operation exactly. Needs no model, so it works while they load."""
    outcome = store.undo(operation_id)
    logger.info("undo in %s: %s (%s)", outcome.undone.scope, operation_id, outcome.operation.id)
    return UndoResult(
        operation_id=outcome.operation.id,
        undone_operation_id=outcome.undone.id,
        undone_kind=outcome.undone.kind,
        scope=outcome.undone.scope,
        restored=[SeedView.of(seed) for seed in outcome.restored],
        removed=[SeedView.of(seed) for seed in outcome.removed],
    )


# -- the pipeline ---------------------------------------------------------------------------


class Memory:
    def __init__(
        self,
        store: SeedStore,
        cerebellum: Decides,
        embedder: Embeds,
        *,
        candidates: int = 5,
        candidate_similarity: float = 0.5,
        reconcile_similarity: float = 0.75,
        keyword_weight: float = 1.0,
        neighbour_weight: float = 0.0,
        secrets_mode: SecretsMode = "refuse",
        gate_calibration: GateCalibration | None = None,
        cross_script: CrossScript = "auto",
    ) -> None:
        store.bind_embedder(embedder.name, embedder.dimension)
        self.store = store
        self.cerebellum = cerebellum
        self.embedder = embedder
        self.candidates = candidates
        self.candidate_similarity = candidate_similarity
        self.reconcile_similarity = reconcile_similarity
        self.keyword_weight = keyword_weight
        self.neighbour_weight = neighbour_weight
        self.secrets_mode: SecretsMode = secrets_mode
        self.gate_calibration = gate_calibration
        """A fitted SAVE/SKIP rule over the cerebellum's category scores and the embedder's neighbours."""
        self.gate_fitter: Callable[[], GateCalibration] | None = None
        """Fits or reads `gate_calibration` when the gate first asks the model (where the model loads late)."""
        self.lock = ModelLock()
        self.preparing: threading.Thread | None = None
        """The warm-up and the gate's fit running in the background (`prepare_in_background`)."""
        # Who claims inbox texts: unique per process, so two servers on one file never decide the same text.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.parse_failures = 0
        self._crosslingual: bool | None = None
        self.cross_script: CrossScript = cross_script
        """Whether the nearest seeds in the other script go to the arbiter whatever their similarity:
        auto, when the embedder can't match a text with its translation."""

    @classmethod
    def from_settings(cls, store: SeedStore, cerebellum: Decides, embedder: Embeds, settings: Settings) -> Memory:
        """The pipeline with the thresholds and weights the settings give (what the server runs)."""
        return cls(
            store,
            cerebellum,
            embedder,
            candidates=settings.candidates,
            candidate_similarity=settings.candidate_similarity,
            reconcile_similarity=settings.reconcile_similarity,
            keyword_weight=settings.keyword_weight,
            neighbour_weight=settings.neighbour_weight,
            secrets_mode=settings.secrets,
            cross_script=settings.cross_script,
        )

    # remember -----------------------------------------------------------------------------

    def remember(
        self,
        text: str,
        scope: str,
        *,
        tags: Sequence[str] = (),
        force: bool = False,
        source: str = "agent",
    ) -> RememberResult:
        """Commit the text to the inbox, then decide it now (the plain, synchronous path)."""
        received = receive(
            self.store, text, scope, tags=tags, force=force, source=source, secrets_mode=self.secrets_mode
        )
        return settled(received, self.decide(received.id))

    def decide(self, inbox_id: int) -> RememberResult | None:
        """Decide one inbox text and apply the decision; None if it was not ours to decide (gone, or
        claimed by another process). Raises DecisionFailed, leaving the text pending, if the model
        or the store fails, or if the models were closed first (the server is stopping: the next start
        decides it)."""
        try:
            with self.lock:
                return self._decide_held(inbox_id)
        except ModelsClosed as exc:
            raise DecisionFailed(str(exc)) from exc

    def _decide_held(self, inbox_id: int) -> RememberResult | None:
        try:
            received = self.store.claim(inbox_id, self.owner, CLAIM_LEASE_SECONDS)
        except StoreError as exc:  # a full disk, a lost database: the text stays where it is
            raise DecisionFailed(f"the store could not hand out the text: {exc}") from exc
        if received is None:
            return None
        started = time.perf_counter()
        try:
            result = self._decide(received)
        except AlreadySettled:
            return None
        except Exception as exc:
            try:
                self.store.release(inbox_id, f"{type(exc).__name__}: {exc}")
            except StoreError as release_error:  # its claim lapses by itself after the lease
                logger.warning("could not release inbox text %d: %s", inbox_id, release_error)
            raise DecisionFailed(f"{type(exc).__name__}: {exc}") from exc
        logger.info(
            "remember in %s: %s (%.0f ms)", received.scope, result.status, (time.perf_counter() - started) * 1000
        )
        return result

    def drain(self, scope: str | None = None, limit: int | None = None) -> list[RememberResult]:
        """Decide the texts waiting in the inbox, oldest first (after a restart, or once the model is back)."""
        results: list[RememberResult] = []
        for received in self.store.inbox("pending", scope, limit):
            result = self.decide(received.id)
            if result is not None:
                results.append(result)
        return results

    def _decide(self, received: Received) -> RememberResult:
        text, scope, tags, source, inbox_id = received.text, received.scope, received.tags, received.source, received.id
        # An exact (normalized) duplicate needs no model at all.
        duplicate = exact_duplicate(self.store, scope, text)
        if duplicate is not None:
            self.store.discard(inbox_id)
            return duplicate

        gate, embedding = self._gate(text, received.force)
        if gate.decision == "SKIP":
            self.store.skip(inbox_id, f"{gate.category}: {gate.reason}")
            return RememberResult(status="skipped", seed=None, gate=gate, arbiter=None, inbox_id=inbox_id)
        category = gate.category if gate.decided_by in ("model", "rule") else "fact"

        if embedding is None:
            embedding = self.embedder.embed_document(text)
        similar = self._candidates(text, embedding, scope)
        if not similar:
            seed = self.store.add(scope, text, embedding, category=category, tags=tags, source=source, settles=inbox_id)
            verdict = ArbiterVerdict(
                action="ADD", target_id=None, reason="nothing similar is stored", decided_by="no-candidates"
            )
            return RememberResult(status="saved", seed=SeedView.of(seed), gate=gate, arbiter=verdict)

        verdict, merged = self._arbitrate(text, similar)
        return self._apply(received, embedding, category, gate, verdict, merged)

    def gate(self, text: str) -> GateVerdict:
        """The gate's verdict on a text, storing nothing (an import's raw texts; remember decides in `_decide`)."""
        with self.lock:
            return self._gate(text, False)[0]

    def judge(self, text: str, similar: Sequence[ScoredSeed]) -> tuple[ArbiterVerdict, str]:
        """The arbiter's verdict on a text against similar seeds, and its merged text for an UPDATE; storing
        nothing (an import applies the verdicts itself, under its one operation)."""
        with self.lock:
            return self._arbitrate(text, similar)

    def _candidates(self, text: str, embedding: list[float], scope: str) -> list[ScoredSeed]:
        """The stored seeds the arbiter should see: those similar enough to be the same subject.

        An embedder that cannot match a text with its translation (an English-only one) says
        nothing about seeds in the other script, so the few nearest of those are shown to the
        model too: there, only the model can tell a translation from another fact.
        """
        pool = self.store.search(embedding, scope, self.candidates * CROSS_SCRIPT_POOL)
        similar = [hit for hit in pool[: self.candidates] if hit.similarity >= self.candidate_similarity]
        if self.cross_script == "always" or (self.cross_script == "auto" and not self.crosslingual()):
            own = script_of(text)
            other = [hit for hit in pool if script_of(hit.seed.text) != own and hit not in similar]
            similar += other[:CROSS_SCRIPT_CANDIDATES]
        return same_subject_possible(text, similar)

    def crosslingual(self) -> bool:
        """Whether the embedder puts an English text and its Chinese translation close (checked once)."""
        if self._crosslingual is None:
            pairs = [self.embedder.embed_document(t) for pair in CALIBRATION_PAIRS for t in pair]
            sims = [dot(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
            self._crosslingual = min(sims) >= self.candidate_similarity
            logger.info("embedder %s matches translations: %s (%s)", self.embedder.name, self._crosslingual, sims)
        return self._crosslingual

    def _gate(self, text: str, force: bool) -> tuple[GateVerdict, list[float] | None]:
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
            self.parse_failures += 1
            logger.warning("memorize gate failed, keeping the text: %s", exc)
            return GateVerdict(
                decision="SAVE", category="fact", reason=f"gate failed: {exc}", decided_by="fallback"
            ), None
        decision, category, reason = verdict.decision, verdict.category, verdict.reason
        calibration = self.gate_rule()
        embedding = None
        if calibration is not None and verdict.scores:
            # The calibrated gate weighs the text's neighbours too; a text the plain gate skips is never embedded.
            embedding = self.embedder.embed_document(text)
            try:
                decision, category, margin = calibration.decide(verdict.scores, embedding, category)
                reason = f"{reason}; the calibrated gate says {decision} (margin {margin:+.2f})"
            except (CalibrationError, ValueError) as exc:
                # A rule that doesn't fit this model's answers is dropped, not allowed to stall every remember.
                logger.warning("the gate calibration does not fit these models, using the plain gate: %s", exc)
                self.gate_calibration = None
        return GateVerdict(decision=decision, category=category, reason=reason, decided_by="model"), embedding

    def gate_rule(self) -> GateCalibration | None:
        """The fitted gate rule, fitted or read by `gate_fitter` on the first call. None: the plain gate
        (no fitter, or the fit failed: the gate works without it, so a bad bank or cache never stops remember)."""
        if self.gate_calibration is None and self.gate_fitter is not None:
            fit, self.gate_fitter = self.gate_fitter, None
            try:
                self.gate_calibration = fit()
            except (CalibrationError, CerebellumError, OSError, ValueError) as exc:
                logger.warning("could not calibrate the gate, using the plain gate: %s", exc)
        return self.gate_calibration

    def prepare_in_background(
        self, warm_up: Sequence[Callable[[], object]] = (), fitter: GateFitter | None = None
    ) -> threading.Thread:
        """Warm the models up and fit the gate's rule on a thread of their own, one step at a time, while
        decisions go on: each step yields the models to any decision that is waiting (a decision that
        comes before the warm-up is done evaluates the prompt heads it needs itself). Until the fit is
        ready the plain gate decides. `fitter(step)` runs each bank question inside `step()`."""

        def run() -> None:
            started = time.perf_counter()
            for step in warm_up:
                try:
                    with self.lock.background():
                        step()
                except ModelsClosed:
                    return
                except Exception as exc:  # a decision evaluates what it needs anyway
                    logger.warning("a warm-up step failed: %s", exc)
            if warm_up:
                logger.info("cerebellum warmed up in %.0f ms", (time.perf_counter() - started) * 1000)
            if fitter is None:
                return
            try:
                self.gate_calibration = fitter(self.lock.background)
                logger.info("the calibrated gate is in use from now on")
            except ModelsClosed:
                logger.info("the gate's fit stopped with the models; it goes on at the next start")
            except (CalibrationError, CerebellumError, OSError, ValueError) as exc:
                logger.warning("could not calibrate the gate, keeping the plain gate: %s", exc)
            except Exception:  # the thread must not die silently: the plain gate goes on either way
                logger.exception("the gate's fit failed, keeping the plain gate")

        self.preparing = threading.Thread(target=run, name="cerebellum-prepare", daemon=True)
        self.preparing.start()
        return self.preparing

    def fit_gate_in_background(self, fitter: GateFitter) -> threading.Thread:
        """Fit the gate's rule in the background (see `prepare_in_background`)."""
        return self.prepare_in_background((), fitter)

    def _arbitrate(self, text: str, similar: Sequence[ScoredSeed]) -> tuple[ArbiterVerdict, str]:
        shown = [Candidate(hit.seed.id, hit.seed.text, hit.seed.updated_at) for hit in similar]
        ids = [c.id for c in shown]
        try:
            answer = self.cerebellum.arbitrate(text, shown)
        except CerebellumError as exc:
            self.parse_failures += 1
            logger.warning("arbiter failed, adding the text: %s", exc)
            return ArbiterVerdict(
                action="ADD", target_id=None, reason=f"arbiter failed: {exc}", decided_by="fallback", candidates=ids
            ), ""
        if answer.action != "ADD" and answer.target not in ids:
            # An action on no (or an unknown) seed can't be applied; adding loses nothing.
            return ArbiterVerdict(
                action="ADD",
                target_id=None,
                reason=f"the arbiter said {answer.action} without naming a shown seed; added instead",
                decided_by="fallback",
                candidates=ids,
            ), ""
        return ArbiterVerdict(
            action=answer.action,
            target_id=answer.target if answer.action != "ADD" else None,
            reason=answer.reason,
            decided_by="model",
            candidates=ids,
        ), answer.merged

    def _apply(
        self,
        received: Received,
        embedding: list[float],
        category: str,
        gate: GateVerdict,
        verdict: ArbiterVerdict,
        merged: str,
    ) -> RememberResult:
        text, scope, inbox_id = received.text, received.scope, received.id
        if verdict.action == "ADD" or verdict.target_id is None:
            seed = self.store.add(
                scope, text, embedding, category=category, tags=received.tags, source=received.source, settles=inbox_id
            )
            return RememberResult(status="saved", seed=SeedView.of(seed), gate=gate, arbiter=verdict)
        target = self.store.require(verdict.target_id)
        if verdict.action == "NONE":
            # A model's "says the same" can be wrong (a small one calls added detail a rewording), so
            # the text is kept for review like a skipped one, not thrown away.
            self.store.skip(inbox_id, f"duplicate of seed {target.id}: {verdict.reason}")
            return RememberResult(
                status="duplicate", seed=SeedView.of(target), gate=gate, arbiter=verdict, inbox_id=inbox_id
            )
        if verdict.action == "UPDATE":
            new_text = merged.strip() or text
            new_embedding = embedding if new_text == text else self.embedder.embed_document(new_text)
            updated, operation_id = self.store.update(
                target.id,
                new_text,
                new_embedding,
                reason=verdict.reason or "updated",
                trigger_text=text,
                settles=inbox_id,
            )
            return RememberResult(
                status="updated",
                seed=SeedView.of(updated),
                previous_text=target.text,
                operation_id=operation_id,
                gate=gate,
                arbiter=verdict,
            )
        removed, operation_id = self.store.delete(
            target.id, reason=verdict.reason or "retracted", trigger_text=text, settles=inbox_id
        )
        return RememberResult(
            status="deleted", seed=SeedView.of(removed), operation_id=operation_id, gate=gate, arbiter=verdict
        )

    # recall -------------------------------------------------------------------------------

    def recall(self, query: str, scope: ScopeSelection, k: int = 5) -> RecallResult:
        """Hybrid search: vector neighbours and BM25 keyword matches, fused by reciprocal rank.

        Embeddings find a memory asked for in other words; keywords find the exact name, id or
        number an embedding blurs. A seed stored right before or after a strong hit (the same
        session) shares a little of its score: a question often matches one turn of a
        conversation while the answer is in the next. Weights were set on LoCoMo's dev split.

        `scope` is one scope, a list of them, or "*" for every scope; each hit names its own.
        Texts still waiting in the inbox (remembered, not decided yet) that share the query's
        words come back apart, in `queued`, matched by keywords only: they are embedded once decided.
        """
        query = query.strip()
        if not query:
            raise ValueError("query is empty")
        # In redact mode the query is searched with the secret taken out; it is never stored.
        query, _ = screen_secrets(query, "query", self.secrets_mode)
        scopes, label = scope_filter(scope), scope_label(scope)
        if k <= 0 or scopes == []:
            return RecallResult(query=query, scope=label, hits=[])
        # The embedder's own lock, not the models': a recall does not wait for a decision in progress.
        embedding = self.embedder.embed_query(query)
        # One snapshot of the file: a text another process decides meanwhile is a hit or queued, not both.
        with self.store.snapshot():
            hits = self._ranked(query, embedding, scopes, k)
            waiting = queued_matches(self.store, query, scopes, k)
        return RecallResult(query=query, scope=label, hits=hits, queued=waiting)

    def _ranked(self, query: str, embedding: list[float], scopes: list[str] | None, k: int) -> list[RecallHit]:
        """The k best seeds for the query: vector and keyword ranks fused, session neighbours sharing."""
        pool = max(k, RECALL_POOL)
        by_vector = self.store.search(embedding, scopes, pool)
        by_keyword = self.store.keyword_search(query, scopes, pool) if self.keyword_weight > 0 else []
        fused: dict[int, float] = {}
        for rank, hit in enumerate(by_vector):
            fused[hit.seed.id] = fused.get(hit.seed.id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (seed, _) in enumerate(by_keyword):
            fused[seed.id] = fused.get(seed.id, 0.0) + self.keyword_weight / (RRF_K + rank + 1)
        if self.neighbour_weight > 0 and fused:
            strongest = sorted(fused, key=fused.__getitem__, reverse=True)[:RECALL_POOL]
            shared: dict[int, float] = {}
            for seed_id, around in self.store.neighbours(strongest).items():
                for neighbour in around:
                    share = self.neighbour_weight * fused[seed_id]
                    shared[neighbour] = max(shared.get(neighbour, 0.0), share)
            for seed_id, share in shared.items():
                fused[seed_id] = fused.get(seed_id, 0.0) + share
        best = sorted(fused, key=lambda seed_id: (-fused[seed_id], seed_id))[:k]
        seeds = {hit.seed.id: hit.seed for hit in by_vector} | {seed.id: seed for seed, _ in by_keyword}
        hits: list[RecallHit] = []
        for seed_id in best:
            seed = seeds.get(seed_id) or self.store.get(seed_id)
            if seed is None:
                continue
            similarity = dot(embedding, self.store.embedding(seed_id))
            hits.append(
                RecallHit(
                    score=round(fused[seed_id] * (RRF_K + 1) / (1 + self.keyword_weight), 4),
                    similarity=round(similarity, 4),
                    **SeedView.of(seed).model_dump(),
                )
            )
        return hits

    # reconcile ----------------------------------------------------------------------------

    def reconcile(
        self, scope: ScopeSelection, *, dry_run: bool = False, progress: ReconcileProgress | None = None
    ) -> ReconcileResult:
        """Walk a scope oldest first; compare each seed with the older seeds most like it.

        Newer seeds are judged against older ones, as a remember of the newer text would have
        been: a paraphrase is folded into the older seed, a refinement updates it, a retraction
        removes it. In a dry run the plan is computed as if each action had been applied. Texts
        still waiting in the inbox are decided first (not in a dry run), so the sweep sees them.

        Several scopes ("*" or a list) are each tidied on their own: a pair never spans scopes.

        A real sweep records after each seed how far it got (in the store's meta table), so a
        sweep that is interrupted (Ctrl-C, a cancelled call, a crash) goes on from there next
        time instead of asking the model about the same seeds again; a finished sweep clears the
        mark. A dry run starts where the next real sweep would, and records nothing.
        `progress(done, total, seed_id)` is called after each seed; an exception it raises stops
        the sweep (what was applied stays applied and recorded).
        """
        drained = 0
        if not dry_run:
            try:
                names = scope_filter(scope)
                for name in [None] if names is None else names:
                    drained += len(self.drain(name))
            except DecisionFailed as exc:
                logger.warning("reconcile: the inbox could not be drained: %s", exc)
        with self.lock:
            names = scope_filter(scope)
            sweeps = [(name, *self._remaining(name)) for name in (self.store.scopes() if names is None else names)]
            total = sum(len(seeds) for _, seeds, _ in sweeps)
            done = 0
            examined, arbitrated, actions = 0, 0, list[ReconcileAction]()
            resumed_after: int | None = None

            def step(seed_id: int) -> None:
                nonlocal done
                done += 1
                if progress is not None:
                    progress(done, total, seed_id)

            for name, seeds, after in sweeps:
                resumed_after = resumed_after if after is None else after
                arbitrated += self._reconcile_scope(name, seeds, dry_run, actions, step)
                examined += len(seeds)
            return ReconcileResult(
                scope=scope_label(scope),
                dry_run=dry_run,
                drained=drained,
                resumed_after=resumed_after,
                examined=examined,
                arbitrated=arbitrated,
                actions=actions,
            )

    def _remaining(self, scope: str) -> tuple[list[Seed], int | None]:
        """The seeds of a scope a sweep has to look at, oldest first, and the seed an interrupted sweep
        finished last (None: start from the beginning)."""
        seeds = self.store.list_seeds(scope)
        mark = self.store.get_meta(RECONCILE_CURSOR_KEY + scope)
        if mark is None:
            return seeds, None
        stopped = json.loads(mark)
        after = int(stopped["id"])
        return [s for s in seeds if (s.created_at, s.id) > (str(stopped["created_at"]), after)], after

    def _reconcile_scope(
        self,
        scope: str,
        seeds: Sequence[Seed],
        dry_run: bool,
        actions: list[ReconcileAction],
        step: Callable[[int], None],
    ) -> int:
        """Reconcile one scope's seeds, appending its actions; the number of questions asked."""
        cursor_key = RECONCILE_CURSOR_KEY + scope
        gone: set[int] = set()
        arbitrated = 0
        for seed in seeds:
            older = [] if seed.id in gone else self._older_similar(seed, scope, gone)
            if older:
                action = self._reconcile_one(seed, older)
                arbitrated += action is None or action.decided_by == "model"
                if action is not None:
                    if not dry_run:
                        action = self._apply_reconcile(action, seed)
                    gone.add(action.target_id if action.action == "delete" else seed.id)
                    actions.append(action)
            if not dry_run:
                self.store.set_meta(cursor_key, json.dumps({"created_at": seed.created_at, "id": seed.id}))
            step(seed.id)
        if not dry_run:
            self.store.set_meta(cursor_key, None)
        return arbitrated

    def _older_similar(self, seed: Seed, scope: str, gone: set[int]) -> list[ScoredSeed]:
        """The older seeds of the scope close enough to `seed` to be compared with it."""
        older = [
            hit
            for hit in self.store.search(self.store.embedding(seed.id), scope, self.candidates + 1)
            if hit.seed.id != seed.id
            and hit.seed.id not in gone
            and (hit.seed.created_at, hit.seed.id) < (seed.created_at, seed.id)
            and hit.similarity >= self.reconcile_similarity
        ]
        return same_subject_possible(seed.text, older)

    def _reconcile_one(self, seed: Seed, older: Sequence[ScoredSeed]) -> ReconcileAction | None:
        from seeds import text_hash

        for hit in older:
            if text_hash(hit.seed.text) == text_hash(seed.text):
                return ReconcileAction(
                    action="merge-duplicate",
                    scope=seed.scope,
                    seed_id=seed.id,
                    target_id=hit.seed.id,
                    reason="the same text is stored twice",
                    decided_by="exact-match",
                    applied=False,
                )
        verdict, merged = self._arbitrate(seed.text, older)
        if verdict.decided_by != "model" or verdict.target_id is None or verdict.action == "ADD":
            return None
        kind = RECONCILE_KIND[verdict.action]
        return ReconcileAction(
            action=kind,
            scope=seed.scope,
            seed_id=seed.id,
            target_id=verdict.target_id,
            reason=verdict.reason,
            merged_text=(merged.strip() or seed.text) if kind == "update" else None,
            decided_by="model",
            applied=False,
        )

    def _apply_reconcile(self, action: ReconcileAction, seed: Seed) -> ReconcileAction:
        store = self.store
        with store.operation(f"reconcile-{action.action}", seed.scope, action.reason, trigger_text=seed.text) as op:
            if action.action == "merge-duplicate":
                op.delete(seed.id)
            elif action.action == "update":
                merged = action.merged_text or seed.text
                op.update(action.target_id, merged, self.embedder.embed_document(merged))
                op.delete(seed.id)
            else:
                op.delete(action.target_id)
        return action.model_copy(update={"applied": True, "operation_id": op.id})

    # forget and undo ------------------------------------------------------------------------

    def forget(self, seed_id: int, scope: str | None = None) -> ForgetResult:
        """Remove a seed because the agent (or user) asked to; recorded, so `undo` brings it back."""
        with self.lock:  # not in the middle of a decision about the same seed
            return forget_seed(self.store, seed_id, scope)

    def undo(self, operation_id: str) -> UndoResult:
        """Reverse a recorded operation exactly (see `SeedStore.undo` for what is refused, and why)."""
        with self.lock:
            return undo_operation(self.store, operation_id)

    def close(self, *, abandon_background: bool = False) -> bool:
        """Close the store and the models once the decision in progress (a caller's) is finished. The warm-up
        and the gate's fit stop before their next step, and go on at the next start. With `abandon_background`
        a step of theirs in progress is not waited for either: then (False) the models are left open under
        it, and the process must end without waiting for its thread (a server stopped by a signal: server/cli/main.py
        ends it with os._exit)."""
        if not self.lock.close(wait_for_background=not abandon_background):
            self.store.close()  # background work never touches the store
            return False
        try:
            self.store.close()
            for model in (self.cerebellum, self.embedder):
                close = getattr(model, "close", None)
                if callable(close):
                    close()
        finally:
            self.lock.release()  # a caller still waiting finds the models closed
        return True


def model_path(settings: Settings, role: Literal["cerebellum", "embedder"]) -> Path:
    """The local file of the configured cerebellum or embedder (downloaded into the hub cache if needed)."""
    from server.models.files import resolve_model

    if role == "embedder":
        return resolve_model(
            settings.embedder, role=role, setting="--embedder / CEREBELLUM_EMBEDDER", offline=settings.offline
        )
    return resolve_model(settings.model, role=role, setting="--model / CEREBELLUM_MODEL", offline=settings.offline)


def load_embedder(path: Path, settings: Settings) -> Embedder:
    from server.models.embedder import Embedder

    return Embedder(path, threads=settings.embedder_threads, context_size=settings.embedder_context_size)


def load_cerebellum(path: Path, settings: Settings) -> Cerebellum:
    from server.models.cerebellum import Cerebellum
    from server.models.threads import chooser

    return Cerebellum(
        path,
        threads=chooser(settings.threads),
        context_size=settings.context_size,
        arbiter=settings.arbiter,
        verify=settings.second_look,
        group_vote=settings.group_vote,
        head_cache=settings.cache_dir / "heads",
    )


def open_memory(settings: Settings, store: SeedStore) -> Memory:
    """Resolve and load both models, as configured, over an open store. Slow: seconds to minutes."""
    # Both files are found first, so a missing model is reported before anything slow is loaded.
    embedder_path, cerebellum_path = model_path(settings, "embedder"), model_path(settings, "cerebellum")
    embedder = load_embedder(embedder_path, settings)
    try:
        # Check the store accepts this embedder before paying for the larger model.
        store.bind_embedder(embedder.name, embedder.dimension)
        cerebellum = load_cerebellum(cerebellum_path, settings)
    except BaseException:
        embedder.close()
        raise
    memory = Memory.from_settings(store, cerebellum, embedder, settings)
    fitter: GateFitter | None = None
    if settings.calibrate_gate:
        # A fit at hand (cached, or shipped for these models) is read now; otherwise the first use of a
        # model pair decides with the plain gate while the fit runs in the background: no remember waits
        # minutes in the queue for it.
        memory.gate_calibration = ready_gate(settings, cerebellum, embedder)
        if memory.gate_calibration is None:
            fitter = partial(calibrate_gate, settings, cerebellum, embedder)
    # The prompt heads are evaluated (or read from the cache) in the background, between decisions.
    memory.prepare_in_background(cerebellum.warm_up_steps(), fitter)
    logger.info("memory ready: store %s, cerebellum %s, embedder %s", store.path, cerebellum.name, embedder.name)
    return memory


def ready_gate(settings: Settings, cerebellum: Cerebellum, embedder: Embedder) -> GateCalibration | None:
    """The gate's rule for this model pair and bank if a fit is at hand (the cache, or shipped), else None.
    A bank that can't be read leaves the plain gate (logged)."""
    from server.models.calibration import calibration_key, load_bank, ready_fit

    try:
        bank = load_bank(settings.gate_bank)
        return ready_fit(settings.cache_dir, calibration_key(cerebellum.path, embedder.path, bank))
    except (CalibrationError, OSError) as exc:
        logger.warning("could not read the gate calibration's bank, using the plain gate: %s", exc)
        return None


def calibrate_gate(
    settings: Settings,
    cerebellum: Cerebellum,
    embedder: Embedder,
    step: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> GateCalibration:
    """The gate's rule for this model pair: from the cache, or fitted now on the bank (slow once; each bank
    question inside `step()`)."""
    from server.models.calibration import load_bank, load_or_fit

    def scores(text: str) -> Mapping[str, float]:
        return cerebellum.memorize(text).scores

    bank = load_bank(settings.gate_bank)
    return load_or_fit(
        settings.cache_dir, cerebellum.path, embedder.path, scores, embedder.embed_document, bank=bank, step=step
    )
