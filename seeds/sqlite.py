"""The SQLite engine: one file, vectors in a sqlite-vec table, full-text in FTS5 (the default store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlite_vec  # pyright: ignore[reportMissingTypeStubs]

from seeds.core import VECTOR_TABLE
from seeds.db import connect, migrate, schema_version
from seeds.engine import Cursor, EngineConnection
from seeds.records import INBOX_COLUMNS, SEED_COLUMNS, fts_query, in_scopes
from seeds.store import SeedStore


class SQLiteConnection(EngineConnection):
    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.raw = conn

    def _run(self, sql: str, params: Sequence[object]) -> Cursor:
        return self.raw.execute(sql, params)

    def _run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.raw.executemany(sql, rows)

    def _is_engine_error(self, exc: Exception) -> bool:
        # sqlean raises its own sqlite3-compatible classes; match both by their DB-API names.
        return isinstance(exc, sqlite3.Error) or type(exc).__name__ in {
            "OperationalError",
            "DatabaseError",
            "IntegrityError",
            "InternalError",
            "ProgrammingError",
        }

    def advice(self, exc: Exception) -> str:
        if "locked" in str(exc) or "busy" in str(exc):
            return "another process holds the file's write lock for too long; try again, or stop the other process"
        return "check the file's permissions and free disk space, or run `cerebellum-mcp doctor`"

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.raw.close()


class SQLiteStore(SeedStore):
    """Seeds in one SQLite file; thread-safe, several processes on one file through SQLite's own locking."""

    engine = "sqlite"
    # BEGIN IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a
    # read lock; busy_timeout makes the other one wait instead of failing. A read is deferred (WAL).
    _begin_write = "BEGIN IMMEDIATE"
    _begin_read = "BEGIN"

    @classmethod
    def open_file(cls, path: str | Path) -> SQLiteStore:
        return cls(SQLiteConnection(connect(path)), str(path))

    def _migrate(self) -> None:
        assert isinstance(self._conn, SQLiteConnection)
        migrate(self._conn.raw)

    def _create_vector_table(self, dimension: int) -> None:
        self._conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {VECTOR_TABLE} USING vec0("
            f"seed_id INTEGER PRIMARY KEY, scope TEXT PARTITION KEY, "
            f"embedding FLOAT[{dimension}] distance_metric=cosine)"
        )

    def _vector(self, embedding: Sequence[float]) -> object:
        return sqlite_vec.serialize_float32(list(embedding))

    def _floats(self, stored: object) -> list[float]:
        assert isinstance(stored, bytes)
        return list(memoryview(stored).cast("f"))

    def _nearest(self, vector: object, scopes: list[str] | None, k: int) -> list[tuple[int, float]]:
        clause, params = in_scopes("scope", scopes)
        rows = self._conn.execute(
            f"SELECT seed_id, distance FROM {VECTOR_TABLE} WHERE embedding MATCH ? AND k = ?{clause} ORDER BY distance",
            [vector, k, *params],
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _keyword_matches(self, query: str, scopes: list[str] | None, k: int) -> list[tuple[Sequence[object], float]]:
        match = fts_query(query)
        if not match:
            return []
        clause, params = in_scopes("s.scope", scopes)
        rows = self._conn.execute(
            f"SELECT {', '.join('s.' + c for c in SEED_COLUMNS.split(', '))}, bm25(seeds_fts) AS rank "
            f"FROM seeds_fts JOIN seeds s ON s.id = seeds_fts.rowid WHERE seeds_fts MATCH ?{clause} "
            "ORDER BY rank LIMIT ?",
            [match, *params, k],
        ).fetchall()
        return [(tuple(row[:8]), -float(row[8])) for row in rows]

    def _inbox_matches(self, query: str, scopes: list[str] | None, limit: int) -> list[Sequence[object]]:
        match = fts_query(query)
        if not match:
            return []
        clause, params = in_scopes("i.scope", scopes)
        columns = ", ".join("i." + c for c in INBOX_COLUMNS.split(", "))
        return self._conn.execute(
            f"SELECT {columns} FROM inbox_fts JOIN inbox i ON i.id = inbox_fts.rowid "
            f"WHERE inbox_fts MATCH ? AND i.state = 'pending'{clause} ORDER BY bm25(inbox_fts), i.id LIMIT ?",
            [match, *params, limit],
        ).fetchall()

    def _compact(self) -> None:
        # FTS5 keeps a deleted row's terms in older index segments until they are merged; a delete
        # leaves the row's bytes in free pages, which VACUUM drops; the checkpoint empties the WAL.
        with self._write():
            self._conn.execute("INSERT INTO seeds_fts (seeds_fts) VALUES ('optimize')")
            self._conn.execute("INSERT INTO inbox_fts (inbox_fts) VALUES ('optimize')")
        self._conn.execute("VACUUM")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _engine_stats(self) -> tuple[int, int, str, str]:
        assert isinstance(self._conn, SQLiteConnection)
        size = sum(
            Path(self.path + suffix).stat().st_size
            for suffix in ("", "-wal", "-shm")
            if self.path != ":memory:" and Path(self.path + suffix).exists()
        )
        (vec_version,) = self._conn.execute("SELECT vec_version()").fetchone()
        (sqlite_version,) = self._conn.execute("SELECT sqlite_version()").fetchone()
        return (
            schema_version(self._conn.raw),
            size,
            f"SQLite {sqlite_version}, sqlite-vec {vec_version}",
            "exact scan (sqlite-vec vec0, cosine)",
        )

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
