"""Schema both engines write the same way but for a column type or two: their migrations (seeds/sqlite_db.py,
seeds/postgres_schema.py) format it. SQL only."""

# The decisions log: one row per decision about a remembered text. `{id}` is the engine's generated key.
DECISIONS_TABLE = """
    CREATE TABLE decisions (
        id           {id},
        scope        TEXT NOT NULL,
        decided_at   TEXT NOT NULL,
        label        TEXT NOT NULL CHECK (label IN ('ADD', 'UPDATE', 'DELETE', 'NONE', 'SKIP')),
        text         TEXT NOT NULL,
        seed_id      BIGINT,
        operation_id TEXT,
        inbox_id     BIGINT,
        latency_ms   REAL,
        detail       TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX decisions_decided ON decisions (decided_at, id);
    CREATE INDEX decisions_scope_decided ON decisions (scope, decided_at);
    CREATE INDEX decisions_seed ON decisions (seed_id);
    CREATE INDEX decisions_operation ON decisions (operation_id);
    CREATE INDEX decisions_inbox ON decisions (inbox_id);
    """
