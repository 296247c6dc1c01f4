"""The seed store: a coding agent's long-term memories, in SQLite (a file) or PostgreSQL (a URL). No MCP in here.

`SeedStore` is the contract every engine implements; `open_store(path_or_url)` opens one.
"""

from seeds.copy import StoreDump
from seeds.opening import open_store
from seeds.operation import Operation
from seeds.records import (
    AlreadySettled,
    EmbedderMismatch,
    EmbedderNotBound,
    ExtensionLoadingUnavailable,
    HistoryEntry,
    OperationNotFound,
    OperationRecord,
    PurgeOutcome,
    Received,
    ScoredSeed,
    Seed,
    SeedNotFound,
    StoreError,
    StoreStats,
    StoreUnavailable,
    UndoOutcome,
    UndoRefused,
    normalize_text,
    text_hash,
    utc_now,
)
from seeds.sqlite_db import connect, sqlite_library, stdlib_sqlite_version
from seeds.store import SeedStore, is_postgres_url, redacted

__all__ = [
    "AlreadySettled",
    "EmbedderMismatch",
    "EmbedderNotBound",
    "ExtensionLoadingUnavailable",
    "HistoryEntry",
    "Operation",
    "OperationNotFound",
    "OperationRecord",
    "PurgeOutcome",
    "Received",
    "ScoredSeed",
    "Seed",
    "SeedNotFound",
    "SeedStore",
    "StoreDump",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "UndoOutcome",
    "UndoRefused",
    "connect",
    "is_postgres_url",
    "normalize_text",
    "open_store",
    "redacted",
    "sqlite_library",
    "stdlib_sqlite_version",
    "text_hash",
    "utc_now",
]
