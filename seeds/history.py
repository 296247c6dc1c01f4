"""History: every operation recorded with the seeds' earlier versions, so any change can be undone or purged."""

from __future__ import annotations

import dataclasses
import json
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime

from seeds.core import StoreCore
from seeds.records import (
    OPERATION_COLUMNS,
    HistoryEntry,
    OperationNotFound,
    OperationRecord,
    PurgeOutcome,
    Seed,
    UndoOutcome,
    UndoRefused,
    history_action,
    is_row_id,
    seed_from_row,
    utc_iso,
    utc_now,
)


class HistoryPart(StoreCore):
    """Operations, seed history, undo and purge."""

    @abstractmethod
    def _compact(self) -> None:
        """After a purge: leave no trace of the removed rows in the engine's files."""

    def _record_history(self, operation_id: str, seed: Seed, action: str) -> None:
        self._record_history_rows(operation_id, [(seed, self._stored_vector(seed.id))], action)

    def _record_history_rows(self, operation_id: str, seeds: Sequence[tuple[Seed, object | None]], action: str) -> None:
        """Inside a write: one history row per (seed, its vector in the engine's form), one statement batch."""
        now = utc_now()
        self._conn.executemany(
            "INSERT INTO seed_history (operation_id, seed_id, action, scope, text, category, tags, source, "
            "created_at, updated_at, embedding, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    operation_id,
                    seed.id,
                    action,
                    seed.scope,
                    seed.text,
                    seed.category,
                    json.dumps(list(seed.tags), ensure_ascii=False),
                    seed.source,
                    seed.created_at,
                    seed.updated_at,
                    vector,
                    now,
                )
                for seed, vector in seeds
            ],
        )

    def history(self, seed_id: int) -> list[HistoryEntry]:
        """Every earlier version of a seed, oldest first."""
        if not is_row_id(seed_id):
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT h.operation_id, h.action, o.reason, o.trigger_text, h.recorded_at, "
                "h.seed_id, h.scope, h.text, h.category, h.tags, h.source, h.created_at, h.updated_at "
                "FROM seed_history h JOIN operations o ON o.id = h.operation_id "
                "WHERE h.seed_id = ? ORDER BY h.id",
                (seed_id,),
            ).fetchall()
        return [
            HistoryEntry(
                operation_id=str(r[0]),
                action=history_action(r[1]),
                reason=str(r[2]),
                trigger_text=None if r[3] is None else str(r[3]),
                recorded_at=str(r[4]),
                previous=seed_from_row(r[5:]),
            )
            for r in rows
        ]

    def _operation_record(self, row: Sequence[object]) -> OperationRecord:
        operation_id = str(row[0])
        undone_by = self._conn.execute(
            "SELECT id FROM operations WHERE undoes = ? ORDER BY created_at LIMIT 1", (operation_id,)
        ).fetchone()
        seed_ids = self._conn.execute(
            "SELECT seed_id FROM seed_history WHERE operation_id = ? GROUP BY seed_id ORDER BY min(id)",
            (operation_id,),
        ).fetchall()
        return OperationRecord(
            id=operation_id,
            kind=str(row[1]),
            scope=str(row[2]),
            reason=str(row[3]),
            trigger_text=None if row[4] is None else str(row[4]),
            created_at=str(row[5]),
            undoes=None if row[6] is None else str(row[6]),
            undone_by=None if undone_by is None else str(undone_by[0]),
            seed_ids=tuple(int(r[0]) for r in seed_ids),
        )

    def get_operation(self, operation_id: str) -> OperationRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            return None if row is None else self._operation_record(row)

    def operations(self, scope: str | None = None, limit: int | None = None) -> list[OperationRecord]:
        """Recorded operations, newest first, optionally in one scope."""
        sql, params = f"SELECT {OPERATION_COLUMNS} FROM operations", list[object]()
        if scope is not None:
            sql += " WHERE scope = ?"
            params.append(scope)
        sql += f" ORDER BY created_at DESC, {self._operations_order} DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [self._operation_record(row) for row in self._conn.execute(sql, params).fetchall()]

    def undo(self, operation_id: str) -> UndoOutcome:
        """Put every seed an operation changed back exactly as it was before it, as a new operation.

        Text, category, tags, source, both timestamps, the vector and the full-text row all come
        back; a deleted seed returns under its own id; a seed the operation created (an undo that
        re-created one) is removed. The undo is recorded with `undoes` = the operation, so it
        shows in history and can itself be undone (a redo).

        Refused, changing nothing: an unknown (or purged) operation; one already undone; and one
        whose seeds were changed again by a later operation, since putting them back would
        silently discard that later change. The message names the later operations: undo them
        first, newest first, then this one.
        """
        with self._lock, self._write():
            row = self._conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?", (operation_id,)
            ).fetchone()
            if row is None:
                raise OperationNotFound(
                    f"No operation with id {operation_id!r}: operation ids come from the results of remember, "
                    "reconcile, forget and undo (its history may have been purged)."
                )
            undone = self._operation_record(row)
            if undone.undone_by is not None:
                raise UndoRefused(
                    f"Operation {operation_id} was already undone by {undone.undone_by}; to apply it again, "
                    f"undo {undone.undone_by}."
                )
            versions = self._conn.execute(
                "SELECT id, action, seed_id, scope, text, category, tags, source, created_at, updated_at, embedding "
                "FROM seed_history WHERE operation_id = ? ORDER BY id",
                (operation_id,),
            ).fetchall()
            if not versions:
                raise UndoRefused(f"Operation {operation_id} changed no seeds; there is nothing to undo.")
            # Per seed: its state before the operation (the first row) and whether the operation left it in place.
            first: dict[int, Sequence[object]] = {}
            left_in_place: dict[int, bool] = {}
            for version in versions:
                seed_id = int(version[2])
                first.setdefault(seed_id, version)
                left_in_place[seed_id] = version[1] != "DELETE"
            # Joined, not one OR term per seed: an import's operation changes thousands of seeds, past
            # SQLite's expression depth.
            later = self._conn.execute(
                "SELECT h.operation_id, o.undoes FROM seed_history h JOIN operations o ON o.id = h.operation_id "
                "JOIN (SELECT seed_id, max(id) AS last FROM seed_history WHERE operation_id = ? GROUP BY seed_id) "
                "mine ON mine.seed_id = h.seed_id AND h.id > mine.last "
                "GROUP BY h.operation_id, o.undoes ORDER BY min(h.id) DESC",
                (operation_id,),
            ).fetchall()
            # A later operation that was itself undone cancels out with its undo.
            cancelled = {str(r[1]) for r in later if r[1] is not None} & {str(r[0]) for r in later}
            cancelled |= {str(r[0]) for r in later if r[1] is not None and str(r[1]) in cancelled}
            blocking = [str(r[0]) for r in later if str(r[0]) not in cancelled]
            if blocking:
                names = ", ".join(blocking)
                raise UndoRefused(
                    f"The seeds of operation {operation_id} were changed again since, by {names}; undoing it now "
                    f"would discard those changes. Undo {names} first (in that order), then {operation_id}."
                )
            for seed_id, in_place in left_in_place.items():
                if (self._get_unlocked(seed_id) is not None) != in_place:
                    raise UndoRefused(
                        f"Seed {seed_id} is not as operation {operation_id} left it (it was changed outside the "
                        "recorded history); nothing was undone."
                    )

            undo_id = self._insert_operation(
                "undo", undone.scope, f"undo of {operation_id} ({undone.kind}: {undone.reason})", None, operation_id
            )
            restored: list[Seed] = []
            removed: list[Seed] = []
            for seed_id, version in first.items():
                current = self._get_unlocked(seed_id)
                if version[1] == "ADD":
                    # The operation brought this seed into being: remove it again.
                    if current is None:
                        continue
                    self._record_history(undo_id, current, "DELETE")
                    self._remove_seed(seed_id)
                    removed.append(current)
                    continue
                before = seed_from_row([seed_id, *version[3:10]])
                if current is not None:
                    self._record_history(undo_id, current, "UPDATE")
                self._write_seed(before, version[10], keep_id=True, replace=current is not None)
                if current is None:
                    # Recorded after the insert, so the history row carries the restored vector.
                    self._record_history(undo_id, before, "ADD")
                restored.append(before)
            record = self._conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE id = ?", (undo_id,)
            ).fetchone()
            return UndoOutcome(
                operation=self._operation_record(record),
                undone=dataclasses.replace(undone, undone_by=undo_id),
                restored=tuple(restored),
                removed=tuple(removed),
            )

    def purge_history(
        self, scope: str | None = None, before: str | datetime | None = None, *, record: bool = False
    ) -> PurgeOutcome:
        """Forget recorded operations and the earlier versions they kept, for good.

        Only operations in `scope` (every scope when None) recorded before `before` (an ISO 8601
        date or time, UTC unless it says otherwise; all when None). Purged operations can no longer
        be undone, and seeds they deleted are gone. Texts the gate skipped (kept in the inbox for
        review) and recorded decisions (which quote the texts decided) in that scope and time go too;
        texts still waiting to be decided stay. The
        full-text indexes are merged, the file is vacuumed and the WAL checkpointed and truncated, so
        the purged text does not linger in free pages of either file.

        With `record`, the purge is itself recorded, in the same transaction, as an operation of kind
        'purge' (scope '*' for every scope) whose reason says what was purged: counts, scope and
        time, never a purged text. It changes no seed, so there is nothing to undo; later purges keep it.
        """
        condition, inbox_condition, params = self._purge_conditions(scope, before)
        with self._lock:
            with self._write():
                versions = self._conn.execute(
                    f"DELETE FROM seed_history WHERE operation_id IN (SELECT id FROM operations WHERE {condition})",
                    params,
                ).rowcount
                operations = self._conn.execute(f"DELETE FROM operations WHERE {condition}", params).rowcount
                skipped = self._conn.execute(
                    f"DELETE FROM inbox WHERE state = 'skipped' AND {inbox_condition}", params
                ).rowcount
                decisions = self._conn.execute(
                    f"DELETE FROM decisions WHERE {_decided(inbox_condition)}", params
                ).rowcount
                purged = PurgeOutcome(operations=operations, versions=versions, skipped=skipped, decisions=decisions)
                if record:
                    reason = purge_reason(purged, scope, None if before is None else utc_iso(before))
                    purged = dataclasses.replace(
                        purged, operation_id=self._insert_operation("purge", scope or "*", reason, None)
                    )
            self._compact()
        return purged

    def purge_preview(self, scope: str | None = None, before: str | datetime | None = None) -> PurgeOutcome:
        """What `purge_history` with the same arguments would remove, counted; nothing is changed."""
        condition, inbox_condition, params = self._purge_conditions(scope, before)
        with self._lock:
            (versions,) = self._conn.execute(
                "SELECT count(*) FROM seed_history WHERE operation_id IN "
                f"(SELECT id FROM operations WHERE {condition})",
                params,
            ).fetchone()
            (operations,) = self._conn.execute(f"SELECT count(*) FROM operations WHERE {condition}", params).fetchone()
            (skipped,) = self._conn.execute(
                f"SELECT count(*) FROM inbox WHERE state = 'skipped' AND {inbox_condition}", params
            ).fetchone()
            (decisions,) = self._conn.execute(
                f"SELECT count(*) FROM decisions WHERE {_decided(inbox_condition)}", params
            ).fetchone()
        return PurgeOutcome(
            operations=int(operations), versions=int(versions), skipped=int(skipped), decisions=int(decisions)
        )

    @staticmethod
    def _purge_conditions(scope: str | None, before: str | datetime | None) -> tuple[str, str, list[object]]:
        """(the purged operations' condition, the purged skipped texts' condition, their parameters)."""
        where: list[str] = []
        params: list[object] = []
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if before is not None:
            where.append("created_at < ?")
            params.append(utc_iso(before))
        condition = " AND ".join(where) or "1 = 1"
        # A purge's own record quotes no text: it stays, so that every purge remains on record.
        return f"kind <> 'purge' AND {condition}", condition.replace("created_at", "received_at"), params


def _decided(inbox_condition: str) -> str:
    """The purged decisions' condition: the same scope and time as the purged skipped texts'."""
    return inbox_condition.replace("received_at", "decided_at")


def purge_reason(purged: PurgeOutcome, scope: str | None, before: str | None) -> str:
    """A purge's own record: what went, counted, and which part of the history it was (never a text)."""
    where = f"scope '{scope}'" if scope is not None else "every scope"
    when = f", recorded before {before}" if before is not None else ""
    return (
        f"purge of {where}{when}: {purged.operations} operations, {purged.versions} earlier versions of seeds "
        f"and {purged.skipped} skipped texts removed for good"
        + (f", with {purged.decisions} recorded decisions" if purged.decisions else "")
    )
