"""Intent routing, the cerebellum's third role: for one message, should memory be recalled, written, both, or
left alone? Then the route use case: recall what bears on the message, send what is worth keeping through
the normal write path.

A message whose shape settles the question is decided by rule (`server.rules.intent`); the cerebellum's
scored label decides the rest, read within what the message's form allows: one question states nothing to
keep, a correction needs something said to have changed, a message that says to keep something is
REMEMBER or BOTH.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from server.models.cerebellum import CerebellumError, IntentLabel
from server.models.prompts import INTENT_OF_KIND, intent_shares
from server.pipeline.memory import Memory
from server.pipeline.results import RecallResult, RememberResult
from server.rules.intent import Intent, Shape, rule, shape
from server.rules.limits import MAX_QUERY_CHARS
from server.rules.scopes import ScopeSelection
from server.rules.secrets import screen_secrets

logger = logging.getLogger(__name__)

DecidedBy = Literal["rule", "model", "fallback"]

# Missing a recall the message needed costs more than an extra one (a recall only reads): when the model
# leans elsewhere but gives the recall side (recall + both) at least this share, the recall side wins.
RECALL_FLOOR = 0.5


# -- classification -----------------------------------------------------------------------------


class IntentVerdict(BaseModel):
    intent: Annotated[
        Intent,
        Field(
            description="RECALL: stored memory bears on it; REMEMBER: it states something to keep; BOTH: a "
            "correction of something stored, or a statement and a question; NONE: nothing for memory."
        ),
    ]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        DecidedBy,
        Field(
            description="rule: the message's shape alone; model: the cerebellum's scored label; fallback: no model "
            "was available (or it failed), so the message was treated as a recall (reading costs little)."
        ),
    ]
    probabilities: Annotated[
        dict[str, float] | None, Field(description="model: each intent's share of the model's probability.")
    ] = None


def _within(label: IntentLabel, form: Shape) -> tuple[Intent, dict[str, float], str]:
    """The model's label and intent shares with the kinds the form rules out taken away (a question is not
    a statement; nothing changed is not a correction), renormalized over the kinds left."""
    ruled_out = {"BOTH"} if not form.both else set[str]()
    if form.question:
        ruled_out |= {"REMEMBER", "BOTH"}
    kinds = {k: v for k, v in label.kinds.items() if INTENT_OF_KIND.get(k) not in ruled_out}
    if not label.kinds or not kinds or label.intent not in ruled_out:
        return label.intent, dict(label.probabilities), label.kind or label.intent
    kind = max(kinds, key=lambda name: kinds[name])
    return INTENT_OF_KIND[kind], intent_shares(kinds), kind


def from_model(label: IntentLabel, recall_floor: float = RECALL_FLOOR, form: Shape | None = None) -> IntentVerdict:
    """The model's label, read within what the message's form allows, with the recall side winning when
    it holds at least `recall_floor` of the mass."""
    form = form or Shape()
    intent, shares, kind = _within(label, form)
    recall_side = shares.get("RECALL", 0.0) + shares.get("BOTH", 0.0)
    reason = f"the cerebellum read it as a {kind}"
    if kind != (label.kind or label.intent):
        reason += f" (its first reading, {label.kind or label.intent}, does not fit the message's form)"
    if form.keeps and not form.both:
        intent = "REMEMBER"
        reason = "it says to keep something, and neither asks nor says what changed"
    elif form.keeps:
        # It says to keep something: the model only decides whether it also asks.
        intent = "BOTH" if recall_side >= recall_floor else "REMEMBER"
        reason = f"it says to keep something; the cerebellum gave recall {recall_side:.2f}: {intent}"
    elif form.question and intent in ("REMEMBER", "BOTH"):
        # One question states nothing to keep (only reached when the model gave no other kind).
        intent = "RECALL"
        reason = f"a question about a {kind}: it asks what is stored"
    elif intent in ("NONE", "REMEMBER") and recall_side >= recall_floor:
        leaned = intent
        intent = "BOTH" if intent == "REMEMBER" else "RECALL"
        reason = f"the cerebellum leaned to {leaned}, but gave recall {recall_side:.2f}: {intent}"
    rounded = {name: round(value, 4) for name, value in shares.items()}
    return IntentVerdict(intent=intent, reason=reason, decided_by="model", probabilities=rounded)


def classify(
    text: str,
    brain: object | None,
    *,
    lock: AbstractContextManager[object] | threading.Lock | None = None,
    use_rules: bool = True,
    recall_floor: float = RECALL_FLOOR,
) -> IntentVerdict:
    """The intent of one message: a rule where its shape settles it, the cerebellum's label otherwise.

    `brain` is anything with an `intent(text)` method (a Cerebellum); without one, or when it fails, an
    unsettled message is treated as a recall. `lock` serializes the model call with the pipeline's.
    """
    form = Shape()
    if use_rules:
        found = rule(text)
        if found is not None:
            return IntentVerdict(intent=found.intent, reason=found.rule, decided_by="rule")
        form = shape(text)
    ask: Callable[[str], IntentLabel] | None = getattr(brain, "intent", None)
    if ask is None:
        return IntentVerdict(
            intent="BOTH" if form.keeps else "RECALL",
            reason="no cerebellum to ask; reading costs little",
            decided_by="fallback",
        )
    try:
        with lock if lock is not None else nullcontext():
            label = ask(text)
    except CerebellumError as exc:
        logger.warning("intent: the cerebellum failed, treating the message as a recall: %s", exc)
        return IntentVerdict(intent="RECALL", reason=f"the cerebellum failed: {exc}", decided_by="fallback")
    return from_model(label, recall_floor, form)


def wants_recall(intent: Intent) -> bool:
    return intent in ("RECALL", "BOTH")


def wants_write(intent: Intent) -> bool:
    return intent in ("REMEMBER", "BOTH")


# -- the route use case -------------------------------------------------------------------------


class RouteResult(BaseModel):
    intent: Annotated[Intent, Field(description="What the message asks of memory (see decided_by).")]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        DecidedBy, Field(description="rule: the message's shape; model: the cerebellum; fallback: no model.")
    ]
    memories: Annotated[
        RecallResult | None,
        Field(description="RECALL or BOTH: the stored memories that bear on the message, best first (as recall)."),
    ] = None
    write: Annotated[
        RememberResult | None,
        Field(
            description="REMEMBER or BOTH: what the write path did with the message (saved, updated, deleted, "
            "duplicate, skipped by the gate, or queued), as remember returns it."
        ),
    ] = None


def plan(
    screened: str,
    brain: object | None,
    search: Callable[[str], RecallResult],
    *,
    lock: AbstractContextManager[object] | threading.Lock | None = None,
) -> tuple[IntentVerdict, RecallResult | None]:
    """The route use case's first half, the same for every caller: classify the (secret-screened) message,
    then search for it when the intent recalls. The write, if the intent keeps, is the caller's: the tool
    queues it through the async write path, the synchronous callers through Memory.remember."""
    verdict = classify(screened, brain, lock=lock)
    return verdict, search(screened) if wants_recall(verdict.intent) else None


def routed(verdict: IntentVerdict, memories: RecallResult | None, write: RememberResult | None) -> RouteResult:
    return RouteResult(
        intent=verdict.intent, reason=verdict.reason, decided_by=verdict.decided_by, memories=memories, write=write
    )


def route(
    memory: Memory, text: str, scope: str, *, k: int = 5, recall_scope: ScopeSelection | None = None
) -> RouteResult:
    """Classify one message; recall for it and/or send it through the write path (synchronous: CLI, eval).

    Secrets are screened before the model sees the message: in refuse mode a message with a credential
    raises SecretInText, and nothing is classified, searched or stored.
    """
    screened, _ = screen_secrets(text, "message", memory.secrets_mode)
    where = recall_scope if recall_scope is not None else scope
    verdict, memories = plan(
        screened, memory.cerebellum, lambda query: memory.recall(query[:MAX_QUERY_CHARS], where, k), lock=memory.lock
    )
    write = memory.remember(text, scope, source="route") if wants_write(verdict.intent) else None
    return routed(verdict, memories, write)
