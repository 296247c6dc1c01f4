"""The reader of each source format (one module each), and reading a whole source before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from server.importers import (
    FORMATS,
    basic_memory,
    claude_code,
    claude_mem,
    jsonl,
    mcp_memory_service,
    mem0,
    server_memory,
)
from server.importers.records import ImportItem, SourceError

READERS: dict[str, Callable[[Path], list[ImportItem]]] = {
    "server-memory": server_memory.read,
    "mcp-memory-service": mcp_memory_service.read,
    "claude-mem": claude_mem.read,
    "mem0": mem0.read,
    "basic-memory": basic_memory.read,
    "claude-code": claude_code.read,
    "jsonl": jsonl.read,
}
assert set(READERS) == set(FORMATS)


def read_source(format_name: str, path: Path) -> list[ImportItem]:
    """Every item of the source, read whole before anything is written; SourceError names what is wrong."""
    reader = READERS.get(format_name)
    if reader is None:
        raise SourceError(path, f"unknown format {format_name!r}; one of {', '.join(FORMATS)}")
    if not path.exists():
        raise SourceError(path, "no such file or folder")
    return reader(path)
