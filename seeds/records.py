"""What every seed store engine shares: the records it returns, its errors, and the text rules (one place each)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, cast


class StoreError(Exception):
    """Base class for errors the seed store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database engine failed (locked, unreachable, out of disk…): nothing written; the message says what to do."""


class ExtensionLoadingUnavailable(StoreError):
    """Neither the stdlib sqlite3 nor the bundled binding can load sqlite-vec."""


class EmbedderMismatch(StoreError):
    """The store's vectors were made by another embedder than the one now configured."""


class SeedNotFound(StoreError):
    """No seed with that id (in that scope)."""


class EmbedderNotBound(StoreError):
    """A vector operation was attempted before `bind_embedder`."""


class OperationNotFound(StoreError):
    """No recorded operation with that id (never made, or its history was purged)."""


class UndoRefused(StoreError):
    """The operation cannot be undone as things stand; the message says why and what to do."""


class AlreadySettled(StoreError):
    """The inbox text was decided (or skipped) by someone else first; the write was rolled back."""


@dataclass(frozen=True)
class Received:
    """A text in the inbox: committed, not yet decided (or skipped, with the reason)."""

    id: int
    scope: str
    text: str
    tags: tuple[str, ...]
    force: bool
    source: str
    received_at: str
    state: Literal["pending", "skipped"]
    reason: str | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Seed:
    id: int
    scope: str
    text: str
    category: str
    tags: tuple[str, ...]
    source: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ScoredSeed:
    seed: Seed
    similarity: float
    """Cosine similarity to the query, in [-1, 1]."""


HistoryAction = Literal["UPDATE", "DELETE", "ADD"]


@dataclass(frozen=True)
class HistoryEntry:
    operation_id: str
    action: HistoryAction
    """UPDATE and DELETE: `previous` is the seed before the operation. ADD: the seed did not exist
    before the operation (an import created it, or an undo brought it back); `previous` is the state it was given."""
    reason: str
    trigger_text: str | None
    recorded_at: str
    previous: Seed
    """The seed as it was before the operation."""


@dataclass(frozen=True)
class OperationRecord:
    id: str
    kind: str
    """update, delete, forget, reconcile-merge-duplicate, reconcile-update, reconcile-delete, undo, import."""
    scope: str
    reason: str
    trigger_text: str | None
    created_at: str
    undoes: str | None
    """For an undo: the operation it reversed."""
    undone_by: str | None
    """The undo that reversed this operation, if any."""
    seed_ids: tuple[int, ...]
    """The seeds it changed."""


DecisionLabel = Literal["ADD", "UPDATE", "DELETE", "NONE", "SKIP"]


@dataclass(frozen=True)
class Decided:
    """What the cerebellum (or a rule) decided about one remembered text, to be recorded in the transaction that
    applies it: the store adds where, when, the seed and the operation. `detail` is the verdicts as JSON values
    (who decided, the model's shares, the stored seeds compared); it never holds another seed's text."""

    label: DecisionLabel
    text: str
    latency_ms: float | None = None
    detail: Mapping[str, object] = field(default_factory=dict[str, object])
    seed_id: int | None = None
    """The stored seed a NONE found repeated (the store knows the seed an ADD, UPDATE or DELETE wrote)."""


@dataclass(frozen=True)
class DecisionRecord:
    """A recorded decision about a remembered text."""

    id: int
    scope: str
    decided_at: str
    label: str
    text: str
    seed_id: int | None
    """The seed it stored (ADD), changed (UPDATE), removed (DELETE) or found repeated (NONE)."""
    operation_id: str | None
    """The operation that applied it (UPDATE, DELETE): undo takes it."""
    inbox_id: int | None
    """Where the text is kept for review (SKIP, and a NONE the model judged)."""
    latency_ms: float | None
    detail: Mapping[str, object]


DECISION_COLUMNS = "id, scope, decided_at, label, text, seed_id, operation_id, inbox_id, latency_ms, detail"


