"""Browsing: the reads a person's console needs over a large store (pages by keyset, counts per day), and the
few review writes that settle a text kept in the inbox for review, each recorded as an operation.

Pages are keyset-paginated on (created_at, id), newest first: page 2 000 of 100 000 seeds costs what page 1
does. Every statement is plain SQL both engines understand (`?` placeholders; substr on ISO timestamps).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from seeds.history import HistoryPart
from seeds.records import (
    INBOX_COLUMNS,
    OPERATION_COLUMNS,
    SEED_COLUMNS,
    OperationRecord,
    Received,
    Seed,
    in_scopes,
    is_row_id,
    received_from_row,
    seed_from_row,
    utc_iso,
)

if TYPE_CHECKING:
    from seeds.operation import Operation
    from seeds.store import SeedStore


@dataclass(frozen=True)
class SeedQuery:
    """Which seeds a page lists: scopes (None: all), a category, a tag, created within [since, until)."""

    scopes: list[str] | None = None
    category: str | None = None
    tag: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> tuple[str, list[object]]:
        clause, params = in_scopes("scope", self.scopes)
        if self.category:
            clause += " AND category = ?"
            params.append(self.category)
        if self.tag:
            # Tags are a JSON list of strings: the quoted tag, as json.dumps writes it, is an exact match.
            clause += " AND tags LIKE ?"
            params.append("%" + json.dumps(self.tag, ensure_ascii=False).replace("%", "").replace("_", "") + "%")
        if self.since:
            clause += " AND created_at >= ?"
            params.append(utc_iso(self.since))
        if self.until:
            clause += " AND created_at < ?"
            params.append(utc_iso(self.until))
        return " WHERE 1 = 1" + clause, params


DUPLICATE_REASON = "duplicate of seed "
"""How the reason of a text the arbiter found already stored begins (server/pipeline/memory.py writes it)."""


class BrowsePart(HistoryPart):
    """Pages, counts per day, and the review writes of the memory console."""

    # -- seeds ---------------------------------------------------------------------------------

    def page_seeds(self, query: SeedQuery, limit: int, after: tuple[str, int] | None = None) -> list[Seed]:
        """Up to `limit` seeds matching the query, newest first, strictly older than `after` (created_at, id)."""
        where, params = query.where()
        if after is not None:
            where += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        sql = f"SELECT {SEED_COLUMNS} FROM seeds{where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._lock:
            return [seed_from_row(r) for r in self._conn.execute(sql, [*params, limit]).fetchall()]

    def count_seeds(self, query: SeedQuery) -> int:
        where, params = query.where()
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM seeds{where}", params).fetchone()[0])

    def seed_counts(self, scopes: list[str] | None) -> list[tuple[str, str, int]]:
        """(scope, category, seeds) for every pair that holds seeds."""
        clause, params = in_scopes("scope", scopes)
        sql = f"SELECT scope, category, count(*) FROM seeds WHERE 1 = 1{clause} GROUP BY scope, category"
        with self._lock:
            return [(str(r[0]), str(r[1]), int(r[2])) for r in self._conn.execute(sql, params).fetchall()]

    def categories(self) -> list[str]:
        """Every category that holds seeds (a skip scan of its index, not the seeds)."""
        with self._lock:
            return self._distinct("category")

    def seeds_per_day(self, scopes: list[str] | None) -> list[tuple[str, int]]:
        """(YYYY-MM-DD, seeds created that day and still stored), oldest day first."""
        clause, params = in_scopes("scope", scopes)
        sql = f"SELECT substr(created_at, 1, 10), count(*) FROM seeds WHERE 1 = 1{clause} GROUP BY 1 ORDER BY 1"
        with self._lock:
            return [(str(r[0]), int(r[1])) for r in self._conn.execute(sql, params).fetchall()]

    # -- operations ----------------------------------------------------------------------------

    def page_operations(
        self, scopes: list[str] | None, kinds: Sequence[str] | None, limit: int, after: tuple[str, str] | None = None
    ) -> list[OperationRecord]:
        """Recorded operations newest first, of some kinds (None: all; a kind ending in '*' is a prefix),
        strictly older than `after` (created_at, id)."""
        clause, params = in_scopes("scope", scopes)
        if kinds:
            tests = ["kind LIKE ?" if kind.endswith("*") else "kind = ?" for kind in kinds]
            clause += " AND (" + " OR ".join(tests) + ")"
            params += [kind[:-1] + "%" if kind.endswith("*") else kind for kind in kinds]
        if after is not None:
            clause += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        sql = (
            f"SELECT {OPERATION_COLUMNS} FROM operations WHERE 1 = 1{clause} ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, [*params, limit]).fetchall()
            return [self._operation_record(row) for row in rows]

    def operations_per_day(self, scopes: list[str] | None) -> list[tuple[str, str, int]]:
        """(YYYY-MM-DD, kind, operations), oldest day first."""
        clause, params = in_scopes("scope", scopes)
        sql = (
            f"SELECT substr(created_at, 1, 10), kind, count(*) FROM operations WHERE 1 = 1{clause} "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        with self._lock:
            return [(str(r[0]), str(r[1]), int(r[2])) for r in self._conn.execute(sql, params).fetchall()]

    def operations_about(self, seed_id: int) -> list[OperationRecord]:
        """Every recorded operation that changed this seed, oldest first."""
        if not is_row_id(seed_id):
            return []
        sql = (
            f"SELECT {', '.join('o.' + c for c in OPERATION_COLUMNS.split(', '))} FROM operations o "
            "WHERE o.id IN (SELECT operation_id FROM seed_history WHERE seed_id = ?) ORDER BY o.created_at, o.id"
        )
        with self._lock:
            return [self._operation_record(row) for row in self._conn.execute(sql, (seed_id,)).fetchall()]

    # -- the inbox under review ----------------------------------------------------------------

    def review_inbox(self, state: str, scopes: list[str] | None, limit: int) -> list[Received]:
        """Inbox texts in one state ('pending' or 'skipped'), newest first, in some scopes."""
        clause, params = in_scopes("scope", scopes)
        sql = f"SELECT {INBOX_COLUMNS} FROM inbox WHERE state = ?{clause} ORDER BY id DESC LIMIT ?"
        with self._lock:
            return [received_from_row(r) for r in self._conn.execute(sql, [state, *params, limit]).fetchall()]

    def inbox_entry(self, inbox_id: int) -> Received | None:
        if not is_row_id(inbox_id):
            return None
        with self._lock:
            row = self._conn.execute(f"SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
        return None if row is None else received_from_row(row)

    def skipped_per_day(self, scopes: list[str] | None) -> list[tuple[str, bool, int]]:
        """(YYYY-MM-DD, a duplicate kept for review?, texts kept) for the texts the gate or the arbiter set
        aside, oldest day first."""
        clause, params = in_scopes("scope", scopes)
        sql = (
            "SELECT substr(received_at, 1, 10), CASE WHEN reason LIKE ? THEN 1 ELSE 0 END, "
            f"count(*) FROM inbox WHERE state = 'skipped'{clause} GROUP BY 1, 2 ORDER BY 1, 2"
        )
        with self._lock:
            rows = self._conn.execute(sql, [DUPLICATE_REASON + "%", *params]).fetchall()
            return [(str(r[0]), bool(r[1]), int(r[2])) for r in rows]

    @contextmanager
    def review(self, inbox_id: int, kind: str, reason: str) -> Generator[tuple[Operation, Received]]:
        """Take a text kept for review out of the inbox, recorded as an operation of `kind` (its text as the
        operation's trigger); what the block does in the operation (an update: a merge) is in the same
        transaction. Raises AlreadySettled if the text is no longer kept for review."""
        from seeds.operation import Operation
        from seeds.records import AlreadySettled

        if not is_row_id(inbox_id):
            raise AlreadySettled(f"inbox text {inbox_id} is no longer kept for review")
        with self._lock, self._write():
            row = self._conn.execute(
                f"SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ? AND state = 'skipped'", (inbox_id,)
            ).fetchone()
            if row is None:
                raise AlreadySettled(f"inbox text {inbox_id} is no longer kept for review")
            entry = received_from_row(row)
            operation_id = self._insert_operation(kind, entry.scope, reason, entry.text)
            self._conn.execute("DELETE FROM inbox WHERE id = ? AND state = 'skipped'", (inbox_id,))
            yield Operation(cast("SeedStore", self), operation_id, entry.scope), entry

    def reopen_review(
        self,
        operation_id: str | None,
        scope: str,
        text: str,
        tags: Sequence[str],
        why: str,
        reason: str,
        replacing: int | None = None,
    ) -> tuple[str | None, int]:
        """Undo a `settle_review`: put its text back among the texts kept for review (with `why`), recorded as
        an undo of the operation (None: the undo is recorded already); `replacing`: a text kept for review
        by the review's own decision, taken out in the same transaction.
        Returns (the undo's id or None, the inbox id)."""
        from seeds.records import utc_now

        with self._lock, self._write():
            if replacing is not None:  # the text the review's decision kept for review again, under another reason
                self._conn.execute("DELETE FROM inbox WHERE id = ? AND state = 'skipped'", (replacing,))
            row = self._conn.execute(
                "INSERT INTO inbox (scope, text, tags, force, source, received_at, state, reason) "
                "VALUES (?, ?, ?, 0, 'console', ?, 'skipped', ?) RETURNING id",
                (scope, text, json.dumps(list(tags), ensure_ascii=False), utc_now(), why),
            ).fetchone()
            undo_id = (
                None if operation_id is None else self._insert_operation("undo", scope, reason, None, operation_id)
            )
            return undo_id, int(row[0])

    # -- purge of one seed ---------------------------------------------------------------------

    def purge_seed(self, seed_id: int) -> tuple[int, int]:
        """Forget one seed for good: the seed (if stored), every earlier version of it, the operations that
        changed only it, and the recorded decisions about it. Returns (history rows removed, operations
        removed). The engine's files are compacted, so the text does not linger in free pages."""
        if not is_row_id(seed_id):
            return 0, 0
        with self._lock:
            with self._write():
                only_this = [
                    str(r[0])
                    for r in self._conn.execute(
                        "SELECT operation_id FROM seed_history WHERE operation_id IN "
                        "(SELECT operation_id FROM seed_history WHERE seed_id = ?) "
                        "GROUP BY operation_id HAVING count(DISTINCT seed_id) = 1",
                        (seed_id,),
                    ).fetchall()
                ]
                if self._get_unlocked(seed_id) is not None:
                    self._remove_seed(seed_id)
                versions = self._conn.execute("DELETE FROM seed_history WHERE seed_id = ?", (seed_id,)).rowcount
                # The decisions that stored, changed, removed or repeated it quote its texts.
                self._conn.execute("DELETE FROM decisions WHERE seed_id = ?", (seed_id,))
                operations = 0
                for operation_id in only_this:
                    self._conn.execute("DELETE FROM decisions WHERE operation_id = ?", (operation_id,))
                    # An undo of a purged operation has nothing left to point at either.
                    self._conn.execute("UPDATE operations SET undoes = NULL WHERE undoes = ?", (operation_id,))
                    operations += self._conn.execute("DELETE FROM operations WHERE id = ?", (operation_id,)).rowcount
            self._compact()
        return versions, operations
