"""Who made a recorded decision and how: from an operation's kind, and from the decisions log (the gate's and the
arbiter's verdicts, with the model's shares and the memories compared), as the console's pages show it."""

from __future__ import annotations

from pydantic import BaseModel

from seeds.records import DecisionRecord
from server.console.actions import EDIT, REVIEW_KINDS
from server.pipeline.results import CHECK_QUESTIONS, DecisionDetail, by_share


def who_made(kind: str) -> str:
    """Who made a recorded operation: a person, the model (the arbiter, in a remember or a sweep), an import."""
    if kind in ("update", "delete"):
        return "the arbiter (model), on a remembered text"
    if kind == "reconcile-merge-duplicate":
        return "the reconcile sweep (exact match or the arbiter)"
    if kind.startswith("reconcile-"):
        return "the reconcile sweep (the arbiter, model)"
    if kind == "forget":
        return "forget on request (an agent or a person)"
    if kind == EDIT or kind in REVIEW_KINDS:
        return "a person, in the console"
    if kind == "undo":
        return "an undo"
    if kind.startswith("import"):
        return "an import"
    return kind


class Compared(BaseModel):
    """A stored memory the arbiter compared a text with."""

    id: int
    similarity: float | None
    relation: str | None
    shares: list[tuple[str, float]]
    first_relation: str | None = None
    check: str | None = None
    """The second look's question, in words."""
    check_shares: list[tuple[str, float]] = []


class MadeBy(BaseModel):
    """How a recorded decision was made, from the decisions log: the gate's and the arbiter's parts."""

    gate_by: str | None = None
    gate_category: str | None = None
    gate_shares: list[tuple[str, float]] = []
    """The model's likeliest readings of the text, with their share of its probability, largest first."""
    gate_margin: float | None = None
    arbiter_by: str | None = None
    arbiter_action: str | None = None
    arbiter_reason: str | None = None
    compared: list[Compared] = []
    latency_ms: float | None = None
    label: str = ""
    gate_reason: str = ""

    @classmethod
    def of(cls, record: DecisionRecord) -> MadeBy:
        """The record's verdicts, read once."""
        detail = DecisionDetail.read(record.detail)
        made = cls(latency_ms=record.latency_ms, label=record.label)
        if detail.gate is not None:
            made.gate_by, made.gate_category = detail.gate.decided_by, detail.gate.category
            made.gate_reason = detail.gate.reason
            made.gate_shares = by_share(detail.gate.shares)
            made.gate_margin = detail.gate.margin
        if detail.arbiter is not None:
            arbiter = detail.arbiter
            made.arbiter_by, made.arbiter_action, made.arbiter_reason = (
                arbiter.decided_by,
                arbiter.action,
                arbiter.reason,
            )
            made.compared = [
                Compared(
                    id=c.id,
                    similarity=c.similarity,
                    relation=c.relation,
                    shares=by_share(c.shares),
                    first_relation=c.first_relation,
                    check=None if c.check is None else CHECK_QUESTIONS.get(c.check, c.check),
                    check_shares=by_share(c.check_shares),
                )
                for c in arbiter.compared
            ]
        return made

    def who(self) -> str:
        """Who made the decision, in words."""
        gate = "the gate (" + ("the model" if self.gate_by == "model" else f"{self.gate_by}") + ")"
        if self.label == "SKIP":
            return gate
        if self.arbiter_by == "exact-match":
            return "an exact match (no model)"
        if self.arbiter_by == "no-candidates":
            return f"{gate}; nothing similar stored"
        if self.arbiter_by == "model":
            return "the arbiter (the model)"
        return f"the arbiter ({self.arbiter_by})"


def the_one(records: list[DecisionRecord], seed_id: int | None = None) -> DecisionRecord | None:
    """The decision behind an operation, for one seed's story (the one about it) or for the operation (its only one:
    an import's many are in its report, not on one row)."""
    if seed_id is not None:
        for record in records:
            if record.seed_id == seed_id:
                return record
    return records[0] if len(records) == 1 else None


def who_for(kind: str, made: MadeBy | None) -> str:
    """Who made an operation: from the decisions log where it has the decision behind it."""
    if made is None:
        return who_made(kind)
    if kind.startswith("reconcile-"):
        return f"the reconcile sweep: {made.who()}"
    if kind.startswith("import"):
        return f"an import: {made.who()}"
    return made.who()