def decision_from_row(row: Sequence[object]) -> DecisionRecord:
    parsed: object = json.loads(str(row[9])) if row[9] else {}
    detail = cast(dict[str, object], parsed) if isinstance(parsed, dict) else {}
    return DecisionRecord(
        id=int(cast(int, row[0])),
        scope=str(row[1]),
        decided_at=str(row[2]),
        label=str(row[3]),
        text=str(row[4]),
        seed_id=None if row[5] is None else int(cast(int, row[5])),
        operation_id=None if row[6] is None else str(row[6]),
        inbox_id=None if row[7] is None else int(cast(int, row[7])),
        latency_ms=None if row[8] is None else float(cast(float, row[8])),
        detail=detail,
    )


@dataclass(frozen=True)
class UndoOutcome:
    operation: OperationRecord
    """The undo itself, recorded like any other operation (so it can be undone in turn)."""
    undone: OperationRecord
    restored: tuple[Seed, ...]
    """Seeds put back as they were before the undone operation (updated back, or re-created with their id)."""
    removed: tuple[Seed, ...]
    """Seeds the undone operation had brought into being, removed again."""


@dataclass(frozen=True)
class PurgeOutcome:
    operations: int
    versions: int
    """seed_history rows removed: earlier versions of seeds, and deleted seeds, now gone for good."""
    skipped: int = 0
    """Texts the gate skipped, kept in the inbox for review, removed."""
    decisions: int = 0
    """Recorded decisions (with the texts they were about) removed."""
    operation_id: str | None = None
    """The purge's own operation (kind 'purge'), when it was recorded: what was purged, never the texts."""


@dataclass(frozen=True)
class StoreStats:
    path: str
    size_bytes: int
    """The database file with its WAL and shared-memory files."""
    schema_version: int
    embedder: tuple[str, int] | None
    seeds_by_scope: dict[str, int]
    seeds_by_category: dict[str, int]
    operations: int
    history_entries: int
    oldest: str | None
    newest: str | None
    engine: str = "sqlite"
    """sqlite or postgresql."""
    engine_version: str = ""
    """The engine's version, with its vector extension's (sqlite-vec or pgvector)."""
    vector_index: str = ""
    """How nearest-neighbour search runs: an exact scan (sqlite-vec) or an HNSW index (pgvector)."""

    @property
    def seeds(self) -> int:
        return sum(self.seeds_by_scope.values())


def normalize_text(text: str) -> str:
    """The form two texts share when they are the same memory typed differently.

    Unicode compatibility forms (full-width letters, ligatures), case, runs of white space and
    trailing sentence punctuation are not what a memory means.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    # NFKC has already turned full-width ! ? ; , into ASCII; the ideographic stops remain.
    return text.rstrip(" .!?;,\u3002\u3001")


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


# Words that say how a question is asked, not what it is about.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    ever likely kind sort type something anything thing things get got go going went""".split()
)


def content_words(text: str) -> list[str]:
    """The words a keyword search looks for: casefolded, question words and one-letter words left out."""
    words: list[str] = []
    for word in re.findall(r"\w+", text.casefold()):
        if (len(word) > 1 or word.isdigit()) and word not in STOPWORDS and word not in words:
            words.append(word)
    return words


# Chinese, Japanese and Korean are written without spaces: a run of such characters is one "word" to a
# word tokenizer, so both engines also match its character trigrams (a 2-character run as it is).
CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


# Chinese words that say how a question is asked, not what it is about (as STOPWORDS for English): a run
# is cut at them, so "什么时候发布" looks for 发布, not for grams that span the question words.
CJK_STOPWORDS = sorted(
    """什么 怎么 怎样 如何 为什么 哪个 哪些 哪里 哪儿 多少 是不是 有没有 能不能 可不可以 时候 我们 你们 他们 咱们
    这个 那个 这些 那些 一下 一个 上次 之前 以前 现在 目前 请问 帮我 还是 的 了 吗 呢 吧 啊 呀 么""".split(),
    key=len,
    reverse=True,
)
_CJK_STOP = re.compile("|".join(CJK_STOPWORDS))


def _split_at_stopwords(run: str) -> list[str]:
    # A 2-character run is a word as typed ("端口", "的确"); a longer one may hold question words.
    return [run] if len(run) <= 2 else _CJK_STOP.split(run)


