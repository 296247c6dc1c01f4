"""mem0: a `Memory.get_all()` dump, or an OpenMemory backup.

- `get_all()` (and the platform client's) answers `{"results": [{"id", "memory", "hash", "metadata",
  "created_at", "updated_at", "user_id", "agent_id", "run_id", ...}]}` (before v1.1: the bare list); a dump
  saved as JSON or one item per line (JSON Lines) is read.
- OpenMemory's export (`memories_export_<user>.zip`) holds `memories.json` (`{"user", "apps", "categories",
  "memories": [{"id", "content", "metadata", "state", "created_at", "updated_at", ...}]}`) and
  `memories.jsonl.gz` (one `{"id", "content", "metadata", "created_at", "updated_at", "state", "app",
  "categories"}` per line). The zip, either file inside it, or the .jsonl.gz are read; memories in state
  `deleted` are passed over.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any, cast

from server.importers.records import (
    ImportItem,
    SourceError,
    json_lines,
    parse_json,
    read_text,
    tag_list,
    timestamp,
)

SOURCE = "import:mem0"


def _item(record: dict[str, Any], where: str) -> ImportItem | None:
    text = record.get("memory", record.get("content"))
    if record.get("state") == "deleted" or not isinstance(text, str) or not text.strip():
        return None
    metadata = record.get("metadata")
    tags = tag_list(record.get("categories"))
    if not tags and isinstance(metadata, dict):
        tags = tag_list(cast(dict[str, Any], metadata).get("categories"))
    return ImportItem(
        text=text,
        tags=tags[:20],
        source=SOURCE,
        created_at=timestamp(record.get("created_at")),
        updated_at=timestamp(record.get("updated_at")),
        origin=where,
    )


def _records(path: Path, name: str, document: object) -> list[ImportItem]:
    if isinstance(document, dict):
        found = cast(dict[str, Any], document)
        if "export_metadata" in found or "export_date" in found:
            raise SourceError(
                path, "not a mem0 dump: an mcp-memory-service export", hint="Use --from mcp-memory-service"
            )
        document = found.get("results", found.get("memories"))
    if not isinstance(document, list):
        raise SourceError(
            path,
            "not a mem0 dump (a list of memories, {'results': [...]}, or OpenMemory's {'memories': [...]})",
            hint="Save what Memory.get_all() returns as JSON, or give OpenMemory's export zip",
        )
    items: list[ImportItem] = []
    for index, record in enumerate(cast(list[object], document)):
        if not isinstance(record, dict) or not ({"memory", "content"} & set(cast(dict[str, Any], record))):
            raise SourceError(path, f"item {index} is not a mem0 memory (no 'memory' or 'content')")
        item = _item(cast(dict[str, Any], record), f"{name}[{index}]")
        if item is not None:
            items.append(item)
    return items


def _lines(path: Path, name: str, text: str) -> list[ImportItem]:
    items: list[ImportItem] = []
    for number, record in json_lines(path, text):
        if not ({"memory", "content"} & set(record)):
            raise SourceError(path, "not a mem0 memory (no 'memory' or 'content')", line=number)
        item = _item(record, f"{name}:{number}")
        if item is not None:
            items.append(item)
    return items


def _gunzip(path: Path, data: bytes) -> str:
    try:
        return gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SourceError(path, f"the gzip file can't be read ({exc}); it may be cut short") from None


def read(path: Path) -> list[ImportItem]:
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = {Path(name).name: name for name in archive.namelist()}
                if "memories.jsonl.gz" in names:
                    inner = f"{path.name}/memories.jsonl.gz"
                    return _lines(path, inner, _gunzip(path, archive.read(names["memories.jsonl.gz"])))
                if "memories.json" in names:
                    text = archive.read(names["memories.json"]).decode("utf-8")
                    return _records(path, f"{path.name}/memories.json", parse_json(path, text))
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
            raise SourceError(path, f"the zip file can't be read ({exc})") from None
        raise SourceError(path, "an OpenMemory export holds memories.jsonl.gz or memories.json; this zip has neither")
    if path.name.endswith(".gz"):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(path, f"can't be read: {exc.strerror or exc}") from None
        return _lines(path, path.name, _gunzip(path, data))
    text = read_text(path)
    if path.suffix == ".jsonl":
        return _lines(path, path.name, text)
    return _records(path, path.name, parse_json(path, text))
