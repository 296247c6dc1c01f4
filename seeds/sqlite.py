"""The SQLite engine: one file, vectors in a sqlite-vec table, full-text in FTS5 (the default store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlite_vec  # pyright: ignore[reportMissingTypeStubs]

from seeds.core import VECTOR_TABLE
from seeds.engine import Cursor, EngineConnection
from seeds.records import INBOX_COLUMNS, SEED_COLUMNS, cjk_grams, content_words, fts_query, gram_share, in_scopes
from seeds.sqlite_db import connect, migrate, schema_version
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

    def _reserve_seed_ids(self, count: int) -> list[int]:
        # Past AUTOINCREMENT's counter (ids of removed seeds are never reused); inserting them moves it on.
        row = self._conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'seeds'), 0), "
            "coalesce((SELECT max(id) FROM seeds), 0))"
        ).fetchone()
        first = int(row[0]) + 1
        return list(range(first, first + count))

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
        columns = ", ".join("s." + c for c in SEED_COLUMNS.split(", "))
        return self._text_matches("seeds", columns, query, scopes, k)

    def _inbox_matches(self, query: str, scopes: list[str] | None, limit: int) -> list[Sequence[object]]:
        columns = ", ".join("s." + c for c in INBOX_COLUMNS.split(", "))
        rows = self._text_matches("inbox", columns, query, scopes, limit, " AND s.state = 'pending'")
        return [row for row, _ in rows]

    def _text_matches(
        self, table: str, columns: str, query: str, scopes: list[str] | None, k: int, extra: str = ""
    ) -> list[tuple[Sequence[object], float]]:
        """Rows of `table` by the query's words (BM25 over the word index) and, for Chinese/Japanese/Korean,
        by the share of its character grams the text holds (the trigram index); both add to the score, as
        PostgreSQL's ts_rank and gram share do. Best first, higher is better; the row's id is its first column."""
        words = content_words(query)
        match, grams = fts_query(words), cjk_grams(words)
        clause, params = in_scopes("s.scope", scopes)
        scored: dict[int, tuple[Sequence[object], float]] = {}
        if match:
            rows = self._conn.execute(
                f"SELECT {columns}, bm25({table}_fts) FROM {table}_fts JOIN {table} s ON s.id = {table}_fts.rowid "
                f"WHERE {table}_fts MATCH ?{extra}{clause} ORDER BY bm25({table}_fts), s.id LIMIT ?",
                [match, *params, k],
            ).fetchall()
            for row in rows:
                scored[int(row[0])] = (tuple(row[:-1]), -float(row[-1]))
        if grams:
            # A trigram index answers MATCH for 3-character grams; a 2-character run is looked for by LIKE.
            long = " OR ".join(f'"{gram}"' for gram in grams if len(gram) >= 3)
            short = [f"%{gram}%" for gram in grams if len(gram) < 3]
            found = ([f"s.id IN (SELECT rowid FROM {table}_cjk WHERE {table}_cjk MATCH ?)"] if long else []) + [
                "s.text LIKE ?" for _ in short
            ]
            rows = self._conn.execute(
                f"SELECT {columns}, s.text FROM {table} s WHERE ({' OR '.join(found)}){extra}{clause}",
                [*([long] if long else []), *short, *params],
            ).fetchall()
            for row in rows:
                share = gram_share(str(row[-1]), grams)
                kept, score = scored.get(int(row[0]), (tuple(row[:-1]), 0.0))
                scored[int(row[0])] = (kept, score + share)
        best = sorted(scored.items(), key=lambda item: (-item[1][1], item[0]))[:k]
        return [entry for _, entry in best]

    def _compact(self) -> None:
        # FTS5 keeps a deleted row's terms in older index segments until they are merged; a delete
        # leaves the row's bytes in free pages, which VACUUM drops; the checkpoint empties the WAL.
        with self._write():
            self._conn.execute("INSERT INTO seeds_fts (seeds_fts) VALUES ('optimize')")
            self._conn.execute("INSERT INTO inbox_fts (inbox_fts) VALUES ('optimize')")
            for index in ("seeds_cjk", "inbox_cjk"):
                self._conn.execute(f"INSERT INTO {index} ({index}) VALUES ('optimize')")
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
