"""The seed store's contract: what the pipeline, the MCP layer and the CLI may call, for every engine.

`SeedStore` is abstract: `seeds.sqlite.SQLiteStore` (a file, the default) and
`seeds.postgres.PostgresStore` (a postgresql:// URL, for teams) implement its engine hooks, and
`open_store(path_or_url)` (seeds/opening.py) picks the engine. Every public method here is the contract; the
inbox and the history are their own parts (`seeds.inbox`, `seeds.history`).
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from seeds.browse import BrowsePart
from seeds.copy import CopyPart
from seeds.history import HistoryPart
from seeds.inbox import InboxPart
from seeds.operation import Operation
from seeds.records import (
    SEED_COLUMNS,
    Decided,
    ScoredSeed,
    Seed,
    SeedNotFound,
    StoreStats,
    scope_names,
    seconds_between,
    seed_filter,
    seed_from_row,
    text_hash,
    utc_now,
)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def redacted(location: str | Path) -> str:
    """A store's location for messages and `stats`: a URL without its password."""
    parts = urlsplit(str(location))
    if parts.password is None:
        return str(location)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def is_postgres_url(location: str | Path) -> bool:
    """True for a postgresql:// (or postgres://) URL, which selects the PostgreSQL engine."""
    return str(location).startswith(POSTGRES_SCHEMES)


