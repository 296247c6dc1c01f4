"""What a person can do from the console, each through the core's own operations and recorded as an
undoable operation: edit, forget, purge, undo, and the review of texts kept in the inbox (save anyway,
discard, merge into the memory they duplicate). Plain, synchronous functions: the routes run them on
worker threads. Each checks the session's scopes before anything is read or written."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import BaseModel

from seeds import OperationRecord, Received, Seed, SeedStore
from server.console.errors import ConsoleError, Missing, NotAllowed
from server.pipeline.memory import Memory
from server.rules.secrets import screen_secrets

logger = logging.getLogger(__name__)

EDIT = "edit"
REVIEW_SAVE = "review-save"
REVIEW_DISCARD = "review-discard"
REVIEW_MERGE = "review-merge"
REVIEW_KINDS = (REVIEW_SAVE, REVIEW_DISCARD, REVIEW_MERGE)
REVIEW_META = "console_review:"  # + operation id: what a review did, for its undo
MAX_TEXT = 20_000

Scopes = Sequence[str] | None
"""The scopes a session sees; None: every scope."""


class ReviewNote(BaseModel):
    """What a review did, kept in the store's meta under its operation id, for its undo."""

    why: str | None = None
    """The reason the text was kept for review (the gate's or the arbiter's)."""
    tags: list[str] = []
    status: str | None = None
    seed_id: int | None = None
    operation_id: str | None = None
    inbox_id: int | None = None
    """A save anyway the arbiter still found a duplicate of: that text, kept for review again."""


class Done(BaseModel):
    """What an action did, for the flash message and the tests."""

    message: str
    operation_id: str | None = None
    seed_id: int | None = None


def visible(scope: str, scopes: Scopes) -> bool:
    return scopes is None or scope in scopes


def seed_in(store: SeedStore, seed_id: int, scopes: Scopes) -> Seed:
    """The seed, if this session sees its scope (a seed of another scope is as unknown as a missing one)."""
    seed = store.get(seed_id)
    if seed is None or not visible(seed.scope, scopes):
        raise Missing(f"No memory {seed_id} in the scopes you can see.")
    return seed


def inbox_in(store: SeedStore, inbox_id: int, scopes: Scopes) -> Received:
    entry = store.inbox_entry(inbox_id)
    if entry is None or not visible(entry.scope, scopes):
        raise Missing(f"No inbox text {inbox_id} in the scopes you can see (it may have been decided).")
    return entry


def operation_in(store: SeedStore, operation_id: str, scopes: Scopes) -> OperationRecord:
    """The operation, if every seed it changed is in a scope this session sees."""
    operation = store.get_operation(operation_id)
    if operation is None or not visible(operation.scope, scopes):
        raise Missing(f"No operation {operation_id} in the scopes you can see.")
    if scopes is not None:
        for seed_id in operation.seed_ids:
            touched = {entry.previous.scope for entry in store.history(seed_id)}
            if not touched <= set(scopes):
                raise NotAllowed(f"Operation {operation_id} changed memories in scopes you can't see.")
    return operation


def _clean(memory: Memory, text: str) -> str:
    text = text.strip()
    if not text:
        raise ConsoleError("The text is empty.")
    if len(text) > MAX_TEXT:
        raise ConsoleError(f"The text is longer than {MAX_TEXT} characters.")
    # The same screen as remember's: a credential never reaches the store (refused, or replaced).
    return screen_secrets(text, "text", memory.secrets_mode)[0]


def edit(memory: Memory, seed_id: int, text: str, scopes: Scopes) -> Done:
    """A person's correction: the seed's text replaced, its earlier version kept, undoable."""
    store = memory.store
    seed = seed_in(store, seed_id, scopes)
    text = _clean(memory, text)
    if text == seed.text:
        return Done(message="Nothing changed: the text is the same.", seed_id=seed_id)
    embedding = memory.embedder.embed_document(text)  # the embedder's own lock: no wait for a decision
    # Under the models' lock: not in the middle of a decision about the same seed.
    reason = "edited by a person in the console"
    with memory.lock, store.operation(EDIT, seed.scope, reason, trigger_text=text) as op:
        op.update(seed_id, text, embedding)
    logger.info("console: edit of seed %d (%s)", seed_id, op.id)
    return Done(message=f"Memory {seed_id} edited.", operation_id=op.id, seed_id=seed_id)


def forget(memory: Memory, seed_id: int, scopes: Scopes) -> Done:
    seed = seed_in(memory.store, seed_id, scopes)
    result = memory.forget(seed_id, seed.scope)
    return Done(message=f"Memory {seed_id} forgotten.", operation_id=result.operation_id, seed_id=seed_id)


