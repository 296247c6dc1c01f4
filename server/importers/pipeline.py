"""The import pipeline: a source's items tidied on the way in, and written under one operation.

Read top to bottom, one item at a time, in the source's order:

1. the scope: --scope, else the one the source gives (a project), else the import's default;
2. secrets are refused or redacted, as `remember` does (server/rules/secrets.py `screen_secrets`, the one rule);
   texts longer than remember accepts, or empty, are skipped;
3. exact duplicates (the same text up to case, spacing and final punctuation) are dropped: of an earlier
   item of the source, or of a seed already stored in the scope;
4. raw texts (a transcript's turns, claude-mem's prompts; every text with `gate`) go to the gate: the
   intent rules leave out questions and acknowledgements as the session-end hook does, then the
   cerebellum decides SAVE or SKIP. Curated memories (someone chose to keep them) skip the gate;
5. the texts left are embedded in batches. A text nearly identical to a neighbour (similarity >=
   `NEAR_IDENTICAL` and no number, name or identifier of its own: a reordering, a changed letter case) is
   merged into it without the model. Otherwise it goes to the arbiter only where a neighbour is close: a
   seed stored before the import from `candidate_similarity` on (as remember shows the arbiter its
   candidates: a contradiction of what is stored must reach it), an item of this same import from
   `reconcile_similarity` on (as reconcile pairs stored seeds: someone kept both in a curated source, so
   only a close pair is asked about), and only one filed under the same subject when the source files
   items under subjects (server-memory's entities: "api-gateway: listens on port 8080" and "auth-api:
   listens on port 9090" are alike by vector, and about two things). Measured on labelled pairs with
   `python -m eval import-threshold` (eval/RESULTS.md, session 9). The arbiter may say the text says the
   same as one (merged: nothing new stored), refines one (that one is updated), or retracts
   one (that one is removed). The rest are added;
6. each batch is written in one transaction, under the import's one operation id, with a mark of how far
   the import got: `undo` of that id takes the whole import back, and an import that is killed and run
   again goes on after the last batch written, writing nothing twice.

A dry run does all of it but the writing (the models are still asked) and says what would happen to each item.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

import numpy as np
from pydantic import BaseModel, Field

from seeds import ScoredSeed, Seed, text_hash, utc_now
from seeds.core import new_operation_id
from seeds.records import Decided
from server.importers.records import ImportItem
from server.pipeline import route as intents
from server.pipeline.arbiter import same_subject_possible
from server.pipeline.memory import Memory
from server.pipeline.results import ArbiterVerdict, decided
from server.rules import signals
from server.rules.limits import MAX_TEXT_CHARS
from server.rules.secrets import SecretInText, SecretsMode, screen_secrets

logger = logging.getLogger(__name__)

IMPORT_MARK = "import:"  # + the import's fingerprint: {"operation_id", "done"} of an import not finished
BATCH_SIZE = 64
NEAR_IDENTICAL = 0.97
"""From this similarity, a text naming no value its neighbour lacks (and lacking none of its values) says the
same: merged without asking the model (labelled pairs: reorderings and case changes at 0.957-0.991; the
different-subject pairs above 0.97 differ in a number, which this rule leaves to the arbiter)."""
SEARCH_DEPTH = 160
"""Deepest search for stored seeds behind this import's own (see `_Importer.nearest_stored`)."""
PROVISIONAL_ID = 1_000_000_000
"""Items this import keeps but has not written yet are shown to the arbiter under ids from here on."""

ItemStatus = Literal["kept", "merged", "updated", "retracted", "skipped", "refused"]
ImportProgress = Callable[[int, int], None]
"""progress(done, total): items looked at so far in this run, of those left to look at."""


class ItemOutcome(BaseModel):
    item: Annotated[int, Field(description="The item's position among those read from the source (from 1).")]
    origin: Annotated[str, Field(description="Where the item is in the source (file:line, table:id).")]
    scope: Annotated[str, Field(description="The scope it went (or would go) to.")]
    status: Annotated[
        ItemStatus,
        Field(
            description="kept: stored as a new memory; merged: says the same as one stored or kept before (nothing "
            "new stored); updated: it refined a memory, which now says it; retracted: it retracts a memory, which "
            "was removed; skipped: not stored (the reason says why); refused: it holds a secret."
        ),
    ]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    text: Annotated[str | None, Field(description="The text as stored or judged (None when refused).")]
    seed_id: Annotated[int | None, Field(description="The seed it became or changed (None in a dry run).")] = None


