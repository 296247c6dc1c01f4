"""The memory pipeline: remember, recall and reconcile over a seed store, a cerebellum and an embedder.

This is the one code path that the MCP tools, the CLI and eval all call. It is plain and
synchronous; the MCP layer runs it on worker threads. One lock (server/pipeline/lock.py) serializes
everything that touches the models or makes a decision, because llama.cpp contexts are not thread-safe
and two concurrent remembers of the same text must not both be ADDed.

`Memory` composes the parts and decides inbox texts (the write path): the gate (server/pipeline/gate.py),
the arbiter (server/pipeline/arbiter.py), hybrid recall (server/pipeline/recall.py), the reconcile sweep
(server/pipeline/reconcile.py) and the store-only operations (server/pipeline/store_ops.py). Loading it as
configured is server/pipeline/loading.py.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from seeds import AlreadySettled, Received, ScoredSeed, SeedStore, StoreError
from server.pipeline.arbiter import Arbiter, CrossScript
from server.pipeline.errors import DecisionFailed
from server.pipeline.gate import Gate, GateFitter, LazyGateFitter, prepare_in_background
from server.pipeline.lock import ModelLock, ModelsClosed
from server.pipeline.ports import Decides, Embeds
from server.pipeline.recall import HybridRecall, screened_query
from server.pipeline.reconcile import ReconcileProgress, Sweep
from server.pipeline.results import (
    ArbiterVerdict,
    ForgetResult,
    GateVerdict,
    RecallResult,
    ReconcileResult,
    RememberResult,
    SeedView,
    UndoResult,
    decided,
    settled,
)
from server.pipeline.store_ops import exact_duplicate, forget_seed, receive, undo_operation
from server.rules.scopes import ScopeSelection, scope_filter, scope_label
from server.rules.secrets import SecretsMode
from server.settings import Settings

if TYPE_CHECKING:
    from server.models.calibration import GateCalibration

logger = logging.getLogger(__name__)

CLAIM_LEASE_SECONDS = 300  # a decision that takes longer may be taken over by another process


class Memory:
    """The pipeline over one store and two models: decides inbox texts, recalls, reconciles, forgets, undoes."""

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
        gate_fitter: LazyGateFitter | None = None,
        cross_script: CrossScript = "auto",
    ) -> None:
        """`gate_calibration`: the gate's fitted rule, if at hand; else `gate_fitter` fits or reads it when the
        gate first asks the model (where the model loads late: the CLI)."""
        store.bind_embedder(embedder.name, embedder.dimension)
        self.store = store
        self.cerebellum = cerebellum
        self.embedder = embedder
        self.secrets_mode: SecretsMode = secrets_mode
        self.lock = ModelLock()
        self.gatekeeper = Gate(cerebellum, embedder, calibration=gate_calibration, fitter=gate_fitter)
        self.arbiter = Arbiter(
            store,
            cerebellum,
            embedder,
            candidates=candidates,
            candidate_similarity=candidate_similarity,
            cross_script=cross_script,
        )
        self.recaller = HybridRecall(store, embedder, keyword_weight=keyword_weight, neighbour_weight=neighbour_weight)
        self.sweep = Sweep(
            store, embedder, self.arbiter, candidates=candidates, reconcile_similarity=reconcile_similarity
        )
        self.preparing: threading.Thread | None = None
        """The warm-up and the gate's fit running in the background (`prepare_in_background`)."""
        # Who claims inbox texts: unique per process, so two servers on one file never decide the same text.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    @classmethod
    def from_settings(
        cls,
        store: SeedStore,
        cerebellum: Decides,
        embedder: Embeds,
        settings: Settings,
        *,
        gate_calibration: GateCalibration | None = None,
        gate_fitter: LazyGateFitter | None = None,
    ) -> Memory:
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
            gate_calibration=gate_calibration,
            gate_fitter=gate_fitter,
            cross_script=settings.cross_script,
        )

    @property
    def parse_failures(self) -> int:
        """The cerebellum's answers that could not be used, by the gate and the arbiter together."""
        return self.gatekeeper.failures + self.arbiter.failures

    def prepare_in_background(
        self, warm_up: Sequence[Callable[[], object]] = (), fitter: GateFitter | None = None
    ) -> threading.Thread:
        """Warm the models up and fit the gate's rule on a thread of their own, between decisions (see
        server/pipeline/gate.py `prepare_in_background`)."""
        self.preparing = prepare_in_background(self.lock, self.gatekeeper, warm_up, fitter)
        return self.preparing

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
        receipt = receive(
            self.store, text, scope, tags=tags, force=force, source=source, secrets_mode=self.secrets_mode
        )
        return settled(receipt.received, self.decide(receipt.received.id), receipt.redacted)

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
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        # An exact (normalized) duplicate needs no model at all.
        duplicate = exact_duplicate(self.store, scope, text)
        if duplicate is not None and duplicate.seed is not None:
            self.store.discard(
                inbox_id, decided("NONE", text, None, duplicate.arbiter, elapsed(), seed_id=duplicate.seed.id)
            )
            return duplicate

        gate, embedding = self.gatekeeper.verdict(text, received.force)
        if gate.decision == "SKIP":
            self.store.skip(inbox_id, f"{gate.category}: {gate.reason}", decided("SKIP", text, gate, None, elapsed()))
            return RememberResult(status="skipped", seed=None, gate=gate, arbiter=None, inbox_id=inbox_id)
        category = gate.category if gate.decided_by in ("model", "rule") else "fact"

        if embedding is None:
            embedding = self.embedder.embed_document(text)
        similar = self.arbiter.candidates_for(text, embedding, scope)
        if not similar:
            verdict = ArbiterVerdict(
                action="ADD", target_id=None, reason="nothing similar is stored", decided_by="no-candidates"
            )
            seed = self.store.add(
                scope,
                text,
                embedding,
                category=category,
                tags=tags,
                source=source,
                settles=inbox_id,
                decided=decided("ADD", text, gate, verdict, elapsed()),
            )
            return RememberResult(status="saved", seed=SeedView.of(seed), gate=gate, arbiter=verdict)

        verdict, merged = self.arbiter.judge(text, similar)
        return self._apply(received, embedding, category, gate, verdict, merged, elapsed())

    def gate(self, text: str) -> GateVerdict:
        """The gate's verdict on a text, storing nothing (an import's raw texts; remember decides in `_decide`)."""
        with self.lock:
            return self.gatekeeper.verdict(text, False)[0]

    def judge(self, text: str, similar: Sequence[ScoredSeed]) -> tuple[ArbiterVerdict, str]:
        """The arbiter's verdict on a text against similar seeds, and its merged text for an UPDATE; storing
        nothing (an import applies the verdicts itself, under its one operation)."""
        with self.lock:
            return self.arbiter.judge(text, similar)

    def _apply(
        self,
        received: Received,
        embedding: list[float],
        category: str,
        gate: GateVerdict,
        verdict: ArbiterVerdict,
        merged: str,
        latency_ms: float | None = None,
    ) -> RememberResult:
        text, scope, inbox_id = received.text, received.scope, received.id
        if verdict.action == "ADD" or verdict.target_id is None:
            seed = self.store.add(
                scope,
                text,
                embedding,
                category=category,
                tags=received.tags,
                source=received.source,
                settles=inbox_id,
                decided=decided("ADD", text, gate, verdict, latency_ms),
            )
            return RememberResult(status="saved", seed=SeedView.of(seed), gate=gate, arbiter=verdict)
        target = self.store.require(verdict.target_id)
        if verdict.action == "NONE":
            # A model's "says the same" can be wrong (a small one calls added detail a rewording), so
            # the text is kept for review like a skipped one, not thrown away.
            self.store.skip(
                inbox_id,
                f"duplicate of seed {target.id}: {verdict.reason}",
                decided("NONE", text, gate, verdict, latency_ms, seed_id=target.id),
            )
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
                decided=decided("UPDATE", text, gate, verdict, latency_ms),
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
            target.id,
            reason=verdict.reason or "retracted",
            trigger_text=text,
            settles=inbox_id,
            decided=decided("DELETE", text, gate, verdict, latency_ms),
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
        # In redact mode the query is searched with the secret taken out; it is never stored.
        query = screened_query(query, self.secrets_mode)
        return self.recaller.recall(query, scope_filter(scope), scope_label(scope), k)

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
        names = scope_filter(scope)
        drained = 0
        if not dry_run:
            try:
                for name in [None] if names is None else names:
                    drained += len(self.drain(name))
            except DecisionFailed as exc:
                logger.warning("reconcile: the inbox could not be drained: %s", exc)
        with self.lock:
            swept = self.store.scopes() if names is None else names
            return self.sweep.run(swept, scope_label(scope), dry_run=dry_run, drained=drained, progress=progress)

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
