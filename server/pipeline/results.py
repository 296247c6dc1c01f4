"""What the tools answer: the result models of remember, recall, reconcile, forget and undo.

They are the MCP tools' structured output (their JSON schemas are the tools' output schemas) and what
the pipeline (server/pipeline) returns; the CLI prints them. Defined here once, imported everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

from seeds import Received, Seed
from seeds.records import Decided, DecisionLabel
from server.settings import ScopeSource

RememberStatus = Literal["saved", "updated", "deleted", "duplicate", "skipped", "queued"]
ReconcileKind = Literal["merge-duplicate", "update", "delete"]


def seed_uri(scope: str, seed_id: int | str) -> str:
    """The MCP resource URI of a seed (`seeds://{scope}/{id}`); a scope's '/' and ':' are percent-encoded."""
    return f"seeds://{quote(scope, safe='')}/{seed_id}"


def seed_fields(seed: Seed, *, source: bool = True) -> dict[str, Any]:
    """A stored seed's fields as every view of one shows them (results, export lines, the console)."""
    fields: dict[str, Any] = {
        "id": seed.id,
        "scope": seed.scope,
        "text": seed.text,
        "category": seed.category,
        "tags": list(seed.tags),
        "created_at": seed.created_at,
        "updated_at": seed.updated_at,
    }
    if source:
        fields["source"] = seed.source
    return fields


class SeedView(BaseModel):
    id: Annotated[int, Field(description="The seed's id.")]
    uri: Annotated[str, Field(description="The seed as an MCP resource (seeds://{scope}/{id}), to read it later.")]
    scope: Annotated[str, Field(description="The scope (project) the seed belongs to.")]
    text: Annotated[str, Field(description="What is remembered.")]
    category: Annotated[str, Field(description="lesson, correction, decision, preference, fact, ...")]
    tags: Annotated[list[str], Field(description="Tags given when it was remembered.")]
    created_at: Annotated[str, Field(description="When it was first stored (UTC, ISO 8601).")]
    updated_at: Annotated[str, Field(description="When its text last changed (UTC, ISO 8601).")]

    @classmethod
    def of(cls, seed: Seed) -> SeedView:
        return cls(uri=seed_uri(seed.scope, seed.id), **seed_fields(seed, source=False))


class GateVerdict(BaseModel):
    decision: Annotated[Literal["SAVE", "SKIP"], Field(description="Whether the text is worth keeping.")]
    category: Annotated[str, Field(description="The kind of text the gate saw.")]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        Literal["model", "rule", "force", "fallback"],
        Field(
            description="model: the cerebellum; rule: the text's shape alone (a commit subject, a traceback, "
            "command output, an explicit 'Lesson:' label); force: the caller said force; fallback: the model failed."
        ),
    ]
    shares: Annotated[
        dict[str, float],
        Field(
            description="The model's likeliest readings of the text and their share of its probability (model only)."
        ),
    ] = {}
    margin: Annotated[
        float | None,
        Field(description="The calibrated gate's margin: above 0 keeps the text (when the calibrated gate decided)."),
    ] = None


TOP_SHARES = 3  # a verdict names the model's few likeliest answers, not all of them


def top_shares(shares: Mapping[str, float], n: int = TOP_SHARES) -> dict[str, float]:
    """The n largest shares, rounded, largest first (what a person reads to see how sure the model was)."""
    return {label: round(share, 3) for label, share in by_share(shares)[:n]}


class ComparedSeed(BaseModel):
    id: Annotated[int, Field(description="A stored seed the arbiter was shown.")]
    similarity: Annotated[float | None, Field(description="Its cosine similarity to the new text.")] = None
    relation: Annotated[
        str | None,
        Field(description="The model's answer about this seed (SAME, UPDATE, RETRACT, DIFFERENT), if asked."),
    ] = None
    shares: Annotated[
        dict[str, float], Field(description="The model's share of its probability for each answer about this seed.")
    ] = {}
    first_relation: Annotated[
        str | None, Field(description="The model's first answer, when its second look changed it.")
    ] = None
    check: Annotated[
        str | None,
        Field(description="The second look's question: 'same' (only reworded?) or 'replacement' (says what is now?)."),
    ] = None
    check_shares: Annotated[
        dict[str, float], Field(description="The model's shares of YES and NO at the second look.")
    ] = {}


class ArbiterVerdict(BaseModel):
    action: Annotated[Literal["ADD", "UPDATE", "DELETE", "NONE"], Field(description="How the text was applied.")]
    target_id: Annotated[int | None, Field(description="The stored seed the action applies to.")]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        Literal["model", "exact-match", "no-candidates", "fallback"],
        Field(
            description="model: the cerebellum; exact-match: the same text is stored; no-candidates: nothing "
            "similar is stored; fallback: the model's answer was unusable, so the text was added."
        ),
    ]
    candidates: Annotated[list[int], Field(description="The seed ids the arbiter was shown.")] = []
    compared: Annotated[
        list[ComparedSeed],
        Field(description="The seeds the arbiter was shown: similarity, and the model's answer and shares for each."),
    ] = []


