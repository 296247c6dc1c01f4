"""The PostgreSQL engine's schema: its versioned migrations, beside the engine (seeds/postgres.py), as
seeds/sqlite_db.py holds the SQLite engine's. SQL only: the engine runs them."""

from seeds.shared_schema import DECISIONS_TABLE

# Each entry moves the schema from version i to i+1 (the schema_version table). Never edit a
# released entry: append one. seed_vectors is made when an embedder is first bound (its dimension).
MIGRATIONS: list[str] = [
    """
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE seeds (
        id         BIGSERIAL PRIMARY KEY,
        scope      TEXT NOT NULL,
        text       TEXT NOT NULL,
        text_hash  TEXT NOT NULL,
        category   TEXT NOT NULL,
        tags       TEXT NOT NULL DEFAULT '[]',
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        tsv        tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
    );
    CREATE INDEX seeds_scope_hash ON seeds (scope, text_hash);
    CREATE INDEX seeds_scope_created ON seeds (scope, created_at);
    CREATE INDEX seeds_scope_id ON seeds (scope, id);
    CREATE INDEX seeds_tsv ON seeds USING gin (tsv);
    CREATE INDEX seeds_trgm ON seeds USING gin (text gin_trgm_ops);
    CREATE TABLE operations (
        seq          BIGSERIAL UNIQUE,
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        scope        TEXT NOT NULL,
        reason       TEXT NOT NULL,
        trigger_text TEXT,
        created_at   TEXT NOT NULL,
        undoes       TEXT
    );
    CREATE INDEX operations_undoes ON operations (undoes);
    CREATE INDEX operations_scope_created ON operations (scope, created_at);
    CREATE TABLE seed_history (
        id           BIGSERIAL PRIMARY KEY,
        operation_id TEXT NOT NULL REFERENCES operations (id),
        seed_id      BIGINT NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('UPDATE', 'DELETE', 'ADD')),
        scope        TEXT NOT NULL,
        text         TEXT NOT NULL,
        category     TEXT NOT NULL,
        tags         TEXT NOT NULL,
        source       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        embedding    vector,
        recorded_at  TEXT NOT NULL
    );
    CREATE INDEX seed_history_seed ON seed_history (seed_id);
    CREATE INDEX seed_history_operation ON seed_history (operation_id);
    CREATE TABLE inbox (
        id            BIGSERIAL PRIMARY KEY,
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
        claimed_until TEXT,
        tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
    );
    CREATE INDEX inbox_state ON inbox (state, id);
    CREATE INDEX inbox_tsv ON inbox USING gin (tsv);
    CREATE INDEX inbox_trgm ON inbox USING gin (text gin_trgm_ops);
    """,
    # 2: the memory console's pages (as SQLite's migration 7): every scope newest first, one category newest
    # first, and the categories to filter by (a skip scan), without sorting or scanning the seeds. (Written in
    # session 9, lost when the schema moved beside the engine; restored in session 10.)
    """
    CREATE INDEX IF NOT EXISTS seeds_created ON seeds (created_at, id);
    CREATE INDEX IF NOT EXISTS seeds_category_created ON seeds (category, created_at, id);
    """,
    # 3: the decisions log (SQLite's migration 8).
    DECISIONS_TABLE.format(id="BIGSERIAL PRIMARY KEY"),
]