class ImportSummary(BaseModel):
    format: Annotated[str, Field(description="The source's format (--from).")]
    source: Annotated[str, Field(description="The file or folder read.")]
    dry_run: Annotated[bool, Field(description="True: nothing was written.")]
    operation_id: Annotated[
        str | None, Field(description="The one operation every write of this import is recorded under: undo it.")
    ] = None
    read: Annotated[int, Field(description="Items read from the source.")] = 0
    resumed_after: Annotated[
        int, Field(description="Items an earlier, interrupted run of the same import had got through.")
    ] = 0
    kept: int = 0
    merged: int = 0
    updated: int = 0
    retracted: int = 0
    refused: Annotated[int, Field(description="Items holding a secret, refused (secrets mode refuse).")] = 0
    redacted: Annotated[int, Field(description="Items stored with their secrets replaced by placeholders.")] = 0
    skipped: Annotated[dict[str, int], Field(description="Items not stored, by reason.")] = {}
    arbitrated: Annotated[int, Field(description="Items the arbiter was asked about.")] = 0
    gated: Annotated[int, Field(description="Items the cerebellum's gate was asked about.")] = 0
    seconds: float = 0.0
    arbiter_seconds: Annotated[float, Field(description="Of which waiting for the arbiter.")] = 0.0
    embedding_seconds: Annotated[float, Field(description="Of which embedding the texts.")] = 0.0
    writing_seconds: Annotated[float, Field(description="Of which writing the batches.")] = 0.0
    outcomes: Annotated[list[ItemOutcome], Field(description="What happened to each item, in source order.")] = []

    def count(self, outcome: ItemOutcome, skip_kind: str | None = None) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "skipped":
            kind = skip_kind or outcome.reason
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
        elif outcome.status == "kept":
            self.kept += 1
        elif outcome.status == "merged":
            self.merged += 1
        elif outcome.status == "updated":
            self.updated += 1
        elif outcome.status == "retracted":
            self.retracted += 1
        else:
            self.refused += 1


@dataclass(frozen=True)
class ImportOptions:
    default_scope: str
    """The scope of items whose source names none."""
    scope: str | None = None
    """--scope: every item goes here, whatever the source says."""
    gate: bool = False
    """Ask the gate about curated items too (raw ones always are)."""
    dry_run: bool = False
    secrets_mode: SecretsMode = "refuse"
    max_text_chars: int = MAX_TEXT_CHARS
    batch_size: int = BATCH_SIZE
    stored_similarity: float | None = None
    """A stored seed is shown to the arbiter from this similarity on (None: the memory's candidate_similarity)."""
    source_similarity: float | None = None
    """An item this import kept earlier, from this similarity on (None: the memory's reconcile_similarity)."""


@dataclass
class _Ready:
    """An item past the cheap checks, waiting for its batch to be embedded and judged."""

    index: int
    item: ImportItem
    scope: str
    text: str
    category: str
    tags: tuple[str, ...]
    redacted: bool


@dataclass
class _Pending:
    """An item kept by this import, not written yet (until its batch is; in a dry run, never)."""

    id: int
    scope: str
    text: str
    vector: np.ndarray
    outcome: ItemOutcome
    ready: _Ready
    alive: bool = True


@dataclass
class _Pool:
    """This import's pending items of one scope, as a matrix for similarity."""

    members: list[_Pending] = field(default_factory=list[_Pending])
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def add(self, pending: _Pending) -> None:
        if not self.members:
            self.matrix = np.zeros((16, pending.vector.shape[0]), dtype=np.float32)
        elif len(self.members) == self.matrix.shape[0]:
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
        self.matrix[len(self.members)] = pending.vector
        self.members.append(pending)

    def refresh(self, pending: _Pending) -> None:
        row = self.members.index(pending)
        self.matrix[row] = pending.vector if pending.alive else 0.0

    def nearest(self, vector: np.ndarray, floor: float) -> list[tuple[_Pending, float]]:
        if not self.members:
            return []
        sims = self.matrix[: len(self.members)] @ vector
        return [(self.members[int(i)], float(sims[i])) for i in np.flatnonzero(sims >= floor)]


