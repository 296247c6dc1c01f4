"""Opening a SQLite seed database: one `connect()` that always has sqlite-vec loaded, and the schema migrations."""

from __future__ import annotations

import importlib
import logging
import sqlite3
from pathlib import Path
from typing import Any, cast

import sqlite_vec  # pyright: ignore[reportMissingTypeStubs]

from seeds.records import ExtensionLoadingUnavailable, StoreError
from seeds.shared_schema import DECISIONS_TABLE

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


def _sqlite_module() -> Any:
    """The DB-API module to use: the stdlib when it can load extensions, else sqlean.py.

    Many pyenv and macOS Pythons are built without `enable_load_extension`; sqlean.py bundles a
    current SQLite with extension loading and FTS5 behind the same DB-API, so the rest of the
    code never needs to know which one it got.
    """
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        return importlib.import_module("sqlean")
    except ImportError as exc:  # pragma: no cover - sqlean.py is a hard dependency
        raise ExtensionLoadingUnavailable(
            "This Python's sqlite3 cannot load extensions and the 'sqlean.py' package is missing; "
            "reinstall cerebellum-mcp so that its dependencies are present."
        ) from exc


def sqlite_library() -> tuple[str, str]:
    """(binding name, SQLite version) actually used, for diagnostics."""
    module = _sqlite_module()
    return module.__name__, str(module.sqlite_version)


