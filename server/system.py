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


def byte_size(size: int | None, unknown: str = "size unknown") -> str:
    """A size in bytes as people read it (1024 to the KB): for the CLI's tables and the console's pages."""
    if size is None:
        return unknown
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
