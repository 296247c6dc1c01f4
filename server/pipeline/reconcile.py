"""The reconcile sweep: walk a scope oldest first and fold each seed into the older ones it repeats, refines or
retracts, as a remember of the newer text would have; resumable, and planned without change in a dry run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from seeds import ScoredSeed, Seed, SeedStore, text_hash
from seeds.records import Decided
from server.pipeline.arbiter import Arbiter, same_subject_possible
from server.pipeline.ports import Embeds
from server.pipeline.results import (
    ArbiterVerdict,
    ComparedSeed,
    ReconcileAction,
    ReconcileKind,
    ReconcileResult,
    decided,
)

RECONCILE_KIND: dict[str, ReconcileKind] = {"NONE": "merge-duplicate", "UPDATE": "update", "DELETE": "delete"}
RECONCILE_CURSOR_KEY = "reconcile_cursor:"  # + scope: the last seed an unfinished sweep got through
ReconcileProgress = Callable[[int, int, int], None]
"""progress(done, total, seed_id), called after each seed a reconcile sweep looks at."""


class Sweep:
    """Reconciles the seeds of some scopes, each on its own (a pair never spans scopes), with the arbiter's help."""

    def __init__(
        self, store: SeedStore, embedder: Embeds, arbiter: Arbiter, *, candidates: int, reconcile_similarity: float
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.arbiter = arbiter
        self.candidates = candidates
        self.reconcile_similarity = reconcile_similarity

    def run(
        self,
        names: Sequence[str],
        label: str,
        *,
        dry_run: bool = False,
        drained: int = 0,
        progress: ReconcileProgress | None = None,
    ) -> ReconcileResult:
        """Sweep the scopes `names` (the caller holds the model lock); `label` names them in the result and
        `drained` is how many inbox texts the caller decided first. See `Memory.reconcile`."""
        sweeps = [(name, *self.remaining(name)) for name in names]
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
            arbitrated += self._scope(name, seeds, dry_run, actions, step)
            examined += len(seeds)
        return ReconcileResult(
            scope=label,
            dry_run=dry_run,
            drained=drained,
            resumed_after=resumed_after,
            examined=examined,
            arbitrated=arbitrated,
            actions=actions,
        )

    def remaining(self, scope: str) -> tuple[list[Seed], int | None]:
        """The seeds of a scope a sweep has to look at, oldest first, and the seed an interrupted sweep
        finished last (None: start from the beginning)."""
        seeds = self.store.list_seeds(scope)
        mark = self.store.get_meta(RECONCILE_CURSOR_KEY + scope)
        if mark is None:
            return seeds, None
        stopped = json.loads(mark)
        after = int(stopped["id"])
        return [s for s in seeds if (s.created_at, s.id) > (str(stopped["created_at"]), after)], after

    def _scope(
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
                started = time.perf_counter()
                action, verdict = self._one(seed, older)
                arbitrated += action is None or action.decided_by == "model"
                if action is not None:
                    if not dry_run:
                        # The verdict's action (NONE, UPDATE, DELETE) is the decision the action applies.
                        latency_ms = (time.perf_counter() - started) * 1000
                        action = self._apply(
                            action, seed, decided(verdict.action, seed.text, None, verdict, latency_ms)
                        )
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

    def _one(self, seed: Seed, older: Sequence[ScoredSeed]) -> tuple[ReconcileAction | None, ArbiterVerdict]:
        """What to do with `seed` given the older seeds like it (None: nothing), and the verdict behind it."""
        for hit in older:
            if text_hash(hit.seed.text) == text_hash(seed.text):
                verdict = ArbiterVerdict(
                    action="NONE",
                    target_id=hit.seed.id,
                    reason="the same text is stored twice",
                    decided_by="exact-match",
                    compared=[ComparedSeed(id=hit.seed.id, similarity=round(hit.similarity, 4))],
                )
                return ReconcileAction(
                    action="merge-duplicate",
                    scope=seed.scope,
                    seed_id=seed.id,
                    target_id=hit.seed.id,
                    reason="the same text is stored twice",
                    decided_by="exact-match",
                    applied=False,
                ), verdict
        verdict, merged = self.arbiter.judge(seed.text, older)
        if verdict.decided_by != "model" or verdict.target_id is None or verdict.action == "ADD":
            return None, verdict
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
        ), verdict

    def _apply(self, action: ReconcileAction, seed: Seed, why: Decided) -> ReconcileAction:
        """Apply a planned action as one recorded operation, with the decision behind it (in the decisions log); the
        action as applied, with its operation id."""
        store = self.store
        with store.operation(f"reconcile-{action.action}", seed.scope, action.reason, trigger_text=seed.text) as op:
            op.record_decision(why, action.target_id)
            if action.action == "merge-duplicate":
                op.delete(seed.id)
            elif action.action == "update":
                merged = action.merged_text or seed.text
                op.update(action.target_id, merged, self.embedder.embed_document(merged))
                op.delete(seed.id)
            else:
                op.delete(action.target_id)
        return action.model_copy(update={"applied": True, "operation_id": op.id})