class SeedStore(InboxPart, BrowsePart, HistoryPart, CopyPart):
    """A plain library over one database. Thread-safe: calls are serialized on one connection."""

    # -- what an engine provides for reads --------------------------------------------------

    @abstractmethod
    def _nearest(self, vector: object, scopes: list[str] | None, k: int) -> list[tuple[int, float]]:
        """(seed id, cosine distance) of the k nearest seeds in the scopes (all when None), nearest first."""

    @abstractmethod
    def _keyword_matches(self, query: str, scopes: list[str] | None, k: int) -> list[tuple[Sequence[object], float]]:
        """(seed row in SEED_COLUMNS, score > 0) of the k best full-text matches, best first."""

    @abstractmethod
    def _engine_stats(self) -> tuple[int, int, str, str]:
        """(schema version, size in bytes, engine version, vector index) for `stats`."""

    @abstractmethod
    def integrity_check(self) -> str:
        """'ok', or what the engine found wrong."""

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
            yield Operation(self, self._insert_operation(kind, scope, reason, trigger_text), scope)

    @contextmanager
    def continue_operation(self, operation_id: str, kind: str, scope: str, reason: str) -> Generator[Operation]:
        """One more part of an operation made of several transactions (an import, batch by batch), all
        recorded under one id, so `undo` takes the whole of it back. The first part records the operation;
        each part is applied whole or not at all."""
        with self._lock, self._write():
            known = self._conn.execute("SELECT 1 FROM operations WHERE id = ?", (operation_id,)).fetchone()
            if known is None:
                self._insert_operation(kind, scope, reason, None, operation_id=operation_id)
            yield Operation(self, operation_id, scope)

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
        decided: Decided | None = None,
    ) -> Seed:
        """Store a new seed; `decided`, the decision that stores it, is recorded in the same transaction."""
        vector = self._checked_vector(embedding)
        now = utc_now()
        with self._lock, self._write():
            self._settle(settles)
            seed = self._write_seed(
                Seed(0, scope, text, category, tuple(tags), source, now, now), vector, keep_id=False
            )
            self._record_decision(decided, scope, seed_id=seed.id)
            return seed

    def add_many(self, scope: str, items: Sequence[tuple[str, Sequence[float]]], *, category: str = "fact") -> int:
        """Store many (text, embedding) seeds in one transaction, undecided (bulk loads, benchmarks)."""
        now = utc_now()
        with self._lock, self._write():
            for text, embedding in items:
                seed = Seed(0, scope, text, category, (), "bulk", now, now)
                self._write_seed(seed, self._checked_vector(embedding), keep_id=False)
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
        decided: Decided | None = None,
    ) -> tuple[Seed, str]:
        """Replace a seed's text (and vector); the old version goes to history. Returns (seed, op id)."""
        scope = self.require(seed_id).scope
        with self.operation("update", scope, reason, trigger_text, settles=settles) as op:
            updated = op.update(seed_id, text, embedding, category)
            self._record_decision(decided, scope, seed_id=seed_id, operation_id=op.id)
            return updated, op.id

    def delete(
        self,
        seed_id: int,
        *,
        reason: str,
        trigger_text: str | None = None,
        settles: int | None = None,
        decided: Decided | None = None,
    ) -> tuple[Seed, str]:
        """Remove a seed; its last version goes to history. Returns (the removed seed, op id)."""
        scope = self.require(seed_id).scope
        with self.operation("delete", scope, reason, trigger_text, settles=settles) as op:
            removed = op.delete(seed_id)
            self._record_decision(decided, scope, seed_id=seed_id, operation_id=op.id)
            return removed, op.id

    def _update_in_operation(
        self, operation_id: str, seed_id: int, text: str, embedding: Sequence[float], category: str | None
    ) -> Seed:
        vector = self._checked_vector(embedding)
        old = self.require(seed_id)
        self._record_history(operation_id, old, "UPDATE")
        now = utc_now()
        new_category = category or old.category
        new = Seed(seed_id, old.scope, text, new_category, old.tags, old.source, old.created_at, now)
        return self._write_seed(new, vector, keep_id=True, replace=True)

    def _add_in_operation(self, operation_id: str, seed: Seed, embedding: Sequence[float]) -> Seed:
        stored = self._write_seed(seed, self._checked_vector(embedding), keep_id=False)
        # Recorded after the insert, so the history row carries the vector (as undo's re-creations are).
        self._record_history(operation_id, stored, "ADD")
        return stored

    def _add_many_in_operation(self, operation_id: str, seeds: Sequence[tuple[Seed, Sequence[float]]]) -> list[Seed]:
        if not seeds:
            return []
        vectors = [self._checked_vector(embedding) for _, embedding in seeds]
        ids = self._reserve_seed_ids(len(seeds))
        stored = [dataclasses.replace(seed, id=seed_id) for (seed, _), seed_id in zip(seeds, ids, strict=True)]
        rows = list(zip(stored, vectors, strict=True))
        self._write_seeds(rows, rebuild_index=False)
        self._record_history_rows(operation_id, rows, "ADD")
        return stored

    def _delete_in_operation(self, operation_id: str, seed_id: int) -> Seed:
        old = self.require(seed_id)
        self._record_history(operation_id, old, "DELETE")
        self._remove_seed(seed_id)
        return old

    def find_exact(self, scope: str, text: str) -> Seed | None:
        """The seed in `scope` whose normalized text equals this one's, if any."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {SEED_COLUMNS} FROM seeds WHERE scope = ? AND text_hash = ? ORDER BY id LIMIT 1",
                (scope, text_hash(text)),
            ).fetchone()
        return None if row is None else seed_from_row(row)

    def search(self, embedding: Sequence[float], scope: str | Sequence[str] | None, k: int) -> list[ScoredSeed]:
        """The k nearest seeds by cosine distance, within `scope` (a name or several; every scope when None)."""
        scopes = scope_names(scope)
        if k <= 0 or scopes == []:
            return []
        vector = self._checked_vector(embedding)
        with self._lock:
            hits = self._nearest(vector, scopes, k)
            if not hits:
                return []
            ids = [seed_id for seed_id, _ in hits]
            rows = self._conn.execute(
                f"SELECT {SEED_COLUMNS} FROM seeds WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        by_id = {seed.id: seed for seed in map(seed_from_row, rows)}
        return [ScoredSeed(by_id[seed_id], 1.0 - distance) for seed_id, distance in hits if seed_id in by_id]

    def keyword_search(self, query: str, scope: str | Sequence[str] | None, k: int) -> list[tuple[Seed, float]]:
        """The k best full-text matches for the query's content words, best first (score > 0, higher is better).

        The query is reduced to its content words, OR-ed: a question's wording ("what did…",
        "when is…") should not have to appear in the memory for its subject to match.
        """
        scopes = scope_names(scope)
        if k <= 0 or scopes == []:
            return []
        with self._lock:
            return [(seed_from_row(row), score) for row, score in self._keyword_matches(query, scopes, k)]

    def neighbours(
        self, seed_ids: Sequence[int], scope: str | None = None, within_seconds: float = 3600
    ) -> dict[int, list[int]]:
        """For each seed, the seeds stored just before and just after it in the same scope and session.

        Two seeds are of one session when they were stored within `within_seconds` of each other.
        The scope is each seed's own; `scope`, when given, only limits which seeds are looked at.
        """
        ids = list(dict.fromkeys(seed_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            # One statement for all the seeds and their nearest ids either side (one index probe each), one
            # for those neighbours' times: at recall's 50 strongest seeds, 2 statements instead of 150.
            rows = self._conn.execute(
                "SELECT s.id, s.created_at, s.scope, "
                "(SELECT p.id FROM seeds p WHERE p.scope = s.scope AND p.id < s.id ORDER BY p.id DESC LIMIT 1), "
                "(SELECT n.id FROM seeds n WHERE n.scope = s.scope AND n.id > s.id ORDER BY n.id LIMIT 1) "
                f"FROM seeds s WHERE s.id IN ({marks})",
                ids,
            ).fetchall()
            rows = [r for r in rows if scope is None or r[2] == scope]
            others = [int(r[i]) for r in rows for i in (3, 4) if r[i] is not None]
            created: dict[int, str] = {}
            if others:
                created = {
                    int(r[0]): str(r[1])
                    for r in self._conn.execute(
                        f"SELECT id, created_at FROM seeds WHERE id IN ({','.join('?' * len(others))})", others
                    ).fetchall()
                }
        around: dict[int, list[int]] = {}
        by_id = {int(r[0]): r for r in rows}
        for seed_id in ids:  # in the order asked
            row = by_id.get(seed_id)
            if row is None:
                continue
            around[seed_id] = [
                int(other)
                for other in (row[3], row[4])
                if other is not None
                and int(other) in created
                and seconds_between(str(row[1]), created[int(other)]) <= within_seconds
            ]
        return around

    def embeddings(self, seed_ids: Sequence[int]) -> dict[int, list[float]]:
        """Several seeds' vectors, by id (a seed with none is left out)."""
        with self._lock:
            stored = self._stored_vectors(seed_ids)
        return {seed_id: self._floats(vector) for seed_id, vector in stored.items()}

    def embedding(self, seed_id: int) -> list[float]:
        with self._lock:
            stored = self._stored_vector(seed_id)
        if stored is None:
            raise SeedNotFound(f"No vector for seed {seed_id}.")
        return self._floats(stored)

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
        where, params = seed_filter(scope, category, since)
        sql = f"SELECT {SEED_COLUMNS} FROM seeds{where}"
        sql += " ORDER BY created_at DESC, id DESC" if newest_first else " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [seed_from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    def scopes(self) -> list[str]:
        """Every scope that holds seeds, by name."""
        with self._lock:
            return self._distinct("scope")

    def count(
        self, scope: str | None = None, *, category: str | None = None, since: str | datetime | None = None
    ) -> int:
        """How many seeds `list_seeds` would return for the same filters."""
        where, params = seed_filter(scope, category, since)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM seeds{where}", params).fetchone()[0])

    def restore(self, seeds: Sequence[tuple[Seed, Sequence[float]]]) -> list[Seed]:
        """Insert seeds exactly as given (scope, text, category, tags, source, timestamps), in one transaction.

        Each keeps its id when no seed here has (or had) that id, else gets a new one. For imports of
        an export: into an empty store the result is the exported store, ids included.
        """
        vectors = [self._checked_vector(embedding) for _, embedding in seeds]
        restored: list[Seed] = []
        with self._lock, self._write():
            for (seed, _), vector in zip(seeds, vectors, strict=True):
                # id 0: the seed has no id of its own yet. An id in history belonged to another seed here.
                taken = (
                    seed.id <= 0
                    or self._conn.execute(
                        "SELECT 1 FROM seeds WHERE id = ? UNION ALL SELECT 1 FROM seed_history WHERE seed_id = ?",
                        (seed.id, seed.id),
                    ).fetchone()
                    is not None
                )
                restored.append(self._write_seed(seed, vector, keep_id=not taken))
        return restored

    # -- small state kept beside the seeds (the reconcile cursor) ---------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a meta value; None removes the key."""
        with self._lock, self._write():
            self._put_meta(key, value)

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
            version, size, engine_version, index = self._engine_stats()
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
            engine=self.engine,
            engine_version=engine_version,
            vector_index=index,
        )
