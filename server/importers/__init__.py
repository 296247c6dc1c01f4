"""Importing the memory people already keep elsewhere, tidied on the way in (`cerebellum-mcp import --from`).

One module per source format reads it into `ImportItem`s (records.py), from the shape the peer's own code
writes; pipeline.py tidies and writes them under one operation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from server.importers import basic_memory, claude_code, claude_mem, jsonl, mcp_memory_service, mem0, server_memory
from server.importers.pipeline import ImportOptions, ImportSummary, ItemOutcome, import_items
from server.importers.records import ImportItem, SourceError

SourceFormat = Literal[
    "server-memory", "mcp-memory-service", "claude-mem", "mem0", "basic-memory", "claude-code", "jsonl"
]
FORMATS: tuple[str, ...] = get_args(SourceFormat)
READERS: dict[str, Callable[[Path], list[ImportItem]]] = {
    "server-memory": server_memory.read,
    "mcp-memory-service": mcp_memory_service.read,
    "claude-mem": claude_mem.read,
    "mem0": mem0.read,
    "basic-memory": basic_memory.read,
    "claude-code": claude_code.read,
    "jsonl": jsonl.read,
}


def read_source(format_name: str, path: Path) -> list[ImportItem]:
    """Every item of the source, read whole before anything is written; SourceError names what is wrong."""
    reader = READERS.get(format_name)
    if reader is None:
        raise SourceError(path, f"unknown format {format_name!r}; one of {', '.join(FORMATS)}")
    if not path.exists():
        raise SourceError(path, "no such file or folder")
    return reader(path)


__all__ = [
    "FORMATS",
    "ImportItem",
    "ImportOptions",
    "ImportSummary",
    "ItemOutcome",
    "SourceError",
    "SourceFormat",
    "import_items",
    "read_source",
]