def purge(memory: Memory, seed_id: int, scopes: Scopes) -> Done:
    """Forget for good: the seed, its earlier versions and the operations that changed only it. Not undoable."""
    store = memory.store
    seed = store.get(seed_id)
    if seed is None:
        known = store.history(seed_id)
        if not known or not visible(known[-1].previous.scope, scopes):
            raise Missing(f"No memory {seed_id} in the scopes you can see.")
    elif not visible(seed.scope, scopes):
        raise Missing(f"No memory {seed_id} in the scopes you can see.")
    with memory.lock:
        versions, operations = store.purge_seed(seed_id)
    logger.info("console: purged seed %d (%d versions, %d operations)", seed_id, versions, operations)
    return Done(
        message=f"Memory {seed_id} purged: {versions} earlier version(s) and {operations} operation(s) gone for good.",
        seed_id=seed_id,
    )


def undo(memory: Memory, operation_id: str, scopes: Scopes) -> Done:
    """Undo a recorded operation: the core's undo, or, for a review, the review's own undo (the text goes
    back among those kept for review)."""
    store = memory.store
    operation = operation_in(store, operation_id, scopes)
    if operation.kind in REVIEW_KINDS and operation.undone_by is None:
        return _undo_review(memory, operation)
    result = memory.undo(operation_id)
    return Done(message=f"Operation {operation_id} undone.", operation_id=result.operation_id)


def save_anyway(memory: Memory, inbox_id: int, scopes: Scopes) -> Done:
    """Keep a text the gate skipped (or the arbiter called a duplicate): remembered again with the gate
    overruled (force), so the arbiter still compares it with what is stored; the kept text leaves the inbox."""
    store = memory.store
    entry = inbox_in(store, inbox_id, scopes)
    if entry.state != "skipped":
        raise ConsoleError(f"Inbox text {inbox_id} is still waiting for its decision; it is not up for review.")
    result = memory.remember(entry.text, entry.scope, tags=entry.tags, force=True, source="console")
    seed_id = result.seed.id if result.seed is not None else None
    with store.review(inbox_id, REVIEW_SAVE, f"saved anyway by a person: {result.status}") as (op, _):
        note = ReviewNote(
            why=entry.reason,
            tags=list(entry.tags),
            status=result.status,
            seed_id=seed_id,
            operation_id=result.operation_id,
            inbox_id=result.inbox_id,
        )
        op.set_meta(REVIEW_META + op.id, note.model_dump_json())
    return Done(message=f"Saved ({result.status}).", operation_id=op.id, seed_id=seed_id)


def discard(memory: Memory, inbox_id: int, scopes: Scopes) -> Done:
    store = memory.store
    entry = inbox_in(store, inbox_id, scopes)
    if entry.state != "skipped":
        raise ConsoleError(f"Inbox text {inbox_id} is still waiting for its decision; it is not up for review.")
    with store.review(inbox_id, REVIEW_DISCARD, "discarded by a person") as (op, _):
        op.set_meta(REVIEW_META + op.id, ReviewNote(why=entry.reason, tags=list(entry.tags)).model_dump_json())
    return Done(message="Discarded.", operation_id=op.id)


def merge(memory: Memory, inbox_id: int, target_id: int, text: str, scopes: Scopes) -> Done:
    """Fold a text kept for review into a stored memory: the memory's text becomes `text` (the person's merge
    of the two), one operation with the text's leaving the inbox."""
    store = memory.store
    entry = inbox_in(store, inbox_id, scopes)
    target = seed_in(store, target_id, scopes)
    if target.scope != entry.scope:
        raise ConsoleError("A text merges only into a memory of its own scope.")
    text = _clean(memory, text)
    embedding = memory.embedder.embed_document(text)
    reason = f"merged into memory {target_id} by a person"
    with memory.lock, store.review(inbox_id, REVIEW_MERGE, reason) as (op, _):
        op.update(target_id, text, embedding)
        op.set_meta(REVIEW_META + op.id, ReviewNote(why=entry.reason, tags=list(entry.tags)).model_dump_json())
    return Done(message=f"Merged into memory {target_id}.", operation_id=op.id, seed_id=target_id)


def _undo_review(memory: Memory, operation: OperationRecord) -> Done:
    store = memory.store
    raw = store.get_meta(REVIEW_META + operation.id)
    kept = ReviewNote.model_validate_json(raw) if raw else ReviewNote()
    why = kept.why or "restored by a person's undo"
    tags = kept.tags
    text = operation.trigger_text or ""
    reason = f"undo of {operation.id} ({operation.kind}: {operation.reason})"
    if operation.kind == REVIEW_MERGE:
        result = memory.undo(operation.id)  # the memory's text back; the undo is recorded by the core
        store.reopen_review(None, operation.scope, text, tags, why, reason)
        return Done(
            message="Merge undone: the memory is as it was, the text is back for review.",
            operation_id=result.operation_id,
        )
    if operation.kind == REVIEW_SAVE:
        if kept.operation_id:
            memory.undo(kept.operation_id)
        elif kept.status == "saved" and kept.seed_id is not None and store.get(kept.seed_id) is not None:
            memory.forget(kept.seed_id)
    undo_id, _ = store.reopen_review(operation.id, operation.scope, text, tags, why, reason, kept.inbox_id)
    return Done(message="Undone: the text is back for review.", operation_id=undo_id)
