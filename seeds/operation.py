"""An operation: one decision's changes, applied in one transaction and recorded under one id (undo takes
it back whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from seeds.records import Decided, Seed

if TYPE_CHECKING:
    from seeds.store import SeedStore


class Operation:
    """One decision's changes, applied in a single transaction and recorded under one id."""

    def __init__(self, store: SeedStore, operation_id: str, scope: str) -> None:
        self._store = store
        self.id = operation_id
        self.scope = scope

    def update(self, seed_id: int, text: str, embedding: Sequence[float], category: str | None = None) -> Seed:
        return self._store._update_in_operation(self.id, seed_id, text, embedding, category)  # pyright: ignore[reportPrivateUsage]

    def delete(self, seed_id: int) -> Seed:
        return self._store._delete_in_operation(self.id, seed_id)  # pyright: ignore[reportPrivateUsage]

    def add(self, seed: Seed, embedding: Sequence[float]) -> Seed:
        """Store a new seed as given (scope, text, category, tags, source, timestamps; a new id), recorded
        as brought into being by this operation: undoing the operation removes it again."""
        return self._store._add_in_operation(self.id, seed, embedding)  # pyright: ignore[reportPrivateUsage]

    def add_many(self, seeds: Sequence[tuple[Seed, Sequence[float]]]) -> list[Seed]:
        """Store new seeds as given (new ids, in order), each recorded as brought into being by this operation:
        one statement batch per table (the rows, the vectors, the history), as `migrate` copies a store,
        instead of a few statements a seed."""
        return self._store._add_many_in_operation(self.id, seeds)  # pyright: ignore[reportPrivateUsage]

    def record_decision(self, decided: Decided, seed_id: int) -> None:
        """Record the decision this operation applies (about `seed_id`), in its transaction."""
        self._store._record_decision(decided, self.scope, seed_id=seed_id, operation_id=self.id)  # pyright: ignore[reportPrivateUsage]

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (None: remove) a meta value in the operation's transaction: a mark of how far a long
        operation got is written with its changes, or not at all."""
        self._store._put_meta(key, value)  # pyright: ignore[reportPrivateUsage]
