"""What each console page shows, read from the store (and, for search, the core's hybrid recall). Plain,
synchronous functions over one session's scopes; the routes run them on worker threads."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from seeds import HistoryEntry, OperationRecord, Received, Seed, SeedStore
from seeds.browse import SeedQuery
from seeds.records import DecisionRecord
from server.console.actions import EDIT, REVIEW_KINDS, Scopes, visible
from server.console.errors import Missing
from server.console.made import MadeBy, the_one, who_for
from server.pipeline.memory import Memory
from server.pipeline.results import seed_fields

PAGE = 50
SEARCH_K = 50
LATENCIES = 5000  # the overview's latency picture: the last this many decisions of the period
DUPLICATE_OF = re.compile(r"^duplicate of seed (\d+)")

# Activity kinds a person filters by, and the operation kinds (or prefixes*) each stands for.
KIND_FILTERS: dict[str, tuple[str, ...]] = {
    "ADD": (),
    "SKIP": (),
    "UPDATE": ("update", "reconcile-update", EDIT, "review-merge"),
    "DELETE": ("delete", "reconcile-delete"),
    "NONE": ("reconcile-merge-duplicate",),
    "forget": ("forget",),
    "undo": ("undo",),
    "reconcile": ("reconcile-*",),
    "import": ("import*",),
    "review": ("review-*",),
    "edit": (EDIT,),
}


# -- memories ----------------------------------------------------------------------------------------


class MemoryFilters(BaseModel):
    scope: str = ""
    q: str = ""
    category: str = ""
    tag: str = ""
    since: str = ""
    until: str = ""
    after: str = ""
    """The keyset cursor: CREATED_AT|ID of the last memory of the previous page."""


class MemoryRow(BaseModel):
    id: int
    scope: str
    text: str
    category: str
    tags: list[str]
    source: str
    created_at: str
    updated_at: str
    score: float | None = None

    @classmethod
    def of(cls, seed: Seed, score: float | None = None) -> MemoryRow:
        return cls(**seed_fields(seed), score=score)


class MemoriesPage(BaseModel):
    filters: MemoryFilters
    rows: list[MemoryRow]
    total: int | None
    """Memories matching the filters (None for a search: the best matches only are shown)."""
    next_after: str | None
    scopes: list[str]
    categories: list[str]


def selected_scopes(scope: str, scopes: Scopes) -> list[str] | None:
    """The scopes a page reads: the one chosen (if visible), else every scope this session sees."""
    if scope and scope != "*":
        return [scope] if visible(scope, scopes) else []
    return None if scopes is None else list(scopes)


def _day(value: str, end: bool = False) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if end and len(value) <= 10:
        moment += timedelta(days=1)  # "until 2026-01-31" includes that day
    return moment.isoformat()


def memories(store: SeedStore, filters: MemoryFilters, scopes: Scopes, memory: Memory | None) -> MemoriesPage:
    chosen = selected_scopes(filters.scope, scopes)
    # The choices of the filters, from the indexes (a GROUP BY over the seeds costs a scan per page at 100k).
    all_scopes = [scope for scope in store.scopes() if visible(scope, scopes)]
    # A token limited to some scopes sees only their categories (its scopes' index rows, not every seed).
    categories = store.categories() if scopes is None else sorted({c for _, c, _ in store.seed_counts(list(scopes))})
    query = SeedQuery(
        scopes=chosen,
        category=filters.category or None,
        tag=filters.tag or None,
        since=_day(filters.since),
        until=_day(filters.until, end=True),
    )
    if chosen == []:
        return MemoriesPage(
            filters=filters, rows=[], total=0, next_after=None, scopes=all_scopes, categories=categories
        )
    if filters.q.strip() and memory is not None:
        # The recall tool's own hybrid search (vectors and keywords fused), then the page's filters.
        found = memory.recall(filters.q, chosen if chosen is not None else "*", SEARCH_K)
        rows = [
            MemoryRow(**hit.model_dump(), source="")  # a hit is a seed's view with its score (its uri is left out)
            for hit in found.hits
            if _matches(hit.category, list(hit.tags), hit.created_at, query)
        ]
        return MemoriesPage(
            filters=filters, rows=rows, total=None, next_after=None, scopes=all_scopes, categories=categories
        )
    after = None
    if filters.after and "|" in filters.after:
        created, _, seed_id = filters.after.rpartition("|")
        if seed_id.isdigit():
            after = (created, int(seed_id))
    seeds = store.page_seeds(query, PAGE + 1, after)
    more = len(seeds) > PAGE
    seeds = seeds[:PAGE]
    next_after = f"{seeds[-1].created_at}|{seeds[-1].id}" if more and seeds else None
    return MemoriesPage(
        filters=filters,
        rows=[MemoryRow.of(seed) for seed in seeds],
        total=store.count_seeds(query),
        next_after=next_after,
        scopes=all_scopes,
        categories=categories,
    )


def _matches(category: str, tags: list[str], created_at: str, query: SeedQuery) -> bool:
    from seeds.records import utc_iso

    if query.category and category != query.category:
        return False
    if query.tag and query.tag not in tags:
        return False
    created = utc_iso(created_at)
    if query.since and created < utc_iso(query.since):
        return False
    return not (query.until and created >= utc_iso(query.until))


# -- one memory -----------------------------------------------------------------------------------------


class Decision(BaseModel):
    """One decision that touched a memory, for its history."""

    at: str
    operation_id: str | None
    kind: str
    who: str
    reason: str
    trigger_text: str | None
    before_text: str | None
    """The memory's text before the decision (None: it did not exist before)."""
    compared_with: list[int]
    """Other memories the same operation changed (the arbiter's stored seed, a merge's pair)."""
    undone_by: str | None
    undoes: str | None
    made: MadeBy | None = None
    """How the cerebellum (or a rule) made it, when the decisions log has it."""


