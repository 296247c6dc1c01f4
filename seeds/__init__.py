"""The seed store: a coding agent's long-term memories in one SQLite file with sqlite-vec. No MCP in here."""

from seeds.db import ExtensionLoadingUnavailable, StoreError, connect, sqlite_library
from seeds.store import (
    EmbedderMismatch,
    EmbedderNotBound,
    HistoryEntry,
    Operation,
    OperationNotFound,
    OperationRecord,
    PurgeOutcome,
    ScoredSeed,
    Seed,
    SeedNotFound,
    SeedStore,
    UndoOutcome,
    UndoRefused,
    normalize_text,
    text_hash,
)

__all__ = [
    "EmbedderMismatch",
    "EmbedderNotBound",
    "ExtensionLoadingUnavailable",
    "HistoryEntry",
    "Operation",
    "OperationNotFound",
    "OperationRecord",
    "PurgeOutcome",
    "ScoredSeed",
    "Seed",
    "SeedNotFound",
    "SeedStore",
    "StoreError",
    "UndoOutcome",
    "UndoRefused",
    "connect",
    "normalize_text",
    "sqlite_library",
    "text_hash",
]
