"""What every reader gives the import pipeline: one `ImportItem` per memory, and `SourceError` for a source
that can't be read (naming the file and line, so the person can fix it; nothing is written)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from seeds.records import utc_iso
from server.errors import ServerError
from server.rules import scopes


class SourceError(ServerError):
    """The source can't be read as the format it was given as; nothing was imported."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None, hint: str = "") -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}" + (f". {hint}" if hint else ""))
        self.path = str(path)
        self.line = line


class ImportItem(BaseModel):
    """One memory read from a source, before the import tidies it (secrets, duplicates, gate, arbiter)."""

    model_config = ConfigDict(frozen=True)

    text: Annotated[str, Field(description="What is to be remembered, as the source says it.")]
    scope: Annotated[
        str | None, Field(description="The scope the source gives it (a project); None: the import's scope.")
    ] = None
    category: Annotated[str, Field(description="lesson, decision, fact, ... as far as the source says.")] = "fact"
    tags: Annotated[tuple[str, ...], Field(description="Tags the source gives it.")] = ()
    source: Annotated[str, Field(description="Where it came from, stored as the seed's source (import:FORMAT).")]
    created_at: Annotated[str | None, Field(description="When the source first stored it (UTC), if it says.")] = None
    updated_at: Annotated[str | None, Field(description="When the source last changed it (UTC), if it says.")] = None
    raw: Annotated[
        bool,
        Field(
            description="A raw text (a transcript's turn, a prompt) the gate decides on; False: a memory someone "
            "chose to keep (an observation, a note), which skips the gate unless the import asks for it."
        ),
    ] = False
    origin: Annotated[str, Field(description="Where in the source it is (file:line, table:id), for the report.")]
    subject: Annotated[
        str | None,
        Field(
            description="What it is about, when the source files it under something (server-memory's entity): two "
            "items of one import filed under different subjects are not compared with each other."
        ),
    ] = None


def timestamp(value: object) -> str | None:
    """A source's time as the store writes it (UTC, ISO 8601, milliseconds): ISO strings (naive ones are
    UTC, 'Z' accepted), or seconds / milliseconds since the epoch. None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 1e11 else float(value)
        try:
            return utc_iso(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return timestamp(float(text))
        try:
            return utc_iso(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            return None
    return None


def scope_name(name: str) -> str | None:
    """A source's project name as a scope (letters, digits and . _ : / -), or None if nothing is left."""
    return scopes.name_from(name)


def tag_list(value: object) -> tuple[str, ...]:
    """Tags as a source keeps them: a list, or one comma-joined string."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list):
        parts = [str(part) for part in cast(list[object], value) if isinstance(part, str | int | float)]
    else:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def json_lines(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object is a SourceError."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(
                path,
                f"not JSON ({exc.msg} at column {exc.colno})",
                line=number,
                hint="The file may be cut short or not in this format; fix or remove the line and import again",
            ) from None
        if not isinstance(value, dict):
            raise SourceError(path, "a JSON Lines record must be an object", line=number)
        yield number, cast(dict[str, Any], value)


def read_text(path: Path) -> str:
    """A source file's text (UTF-8), or a SourceError saying why it can't be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(path, "no such file") from None
    except IsADirectoryError:
        raise SourceError(path, "is a folder; give the file") from None
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text (byte {exc.start}); is it the right file?") from None
    except OSError as exc:
        raise SourceError(path, f"can't be read: {exc.strerror or exc}") from None


def parse_json(path: Path, text: str) -> object:
    """A whole-file JSON document, or a SourceError naming the line where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            path,
            f"not JSON ({exc.msg} at column {exc.colno})",
            line=exc.lineno,
            hint="The file may be cut short or not in this format",
        ) from None