class MemoryDetail(BaseModel):
    seed: MemoryRow
    stored: bool
    """False: the memory is not stored now (deleted or forgotten); `seed` is its last version."""
    history: list[Decision]


def memory_detail(store: SeedStore, seed_id: int, scopes: Scopes) -> MemoryDetail:
    seed = store.get(seed_id)
    entries = store.history(seed_id)
    last = seed or (entries[-1].previous if entries else None)
    if last is None or not visible(last.scope, scopes):
        raise Missing(f"No memory {seed_id} in the scopes you can see.")
    by_operation: dict[str, HistoryEntry] = {}
    for entry in entries:
        by_operation.setdefault(entry.operation_id, entry)
    logged = store.decisions_about(seed_id)
    by_operation_logged: dict[str, list[DecisionRecord]] = defaultdict(list)
    for d in logged:
        if d.operation_id:
            by_operation_logged[d.operation_id].append(d)
    by_decision = {op: the_one(found, seed_id) for op, found in by_operation_logged.items()}
    added = next((d for d in logged if d.label == "ADD" and d.seed_id == seed_id), None)
    if added is not None:
        stored_entry = _logged_entry(added, "stored as new")
    else:  # stored before decisions were logged, or by an import, a migration or a person
        stored_entry = Decision(
            at=seed.created_at if seed is not None else last.created_at,
            operation_id=None,
            kind="ADD",
            who="the gate and the arbiter (or an import): stored as new" if last.source != "console" else "a person",
            reason=f"stored from {last.source}",
            trigger_text=None,
            before_text=None,
            compared_with=[],
            undone_by=None,
            undoes=None,
        )
    history = [stored_entry]
    # Texts judged to repeat it: they changed nothing, so no operation records them.
    history += [
        _logged_entry(d, "the same as this memory", trigger_text=d.text)
        for d in logged
        if d.label == "NONE" and d.seed_id == seed_id
    ]
    for operation in store.operations_about(seed_id):
        entry = by_operation.get(operation.id)
        record = by_decision.get(operation.id)
        made = None if record is None else MadeBy.of(record)
        history.append(
            Decision(
                at=operation.created_at,
                operation_id=operation.id,
                kind=operation.kind,
                who=who_for(operation.kind, made),
                reason=operation.reason,
                trigger_text=operation.trigger_text or (None if record is None else record.text),
                before_text=None if entry is None or entry.action == "ADD" else entry.previous.text,
                compared_with=[other for other in operation.seed_ids if other != seed_id],
                undone_by=operation.undone_by,
                undoes=operation.undoes,
                made=made,
            )
        )
    history.sort(key=lambda d: d.at)
    return MemoryDetail(seed=MemoryRow.of(seed or last), stored=seed is not None, history=history)


def _logged_entry(record: DecisionRecord, reason: str, trigger_text: str | None = None) -> Decision:
    """A history entry for a logged decision that made no operation (a memory stored, a text found repeating it)."""
    made = MadeBy.of(record)
    return Decision(
        at=record.decided_at,
        operation_id=None,
        kind=record.label,
        who=made.who(),
        reason=made.arbiter_reason or reason,
        trigger_text=trigger_text,
        before_text=None,
        compared_with=[],
        undone_by=None,
        undoes=None,
        made=made,
    )


# -- inbox ------------------------------------------------------------------------------------------------


