"""The seed store: seeds in SQLite, their embeddings in a sqlite-vec table, every change kept in history."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import sqlite_vec  # pyright: ignore[reportMissingTypeStubs]

from seeds.db import StoreError, connect, migrate

VECTOR_TABLE = "seed_vectors"


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
    redacted: tuple[str, ...] = ()
    """Kinds of secret replaced by placeholders when the text was received (known to the receiver only)."""


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
    before the operation (an undo brought it back); `previous` is the state it was given."""
    reason: str
    trigger_text: str | None
    recorded_at: str
    previous: Seed
    """The seed as it was before the operation."""


@dataclass(frozen=True)
class OperationRecord:
    id: str
    kind: str
    """update, delete, forget, reconcile-merge-duplicate, reconcile-update, reconcile-delete, undo."""
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


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: the text's content words, quoted, OR-ed; '' when none is left."""
    words: list[str] = []
    for word in re.findall(r"\w+", text.casefold()):
        if (len(word) > 1 or word.isdigit()) and word not in STOPWORDS and word not in words:
            words.append(word)
    return " OR ".join(f'"{word}"' for word in words)


def _seconds_between(first: str, second: str) -> float:
    return abs((datetime.fromisoformat(first) - datetime.fromisoformat(second)).total_seconds())


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_SEED_COLUMNS = "id, scope, text, category, tags, source, created_at, updated_at"
_OPERATION_COLUMNS = "id, kind, scope, reason, trigger_text, created_at, undoes"


def _scope_names(scope: str | Sequence[str] | None) -> list[str] | None:
    if scope is None:
        return None
    return [scope] if isinstance(scope, str) else list(dict.fromkeys(scope))


def _in_scopes(column: str, scopes: list[str] | None) -> tuple[str, list[object]]:
    """An `AND column IN (...)` clause and its parameters; nothing when every scope is searched."""
    if scopes is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(scopes))})", list[object](scopes)


def _history_action(value: object) -> HistoryAction:
    if value == "UPDATE":
        return "UPDATE"
    if value == "DELETE":
        return "DELETE"
    if value == "ADD":
        return "ADD"
    raise StoreError(f"unknown history action {value!r}")


def _utc_iso(moment: str | datetime) -> str:
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


def _seed_filter(scope: str | None, category: str | None, since: str | datetime | None) -> tuple[str, list[object]]:
    """The WHERE clause (with its leading space, or empty) and parameters for seed listings and counts."""
    conditions: list[str] = []
    params: list[object] = []
    for column, value, test in (
        ("scope", scope, "="),
        ("category", category, "="),
        ("created_at", None if since is None else _utc_iso(since), ">="),
    ):
        if value is not None:
            conditions.append(f"{column} {test} ?")
            params.append(value)
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


_INBOX_COLUMNS = "id, scope, text, tags, force, source, received_at, state, reason, attempts, last_error"


def _received_from_row(row: Sequence[object]) -> Received:
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


def _seed_from_row(row: Sequence[object]) -> Seed:
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


class Operation:
    """One decision's changes, applied in a single transaction and recorded under one id."""

    def __init__(self, store: SeedStore, operation_id: str) -> None:
        self._store = store
        self.id = operation_id

    def update(self, seed_id: int, text: str, embedding: Sequence[float], category: str | None = None) -> Seed:
        return self._store._update_in_operation(self.id, seed_id, text, embedding, category)  # pyright: ignore[reportPrivateUsage]

    def delete(self, seed_id: int) -> Seed:
        return self._store._delete_in_operation(self.id, seed_id)  # pyright: ignore[reportPrivateUsage]


