"""The seed store: a coding agent's long-term memories in one SQLite file with sqlite-vec. No MCP in here."""

from seeds.db import ExtensionLoadingUnavailable, StoreError, connect, sqlite_library
from seeds.store import (
    AlreadySettled,
    EmbedderMismatch,
    EmbedderNotBound,
    HistoryEntry,
    Operation,
    Received,
    ScoredSeed,
    Seed,
    SeedNotFound,
    SeedStore,
    normalize_text,
    text_hash,
)

__all__ = [
    "AlreadySettled",
    "EmbedderMismatch",
    "EmbedderNotBound",
    "ExtensionLoadingUnavailable",
    "HistoryEntry",
    "Operation",
    "Received",
    "ScoredSeed",
    "Seed",
    "SeedNotFound",
    "SeedStore",
    "StoreError",
    "connect",
    "normalize_text",
    "sqlite_library",
    "text_hash",
]