class InboxRow(BaseModel):
    id: int
    scope: str
    text: str
    tags: list[str]
    source: str
    received_at: str
    reason: str | None
    attempts: int
    last_error: str | None
    duplicate_of: MemoryRow | None = None
    made: MadeBy | None = None
    """How the decision that kept it for review was made (the gate's shares, the arbiter's comparison)."""

    @classmethod
    def of(cls, entry: Received, duplicate_of: Seed | None = None, decision: DecisionRecord | None = None) -> InboxRow:
        return cls(
            id=entry.id,
            scope=entry.scope,
            text=entry.text,
            tags=list(entry.tags),
            source=entry.source,
            received_at=entry.received_at,
            reason=entry.reason,
            attempts=entry.attempts,
            last_error=entry.last_error,
            duplicate_of=None if duplicate_of is None else MemoryRow.of(duplicate_of),
            made=None if decision is None else MadeBy.of(decision),
        )


class InboxPage(BaseModel):
    pending: list[InboxRow]
    skipped: list[InboxRow]
    duplicates: list[InboxRow]


def inbox(store: SeedStore, scope: str, scopes: Scopes) -> InboxPage:
    chosen = selected_scopes(scope, scopes)
    if chosen == []:
        return InboxPage(pending=[], skipped=[], duplicates=[])
    pending = [InboxRow.of(e) for e in store.review_inbox("pending", chosen, PAGE)]
    skipped: list[InboxRow] = []
    duplicates: list[InboxRow] = []
    kept = store.review_inbox("skipped", chosen, 4 * PAGE)
    decisions = store.decisions_for_inbox([entry.id for entry in kept])
    for entry in kept:
        match = DUPLICATE_OF.match(entry.reason or "")
        if match is None:
            skipped.append(InboxRow.of(entry, decision=decisions.get(entry.id)))
            continue
        target = store.get(int(match.group(1)))
        duplicates.append(
            InboxRow.of(
                entry,
                target if target is not None and target.scope == entry.scope else None,
                decisions.get(entry.id),
            )
        )
    return InboxPage(pending=pending, skipped=skipped[:PAGE], duplicates=duplicates[:PAGE])


# -- activity -------------------------------------------------------------------------------------------


class ActivityRow(BaseModel):
    at: str
    label: str
    """ADD, UPDATE, DELETE, NONE, SKIP, forget, undo, reconcile, import, edit, review."""
    kind: str
    scope: str
    reason: str
    text: str | None
    operation_id: str | None
    seed_ids: list[int]
    undone_by: str | None
    undoable: bool
    forget_seed: int | None = None
    """An ADD is undone by forgetting the memory it stored."""
    decision_id: int | None = None
    inbox_id: int | None = None
    """A SKIP or a NONE the model judged: the text kept in the inbox, to review."""
    who: str = ""
    made: MadeBy | None = None


class ActivityPage(BaseModel):
    kind: str
    scope: str
    rows: list[ActivityRow]
    next_after: str | None
    kinds: list[str]


LOGGED_ONLY = ("ADD", "NONE", "SKIP")
"""Decisions that make no operation (a seed stored, a repeat found, a text skipped): read from the decisions log.
UPDATE and DELETE are operations; the log adds how they were decided."""


def label_of(kind: str) -> str:
    for label, kinds in KIND_FILTERS.items():
        for candidate in kinds:
            if kind == candidate or (candidate.endswith("*") and kind.startswith(candidate[:-1])):
                return "edit" if kind == EDIT else label
    return kind


def activity(store: SeedStore, kind: str, scope: str, after: str, scopes: Scopes) -> ActivityPage:
    """Decisions newest first: the decisions log's ADD, NONE and SKIP, and the recorded operations (with how the
    decision behind each was made, where the log has it)."""
    chosen = selected_scopes(scope, scopes)
    kinds = list(KIND_FILTERS)
    if chosen == []:
        return ActivityPage(kind=kind, scope=scope, rows=[], next_after=None, kinds=kinds)
    cursor_time, _, cursor_id = after.partition("|") if after else ("", "", "")
    # One stream (ADD, SKIP, or one kind of operation): a keyset on (time, id). Several merged: strictly older.
    one_stream = kind in ("ADD", "SKIP") or (kind != "" and kind not in LOGGED_ONLY)
    rows: list[ActivityRow] = []
    if kind in ("", *LOGGED_ONLY):
        labels = [kind] if kind else list(LOGGED_ONLY)
        before = None
        if cursor_time:
            before = (cursor_time, int(cursor_id) if one_stream and cursor_id.isdigit() else 0)
        rows += [_decision_row(d) for d in store.page_decisions(chosen, labels, PAGE + 1, before)]
    if kind not in ("ADD", "SKIP"):
        operation_kinds = list(KIND_FILTERS.get(kind, (kind,))) if kind else None
        key_op = (cursor_time, cursor_id if one_stream else "") if cursor_time else None
        operations = store.page_operations(chosen, operation_kinds, PAGE + 1, key_op)
        decided = store.decisions_for_operations([o.id for o in operations])
        rows += [_operation_row(o, the_one(decided.get(o.id, []))) for o in operations]
    rows.sort(key=lambda row: row.at, reverse=True)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_after = None
    if more and rows:
        last = rows[-1]
        tail = last.operation_id or (str(last.decision_id) if last.decision_id is not None else "")
        next_after = f"{last.at}|{tail}" if one_stream else last.at
    return ActivityPage(kind=kind, scope=scope, rows=rows, next_after=next_after, kinds=kinds)