class DecisionDetail(BaseModel):
    """What the decisions log keeps of a decision's verdicts (seeds.Decided.detail), and reads back."""

    gate: GateVerdict | None = None
    arbiter: ArbiterVerdict | None = None

    def describe(self) -> list[str]:
        """How the decision was made, as lines of plain text (the CLI's `show`): the gate, the arbiter, each seed
        the arbiter compared."""
        lines: list[str] = []
        if self.gate is not None:
            gate = f"gate: {self.gate.decided_by}, {self.gate.decision} as {self.gate.category}"
            if self.gate.shares:
                gate += f" ({_percent(self.gate.shares)})"
            if self.gate.margin is not None:
                gate += f", calibrated margin {self.gate.margin:+.2f}"
            lines.append(gate)
        if self.arbiter is not None:
            lines.append(f"arbiter: {self.arbiter.decided_by}, {self.arbiter.action}: {self.arbiter.reason}")
            for seed in self.arbiter.compared:
                line = f"  compared with seed {seed.id}"
                if seed.similarity is not None:
                    line += f" (similarity {seed.similarity:.2f})"
                if seed.relation:
                    line += f": {seed.relation}"
                    if seed.first_relation:
                        line += f", first answer {seed.first_relation}"
                    if seed.shares:
                        line += f" ({_percent(seed.shares)})"
                    if seed.check:
                        question = CHECK_QUESTIONS.get(seed.check, seed.check)
                        line += f"; second look, {question} {_percent(seed.check_shares)}"
                lines.append(line)
        return lines

    @classmethod
    def read(cls, detail: Mapping[str, object]) -> DecisionDetail:
        """The verdicts of a logged decision; none where the row holds something else (written by a later version)."""
        try:
            return cls.model_validate(detail)
        except ValidationError:
            return cls()


CHECK_QUESTIONS = {"same": "only reworded?", "replacement": "says what is true now?"}
"""The pairwise arbiter's second-look questions (ComparedSeed.check), as a person reads them."""


def percent(share: float) -> str:
    """A share as a person reads it: whole percents, and '<1%' for a share that rounds to none."""
    whole = f"{100 * share:.0f}"
    return "<1%" if whole == "0" and share > 0 else f"{whole}%"


def by_share(shares: Mapping[str, float]) -> list[tuple[str, float]]:
    """(label, share) largest first: the order a person reads shares in (the log stores them by name)."""
    return sorted(shares.items(), key=lambda item: -item[1])


def _percent(shares: Mapping[str, float]) -> str:
    return " · ".join(f"{label} {percent(share)}" for label, share in by_share(shares))


def decided(
    label: DecisionLabel,
    text: str,
    gate: GateVerdict | None,
    arbiter: ArbiterVerdict | None,
    latency_ms: float | None,
    seed_id: int | None = None,
) -> Decided:
    """A decision about a remembered text as the store records it: the verdicts (who decided, the model's shares,
    the seeds compared: ids and scores, never their texts) and the time it took."""
    return Decided(
        label=label,
        text=text,
        latency_ms=latency_ms,
        detail=DecisionDetail(gate=gate, arbiter=arbiter).model_dump(),
        seed_id=seed_id,
    )


class RememberResult(BaseModel):
    status: Annotated[
        RememberStatus,
        Field(
            description="saved: stored as a new seed; updated: merged into an existing seed; deleted: it "
            "retracted a stored seed, which was removed; duplicate: already stored (unless the text was "
            "identical, it is kept in the inbox with the reason, for review); skipped: not worth keeping "
            "(kept in the inbox with the reason, for review); queued: kept, to be decided later (the model "
            "was loading, missing or slow)."
        ),
    ]
    seed: Annotated[
        SeedView | None,
        Field(description="The seed saved, updated, matched (duplicate) or removed (deleted); none when skipped."),
    ]
    previous_text: Annotated[str | None, Field(description="The seed's text before an update.")] = None
    operation_id: Annotated[
        str | None, Field(description="The id of the recorded change (update/delete); `undo` takes it.")
    ] = None
    gate: Annotated[GateVerdict | None, Field(description="The memorize gate's verdict (none if not asked).")]
    arbiter: Annotated[ArbiterVerdict | None, Field(description="The arbiter's verdict (none if skipped).")]
    redacted: Annotated[
        list[str],
        Field(description="Kinds of secret replaced by a [REDACTED:kind] placeholder before the text was used."),
    ] = []
    inbox_id: Annotated[
        int | None,
        Field(
            description="queued, skipped, or a duplicate the model judged: the text's id in the inbox, where it "
            "is kept (not a seed id)."
        ),
    ] = None
    note: Annotated[str | None, Field(description="queued: why it could not be decided now.")] = None


def queued(received: Received, why: str, redacted: Sequence[str] = ()) -> RememberResult:
    """remember's answer for a text kept in the inbox, not decided yet: why, and the secrets taken out of it."""
    return RememberResult(
        status="queued",
        seed=None,
        gate=None,
        arbiter=None,
        inbox_id=received.id,
        note=why,
        redacted=list(redacted),
    )