def cjk_grams(words: Iterable[str]) -> list[str]:
    """The runs of Chinese/Japanese/Korean characters in the words, cut at question and function words,
    as every 3-character window (a 2-character run whole), each once, in order."""
    grams: list[str] = []
    for word in words:
        runs = [part for whole in CJK_RUN.findall(word) for part in _split_at_stopwords(whole)]
        for run in runs:
            size = min(3, len(run))
            if size < 2:
                continue
            for start in range(len(run) - size + 1):
                gram = run[start : start + size]
                if gram not in grams:
                    grams.append(gram)
    return grams


def gram_share(text: str, grams: Sequence[str]) -> float:
    """The share of the grams found in the text (0 to 1)."""
    return sum(gram in text for gram in grams) / len(grams) if grams else 0.0


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 MATCH expression: the content words (`content_words`), quoted, OR-ed; '' when there are none."""
    return " OR ".join(f'"{word}"' for word in words)


def seconds_between(first: str, second: str) -> float:
    return abs((datetime.fromisoformat(first) - datetime.fromisoformat(second)).total_seconds())


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


MAX_ID = 2**63 - 1
"""The largest row id either engine holds (SQLite INTEGER, PostgreSQL BIGINT): a larger one names nothing, and
binding it would fail in the driver."""


def is_row_id(value: int) -> bool:
    """Whether an id given from outside (a tool argument, a command line, an address) can name a stored row."""
    return 0 <= value <= MAX_ID


SEED_COLUMNS = "id, scope, text, category, tags, source, created_at, updated_at"
OPERATION_COLUMNS = "id, kind, scope, reason, trigger_text, created_at, undoes"


def scope_names(scope: str | Sequence[str] | None) -> list[str] | None:
    if scope is None:
        return None
    return [scope] if isinstance(scope, str) else list(dict.fromkeys(scope))


def in_scopes(column: str, scopes: list[str] | None) -> tuple[str, list[object]]:
    """An `AND column IN (...)` clause and its parameters; nothing when every scope is searched."""
    if scopes is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(scopes))})", list[object](scopes)


def history_action(value: object) -> HistoryAction:
    if value == "UPDATE":
        return "UPDATE"
    if value == "DELETE":
        return "DELETE"
    if value == "ADD":
        return "ADD"
    raise StoreError(f"unknown history action {value!r}")


def utc_iso(moment: str | datetime) -> str:
    """A moment in the store's own timestamp format (UTC, milliseconds), so timestamps compare as text."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError as exc:
            raise ValueError(
                f"not an ISO 8601 date or time: {moment!r} (for example 2026-01-31 or 2026-01-31T12:00Z)"
            ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def seed_filter(scope: str | None, category: str | None, since: str | datetime | None) -> tuple[str, list[object]]:
    """The WHERE clause (with its leading space, or empty) and parameters for seed listings and counts."""
    conditions: list[str] = []
    params: list[object] = []
    for column, value, test in (
        ("scope", scope, "="),
        ("category", category, "="),
        ("created_at", None if since is None else utc_iso(since), ">="),
    ):
        if value is not None:
            conditions.append(f"{column} {test} ?")
            params.append(value)
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


INBOX_COLUMNS = "id, scope, text, tags, force, source, received_at, state, reason, attempts, last_error"


def received_from_row(row: Sequence[object]) -> Received:
    return Received(
        id=int(str(row[0])),
        scope=str(row[1]),
        text=str(row[2]),
        tags=tuple(json.loads(str(row[3]))),
        force=bool(row[4]),
        source=str(row[5]),
        received_at=str(row[6]),
        state="skipped" if row[7] == "skipped" else "pending",
        reason=None if row[8] is None else str(row[8]),
        attempts=int(str(row[9])),
        last_error=None if row[10] is None else str(row[10]),
    )


def seed_from_row(row: Sequence[object]) -> Seed:
    return Seed(
        id=int(str(row[0])),
        scope=str(row[1]),
        text=str(row[2]),
        category=str(row[3]),
        tags=tuple(json.loads(str(row[4]))),
        source=str(row[5]),
        created_at=str(row[6]),
        updated_at=str(row[7]),
    )
