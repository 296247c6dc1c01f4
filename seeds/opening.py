"""Opening a store: the one factory that knows both engines, so that neither engine's module imports the
other and the contract (seeds/store.py) imports neither."""

from __future__ import annotations

from pathlib import Path

from seeds.records import StoreError
from seeds.store import SeedStore, is_postgres_url


def open_store(location: str | Path) -> SeedStore:
    """Open (creating and migrating if needed) the store at a file path or a postgresql:// URL."""
    if is_postgres_url(location):
        from seeds.postgres import PostgresStore

        return PostgresStore.connect(str(location))
    if "://" in str(location):
        raise StoreError(
            f"--db {location!r} is neither a file path nor a postgresql:// URL; give a path to a SQLite "
            "file (created if missing) or postgresql://user@host/dbname."
        )
    from seeds.sqlite import SQLiteStore

    return SQLiteStore.open_file(location)
