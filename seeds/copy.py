"""Copying a whole store between engines (`cerebellum-mcp migrate`): seeds with their ids and timestamps,
vectors, operations, history (with its vectors), the inbox, the decisions log and meta — so undo works on the copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from seeds.core import StoreCore
from seeds.records import EmbedderMismatch, Seed, StoreError, seed_from_row

_OPERATION = "id, kind, scope, reason, trigger_text, created_at, undoes"
_HISTORY = (
    "id, operation_id, seed_id, action, scope, text, category, tags, source, created_at, updated_at, embedding, "
    "recorded_at"
)
_INBOX = (
    "id, scope, text, tags, force, source, received_at, state, reason, attempts, last_error, claimed_by, claimed_until"
)
_HISTORY_EMBEDDING = 11
_DECISION = "id, scope, decided_at, label, text, seed_id, operation_id, inbox_id, latency_ms, detail"


@dataclass
class StoreDump:
    """Everything a store holds, engine-neutral (vectors as floats)."""

    embedder: tuple[str, int] | None
    meta: dict[str, str]
    seeds: list[tuple[Seed, list[float]]] = field(default_factory=list[tuple[Seed, list[float]]])
    operations: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    history: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    inbox: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    decisions: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])

    def summary(self) -> str:
        return (
            f"{len(self.seeds)} seeds (with vectors), {len(self.operations)} operations, "
            f"{len(self.history)} history entries, {len(self.inbox)} inbox texts, {len(self.decisions)} decisions, "
            f"{len(self.meta)} meta keys"
        )


class CopyPart(StoreCore):
    def _after_import(self) -> None:
        """Rows were written with given ids: keep every id generator past them."""

    def is_empty(self) -> bool:
        """No seeds, operations or inbox texts (a store that was only opened, or bound)."""
        with self._lock:
            return all(
                self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
                for table in ("seeds", "operations", "inbox")
            )

    def dump(self) -> StoreDump:
        """Read the whole store in one consistent snapshot."""
        from seeds.records import SEED_COLUMNS

        with self._lock:
            self._conn.execute(self._begin_read)
            try:
                bound = {
                    str(r[0]): str(r[1])
                    for r in self._conn.execute("SELECT key, value FROM meta").fetchall()
                    if str(r[0]) not in ("embedder", "embedding_dimension")
                }
                dump = StoreDump(embedder=self._bound(), meta=bound)
                if dump.embedder is not None:
                    rows = self._conn.execute(
                        f"SELECT {', '.join('s.' + c for c in SEED_COLUMNS.split(', '))}, v.embedding "
                        "FROM seeds s JOIN seed_vectors v ON v.seed_id = s.id ORDER BY s.id"
                    ).fetchall()
                    dump.seeds = [(seed_from_row(r[:8]), self._floats(r[8])) for r in rows]
                dump.operations = [
                    tuple(r)
                    for r in self._conn.execute(
                        f"SELECT {_OPERATION} FROM operations ORDER BY created_at, {self._operations_order}"
                    ).fetchall()
                ]
                dump.history = [
                    (*r[:_HISTORY_EMBEDDING], None if r[_HISTORY_EMBEDDING] is None else self._floats(r[11]), r[12])
                    for r in self._conn.execute(f"SELECT {_HISTORY} FROM seed_history ORDER BY id").fetchall()
                ]
                dump.inbox = [tuple(r) for r in self._conn.execute(f"SELECT {_INBOX} FROM inbox ORDER BY id")]
                dump.decisions = [
                    tuple(r) for r in self._conn.execute(f"SELECT {_DECISION} FROM decisions ORDER BY id")
                ]
            finally:
                self._conn.execute("COMMIT")
        return dump

    def _bound(self) -> tuple[str, int] | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        return None if row is None or self._dimension is None else (str(row[0]), self._dimension)

    def load(self, dump: StoreDump, *, replace: bool = False) -> int:
        """Write a dump into this store, ids and timestamps as they were, in one transaction.

        Refused, changing nothing: a store that already holds seeds, operations or inbox texts (unless
        `replace`: then what it held is deleted in the same transaction, and all of it stays if the copy
        fails), and one bound to another embedder than the dump's. Returns how many seeds were replaced.
        """
        if not replace and not self.is_empty():
            raise StoreError(
                f"The target store {self.path} already holds data; migrate copies into an empty store only. "
                "Point --to at a new file or an empty database, or add --force to replace everything the "
                "target holds by the copy (export it first if you may want it back)."
            )
        if dump.embedder is not None:
            bound = self._bound()
            if bound is not None and bound != dump.embedder:
                raise EmbedderMismatch(
                    f"The target store {self.path} is bound to embedder '{bound[0]}' ({bound[1]} dimensions), the "
                    f"source to '{dump.embedder[0]}' ({dump.embedder[1]}); migrate into an empty, unbound store."
                )
            self.bind_embedder(*dump.embedder)
        replaced = 0
        with self._lock, self._write():
            if replace:
                replaced = int(self._conn.execute("SELECT count(*) FROM seeds").fetchone()[0])
                self._clear()
            for key, value in dump.meta.items():
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            self._write_seeds([(seed, self._vector(vector)) for seed, vector in dump.seeds])
            self._insert_rows("operations", _OPERATION, dump.operations)
            self._insert_rows(
                "seed_history",
                _HISTORY,
                [
                    (*r[:_HISTORY_EMBEDDING], None if r[11] is None else self._vector(_floats_of(r[11])), r[12])
                    for r in dump.history
                ],
            )
            self._insert_rows("inbox", _INBOX, dump.inbox)
            self._insert_rows("decisions", _DECISION, dump.decisions)
            self._after_import()
        return replaced

    def _clear(self) -> None:
        """Inside a write: delete every seed, vector, operation, history entry, inbox text and meta key
        (the embedder binding stays: it is the dump's)."""
        if self._dimension is not None:
            self._conn.execute("DELETE FROM seed_vectors")
        for table in ("seeds", "seed_history", "operations", "inbox", "decisions"):
            self._conn.execute(f"DELETE FROM {table}")
        self._conn.execute("DELETE FROM meta WHERE key NOT IN ('embedder', 'embedding_dimension')")

    def _insert_rows(self, table: str, columns: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            marks = ", ".join("?" * len(columns.split(", ")))
            self._conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _floats_of(value: object) -> list[float]:
    assert isinstance(value, list)
    return [float(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