def near_identical(text: str, nearest: ScoredSeed) -> ArbiterVerdict | None:
    """NONE on the nearest neighbour, decided without the model, when the text says the same in other order
    or case: similarity >= NEAR_IDENTICAL and no number, name or identifier in one that the other lacks."""
    stored = nearest.seed.text
    if nearest.similarity < NEAR_IDENTICAL or signals.new_values(stored, text) or signals.new_values(text, stored):
        return None
    return ArbiterVerdict(
        action="NONE",
        target_id=nearest.seed.id,
        reason=f"seed {nearest.seed.id} says the same (similarity {nearest.similarity:.2f}, no value of its own)",
        decided_by="exact-match",  # the same up to order and case: no model asked
    )


def fingerprint(format_name: str, items: Sequence[ImportItem], options: ImportOptions) -> str:
    """What makes two runs the same import: the source's items, its format, and the options that decide."""
    digest = hashlib.sha256(json.dumps([format_name, options.scope, options.default_scope, options.gate]).encode())
    for item in items:
        digest.update(item.model_dump_json().encode("utf-8"))
    return digest.hexdigest()[:24]


class _Importer:
    def __init__(
        self,
        memory: Memory,
        items: Sequence[ImportItem],
        options: ImportOptions,
        summary: ImportSummary,
        progress: ImportProgress | None,
    ) -> None:
        self.memory = memory
        self.store = memory.store
        self.items = items
        self.options = options
        self.summary = summary
        self.progress = progress
        self.mark_key = IMPORT_MARK + fingerprint(summary.format, items, options)
        self.seen: set[tuple[str, str]] = set()
        self.pools: dict[str, _Pool] = {}
        self.pending: dict[int, _Pending] = {}
        self.changed: dict[int, tuple[str, np.ndarray] | None] = {}
        """Stored seeds this import changed, not written yet: their new text and vector, or None if removed."""
        self.actions: list[tuple[str, int, str, np.ndarray]] = []
        """Changes to stored seeds waiting for the batch's transaction: (update|delete, seed id, text, vector)."""
        self.logged: list[tuple[Decided, int]] = []
        """The arbiter's decisions about stored seeds (a repeat, a refinement, a retraction), for the decisions log
        in the batch's transaction, with the seed each is about."""
        self.batch_adds: list[_Pending] = []
        self.written: dict[int, str | None] = {}
        """Seeds this run of the import wrote (earlier batches), with their subject: its own items, judged as such."""
        self.done = 0
        self.total = 0
        self.operation_id = new_operation_id()
        scopes = {self.scope_of(item) for item in items}
        self.operation_scope = scopes.pop() if len(scopes) == 1 else "*"

    # -- the cheap checks -------------------------------------------------------------------

    def scope_of(self, item: ImportItem) -> str:
        return self.options.scope or item.scope or self.options.default_scope

    def ready(self, index: int, item: ImportItem, *, count: bool = True) -> _Ready | None:
        """The item past the scope, secret, length and exact-duplicate checks, or None (counted)."""
        scope = self.scope_of(item)
        text = item.text.strip()

        def settle(status: Literal["skipped", "refused"], reason: str, kind: str | None, **more: Any) -> None:
            if count:
                outcome = ItemOutcome(
                    item=index + 1, origin=item.origin, scope=scope, status=status, reason=reason, **more
                )
                self.finish(outcome, kind)

        def skip(reason: str, kind: str, shown: str | None = text) -> None:
            settle("skipped", reason, kind, text=shown)

        if not text:
            skip("the text is empty", "empty")
            return None
        try:
            text, kinds = screen_secrets(text, "text", self.options.secrets_mode)
            tags = tuple(screen_secrets(tag, "tag", self.options.secrets_mode)[0] for tag in item.tags)
        except SecretInText:
            settle("refused", "it holds a secret (secrets mode refuse); nothing of it was stored", None, text=None)
            return None
        if len(text) > self.options.max_text_chars:
            skip(f"{len(text)} characters, over the limit of {self.options.max_text_chars}", "too long", None)
            return None
        key = (scope, text_hash(text))
        if key in self.seen:
            skip("the same text came earlier in the source", "duplicate in the source")
            return None
        self.seen.add(key)
        stored = self.store.find_exact(scope, text)
        if stored is not None and stored.id not in self.changed:
            settle("skipped", f"already stored as seed {stored.id}", "already stored", text=text, seed_id=stored.id)
            return None
        return _Ready(index, item, scope, text, item.category, tags, bool(kinds))

    def gated(self, ready: _Ready) -> _Ready | None:
        """A raw text (or any, with --gate) past the intent rules and the gate, or None (counted)."""
        if not (ready.item.raw or self.options.gate):
            return ready

        def skip(reason: str, kind: str) -> None:
            outcome = ItemOutcome(
                item=ready.index + 1,
                origin=ready.item.origin,
                scope=ready.scope,
                status="skipped",
                reason=reason,
                text=ready.text,
            )
            self.finish(outcome, kind)

        if ready.item.raw:
            ruled = intents.rule(ready.text)
            if ruled is not None and not intents.wants_write(ruled.intent):
                skip(f"not a memory: {ruled.intent.lower()} ({ruled.rule})", "not a memory (intent rules)")
                return None
        self.summary.gated += 1
        verdict = self.memory.gate(ready.text)
        if verdict.decision == "SKIP":
            skip(f"the gate: {verdict.category}: {verdict.reason}", "the gate said skip")
            return None
        if verdict.decided_by in ("model", "rule"):
            ready.category = verdict.category
        return ready

    # -- judging a batch --------------------------------------------------------------------

    def similar(self, ready: _Ready, vector: np.ndarray) -> list[ScoredSeed]:
        """The neighbours the arbiter is to see, nearest first: stored seeds from the stored floor, this
        import's own items (written in an earlier batch or pending) from the source floor."""
        stored_floor = self.options.stored_similarity
        if stored_floor is None:
            stored_floor = self.memory.arbiter.candidate_similarity
        source_floor = self.options.source_similarity
        if source_floor is None:
            source_floor = self.memory.sweep.reconcile_similarity
        hits: list[ScoredSeed] = []
        for hit in self.nearest_stored(ready.scope, vector, stored_floor):
            if hit.seed.id in self.changed:
                now = self.changed[hit.seed.id]
                if now is None:
                    continue
                hit = ScoredSeed(dataclasses.replace(hit.seed, text=now[0]), float(now[1] @ vector))
            if hit.seed.id not in self.written:
                if hit.similarity >= stored_floor:
                    hits.append(hit)
            elif hit.similarity >= source_floor and self.same_subject(ready, self.written[hit.seed.id]):
                hits.append(hit)
        pool = self.pools.get(ready.scope)
        for pending, similarity in [] if pool is None else pool.nearest(vector, source_floor):
            if pending.alive and self.same_subject(ready, pending.ready.item.subject):
                now = utc_now()
                seed = Seed(pending.id, ready.scope, pending.text, pending.ready.category, (), "import", now, now)
                hits.append(ScoredSeed(seed, similarity))
        hits.sort(key=lambda hit: -hit.similarity)
        return same_subject_possible(ready.text, hits[: self.memory.arbiter.candidates])

    def nearest_stored(self, scope: str, vector: np.ndarray, floor: float) -> list[ScoredSeed]:
        """The store's nearest seeds, looked for deeper while this import's own written items crowd the top: a
        stored memory above the floor must not be hidden behind them (thousands of them, after a large batch)."""
        k = self.memory.arbiter.candidates * 2
        while True:
            found = self.store.search(vector.tolist(), scope, k)
            crowded = any(hit.seed.id in self.written for hit in found)
            if not crowded or len(found) < k or found[-1].similarity < floor or k >= SEARCH_DEPTH:
                return found
            k *= 4

    @staticmethod
    def same_subject(ready: _Ready, subject: str | None) -> bool:
        """Whether an item of this import may be about the same thing as another of it, filed under `subject`."""
        mine = ready.item.subject
        return mine is None or subject is None or mine.casefold() == subject.casefold()

    def judge(self, ready: _Ready, vector: np.ndarray) -> None:
        similar = self.similar(ready, vector)
        origin, scope, text = ready.item.origin, ready.scope, ready.text
        if not similar:
            self.keep(ready, vector, "nothing similar is stored")
            return
        started = time.perf_counter()
        twin = near_identical(text, similar[0])
        if twin is not None:
            verdict, merged = twin, ""
        else:
            self.summary.arbitrated += 1
            verdict, merged = self.memory.judge(text, similar)
            self.summary.arbiter_seconds += time.perf_counter() - started
        latency_ms = (time.perf_counter() - started) * 1000
        target = verdict.target_id
        if verdict.action == "ADD" or target is None:
            self.keep(ready, vector, f"the arbiter: {verdict.reason}")
            return
        pending = self.pending.get(target)
        where = f"seed {target}"
        if pending is not None:
            # Not written yet: named by its place in the source, not by the id it was shown to the arbiter under.
            where = f"item {pending.outcome.origin}"
            verdict = verdict.model_copy(update={"reason": verdict.reason.replace(f"seed {target}", "it")})
        seed_id = None if pending is not None else target
        if seed_id is not None:
            # A stored memory this import repeats, refines or retracts (the verdict is NONE, UPDATE or DELETE here):
            # its history tells why.
            self.logged.append((decided(verdict.action, text, None, verdict, latency_ms), seed_id))

        def settle(status: ItemStatus, reason: str, settled_text: str) -> None:
            self.finish(
                ItemOutcome(
                    item=ready.index + 1, origin=origin, scope=scope, status=status, reason=reason,
                    text=settled_text, seed_id=seed_id,
                )
            )  # fmt: skip

        if verdict.action == "NONE":
            settle("merged", f"says the same as {where}: {verdict.reason}", text)
            return
        if verdict.action == "UPDATE":
            new_text = merged.strip() or text
            new_vector = vector if new_text == text else self.embed([new_text])[0]
            if pending is not None:
                pending.text, pending.vector = new_text, new_vector
                self.pools[scope].refresh(pending)
            else:
                self.changed[target] = (new_text, new_vector)
                self.actions.append(("update", target, new_text, new_vector))
            settle("updated", f"refines {where}: {verdict.reason}", new_text)
            return
        if pending is not None:
            pending.alive = False
            self.pools[scope].refresh(pending)
            pending.outcome.status = "retracted"
            pending.outcome.reason = f"retracted by the later item {origin}"
            self.summary.kept -= 1
        else:
            self.changed[target] = None
            self.actions.append(("delete", target, "", vector))
        settle("retracted", f"retracts {where}, removed: {verdict.reason}", text)

    def keep(self, ready: _Ready, vector: np.ndarray, reason: str) -> None:
        outcome = ItemOutcome(
            item=ready.index + 1,
            origin=ready.item.origin,
            scope=ready.scope,
            status="kept",
            reason=reason,
            text=ready.text,
        )
        pending = _Pending(PROVISIONAL_ID + ready.index, ready.scope, ready.text, vector, outcome, ready)
        self.pending[pending.id] = pending
        self.pools.setdefault(ready.scope, _Pool()).add(pending)
        self.batch_adds.append(pending)
        if ready.redacted:
            self.summary.redacted += 1
        self.finish(outcome)

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        started = time.perf_counter()
        embedder = self.memory.embedder
        # The real embedder reads a batch at once; a stand-in with one text at a time will do.
        many = cast(Callable[[list[str]], list[list[float]]] | None, getattr(embedder, "embed_documents", None))
        vectors = many(texts) if many is not None else [embedder.embed_document(text) for text in texts]
        self.summary.embedding_seconds += time.perf_counter() - started
        return [np.asarray(vector, dtype=np.float32) for vector in vectors]

    def flush(self, batch: list[_Ready], through: int) -> None:
        """Judge a batch and (not in a dry run) write it, with the mark that items before `through` are done."""
        if batch:
            for ready, vector in zip(batch, self.embed([ready.text for ready in batch]), strict=True):
                self.judge(ready, vector)
        if self.options.dry_run:
            self.batch_adds, self.logged = [], []
            return
        started = time.perf_counter()
        adds = [pending for pending in self.batch_adds if pending.alive]
        mark = json.dumps({"operation_id": self.operation_id, "done": through})
        if not adds and not self.actions and not self.logged:
            self.store.set_meta(self.mark_key, mark)
        else:
            reason = f"import of {self.summary.source} ({self.summary.format})"
            with self.store.continue_operation(self.operation_id, "import", self.operation_scope, reason) as op:
                seeds: list[tuple[Seed, list[float]]] = []
                for pending in adds:
                    item = pending.ready.item
                    now = utc_now()
                    created = item.created_at or item.updated_at or now
                    seed = Seed(
                        0,
                        pending.scope,
                        pending.text,
                        pending.ready.category,
                        pending.ready.tags,
                        item.source,
                        created,
                        item.updated_at or created,
                    )
                    seeds.append((seed, pending.vector.tolist()))
                # One statement batch per table for the batch's new seeds (migrate's bulk path).
                for pending, stored in zip(adds, op.add_many(seeds), strict=True):
                    pending.outcome.seed_id = stored.id
                    self.written[stored.id] = pending.ready.item.subject
                for kind, seed_id, text, vector in self.actions:
                    if kind == "update":
                        op.update(seed_id, text, vector.tolist())
                    else:
                        op.delete(seed_id)
                for why, seed_id in self.logged:
                    op.record_decision(why, seed_id)
                op.set_meta(self.mark_key, mark)
            self.summary.operation_id = self.operation_id
        self.summary.writing_seconds += time.perf_counter() - started
        # Written: from here on the store's search finds them.
        self.batch_adds, self.actions, self.changed, self.logged = [], [], {}, []
        self.pending.clear()
        self.pools.clear()

    def finish(self, outcome: ItemOutcome, skip_kind: str | None = None) -> None:
        self.summary.count(outcome, skip_kind)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    # -- the run ------------------------------------------------------------------------------

    def own_seeds(self, seed_ids: Sequence[int], start: int) -> None:
        """Going on with an interrupted import: the seeds its earlier run added are this import's own items (judged
        from the source's floor, by subject), as they were for the rest of that run, not stored memories."""
        subjects = {(self.scope_of(item), text_hash(item.text.strip())): item.subject for item in self.items[:start]}
        for seed_id in seed_ids:
            for entry in self.store.history(seed_id):
                if entry.operation_id == self.operation_id and entry.action == "ADD":
                    added = entry.previous  # the seed as the import added it (it may have been refined since)
                    self.written[seed_id] = subjects.get((added.scope, text_hash(added.text)))

    def run(self) -> None:
        start = 0
        mark = self.store.get_meta(self.mark_key)
        stopped = json.loads(mark) if mark is not None else None
        earlier = None if stopped is None else self.store.get_operation(str(stopped["operation_id"]))
        if earlier is not None and earlier.undone_by is not None:
            # The interrupted run was undone since: this run is a new import, not the rest of that one.
            stopped = None
        if stopped is not None:
            self.operation_id, start = str(stopped["operation_id"]), int(stopped["done"])
            self.summary.operation_id = None if earlier is None else self.operation_id
            logger.info("import: going on after item %d, under %s", start, self.operation_id)
            # What the earlier run saw, so an exact duplicate of it is still one.
            for index, item in enumerate(self.items[:start]):
                self.ready(index, item, count=False)
            if earlier is not None:
                self.own_seeds(earlier.seed_ids, start)
        self.summary.resumed_after = start
        self.total = len(self.items) - start
        batch: list[_Ready] = []
        for index in range(start, len(self.items)):
            ready = self.ready(index, self.items[index])
            if ready is not None:
                ready = self.gated(ready)
            if ready is not None:
                batch.append(ready)
            if len(batch) >= self.options.batch_size:
                self.flush(batch, index + 1)
                batch = []
        self.flush(batch, len(self.items))
        if not self.options.dry_run:
            self.store.set_meta(self.mark_key, None)


def import_items(
    memory: Memory,
    items: Sequence[ImportItem],
    options: ImportOptions,
    *,
    format_name: str,
    source: str,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Tidy the items and write them (see the module docstring). An exception (the store refusing a write,
    Ctrl-C) leaves every batch written before it in place and recorded: running the same import again goes
    on from there."""
    started = time.perf_counter()
    summary = ImportSummary(format=format_name, source=source, dry_run=options.dry_run, read=len(items))
    _Importer(memory, items, options, summary, progress).run()
    summary.outcomes.sort(key=lambda outcome: outcome.item)
    summary.seconds = round(time.perf_counter() - started, 2)
    for part in ("arbiter_seconds", "embedding_seconds", "writing_seconds"):
        setattr(summary, part, round(getattr(summary, part), 2))
    return summary
