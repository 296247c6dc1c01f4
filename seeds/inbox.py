"""The inbox: texts committed before any model work, claimed with a lease, settled with their decision."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from seeds.decisions import DecisionPart
from seeds.records import INBOX_COLUMNS, AlreadySettled, Decided, Received, received_from_row, scope_names, utc_now


class InboxPart(DecisionPart):
    """Receive, claim, release, skip, discard; and search what is still waiting."""

    @abstractmethod
    def _inbox_matches(self, query: str, scopes: list[str] | None, limit: int) -> list[Sequence[object]]:
        """Pending inbox rows (INBOX_COLUMNS) matching the query's content words, best first."""

    def receive(
        self, scope: str, text: str, *, tags: Sequence[str] = (), force: bool = False, source: str = "agent"
    ) -> Received:
        """Commit a text to the inbox before anything decides about it."""
        now = utc_now()
        tags_json = json.dumps(list(tags), ensure_ascii=False)
        with self._lock, self._write():
            row = self._conn.execute(
                "INSERT INTO inbox (scope, text, tags, force, source, received_at) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (scope, text, tags_json, int(force), source, now),
            ).fetchone()
        return Received(int(row[0]), scope, text, tuple(tags), force, source, now, "pending", None, 0, None)

    def _claim_unlocked(self, inbox_id: int, owner: str, now: str, until: str) -> bool:
        taken = self._conn.execute(
            "UPDATE inbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND state = 'pending' "
            "AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until < ?)",
            (owner, until, inbox_id, owner, now),
        )
        return taken.rowcount == 1

    def claim(self, inbox_id: int, owner: str, lease_seconds: float) -> Received | None:
        """Take a pending text to decide it; None if it is gone, skipped, or another owner's lease holds it."""
        now = datetime.now(UTC)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="milliseconds")
        with self._lock, self._write():
            if not self._claim_unlocked(inbox_id, owner, now.isoformat(timespec="milliseconds"), until):
                return None
            row = self._conn.execute(f"SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
        return received_from_row(row)

    def release(self, inbox_id: int, error: str) -> None:
        """Give a claimed text back undecided (the decision failed); it stays pending."""
        with self._lock, self._write():
            self._conn.execute(
                "UPDATE inbox SET claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                (error[:500], inbox_id),
            )

    def discard(self, inbox_id: int, decided: Decided | None = None) -> None:
        """Settle a text that needs no write (a duplicate of a stored seed); `decided` is recorded with it."""
        with self._lock, self._write():
            scope = self._inbox_scope(inbox_id)
            self._settle(inbox_id)
            if scope is not None:
                self._record_decision(decided, scope, seed_id=None if decided is None else decided.seed_id)

    def skip(self, inbox_id: int, reason: str, decided: Decided | None = None) -> None:
        """Keep a text the gate decided not to save (or the arbiter found repeated), with the reason, for review;
        `decided` is recorded with it."""
        with self._lock, self._write():
            scope = self._inbox_scope(inbox_id)
            done = self._conn.execute(
                "UPDATE inbox SET state = 'skipped', reason = ?, claimed_by = NULL, claimed_until = NULL "
                "WHERE id = ? AND state = 'pending'",
                (reason, inbox_id),
            )
            if done.rowcount != 1 or scope is None:
                raise AlreadySettled(f"inbox text {inbox_id} was already decided")
            self._record_decision(
                decided, scope, seed_id=None if decided is None else decided.seed_id, inbox_id=inbox_id
            )

    def _inbox_scope(self, inbox_id: int) -> str | None:
        row = self._conn.execute("SELECT scope FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
        return None if row is None else str(row[0])

    def inbox(
        self,
        state: Literal["pending", "skipped"] = "pending",
        scope: str | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[Received]:
        """Inbox texts in one state, oldest first (or newest first, for review)."""
        sql, params = f"SELECT {INBOX_COLUMNS} FROM inbox WHERE state = ?", list[object]([state])
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return [received_from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    def inbox_search(self, query: str, scope: str | Sequence[str] | None, limit: int) -> list[Received]:
        """Pending inbox texts (received, not decided yet) that match the query's content words, best first.

        The same full-text match as `keyword_search` (content words OR-ed, stemmed). Texts the gate
        skipped are never returned: they were judged not worth keeping.
        """
        scopes = scope_names(scope)
        if limit <= 0 or scopes == []:
            return []
        with self._lock:
            return [received_from_row(row) for row in self._inbox_matches(query, scopes, limit)]

    def inbox_count(self, state: Literal["pending", "skipped"] = "pending", scope: str | None = None) -> int:
        sql, params = "SELECT count(*) FROM inbox WHERE state = ?", list[object]([state])
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        with self._lock:
            return int(self._conn.execute(sql, params).fetchone()[0])
