"""Our own export (`cerebellum-mcp export`): one seed per line, as server/pipeline/transfer.py reads and checks it."""

from __future__ import annotations

from pathlib import Path

from server.importers.records import ImportItem, SourceError, read_text, timestamp
from server.pipeline.transfer import ImportRefused, read_records


def read(path: Path) -> list[ImportItem]:
    try:
        records = read_records(read_text(path).splitlines())
    except ImportRefused as exc:
        raise SourceError(path, str(exc)) from None
    return [
        ImportItem(
            text=record.text,
            scope=record.scope,
            category=record.category,
            tags=tuple(record.tags),
            source=record.source,
            created_at=timestamp(record.created_at),
            updated_at=timestamp(record.updated_at),
            origin=f"{path.name}: record {number}",
        )
        for number, record in enumerate(records, start=1)
    ]
