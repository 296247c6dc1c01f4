"""mcp-memory-service (doobidoo): its JSON export, the dashboard's export, or its SQLite file itself.

- `memory export` / `MemoryExporter.export_to_json`: `{"export_metadata": {...}, "memories": [{"content",
  "content_hash", "tags": [...], "created_at": <epoch seconds>, "updated_at", "memory_type", "metadata"}]}`.
- the web dashboard's "Export": `{"export_date", "total_memories", "memories": [...]}` with the API's memory
  shape (`created_at` epoch and `created_at_iso`).
- the sqlite-vec backend's file (`sqlite_vec.db`): table `memories` (content, tags comma-joined,
  memory_type, metadata JSON, created_at / updated_at epoch seconds, deleted_at for soft deletes). Deleted
  rows are passed over. The file is opened read-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

from server.importers.records import (
    ImportItem,
    SourceError,
    parse_json,
    read_text,
    tag_list,
    timestamp,
)

SOURCE = "import:mcp-memory-service"
SQLITE_MAGIC = b"SQLite format 3\x00"


def category_of(memory_type: object) -> str:
    """Our category for one of its memory types (note, reference, decision, architectural-decision, ...)."""
    kind = str(memory_type or "").casefold()
    for word, category in (
        ("decision", "decision"),
        ("lesson", "lesson"),
        ("learning", "lesson"),
        ("preference", "preference"),
        ("correction", "correction"),
        ("fix", "lesson"),
    ):
        if word in kind:
            return category
    return "fact"


def _item(record: dict[str, Any], where: str) -> ImportItem | None:
    content = record.get("content")
    if not isinstance(content, str) or not content.strip():
        return None
    memory_type = record.get("memory_type")
    tags = tag_list(record.get("tags"))
    created = timestamp(record.get("created_at")) or timestamp(record.get("created_at_iso"))
    updated = timestamp(record.get("updated_at")) or timestamp(record.get("updated_at_iso"))
    return ImportItem(
        text=content,
        category=category_of(memory_type),
        tags=tags,
        source=SOURCE,
        created_at=created,
        updated_at=updated,
        origin=where,
    )


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A peer's SQLite file, read-only (never changed by the import), or a SourceError."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise SourceError(path, f"the SQLite database can't be read ({exc})") from None
    return conn


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def _from_sqlite(path: Path) -> list[ImportItem]:
    conn = open_sqlite(path)
    try:
        have = columns(conn, "memories")
        if not {"content", "tags"} <= have:
            raise SourceError(
                path,
                "has no mcp-memory-service 'memories' table (content, tags, memory_type, ...)",
                hint="Is it the sqlite_vec.db of mcp-memory-service? Pick the --from that made it",
            )
        wanted = ["id", "content", "tags", "memory_type", "created_at", "updated_at"]
        picked = [name if name in have else "NULL" for name in wanted]
        where = " WHERE deleted_at IS NULL" if "deleted_at" in have else ""
        rows = conn.execute(f"SELECT {', '.join(picked)} FROM memories{where} ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise SourceError(path, f"the SQLite database can't be read ({exc})") from None
    finally:
        conn.close()
    items: list[ImportItem] = []
    for row in rows:
        record = dict(zip(wanted, row, strict=True))
        item = _item(record, f"{path.name}:memories:{record['id']}")
        if item is not None:
            items.append(item)
    return items


def read(path: Path) -> list[ImportItem]:
    if is_sqlite(path):
        return _from_sqlite(path)
    document = parse_json(path, read_text(path))
    found = cast(dict[str, Any], document) if isinstance(document, dict) else {}
    memories = found.get("memories")
    if "user" in found and "apps" in found:
        raise SourceError(path, "not an mcp-memory-service export: OpenMemory's memories.json", hint="Use --from mem0")
    if not isinstance(memories, list):
        raise SourceError(
            path,
            "not an mcp-memory-service export (a JSON object with a 'memories' list)",
            hint="Give its JSON export or its sqlite_vec.db file",
        )
    items: list[ImportItem] = []
    for index, record in enumerate(cast(list[object], memories)):
        if not isinstance(record, dict):
            raise SourceError(path, f"memories[{index}] is not an object")
        item = _item(cast(dict[str, Any], record), f"{path.name}:memories[{index}]")
        if item is not None:
            items.append(item)
    return items
