"""The boundary between the store's logic and a database engine: one connection type, engine errors wrapped.

The store's SQL is written once, with `?` placeholders and only what SQLite and PostgreSQL both
understand; where the engines differ (vectors, full-text, claims, compaction) the engine module
implements a hook of `seeds.core.SeedStore`. Every statement goes through `EngineConnection.execute`,
so an engine's own exception (sqlite3's "database is locked", psycopg's lost connection) never
escapes the store: it becomes a `StoreUnavailable` that says what to do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from seeds.records import StoreUnavailable

T = TypeVar("T")


class Cursor(Protocol):
    """What the store reads back from a statement (both DB-API cursors have it)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class EngineConnection(ABC):
    """One connection of one engine, used under the store's lock."""

    engine: str

    @abstractmethod
    def _run(self, sql: str, params: Sequence[object]) -> Cursor: ...

    @abstractmethod
    def _run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    @abstractmethod
    def _is_engine_error(self, exc: Exception) -> bool: ...

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def advice(self, exc: Exception) -> str:
        """What the person running the server can do about this engine error."""
        return "check that the database is reachable and not held by another program, then try again"

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._wrapped(lambda: self._run(sql, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._wrapped(lambda: self._run_many(sql, rows))

    def _wrapped(self, run: Callable[[], T]) -> T:
        """`run()`, with an engine error raised as StoreUnavailable (the pipeline never sees the driver's)."""
        try:
            return run()
        except Exception as exc:
            if self._is_engine_error(exc):
                raise StoreUnavailable(
                    f"The seed store's {self.engine} database failed: {exc}. Nothing was written; {self.advice(exc)}."
                ) from exc
            raise