class SeedStore:
    """A plain library over one SQLite file. Thread-safe: calls are serialized on one connection."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._dimension: int | None = None
        migrate(conn)
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedding_dimension'").fetchone()
        if row is not None:
            self._dimension = int(row[0])

    @classmethod
    def open(cls, path: str | Path) -> SeedStore:
        return cls(connect(path), str(path))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- embedder binding -------------------------------------------------------------------

    @property
    def embedder(self) -> tuple[str, int] | None:
        """(name, dimension) of the embedder this store's vectors come from, once bound."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        if row is None or self._dimension is None:
            return None
        return str(row[0]), self._dimension

    def bind_embedder(self, name: str, dimension: int) -> None:
        """Record which embedder makes this store's vectors; refuse a different one later.

        Vectors of two embedders are not comparable, so mixing them would make every later
        similarity meaningless. The first binding creates the vector table with its dimension.
        """
        if dimension <= 0:
            raise ValueError(f"embedding dimension must be positive, got {dimension}")
        with self._lock, self._write():
            # Read inside the write lock: another process may have bound the store since we opened it.
            bound = dict(
                self._conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('embedder', 'embedding_dimension')"
                ).fetchall()
            )
            if "embedder" in bound:
                bound_name = str(bound["embedder"])
                self._dimension = int(bound["embedding_dimension"])
                if (bound_name, self._dimension) != (name, dimension):
                    raise EmbedderMismatch(
                        f"The seed store {self.path} holds vectors from embedder '{bound_name}' "
                        f"({self._dimension} dimensions), but the configured embedder is '{name}' "
                        f"({dimension} dimensions). Point --embedder back at '{bound_name}', or use "
                        "another --db for this embedder."
                    )
                return
            self._conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {VECTOR_TABLE} USING vec0("
                f"seed_id INTEGER PRIMARY KEY, scope TEXT PARTITION KEY, "
                f"embedding FLOAT[{dimension}] distance_metric=cosine)"
            )
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("embedder", name), ("embedding_dimension", str(dimension))],
            )
            self._dimension = dimension

    def _vector(self, embedding: Sequence[float]) -> bytes:
        if self._dimension is None:
            raise EmbedderNotBound("bind_embedder() must be called before storing or searching vectors")
        if len(embedding) != self._dimension:
            raise EmbedderMismatch(f"expected a {self._dimension}-dimension embedding, got {len(embedding)}")
        return sqlite_vec.serialize_float32(list(embedding))

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Generator[None]:
        # BEGIN IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading
        # a read lock; busy_timeout makes the other one wait instead of failing.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Generator[None]:
        """Reads inside see the file as it was at the first of them, whatever other processes write meanwhile.

        Recall reads the seeds and the inbox: a text decided by another process between the two
        reads would otherwise show up in both, or in neither. Reentrant; never for writes.
        """
        with self._lock:
            if self._conn.in_transaction:
                yield
                return
            self._conn.execute("BEGIN")  # deferred: a read transaction; WAL lets writers go on
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def operation(
        self, kind: str, scope: str, reason: str, trigger_text: str | None = None, *, settles: int | None = None
    ) -> Generator[Operation]:
        """Group the updates and deletes of one decision: all of them happen, or none.

        `settles`: the inbox text this decision was about; it leaves the inbox in the same
        transaction, and if it already left (decided elsewhere) nothing is written.
        """
        with self._lock, self._write():
            self._settle(settles)
            yield Operation(self, self._insert_operation(kind, scope, reason, trigger_text))

    def _insert_operation(
        self, kind: str, scope: str, reason: str, trigger_text: str | None, undoes: str | None = None
    ) -> str:
        operation_id = "op_" + uuid.uuid4().hex[:12]
        self._conn.execute(
            "INSERT INTO operations (id, kind, scope, reason, trigger_text, created_at, undoes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (operation_id, kind, scope, reason, trigger_text, utc_now(), undoes),
        )
        return operation_id

    def _settle(self, inbox_id: int | None) -> None:
        if inbox_id is None:
            return
        gone = self._conn.execute("DELETE FROM inbox WHERE id = ? AND state = 'pending'", (inbox_id,))
        if gone.rowcount != 1:
            raise AlreadySettled(f"inbox text {inbox_id} was already decided")

    # -- writes -----------------------------------------------------------------------------

    def add(
        self,
        scope: str,
        text: str,
        embedding: Sequence[float],
        *,
        category: str = "fact",
        tags: Sequence[str] = (),
        source: str = "agent",
        settles: int | None = None,
    ) -> Seed:
        vector = self._vector(embedding)
        now = utc_now()
        with self._lock, self._write():
            self._settle(settles)
            cursor = self._conn.execute(
                "INSERT INTO seeds (scope, text, text_hash, category, tags, source, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (scope, text, text_hash(text), category, json.dumps(list(tags), ensure_ascii=False), source, now, now),
            )
            seed_id = int(cursor.lastrowid or 0)
            self._conn.execute(
                f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)", (seed_id, scope, vector)
            )
        return Seed(seed_id, scope, text, category, tuple(tags), source, now, now)

    def add_many(self, scope: str, items: Sequence[tuple[str, Sequence[float]]], *, category: str = "fact") -> int:
        """Store many (text, embedding) seeds in one transaction, undecided (bulk loads, benchmarks)."""
        now = utc_now()
        with self._lock, self._write():
            for text, embedding in items:
                cursor = self._conn.execute(
                    "INSERT INTO seeds (scope, text, text_hash, category, tags, source, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, '[]', 'bulk', ?, ?)",
                    (scope, text, text_hash(text), category, now, now),
                )
                self._conn.execute(
                    f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)",
                    (int(cursor.lastrowid or 0), scope, self._vector(embedding)),
                )
        return len(items)

    def update(
        self,
        seed_id: int,
        text: str,
        embedding: Sequence[float],
        *,
        reason: str,
        trigger_text: str | None = None,
        category: str | None = None,
        settles: int | None = None,
    ) -> tuple[Seed, str]:
        """Replace a seed's text (and vector); the old version goes to history. Returns (seed, op id)."""
        scope = self.require(seed_id).scope
        with self.operation("update", scope, reason, trigger_text, settles=settles) as op:
            return op.update(seed_id, text, embedding, category), op.id

    def delete(
        self, seed_id: int, *, reason: str, trigger_text: str | None = None, settles: int | None = None
    ) -> tuple[Seed, str]:
        """Remove a seed; its last version goes to history. Returns (the removed seed, op id)."""
        scope = self.require(seed_id).scope
        with self.operation("delete", scope, reason, trigger_text, settles=settles) as op:
            return op.delete(seed_id), op.id

    def _record_history(self, operation_id: str, seed: Seed, action: str) -> None:
        row = self._conn.execute(f"SELECT embedding FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed.id,)).fetchone()
        self._conn.execute(
            "INSERT INTO seed_history (operation_id, seed_id, action, scope, text, category, tags, source, "
            "created_at, updated_at, embedding, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                operation_id,
                seed.id,
                action,
                seed.scope,
                seed.text,
                seed.category,
                json.dumps(list(seed.tags), ensure_ascii=False),
                seed.source,
                seed.created_at,
                seed.updated_at,
                None if row is None else row[0],
                utc_now(),
            ),
        )

    def _update_in_operation(
        self, operation_id: str, seed_id: int, text: str, embedding: Sequence[float], category: str | None
    ) -> Seed:
        vector = self._vector(embedding)
        old = self.require(seed_id)
        self._record_history(operation_id, old, "UPDATE")
        now = utc_now()
        new_category = category or old.category
        self._conn.execute(
            "UPDATE seeds SET text = ?, text_hash = ?, category = ?, updated_at = ? WHERE id = ?",
            (text, text_hash(text), new_category, now, seed_id),
        )
        # vec0 partition keys cannot be updated in place; replace the row.
        self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
        self._conn.execute(
            f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)", (seed_id, old.scope, vector)
        )
        return Seed(seed_id, old.scope, text, new_category, old.tags, old.source, old.created_at, now)

    def _delete_in_operation(self, operation_id: str, seed_id: int) -> Seed:
        old = self.require(seed_id)
        self._record_history(operation_id, old, "DELETE")
        self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
        self._conn.execute("DELETE FROM seeds WHERE id = ?", (seed_id,))
        return old

    # -- the inbox --------------------------------------------------------------------------

    def receive(
        self, scope: str, text: str, *, tags: Sequence[str] = (), force: bool = False, source: str = "agent"
    ) -> Received:
        """Commit a text to the inbox before anything decides about it."""
        now = utc_now()
        tags_json = json.dumps(list(tags), ensure_ascii=False)
        with self._lock, self._write():
            cursor = self._conn.execute(
                "INSERT INTO inbox (scope, text, tags, force, source, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (scope, text, tags_json, int(force), source, now),
            )
        return Received(
            int(cursor.lastrowid or 0), scope, text, tuple(tags), force, source, now, "pending", None, 0, None
        )

    def claim(self, inbox_id: int, owner: str, lease_seconds: float) -> Received | None:
        """Take a pending text to decide it; None if it is gone, skipped, or another owner's lease holds it."""
        now = datetime.now(UTC)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="milliseconds")
        with self._lock, self._write():
            taken = self._conn.execute(
                "UPDATE inbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND state = 'pending' "
                "AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until < ?)",
                (owner, until, inbox_id, owner, now.isoformat(timespec="milliseconds")),
            )
            if taken.rowcount != 1:
                return None
            row = self._conn.execute(f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
        return _received_from_row(row)

    def release(self, inbox_id: int, error: str) -> None:
        """Give a claimed text back undecided (the decision failed); it stays pending."""
        with self._lock, self._write():
            self._conn.execute(
                "UPDATE inbox SET claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                (error[:500], inbox_id),
            )

    def discard(self, inbox_id: int) -> None:
        """Settle a text that needs no write (a duplicate of a stored seed)."""
        with self._lock, self._write():
            self._settle(inbox_id)

    def skip(self, inbox_id: int, reason: str) -> None:
        """Keep a text the gate decided not to save, with the reason, for review."""
        with self._lock, self._write():
            done = self._conn.execute(
                "UPDATE inbox SET state = 'skipped', reason = ?, claimed_by = NULL, claimed_until = NULL "
                "WHERE id = ? AND state = 'pending'",
                (reason, inbox_id),
            )
            if done.rowcount != 1:
                raise AlreadySettled(f"inbox text {inbox_id} was already decided")

    def inbox(
        self,
        state: Literal["pending", "skipped"] = "pending",
        scope: str | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[Received]:
        """Inbox texts in one state, oldest first (or newest first, for review)."""
        sql, params = f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE state = ?", list[object]([state])
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [_received_from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    def inbox_search(self, query: str, scope: str | Sequence[str] | None, limit: int) -> list[Received]:
        """Pending inbox texts (received, not decided yet) that match the query's content words, best first.

        The same full-text match as `keyword_search` (content words OR-ed, stemmed). Texts the gate
        skipped are never returned: they were judged not worth keeping.
        """
        match = fts_query(query)
        scopes = _scope_names(scope)
        if not match or limit <= 0 or scopes == []:
            return []
        columns = ", ".join("i." + c for c in _INBOX_COLUMNS.split(", "))
        sql = (
            f"SELECT {columns} FROM inbox_fts JOIN inbox i ON i.id = inbox_fts.rowid "
            "WHERE inbox_fts MATCH ? AND i.state = 'pending'"
        )
        clause, in_scopes = _in_scopes("i.scope", scopes)
        sql += clause + " ORDER BY bm25(inbox_fts), i.id LIMIT ?"
        params: list[object] = [match, *in_scopes, limit]
        with self._lock:
            return [_received_from_row(row) for row in self._conn.execute(sql, params).fetchall()]

    def inbox_count(self, state: Literal["pending", "skipped"] = "pending", scope: str | None = None) -> int:
        sql, params = "SELECT count(*) FROM inbox WHERE state = ?", list[object]([state])
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        with self._lock:
            return int(self._conn.execute(sql, params).fetchone()[0])

    # -- reads ------------------------------------------------------------------------------

    def get(self, seed_id: int) -> Seed | None:
        with self._lock:
            return self._get_unlocked(seed_id)

    def _get_unlocked(self, seed_id: int) -> Seed | None:
        row = self._conn.execute(f"SELECT {_SEED_COLUMNS} FROM seeds WHERE id = ?", (seed_id,)).fetchone()
        return None if row is None else _seed_from_row(row)

    def require(self, seed_id: int) -> Seed:
        seed = self.get(seed_id)
        if seed is None:
            raise SeedNotFound(f"No seed with id {seed_id}.")
        return seed

    def find_exact(self, scope: str, text: str) -> Seed | None:
        """The seed in `scope` whose normalized text equals this one's, if any."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SEED_COLUMNS} FROM seeds WHERE scope = ? AND text_hash = ? ORDER BY id LIMIT 1",
                (scope, text_hash(text)),
            ).fetchone()
        return None if row is None else _seed_from_row(row)

    def search(self, embedding: Sequence[float], scope: str | Sequence[str] | None, k: int) -> list[ScoredSeed]:
        """The k nearest seeds by cosine distance, within `scope` (a name or several; every scope when None)."""
        scopes = _scope_names(scope)
        if k <= 0 or scopes == []:
            return []
        vector = self._vector(embedding)
        clause, in_scopes = _in_scopes("scope", scopes)
        where = "embedding MATCH ? AND k = ?" + clause
        params: list[object] = [vector, k, *in_scopes]
        with self._lock:
            hits = self._conn.execute(
                f"SELECT seed_id, distance FROM {VECTOR_TABLE} WHERE {where} ORDER BY distance", params
            ).fetchall()
            if not hits:
                return []
            ids = [int(h[0]) for h in hits]
            rows = self._conn.execute(
                f"SELECT {_SEED_COLUMNS} FROM seeds WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        by_id = {seed.id: seed for seed in map(_seed_from_row, rows)}
        return [ScoredSeed(by_id[int(h[0])], 1.0 - float(h[1])) for h in hits if int(h[0]) in by_id]

    def keyword_search(self, query: str, scope: str | Sequence[str] | None, k: int) -> list[tuple[Seed, float]]:
        """The k best full-text (BM25) matches for the query's content words, best first.

        The query is reduced to its content words, OR-ed: a question's wording ("what did…",
        "when is…") should not have to appear in the memory for its subject to match.
        """
        match = fts_query(query)
        scopes = _scope_names(scope)
        if not match or k <= 0 or scopes == []:
            return []
        sql = (
            f"SELECT {', '.join('s.' + c for c in _SEED_COLUMNS.split(', '))}, bm25(seeds_fts) AS rank "
            "FROM seeds_fts JOIN seeds s ON s.id = seeds_fts.rowid WHERE seeds_fts MATCH ?"
        )
        clause, in_scopes = _in_scopes("s.scope", scopes)
        sql += clause + " ORDER BY rank LIMIT ?"
        params: list[object] = [match, *in_scopes, k]
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [(_seed_from_row(row[:8]), -float(row[8])) for row in rows]

    def neighbours(
        self, seed_ids: Sequence[int], scope: str | None = None, within_seconds: float = 3600
    ) -> dict[int, list[int]]:
        """For each seed, the seeds stored just before and just after it in the same scope and session.

        Two seeds are of one session when they were stored within `within_seconds` of each other.
        The scope is each seed's own; `scope`, when given, only limits which seeds are looked at.
        """
        around: dict[int, list[int]] = {}
        with self._lock:
            for seed_id in seed_ids:
                row = self._conn.execute("SELECT created_at, scope FROM seeds WHERE id = ?", (seed_id,)).fetchone()
                if row is None or (scope is not None and row[1] != scope):
                    continue
                found: list[int] = []
                for sql in (
                    "SELECT id, created_at FROM seeds WHERE scope = ? AND id < ? ORDER BY id DESC LIMIT 1",
                    "SELECT id, created_at FROM seeds WHERE scope = ? AND id > ? ORDER BY id LIMIT 1",
                ):
                    other = self._conn.execute(sql, (row[1], seed_id)).fetchone()
                    if other is not None and _seconds_between(str(row[0]), str(other[1])) <= within_seconds:
                        found.append(int(other[0]))
                around[seed_id] = found
        return around

    def embedding(self, seed_id: int) -> list[float]:
        with self._lock:
            row = self._conn.execute(f"SELECT embedding FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,)).fetchone()
        if row is None:
            raise SeedNotFound(f"No vector for seed {seed_id}.")
        blob = bytes(row[0])
        return list(memoryview(blob).cast("f"))

    def list_seeds(
        self,
        scope: str | None = None,
        limit: int | None = None,
        *,
        category: str | None = None,
        since: str | datetime | None = None,
        newest_first: bool = False,
    ) -> list[Seed]:
        """Seeds oldest first (or newest first), optionally in one scope, of one category, stored since a time.

        `since` is an ISO 8601 string or a datetime (naive ones are UTC); seeds created at or after it are kept.
        """
        where, params = _seed_filter(scope, category, since)
        sql = f"SELECT {_SEED_COLUMNS} FROM seeds{where}"
        sql += " ORDER BY created_at DESC, id DESC" if newest_first else " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [_seed_from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    def scopes(self) -> list[str]:
        """Every scope that holds seeds, by name."""
        with self._lock:
            return [str(r[0]) for r in self._conn.execute("SELECT DISTINCT scope FROM seeds ORDER BY scope")]

    def count(
        self, scope: str | None = None, *, category: str | None = None, since: str | datetime | None = None
    ) -> int:
        """How many seeds `list_seeds` would return for the same filters."""
        where, params = _seed_filter(scope, category, since)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM seeds{where}", params).fetchone()[0])

    def history(self, seed_id: int) -> list[HistoryEntry]:
        """Every earlier version of a seed, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT h.operation_id, h.action, o.reason, o.trigger_text, h.recorded_at, "
                "h.seed_id, h.scope, h.text, h.category, h.tags, h.source, h.created_at, h.updated_at "
                "FROM seed_history h JOIN operations o ON o.id = h.operation_id "
                "WHERE h.seed_id = ? ORDER BY h.id",
                (seed_id,),
            ).fetchall()
        return [
            HistoryEntry(
                operation_id=str(r[0]),
                action=_history_action(r[1]),
                reason=str(r[2]),
                trigger_text=None if r[3] is None else str(r[3]),
                recorded_at=str(r[4]),
                previous=_seed_from_row(r[5:]),
            )
            for r in rows
        ]

    # -- operations, undo and purge ---------------------------------------------------------

    def _operation_record(self, row: Sequence[object]) -> OperationRecord:
        operation_id = str(row[0])
        undone_by = self._conn.execute(
            "SELECT id FROM operations WHERE undoes = ? ORDER BY created_at LIMIT 1", (operation_id,)
        ).fetchone()
        seed_ids = self._conn.execute(
            "SELECT seed_id FROM seed_history WHERE operation_id = ? GROUP BY seed_id ORDER BY min(id)",
            (operation_id,),
        ).fetchall()
        return OperationRecord(
            id=operation_id,
            kind=str(row[1]),
            scope=str(row[2]),
            reason=str(row[3]),
            trigger_text=None if row[4] is None else str(row[4]),
            created_at=str(row[5]),
            undoes=None if row[6] is None else str(row[6]),
            undone_by=None if undone_by is None else str(undone_by[0]),
            seed_ids=tuple(int(r[0]) for r in seed_ids),
        )

    def get_operation(self, operation_id: str) -> OperationRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            return None if row is None else self._operation_record(row)

    def operations(self, scope: str | None = None, limit: int | None = None) -> list[OperationRecord]:
        """Recorded operations, newest first, optionally in one scope."""
        sql, params = f"SELECT {_OPERATION_COLUMNS} FROM operations", list[object]()
        if scope is not None:
            sql += " WHERE scope = ?"
            params.append(scope)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [self._operation_record(row) for row in self._conn.execute(sql, params).fetchall()]

    def undo(self, operation_id: str) -> UndoOutcome:
        """Put every seed an operation changed back exactly as it was before it, as a new operation.

        Text, category, tags, source, both timestamps, the vector and the full-text row all come
        back; a deleted seed returns under its own id; a seed the operation created (an undo that
        re-created one) is removed. The undo is recorded with `undoes` = the operation, so it
        shows in history and can itself be undone (a redo).

        Refused, changing nothing: an unknown (or purged) operation; one already undone; and one
        whose seeds were changed again by a later operation, since putting them back would
        silently discard that later change. The message names the later operations: undo them
        first, newest first, then this one.
        """
        with self._lock, self._write():
            row = self._conn.execute(
                f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            if row is None:
                raise OperationNotFound(
                    f"No operation with id {operation_id!r}: operation ids come from the results of remember, "
                    "reconcile, forget and undo (its history may have been purged)."
                )
            undone = self._operation_record(row)
            if undone.undone_by is not None:
                raise UndoRefused(
                    f"Operation {operation_id} was already undone by {undone.undone_by}; to apply it again, "
                    f"undo {undone.undone_by}."
                )
            versions = self._conn.execute(
                "SELECT id, action, seed_id, scope, text, category, tags, source, created_at, updated_at, embedding "
                "FROM seed_history WHERE operation_id = ? ORDER BY id",
                (operation_id,),
            ).fetchall()
            if not versions:
                raise UndoRefused(f"Operation {operation_id} changed no seeds; there is nothing to undo.")
            # Per seed: its state before the operation (the first row) and whether the operation left it in place.
            first: dict[int, Sequence[object]] = {}
            last_row: dict[int, int] = {}
            left_in_place: dict[int, bool] = {}
            for version in versions:
                seed_id = int(version[2])
                first.setdefault(seed_id, version)
                last_row[seed_id] = int(version[0])
                left_in_place[seed_id] = version[1] != "DELETE"
            later = self._conn.execute(
                "SELECT h.operation_id, o.undoes FROM seed_history h JOIN operations o ON o.id = h.operation_id WHERE "
                + " OR ".join("(h.seed_id = ? AND h.id > ?)" for _ in last_row)
                + " GROUP BY h.operation_id ORDER BY min(h.id) DESC",
                [value for seed_id, row_id in last_row.items() for value in (seed_id, row_id)],
            ).fetchall()
            # A later operation that was itself undone cancels out with its undo.
            cancelled = {str(r[1]) for r in later if r[1] is not None} & {str(r[0]) for r in later}
            cancelled |= {str(r[0]) for r in later if r[1] is not None and str(r[1]) in cancelled}
            blocking = [str(r[0]) for r in later if str(r[0]) not in cancelled]
            if blocking:
                names = ", ".join(blocking)
                raise UndoRefused(
                    f"The seeds of operation {operation_id} were changed again since, by {names}; undoing it now "
                    f"would discard those changes. Undo {names} first (in that order), then {operation_id}."
                )
            for seed_id, in_place in left_in_place.items():
                if (self._get_unlocked(seed_id) is not None) != in_place:
                    raise UndoRefused(
                        f"Seed {seed_id} is not as operation {operation_id} left it (it was changed outside the "
                        "recorded history); nothing was undone."
                    )

            undo_id = self._insert_operation(
                "undo", undone.scope, f"undo of {operation_id} ({undone.kind}: {undone.reason})", None, operation_id
            )
            restored: list[Seed] = []
            removed: list[Seed] = []
            for seed_id, version in first.items():
                current = self._get_unlocked(seed_id)
                if version[1] == "ADD":
                    # The operation brought this seed into being: remove it again.
                    if current is None:
                        continue
                    self._record_history(undo_id, current, "DELETE")
                    self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
                    self._conn.execute("DELETE FROM seeds WHERE id = ?", (seed_id,))
                    removed.append(current)
                    continue
                before = _seed_from_row([seed_id, *version[3:10]])
                text, embedding = before.text, version[10]
                values = (
                    before.scope,
                    text,
                    text_hash(text),
                    before.category,
                    json.dumps(list(before.tags), ensure_ascii=False),
                    before.source,
                    before.created_at,
                    before.updated_at,
                )
                if current is not None:
                    self._record_history(undo_id, current, "UPDATE")
                    self._conn.execute(
                        "UPDATE seeds SET scope = ?, text = ?, text_hash = ?, category = ?, tags = ?, source = ?, "
                        "created_at = ?, updated_at = ? WHERE id = ?",
                        (*values, seed_id),
                    )
                    self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
                else:
                    self._conn.execute(
                        "INSERT INTO seeds (id, scope, text, text_hash, category, tags, source, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (seed_id, *values),
                    )
                if embedding is not None:
                    self._conn.execute(
                        f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)",
                        (seed_id, before.scope, embedding),
                    )
                if current is None:
                    # Recorded after the insert, so the history row carries the restored vector.
                    self._record_history(undo_id, before, "ADD")
                restored.append(before)
            record = self._conn.execute(
                f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE id = ?", (undo_id,)
            ).fetchone()
            return UndoOutcome(
                operation=self._operation_record(record),
                undone=dataclasses.replace(undone, undone_by=undo_id),
                restored=tuple(restored),
                removed=tuple(removed),
            )

    def purge_history(self, scope: str | None = None, before: str | datetime | None = None) -> PurgeOutcome:
        """Forget recorded operations and the earlier versions they kept, for good.

        Only operations in `scope` (every scope when None) recorded before `before` (an ISO 8601
        date or time, UTC unless it says otherwise; all when None). Purged operations can no longer
        be undone, and seeds they deleted are gone. Texts the gate skipped (kept in the inbox for
        review) in that scope and time go too; texts still waiting to be decided stay. The
        full-text indexes are merged, the file is vacuumed and the WAL checkpointed and truncated, so
        the purged text does not linger in free pages of either file.
        """
        where: list[str] = []
        params: list[object] = []
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if before is not None:
            where.append("created_at < ?")
            params.append(_utc_iso(before))
        condition = " AND ".join(where) or "1"
        inbox_condition = condition.replace("created_at", "received_at")
        with self._lock:
            with self._write():
                versions = self._conn.execute(
                    f"DELETE FROM seed_history WHERE operation_id IN (SELECT id FROM operations WHERE {condition})",
                    params,
                ).rowcount
                operations = self._conn.execute(f"DELETE FROM operations WHERE {condition}", params).rowcount
                skipped = self._conn.execute(
                    f"DELETE FROM inbox WHERE state = 'skipped' AND {inbox_condition}", params
                ).rowcount
                # FTS5 keeps a deleted row's terms in older index segments until they are merged.
                self._conn.execute("INSERT INTO seeds_fts (seeds_fts) VALUES ('optimize')")
                self._conn.execute("INSERT INTO inbox_fts (inbox_fts) VALUES ('optimize')")
            # A delete leaves the row's bytes in free space inside the file; VACUUM rewrites the file without
            # them, and the checkpoint moves that into the main file and empties the WAL.
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return PurgeOutcome(operations=operations, versions=versions, skipped=skipped)

    def restore(self, seeds: Sequence[tuple[Seed, Sequence[float]]]) -> list[Seed]:
        """Insert seeds exactly as given (scope, text, category, tags, source, timestamps), in one transaction.

        Each keeps its id when no seed here has (or had) that id, else gets a new one. For imports of
        an export: into an empty store the result is the exported store, ids included.
        """
        vectors = [self._vector(embedding) for _, embedding in seeds]
        restored: list[Seed] = []
        with self._lock, self._write():
            for (seed, _), vector in zip(seeds, vectors, strict=True):
                # id 0: the seed has no id of its own yet. An id in history belonged to another seed here.
                taken = (
                    seed.id <= 0
                    or self._conn.execute(
                        "SELECT 1 FROM seeds WHERE id = ?1 UNION ALL SELECT 1 FROM seed_history WHERE seed_id = ?1",
                        (seed.id,),
                    ).fetchone()
                    is not None
                )
                cursor = self._conn.execute(
                    "INSERT INTO seeds (id, scope, text, text_hash, category, tags, source, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        None if taken else seed.id,
                        seed.scope,
                        seed.text,
                        text_hash(seed.text),
                        seed.category,
                        json.dumps(list(seed.tags), ensure_ascii=False),
                        seed.source,
                        seed.created_at,
                        seed.updated_at,
                    ),
                )
                seed_id = int(cursor.lastrowid or 0)
                self._conn.execute(
                    f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)",
                    (seed_id, seed.scope, vector),
                )
                restored.append(
                    Seed(
                        seed_id,
                        seed.scope,
                        seed.text,
                        seed.category,
                        seed.tags,
                        seed.source,
                        seed.created_at,
                        seed.updated_at,
                    )
                )
        return restored

    # -- small state kept beside the seeds (the reconcile cursor) ---------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a meta value; None removes the key."""
        with self._lock, self._write():
            if value is None:
                self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def stats(self) -> StoreStats:
        """Counts for people looking at the store: seeds per scope and category, operations, history."""
        with self._lock:
            scopes = {str(r[0]): int(r[1]) for r in self._conn.execute("SELECT scope, count(*) FROM seeds GROUP BY 1")}
            categories = {
                str(r[0]): int(r[1]) for r in self._conn.execute("SELECT category, count(*) FROM seeds GROUP BY 1")
            }
            operations = int(self._conn.execute("SELECT count(*) FROM operations").fetchone()[0])
            history = int(self._conn.execute("SELECT count(*) FROM seed_history").fetchone()[0])
            span = self._conn.execute("SELECT min(created_at), max(updated_at) FROM seeds").fetchone()
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        size = sum(
            Path(self.path + suffix).stat().st_size
            for suffix in ("", "-wal", "-shm")
            if self.path != ":memory:" and Path(self.path + suffix).exists()
        )
        return StoreStats(
            path=self.path,
            size_bytes=size,
            schema_version=version,
            embedder=self.embedder,
            seeds_by_scope=dict(sorted(scopes.items())),
            seeds_by_category=dict(sorted(categories.items(), key=lambda item: -item[1])),
            operations=operations,
            history_entries=history,
            oldest=None if span[0] is None else str(span[0]),
            newest=None if span[1] is None else str(span[1]),
        )

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