def settled(received: Received, result: RememberResult | None, redacted: Sequence[str] = ()) -> RememberResult:
    """remember's answer once a decision is over: the result, naming the secrets taken out of the text;
    queued when it was not ours to decide (another server process holds it)."""
    if result is None:
        return queued(received, "another server process is deciding it", redacted)
    return result.model_copy(update={"redacted": list(redacted)})


class RecallHit(SeedView):
    score: Annotated[
        float,
        Field(description="Relevance from the fused vector and keyword rankings: higher is better; 1 = first in both."),
    ]
    similarity: Annotated[
        float | None,
        Field(description="Cosine similarity of the seed to the query (max 1); none in a keyword-only search."),
    ]


class QueuedText(BaseModel):
    """A text remember kept that the cerebellum has not decided yet: not a memory, and no seed id."""

    inbox_id: Annotated[int, Field(description="The text's id in the inbox (not a seed id: it has none yet).")]
    scope: Annotated[str, Field(description="The scope it was remembered in.")]
    text: Annotated[str, Field(description="The text as remember kept it (secrets already taken out).")]
    tags: Annotated[list[str], Field(description="Tags given with it.")]
    received_at: Annotated[str, Field(description="When remember received it (UTC, ISO 8601).")]

    @classmethod
    def of(cls, received: Received) -> QueuedText:
        return cls(
            inbox_id=received.id,
            scope=received.scope,
            text=received.text,
            tags=list(received.tags),
            received_at=received.received_at,
        )


class RecallResult(BaseModel):
    query: str
    scope: Annotated[
        str, Field(description="The scope searched; '*' for every scope, or several names joined by commas.")
    ]
    hits: Annotated[list[RecallHit], Field(description="Best first; each names its own scope.")]
    queued: Annotated[
        list[QueuedText],
        Field(
            description="Texts remember kept that are NOT decided yet (remembered while the models were loading, "
            "or still waiting for the cerebellum) and share words with the query, best match first, at most k. "
            "Not memories yet: each may still be skipped, merged into a stored memory, or dropped as a repeat; "
            "once decided, a kept one is a hit like any other."
        ),
    ] = []
    note: Annotated[
        str | None, Field(description="Set when the search was degraded (keyword-only while the models load).")
    ] = None
    scope_source: Annotated[
        ScopeSource | None,
        Field(
            description="Why this scope was searched: argument (named in the call), setting (--scope), roots (the "
            "client's first root), launch-folder (the folder the client started the server in), hook-folder, "
            "project-header (the client's X-Cerebellum-Project header), token (the caller's one scope), default."
        ),
    ] = None
    scope_reason: Annotated[
        str | None, Field(description="The same in words, with the root or folder the scope was named after.")
    ] = None


class ReconcileAction(BaseModel):
    action: Annotated[
        ReconcileKind,
        Field(
            description="merge-duplicate: seed_id repeats target_id and is removed; update: target_id takes the "
            "merged text and seed_id is folded into it; delete: seed_id retracts target_id, which is removed."
        ),
    ]
    scope: Annotated[str, Field(description="The scope of both seeds (pairs never span scopes).")] = ""
    seed_id: Annotated[int, Field(description="The newer seed that triggered the action.")]
    target_id: Annotated[int, Field(description="The older seed it was compared with.")]
    reason: str
    merged_text: str | None = None
    decided_by: Literal["model", "exact-match"]
    applied: Annotated[bool, Field(description="False in a dry run.")]
    operation_id: str | None = None


class ReconcileResult(BaseModel):
    scope: Annotated[
        str, Field(description="The scope tidied; '*' for every scope, or several names joined by commas.")
    ]
    dry_run: bool
    drained: Annotated[int, Field(description="Texts waiting in the inbox that were decided first.")] = 0
    resumed_after: Annotated[
        int | None,
        Field(
            description="When an earlier sweep of this scope was interrupted: the last seed it finished; this "
            "sweep went on from the next one."
        ),
    ] = None
    examined: Annotated[int, Field(description="Seeds looked at.")]
    arbitrated: Annotated[int, Field(description="Pairs or groups the cerebellum was asked about.")]
    actions: list[ReconcileAction]


class ForgetResult(BaseModel):
    seed: Annotated[SeedView, Field(description="The seed removed, as it was.")]
    operation_id: Annotated[str, Field(description="The id of the removal; `undo` with it brings the seed back.")]


class UndoResult(BaseModel):
    operation_id: Annotated[
        str, Field(description="The id of the undo itself (it is recorded too; undoing it re-applies the change).")
    ]
    undone_operation_id: Annotated[str, Field(description="The operation that was reversed.")]
    undone_kind: Annotated[
        str, Field(description="What it was: update, delete, forget, reconcile-merge-duplicate, reconcile-update, ...")
    ]
    scope: Annotated[str, Field(description="The scope of the seeds concerned.")]
    restored: Annotated[
        list[SeedView], Field(description="Seeds put back exactly as they were before the operation (ids kept).")
    ]
    removed: Annotated[list[SeedView], Field(description="Seeds the operation had created, removed again.")]


class RecentSeeds(BaseModel):
    """The resource seeds://{scope}/recent."""

    scope: str
    seeds: Annotated[list[SeedView], Field(description="Newest first.")]
