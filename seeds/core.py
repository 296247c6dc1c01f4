"""The part of the store every other part stands on: the connection, transactions, the embedder binding,
and the one place that writes a seed row and its vector. Engines fill in the abstract hooks."""

from __future__ import annotations

import json
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager, contextmanager

from seeds.engine import EngineConnection
from seeds.records import (
    SEED_COLUMNS,
    AlreadySettled,
    EmbedderMismatch,
    EmbedderNotBound,
    Seed,
    SeedNotFound,
    is_row_id,
    seed_from_row,
    text_hash,
    utc_now,
)

VECTOR_TABLE = "seed_vectors"


def new_operation_id() -> str:
    """A fresh operation id (op_ and 12 hex digits)."""
    return "op_" + uuid.uuid4().hex[:12]


class StoreCore(ABC):
    """Thread-safe: calls are serialized on one connection (or each thread checks one out of an engine's
    pool); each write is one short transaction."""

    engine = "sqlite"

    def __init__(self, conn: EngineConnection, path: str) -> None:
        self._home = conn
        self.path = path
        """Where the store is: a file path, or a postgresql:// URL without its password."""
        self._lock: AbstractContextManager[object] = threading.RLock()
        """Held around every statement group. SQLite: the one connection's lock. An engine with a pool
        replaces it by a checkout that gives the calling thread a connection of its own."""
        self._dimension: int | None = None
        self._migrate()
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedding_dimension'").fetchone()
        if row is not None:
            self._dimension = int(row[0])

    @property
    def _conn(self) -> EngineConnection:
        """The connection of the calling thread's statements (the one connection, unless an engine pools)."""
        return self._home

    def close(self) -> None:
        with self._lock:
            self._home.close()

    # -- what an engine provides ------------------------------------------------------------

    _begin_write = "BEGIN"
    _begin_read = "BEGIN"
    _operations_order = "rowid"
    """The column that orders operations recorded in the same millisecond."""

    @abstractmethod
    def _migrate(self) -> None:
        """Bring the schema to the version this code knows (versioned migrations)."""

    @abstractmethod
    def _create_vector_table(self, dimension: int) -> None:
        """Create seed_vectors (seed_id, scope, embedding) for this dimension, inside the binding's transaction."""

    @abstractmethod
    def _vector(self, embedding: Sequence[float]) -> object:
        """The embedding as this engine stores it (after the dimension check in `_checked_vector`)."""

    @abstractmethod
    def _floats(self, stored: object) -> list[float]:
        """A stored vector (from seed_vectors or seed_history) back as floats."""

    def _after_explicit_id(self, seed_id: int) -> None:  # noqa: B027 - an optional hook
        """A seed row was written with a given id (undo, import): keep the id generator past it."""

    def _serialize_binding(self) -> None:  # noqa: B027 - an optional hook
        """Inside bind_embedder's transaction: make a second binder wait (SQLite's write lock already does)."""

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Generator[None]:
        self._conn.execute(self._begin_write)
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Generator[None]:
        """Reads inside see the store as it was at the first of them, whatever other processes write meanwhile.

        Recall reads the seeds and the inbox: a text decided by another process between the two
        reads would otherwise show up in both, or in neither. Reentrant; never for writes.
        """
        with self._lock:
            if self._conn.in_transaction:
                yield
                return
            self._conn.execute(self._begin_read)
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

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
            # Read inside the write transaction: another process may have bound the store since we opened it.
            self._serialize_binding()
            bound = {
                str(r[0]): str(r[1])
                for r in self._conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('embedder', 'embedding_dimension')"
                ).fetchall()
            }
            if "embedder" in bound:
                bound_name = bound["embedder"]
                self._dimension = int(bound["embedding_dimension"])
                if (bound_name, self._dimension) != (name, dimension):
                    raise EmbedderMismatch(
                        f"The seed store {self.path} holds vectors from embedder '{bound_name}' "
                        f"({self._dimension} dimensions), but the configured embedder is '{name}' "
                        f"({dimension} dimensions). Point --embedder back at '{bound_name}', or use "
                        "another --db for this embedder."
                    )
                return
            self._create_vector_table(dimension)
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("embedder", name), ("embedding_dimension", str(dimension))],
            )
            self._dimension = dimension

    def _checked_vector(self, embedding: Sequence[float]) -> object:
        if self._dimension is None:
            raise EmbedderNotBound("bind_embedder() must be called before storing or searching vectors")
        if len(embedding) != self._dimension:
            raise EmbedderMismatch(f"expected a {self._dimension}-dimension embedding, got {len(embedding)}")
        return self._vector(embedding)

    # -- the one place a seed row and its vector are written --------------------------------

    def _write_seed(self, seed: Seed, vector: object | None, *, keep_id: bool, replace: bool = False) -> Seed:
        """Insert (or, with `replace`, overwrite) a seed row and set its vector; inside a write transaction.

        `keep_id`: the row gets `seed.id` (undo, import) instead of a new one. `vector` None: the
        seed has no vector (a history row from before vectors were kept); any old one is removed.
        """
        values = _row(seed)
        if replace:
            self._conn.execute(
                "UPDATE seeds SET scope = ?, text = ?, text_hash = ?, category = ?, tags = ?, source = ?, "
                "created_at = ?, updated_at = ? WHERE id = ?",
                (*values, seed.id),
            )
            seed_id = seed.id
            # sqlite-vec's partition key cannot be updated in place; both engines replace the row.
            self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
        elif keep_id:
            self._conn.execute(
                "INSERT INTO seeds (id, scope, text, text_hash, category, tags, source, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seed.id, *values),
            )
            seed_id = seed.id
            self._after_explicit_id(seed_id)
        else:
            row = self._conn.execute(
                "INSERT INTO seeds (scope, text, text_hash, category, tags, source, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                values,
            ).fetchone()
            seed_id = int(row[0])
        if vector is not None:
            self._conn.execute(
                f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)",
                (seed_id, seed.scope, vector),
            )
        return Seed(
            seed_id, seed.scope, seed.text, seed.category, seed.tags, seed.source, seed.created_at, seed.updated_at
        )

    @contextmanager
    def _bulk_vectors(self) -> Generator[None]:
        """Inside a write, around many vector inserts: an engine whose vector index is cheaper to build once
        than to grow row by row takes it down and builds it again after (PostgreSQL's HNSW)."""
        yield

    @abstractmethod
    def _reserve_seed_ids(self, count: int) -> list[int]:
        """Inside a write: `count` new seed ids, in order, none ever handed out before."""

    def _write_seeds(self, seeds: Sequence[tuple[Seed, object]], *, rebuild_index: bool = True) -> None:
        """Insert many seeds with their own ids and their vectors, inside a write transaction: one statement
        batch per table (psycopg pipelines it), not two round trips a seed. The id generators are moved past
        them by the caller (`_after_import`), unless the ids came from `_reserve_seed_ids`. `rebuild_index`:
        let the engine take its vector index down and build it once after (a whole store's copy; not a batch
        added to a large store, whose index would be rebuilt for a few rows)."""
        self._conn.executemany(
            "INSERT INTO seeds (id, scope, text, text_hash, category, tags, source, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(seed.id, *_row(seed)) for seed, _ in seeds],
        )
        vectors = [(seed.id, seed.scope, vector) for seed, vector in seeds if vector is not None]
        if vectors:
            insert = f"INSERT INTO {VECTOR_TABLE} (seed_id, scope, embedding) VALUES (?, ?, ?)"
            if not rebuild_index:
                self._conn.executemany(insert, vectors)
                return
            with self._bulk_vectors():
                self._conn.executemany(insert, vectors)

    def _remove_seed(self, seed_id: int) -> None:
        self._conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,))
        self._conn.execute("DELETE FROM seeds WHERE id = ?", (seed_id,))

    def _put_meta(self, key: str, value: str | None) -> None:
        """Inside a write: set a meta value; None removes the key."""
        if value is None:
            self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _stored_vector(self, seed_id: int) -> object | None:
        if not is_row_id(seed_id):
            return None
        row = self._conn.execute(f"SELECT embedding FROM {VECTOR_TABLE} WHERE seed_id = ?", (seed_id,)).fetchone()
        return None if row is None else row[0]

    def _stored_vectors(self, seed_ids: Sequence[int]) -> dict[int, object]:
        """Several seeds' vectors, by id (the missing left out). One lookup each here: sqlite-vec answers
        `seed_id IN (…)` by reading every vector (69 ms at 100k, against 0.2 ms a lookup); an engine whose
        index answers a list in one statement overrides this."""
        found: dict[int, object] = {}
        for seed_id in dict.fromkeys(seed_ids):
            stored = self._stored_vector(seed_id)
            if stored is not None:
                found[seed_id] = stored
        return found

    def _distinct(self, column: str) -> list[str]:
        """The distinct values of an indexed column of seeds, in order, by a skip scan: one index probe per
        value (30 scopes: 0.2 ms at 100k seeds, against 8 ms for DISTINCT over the index on SQLite and 40 ms
        on PostgreSQL, which reads every entry)."""
        rows = self._conn.execute(
            f"WITH RECURSIVE d (v) AS (SELECT min({column}) FROM seeds UNION ALL "
            f"SELECT (SELECT min({column}) FROM seeds WHERE {column} > d.v) FROM d WHERE d.v IS NOT NULL) "
            "SELECT v FROM d WHERE v IS NOT NULL",
            (),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def get_many(self, seed_ids: Sequence[int]) -> dict[int, Seed]:
        """Several seeds by id, in one statement (the missing left out)."""
        ids = list(dict.fromkeys(seed_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {SEED_COLUMNS} FROM seeds WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return {seed.id: seed for seed in map(seed_from_row, rows)}

    # -- shared by the parts ----------------------------------------------------------------

    def _settle(self, inbox_id: int | None) -> None:
        if inbox_id is None:
            return
        gone = self._conn.execute("DELETE FROM inbox WHERE id = ? AND state = 'pending'", (inbox_id,))
        if gone.rowcount != 1:
            raise AlreadySettled(f"inbox text {inbox_id} was already decided")

    def _insert_operation(
        self,
        kind: str,
        scope: str,
        reason: str,
        trigger_text: str | None,
        undoes: str | None = None,
        operation_id: str | None = None,
    ) -> str:
        operation_id = operation_id or new_operation_id()
        self._conn.execute(
            "INSERT INTO operations (id, kind, scope, reason, trigger_text, created_at, undoes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (operation_id, kind, scope, reason, trigger_text, utc_now(), undoes),
        )
        return operation_id

    def get(self, seed_id: int) -> Seed | None:
        with self._lock:
            return self._get_unlocked(seed_id)

    def _get_unlocked(self, seed_id: int) -> Seed | None:
        if not is_row_id(seed_id):  # no seed has it (and the driver could not bind it)
            return None
        row = self._conn.execute(f"SELECT {SEED_COLUMNS} FROM seeds WHERE id = ?", (seed_id,)).fetchone()
        return None if row is None else seed_from_row(row)

    def require(self, seed_id: int) -> Seed:
        seed = self.get(seed_id)
        if seed is None:
            raise SeedNotFound(f"No seed with id {seed_id}.")
        return seed


def _row(seed: Seed) -> tuple[object, ...]:
    """A seed's columns after its id, as the seeds table holds them (the one place they are laid out)."""
    return (
        seed.scope,
        seed.text,
        text_hash(seed.text),
        seed.category,
        json.dumps(list(seed.tags), ensure_ascii=False),
        seed.source,
        seed.created_at,
        seed.updated_at,
    )
