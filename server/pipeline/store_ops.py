"""What the pipeline does on the store alone, with no model: take a text into the inbox, answer an exact
duplicate, forget a seed, undo an operation. The MCP tools and the CLI call these while the models load;
`Memory` calls them under its lock once they are in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from seeds import Received, SeedNotFound, SeedStore
from server.pipeline.results import ArbiterVerdict, ForgetResult, RememberResult, SeedView, UndoResult
from server.rules.scopes import ALL_SCOPES
from server.rules.secrets import SecretsMode, screen_secrets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """A text taken into the inbox: the inbox record, and the kinds of secret replaced by placeholders on the
    way in (only the receiver knows them: the store keeps the redacted text alone)."""

    received: Received
    redacted: tuple[str, ...] = ()


def receive(
    store: SeedStore,
    text: str,
    scope: str,
    *,
    tags: Sequence[str] = (),
    force: bool = False,
    source: str = "agent",
    secrets_mode: SecretsMode = "refuse",
) -> Receipt:
    """Check a text and commit it to the inbox: from here on it is not lost, whatever the models do.

    Secrets are screened first (refused, or replaced by placeholders): the inbox is on disk too.
    """
    text = text.strip()
    if not text:
        raise ValueError("text is empty")
    text, redacted = screen_secrets(text, "text", secrets_mode)
    tags = [screen_secrets(tag, "tag", secrets_mode)[0] for tag in tags]
    received = store.receive(scope, text, tags=tags, force=force, source=source)
    return Receipt(received, tuple(redacted))


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