def stdlib_sqlite_version() -> str:
    """The SQLite version of this Python's own sqlite3 module (which may not load extensions), for doctor."""
    return sqlite3.sqlite_version


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) a SQLite database with sqlite-vec loaded and the store's pragmas set.

    The connection is in autocommit mode (`isolation_level=None`): the store opens its own short
    `BEGIN IMMEDIATE` transactions, so a writer never holds the lock longer than one operation.
    """
    module = _sqlite_module()
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = cast(
        sqlite3.Connection,
        module.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000),
    )
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except Exception as exc:
        conn.close()
        raise ExtensionLoadingUnavailable(f"Could not load the sqlite-vec extension into SQLite: {exc}") from exc
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


# Each entry moves the schema from version i to i+1 (PRAGMA user_version). Never edit a released
# entry: append a new one. The vector table is not here because its dimension comes from the
# embedder; `SeedStore` creates it the first time an embedder is bound.
def _external_index(table: str, index: str, tokenize: str) -> str:
    """An FTS5 index of `table`'s text column (external content: the text lives once, in the table), kept
    in step by triggers, and built from the rows already there."""
    return f"""
    CREATE VIRTUAL TABLE {index} USING fts5(text, content='{table}', content_rowid='id', tokenize='{tokenize}');
    CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN
        INSERT INTO {index} (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN
        INSERT INTO {index} ({index}, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER {index}_update AFTER UPDATE OF text ON {table} BEGIN
        INSERT INTO {index} ({index}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {index} (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO {index} ({index}) VALUES ('rebuild');
    """


MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE seeds (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        scope      TEXT NOT NULL,
        text       TEXT NOT NULL,
        text_hash  TEXT NOT NULL,
        category   TEXT NOT NULL,
        tags       TEXT NOT NULL DEFAULT '[]',
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX seeds_scope_hash ON seeds (scope, text_hash);
    CREATE INDEX seeds_scope_created ON seeds (scope, created_at);
    -- One row per decision that changed or removed stored seeds; what it replaced is in seed_history.
    CREATE TABLE operations (
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        scope        TEXT NOT NULL,
        reason       TEXT NOT NULL,
        trigger_text TEXT,
        created_at   TEXT NOT NULL
    );
    -- The full previous state of a seed before an UPDATE or DELETE, embedding included, so any
    -- version the store ever held can be read back or restored exactly.
    CREATE TABLE seed_history (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        operation_id TEXT NOT NULL REFERENCES operations (id),
        seed_id      INTEGER NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('UPDATE', 'DELETE')),
        scope        TEXT NOT NULL,
        text         TEXT NOT NULL,
        category     TEXT NOT NULL,
        tags         TEXT NOT NULL,
        source       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        embedding    BLOB,
        recorded_at  TEXT NOT NULL
    );
    CREATE INDEX seed_history_seed ON seed_history (seed_id);
    """,
    # 2: a full-text index beside the vectors, for hybrid recall (exact names, ids and numbers
    # that embeddings blur). External content: the text lives once, in seeds.
    """
    CREATE VIRTUAL TABLE seeds_fts USING fts5(
        text, content='seeds', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER seeds_fts_insert AFTER INSERT ON seeds BEGIN
        INSERT INTO seeds_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER seeds_fts_delete AFTER DELETE ON seeds BEGIN
        INSERT INTO seeds_fts (seeds_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER seeds_fts_update AFTER UPDATE OF text ON seeds BEGIN
        INSERT INTO seeds_fts (seeds_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO seeds_fts (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO seeds_fts (seeds_fts) VALUES ('rebuild');
    CREATE INDEX seeds_scope_id ON seeds (scope, id);
    """,
    # 3: the inbox. A text is committed here before any model work, so a missing, slow or crashed
    # cerebellum never loses it; it leaves the inbox in the same transaction that applies its
    # decision. Texts the gate skipped stay, with the reason, for review. A claim (owner and lease)
    # keeps two server processes on one file from deciding the same text at once.
    """
    CREATE TABLE inbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        scope         TEXT NOT NULL,
        text          TEXT NOT NULL,
        tags          TEXT NOT NULL DEFAULT '[]',
        force         INTEGER NOT NULL DEFAULT 0,
        source        TEXT NOT NULL,
        received_at   TEXT NOT NULL,
        state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'skipped')),
        reason        TEXT,
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        claimed_by    TEXT,
        claimed_until TEXT
    );
    CREATE INDEX inbox_state ON inbox (state, id);
    """,
    # 4: undo. An undo is an operation too (`undoes` names the one it reversed), and it can bring a
    # deleted seed back, so history learns a third action: ADD, "this seed did not exist before the
    # operation" (the row holds the state the operation created). SQLite cannot alter a CHECK
    # constraint, so seed_history is rebuilt. No foreign key on `undoes`: purging old history must
    # not be blocked by a newer undo that names it.
    """
    ALTER TABLE operations ADD COLUMN undoes TEXT;
    CREATE INDEX operations_undoes ON operations (undoes);
    CREATE INDEX operations_scope_created ON operations (scope, created_at);
    CREATE TABLE seed_history_v4 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        operation_id TEXT NOT NULL REFERENCES operations (id),
        seed_id      INTEGER NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('UPDATE', 'DELETE', 'ADD')),
        scope        TEXT NOT NULL,
        text         TEXT NOT NULL,
        category     TEXT NOT NULL,
        tags         TEXT NOT NULL,
        source       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        embedding    BLOB,
        recorded_at  TEXT NOT NULL
    );
    INSERT INTO seed_history_v4 SELECT * FROM seed_history;
    DROP TABLE seed_history;
    ALTER TABLE seed_history_v4 RENAME TO seed_history;
    CREATE INDEX seed_history_seed ON seed_history (seed_id);
    CREATE INDEX seed_history_operation ON seed_history (operation_id);
    """,
    # 5: a full-text index of the inbox, so that recall finds a text that is kept but not decided yet
    # (remembered while the models load) by the same content words as a seed. Every inbox row is
    # indexed, skipped ones too: recall filters on state, and an external-content index must hold
    # exactly the rows its delete trigger will remove.
    """
    CREATE VIRTUAL TABLE inbox_fts USING fts5(
        text, content='inbox', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER inbox_fts_insert AFTER INSERT ON inbox BEGIN
        INSERT INTO inbox_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER inbox_fts_delete AFTER DELETE ON inbox BEGIN
        INSERT INTO inbox_fts (inbox_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER inbox_fts_update AFTER UPDATE OF text ON inbox BEGIN
        INSERT INTO inbox_fts (inbox_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO inbox_fts (rowid, text) VALUES (new.id, new.text);
    END;
    INSERT INTO inbox_fts (inbox_fts) VALUES ('rebuild');
    """,
    # 6: character trigrams of every text, for Chinese/Japanese/Korean keywords: the word tokenizer reads
    # a run of such characters (no spaces) as one token, so "数据库" was never found inside "我们的数据库部署在…".
    # The same grams as PostgreSQL's pg_trgm index; external content, kept by triggers like the others.
    _external_index("seeds", "seeds_cjk", "trigram") + _external_index("inbox", "inbox_cjk", "trigram"),
    # 7: the memory console's pages: every scope newest first (keyset on created_at, id), one category newest
    # first, and the categories to filter by, without sorting or scanning the seeds (measured: 0.8 s a page at
    # 100k seeds without them, eval/bench_console.py).
    """
    CREATE INDEX seeds_created ON seeds (created_at, id);
    CREATE INDEX seeds_category_created ON seeds (category, created_at, id);
    """,
    # 8: every decision about a remembered text (ADD, UPDATE, DELETE, NONE, SKIP), recorded in the transaction
    # that applies it: who decided (a rule or the model), the model's shares, the stored seeds the arbiter
    # compared it with and how long it took. The console's history, activity and charts read it.
    DECISIONS_TABLE.format(id="INTEGER PRIMARY KEY AUTOINCREMENT"),
]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database has not seen yet, each in its own transaction."""
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise StoreError(
            f"The seed database is at schema version {current}, newer than this cerebellum-mcp knows "
            f"({len(MIGRATIONS)}); upgrade cerebellum-mcp or point --db at another file."
        )
    for version in range(current, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the write lock: another process may have migrated meanwhile.
            if schema_version(conn) != version:
                conn.execute("ROLLBACK")
                continue
            for statement in _split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        logger.info("seed store migrated to schema version %d", version + 1)
    return schema_version(conn)


def _split_statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; run statement by statement instead
    # (complete_statement keeps a trigger's BEGIN … END together).
    statements: list[str] = []
    pending = ""
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        pending += line + "\n"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise StoreError(f"incomplete SQL statement in a migration: {pending.strip()[:80]}")
    return statements
