"""The decisions log: every decision about a remembered text (ADD, UPDATE, DELETE, NONE, SKIP), written in the
transaction that applies it, with who decided, the model's shares, the stored seeds compared and the time it took.
It is what a person reads to see why a memory is as it is (the console's history, activity and charts)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from seeds.core import StoreCore
from seeds.records import (
    DECISION_COLUMNS,
    Decided,
    DecisionRecord,
    decision_from_row,
    in_scopes,
    is_row_id,
    utc_now,
)


class DecisionPart(StoreCore):
    """Writing (inside the applying transaction) and reading the decisions log."""

    def _record_decision(
        self,
        decided: Decided | None,
        scope: str,
        *,
        seed_id: int | None = None,
        operation_id: str | None = None,
        inbox_id: int | None = None,
    ) -> None:
        """Inside a write: record a decision with what it did (nothing when there is none to record)."""
        if decided is None:
            return
        self._conn.execute(
            "INSERT INTO decisions (scope, decided_at, label, text, seed_id, operation_id, inbox_id, latency_ms, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                scope,
                utc_now(),
                decided.label,
                decided.text,
                seed_id,
                operation_id,
                inbox_id,
                None if decided.latency_ms is None else round(decided.latency_ms, 1),
                json.dumps(dict(decided.detail), ensure_ascii=False, sort_keys=True),
            ),
        )

    def decisions_about(self, seed_id: int) -> list[DecisionRecord]:
        """The decisions that stored, changed, removed or found repeated this seed, oldest first: those about it, and
        those of the operations that changed it (a sweep's merge is about the older seed and removes the newer; an
        import's operation holds a decision for each stored seed it touched)."""
        if not is_row_id(seed_id):
            return []
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {DECISION_COLUMNS} FROM decisions WHERE seed_id = ? OR operation_id IN "
                "(SELECT operation_id FROM seed_history WHERE seed_id = ?) ORDER BY decided_at, id",
                (seed_id, seed_id),
            ).fetchall()
        return [decision_from_row(row) for row in rows]

    def decisions_for_inbox(self, inbox_ids: Sequence[int]) -> dict[int, DecisionRecord]:
        """The decision that kept each inbox text for review (the latest, if several), by inbox id."""
        ids = list(dict.fromkeys(inbox_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {DECISION_COLUMNS} FROM decisions WHERE inbox_id IN ({','.join('?' * len(ids))}) ORDER BY id",
                ids,
            ).fetchall()
        return {record.inbox_id: record for record in map(decision_from_row, rows) if record.inbox_id is not None}

    def decisions_for_operations(self, operation_ids: Sequence[str]) -> dict[str, list[DecisionRecord]]:
        """The decisions each operation applied, by operation id, oldest first (one for a remember or a sweep's
        step; one per stored seed an import repeated, refined or retracted); operations no decision made are left
        out."""
        ids = list(dict.fromkeys(operation_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {DECISION_COLUMNS} FROM decisions WHERE operation_id IN ({','.join('?' * len(ids))}) "
                "ORDER BY id",
                ids,
            ).fetchall()
        found: dict[str, list[DecisionRecord]] = {}
        for record in map(decision_from_row, rows):
            if record.operation_id is not None:
                found.setdefault(record.operation_id, []).append(record)
        return found

    def page_decisions(
        self,
        scopes: list[str] | None,
        labels: Sequence[str] | None,
        limit: int,
        before: tuple[str, int] | None = None,
    ) -> list[DecisionRecord]:
        """Decisions newest first, in the scopes (all when None), with the labels (all when None); a keyset page:
        `before` is (decided_at, id) of the last one of the previous page."""
        clause, params = in_scopes("scope", scopes)
        sql = f"SELECT {DECISION_COLUMNS} FROM decisions WHERE 1 = 1{clause}"
        if labels is not None:
            if not labels:
                return []
            sql += f" AND label IN ({','.join('?' * len(labels))})"
            params += list(labels)
        if before is not None:
            sql += " AND (decided_at < ? OR (decided_at = ? AND id < ?))"
            params += [before[0], before[0], before[1]]
        sql += " ORDER BY decided_at DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            return [decision_from_row(row) for row in self._conn.execute(sql, params).fetchall()]

    def decisions_per_day(self, scopes: list[str] | None, since: str) -> list[tuple[str, str, int]]:
        """(YYYY-MM-DD, label, decisions) from `since` on, oldest day first."""
        clause, params = in_scopes("scope", scopes)
        sql = (
            "SELECT substr(decided_at, 1, 10), label, count(*) FROM decisions WHERE decided_at >= ?"
            f"{clause} GROUP BY 1, 2 ORDER BY 1, 2"
        )
        with self._lock:
            rows = self._conn.execute(sql, [since, *params]).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def decision_latencies(
        self, scopes: list[str] | None, since: str, limit: int = 5000
    ) -> list[tuple[str, str, float]]:
        """(YYYY-MM-DD, label, milliseconds) of the last `limit` timed decisions from `since` on, newest first."""
        clause, params = in_scopes("scope", scopes)
        sql = (
            "SELECT substr(decided_at, 1, 10), label, latency_ms FROM decisions "
            f"WHERE decided_at >= ? AND latency_ms IS NOT NULL{clause} ORDER BY decided_at DESC, id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, [since, *params, limit]).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]
