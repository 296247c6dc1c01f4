"""What the operating system says about a process: its memory, read from /proc (Linux; None elsewhere)."""

from __future__ import annotations

from pathlib import Path


def process_memory(pid: int | None = None) -> tuple[int | None, int | None]:
    """(RSS, PSS) of a process in bytes, from /proc (None where it can't be read)."""
    where = f"/proc/{pid or 'self'}/smaps_rollup"
    values: dict[str, int] = {}
    try:
        for line in Path(where).read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None, None
    return values.get("Rss"), values.get("Pss")
