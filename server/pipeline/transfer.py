"""Export and import of seeds as JSON Lines: one seed per line, the fields a person can read and edit.

An export holds each seed's id, scope, text, category, tags, source and timestamps (not its
vector, which the embedder recomputes, nor its history). Importing it with `raw` into an empty
store gives back the same store: the same ids, texts and timestamps. Without `raw`, each text
goes through `remember` like a new one: the gate may skip it and the arbiter may merge it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from seeds import Seed, SeedStore, text_hash
from server.errors import ServerError
from server.pipeline.ports import Embeds
from server.pipeline.results import RememberResult, seed_fields
from server.rules import limits, scopes, secrets
from server.rules.limits import MAX_TEXT_CHARS


class ImportRefused(ServerError):
    """The file has lines that can't be imported; nothing was stored. `problems` lists them by line."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        super().__init__(f"{len(problems)} line(s) can't be imported, so nothing was stored:\n  " + "\n  ".join(shown))
        self.problems = problems


class SeedRecord(BaseModel):
    """One line of an export. Only `text` and `scope` are required in a hand-written file."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[int | None, Field(ge=1, description="The seed's id in the store it came from.")] = None
    scope: str
    text: str
    category: str = "fact"
    tags: list[str] = []
    source: str = "import"
    created_at: str | None = None
    updated_at: str | None = None

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        return scopes.check_name(value)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        limits.check_text(value, "text", MAX_TEXT_CHARS)
        found = secrets.find_secrets(value)
        if found:
            raise ValueError(f"the text contains {secrets.describe(found)}; remove it or use a placeholder")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return limits.check_tags(value)

    @field_validator("created_at", "updated_at")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("a timestamp needs its time zone (the store writes UTC, e.g. +00:00)")
        return value

    @classmethod
    def of(cls, seed: Seed) -> SeedRecord:
        return cls.model_construct(**seed_fields(seed))


def export_lines(store: SeedStore, scope: str | None = None) -> Iterator[str]:
    """The store's seeds (or one scope's), oldest first, as JSON Lines (without newlines)."""
    for seed in store.list_seeds(scope):
        yield json.dumps(SeedRecord.of(seed).model_dump(), ensure_ascii=False)


def read_records(lines: Iterable[str]) -> list[SeedRecord]:
    """Parse and check every line first, so a bad file is refused as a whole (ImportRefused)."""
    records: list[SeedRecord] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(SeedRecord.model_validate_json(line))
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            problems.append(f"line {number}: {details}")
    if problems:
        raise ImportRefused(problems)
    return records


@dataclass
class ImportReport:
    """How each record went: imported (raw) or remember's status (saved, updated, skipped, ...)."""

    counts: dict[str, int] = field(default_factory=dict[str, int])
    renumbered: list[tuple[int, int]] = field(default_factory=list[tuple[int, int]])
    """(id in the file, id given here) for raw records whose id was taken."""
    results: list[RememberResult] = field(default_factory=list[RememberResult])
    """Without raw: remember's answer for each record, in order."""

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


ImportProgress = Callable[[int, int], None]


def import_raw(
    store: SeedStore, embedder: Embeds, records: list[SeedRecord], progress: ImportProgress | None = None
) -> ImportReport:
    """Store the records as they are (no gate, no arbiter), keeping ids and timestamps; one transaction.

    A record whose normalized text is already stored in its scope is not stored again ('duplicate'),
    so importing the same file twice changes nothing the second time.
    """
    report = ImportReport()
    pending: list[tuple[Seed, list[float]]] = []
    seen: set[tuple[str, str]] = set()
    for done, record in enumerate(records, start=1):
        key = (record.scope, text_hash(record.text))
        if key in seen or store.find_exact(record.scope, record.text) is not None:
            report.add("duplicate")
        else:
            seen.add(key)
            created = record.created_at or record.updated_at or _now()
            seed = Seed(
                id=record.id or 0,
                scope=record.scope,
                text=record.text,
                category=record.category,
                tags=tuple(record.tags),
                source=record.source,
                created_at=created,
                updated_at=record.updated_at or created,
            )
            pending.append((seed, embedder.embed_document(record.text)))
        if progress is not None:
            progress(done, len(records))
    for (wanted, _), stored in zip(pending, store.restore(pending), strict=True):
        report.add("imported")
        if wanted.id and stored.id != wanted.id:
            report.renumbered.append((wanted.id, stored.id))
    return report


RememberRecord = Callable[["SeedRecord"], RememberResult]
"""The write entry point for one record (the CLI passes server/pipeline/write.py's `remember`)."""


def import_gated(
    remember: RememberRecord, records: list[SeedRecord], progress: ImportProgress | None = None
) -> ImportReport:
    """Each record through `remember`, as if an agent said it now: the gate and the arbiter decide."""
    report = ImportReport()
    for done, record in enumerate(records, start=1):
        result = remember(record)
        report.add(result.status)
        report.results.append(result)
        if progress is not None:
            progress(done, len(records))
    return report


def _now() -> str:
    from seeds import utc_now

    return utc_now()