def _decision_row(record: DecisionRecord) -> ActivityRow:
    made = MadeBy.of(record)
    return ActivityRow(
        at=record.decided_at,
        label=record.label,
        kind=record.label.lower(),
        scope=record.scope,
        reason=made.arbiter_reason if record.label != "SKIP" and made.arbiter_reason else made.gate_reason,
        text=record.text,
        operation_id=None,
        seed_ids=[] if record.seed_id is None else [record.seed_id],
        undone_by=None,
        undoable=record.label == "ADD" and record.seed_id is not None,
        forget_seed=record.seed_id if record.label == "ADD" else None,
        decision_id=record.id,
        inbox_id=record.inbox_id,
        who=made.who(),
        made=made,
    )


def _operation_row(operation: OperationRecord, record: DecisionRecord | None = None) -> ActivityRow:
    made = None if record is None else MadeBy.of(record)
    return ActivityRow(
        at=operation.created_at,
        label=label_of(operation.kind),
        kind=operation.kind,
        scope=operation.scope,
        reason=operation.reason,
        text=operation.trigger_text,
        operation_id=operation.id,
        seed_ids=list(operation.seed_ids),
        undone_by=operation.undone_by,
        undoable=operation.undone_by is None and (bool(operation.seed_ids) or operation.kind in REVIEW_KINDS),
        decision_id=None if record is None else record.id,
        who=who_for(operation.kind, made),
        made=made,
    )


# -- overview -----------------------------------------------------------------------------------------------


class Overview(BaseModel):
    counts: dict[str, dict[str, int]]
    """scope -> category -> memories."""
    total: int
    pending: int
    kept_for_review: int
    growth: list[tuple[str, int]]
    """(day, memories stored by the end of that day, of those stored now)."""
    decisions: dict[str, dict[str, int]]
    """day -> label -> decisions (ADD, UPDATE, DELETE, NONE, SKIP, forget, undo, ...)."""
    skip_rate: list[tuple[str, float]]
    """(day, texts the gate skipped / texts decided that day), from the decisions log."""
    latencies: list[float]
    """Milliseconds of the period's timed decisions (the last LATENCIES of them), as recorded with each."""
    engine: str
    engine_version: str
    size_bytes: int
    vector_index: str
    location: str
    operations: int


def overview(store: SeedStore, scopes: Scopes, days: int = 30) -> Overview:
    visible_scopes = None if scopes is None else list(scopes)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for scope, category, n in store.seed_counts(visible_scopes):
        counts[scope][category] = n
    per_day = store.seeds_per_day(visible_scopes)
    running, growth = 0, list[tuple[str, int]]()
    for day, n in per_day:
        running += n
        growth.append((day, running))
    first = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    decisions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    decided_by_day: dict[str, int] = defaultdict(int)
    skipped_by_day: dict[str, int] = defaultdict(int)
    # ADD, NONE and SKIP from the decisions log; UPDATE, DELETE and the rest from the operations (they hold the
    # sweeps', imports' and people's too), so that a remember's UPDATE is counted once.
    for day, label, n in store.decisions_per_day(visible_scopes, first):
        decided_by_day[day] += n
        if label in LOGGED_ONLY:
            decisions[day][label] += n
        if label == "SKIP":
            skipped_by_day[day] += n
    for day, kind, n in store.operations_per_day(visible_scopes):
        if day >= first:
            decisions[day][label_of(kind)] += n
    kept = sum(n for _, _, n in store.skipped_per_day(visible_scopes))
    skip_rate = [(day, skipped_by_day[day] / n) for day, n in sorted(decided_by_day.items()) if n]
    latencies = [ms for _, _, ms in store.decision_latencies(visible_scopes, first, LATENCIES)]
    stats = store.stats()
    return Overview(
        counts={scope: dict(sorted(c.items())) for scope, c in sorted(counts.items())},
        total=sum(sum(c.values()) for c in counts.values()),
        pending=sum(store.inbox_count("pending", s) for s in visible_scopes)
        if visible_scopes is not None
        else store.inbox_count("pending"),
        kept_for_review=kept,
        growth=growth[-days:],
        decisions={day: dict(labels) for day, labels in sorted(decisions.items())},
        skip_rate=skip_rate,
        latencies=latencies,
        engine=stats.engine,
        engine_version=stats.engine_version,
        size_bytes=stats.size_bytes,
        vector_index=stats.vector_index,
        location=stats.path,
        operations=stats.operations
        if scopes is None
        else sum(n for _, _, n in store.operations_per_day(visible_scopes)),
    )
