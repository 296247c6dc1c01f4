"""basic-memory (basicmachines-co): a folder of Markdown notes, as its `EntityParser` reads them.

A note has YAML frontmatter (title, type, tags, permalink, created, modified) and a body whose list items
are observations, `- [category] text #tag (context)`, or relations, `- relation_type [[Target]] (context)`
(a multi-word type quoted). Each observation becomes a memory naming its note ("Coffee Brewing: water at
94 C"), with its #tags and category; each relation one sentence ("Coffee Brewing pairs with Grinder
Settings"). A note with neither gives its text as one memory. Times: the frontmatter's created / modified,
else the file's modification time (as basic-memory falls back to). Task items (`- [ ]`, `- [x]`), timecodes
(`[00:01]`) and links (`[text](url)`) are not observations, as there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from server.importers.records import ImportItem, SourceError, read_text, tag_list, timestamp

SOURCE = "import:basic-memory"
_ITEM = re.compile(r"^\s*[-*]\s+(.+?)\s*$")
_OBSERVATION = re.compile(r"^\[([^\[\]()]+)\]\s+(.+)$")
_TIMECODE = re.compile(
    r"^\d{1,3}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?(?:\s+-\s+\d{1,3}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)?$"
)
_RELATION = re.compile(r"""^("[^"]+"|'[^']+'|[^\s\[\]"']+)\s+\[\[([^\]]+)\]\](?:\s*\(([^()]*)\))?$""")
_CATEGORIES = {
    "decision": "decision",
    "lesson": "lesson",
    "learning": "lesson",
    "preference": "preference",
    "correction": "correction",
    "fact": "fact",
}
SKIPPED_FOLDERS = {".git", ".obsidian", ".trash", "node_modules", ".basic-memory"}


def _frontmatter(path: Path, text: str) -> tuple[dict[str, Any], str, int]:
    """(frontmatter, body, the body's first line number)."""
    if not text.startswith("---"):
        return {}, text, 1
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            try:
                loaded = yaml.safe_load("".join(lines[1:index]))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = None if mark is None else int(getattr(mark, "line", 0)) + 2
                raise SourceError(path, f"the frontmatter is not YAML ({exc})", line=line) from None
            found = cast(dict[str, Any], loaded) if isinstance(loaded, dict) else {}
            return found, "".join(lines[index + 1 :]), index + 2
    raise SourceError(path, "the frontmatter opened with --- is never closed", line=1)


def _tags(content: str) -> list[str]:
    found: list[str] = []
    for part in content.split():
        if part.startswith("#") and len(part) > 1:
            found += [tag for tag in part.split("#") if tag]
    return found


def _note(path: Path, root: Path) -> list[ImportItem]:
    text = read_text(path)
    front, body, first_line = _frontmatter(path, text)
    title = str(front.get("title") or path.stem).strip()
    note_tags = list(tag_list(front.get("tags")))
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    created = timestamp(str(front["created"])) if front.get("created") else None
    updated = timestamp(str(front["modified"])) if front.get("modified") else None
    created, updated = created or updated or timestamp(modified), updated or timestamp(modified)
    name = path.relative_to(root).as_posix() if path != root else path.name
    items: list[ImportItem] = []

    def add(text: str, line: int, category: str = "fact", tags: tuple[str, ...] = ()) -> None:
        items.append(
            ImportItem(
                text=text,
                category=category,
                tags=tuple(dict.fromkeys([*tags, *note_tags]))[:20],
                source=SOURCE,
                created_at=created,
                updated_at=updated,
                origin=f"{name}:{line}",
            )
        )

    for offset, line in enumerate(body.splitlines()):
        number = first_line + offset
        item = _ITEM.match(line)
        if item is None:
            continue
        content = item.group(1)
        if content[:3] in ("[ ]", "[x]", "[X]", "[-]") or re.match(r"^\[.*?\]\(.*?\)$", content):
            continue
        relation = _RELATION.match(content)
        if relation is not None:
            kind = relation.group(1).strip("'\"").replace("_", " ")
            add(f"{title} {kind} {relation.group(2).strip()}", number, tags=("relation",))
            continue
        observation = _OBSERVATION.match(content)
        if observation is None or _TIMECODE.match(observation.group(1).strip()):
            continue
        category = observation.group(1).strip()
        said = observation.group(2).strip()
        if title.casefold() not in said.casefold():
            said = f"{title}: {said}"
        add(said, number, _CATEGORIES.get(category.casefold(), "fact"), (category, *_tags(said)))
    if not items:
        prose = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#")).strip()
        if prose:
            add(prose if title.casefold() in prose.casefold() else f"{title}: {prose}", first_line)
    return items


def read(path: Path) -> list[ImportItem]:
    if path.is_file():
        return _note(path, path)
    if not path.is_dir():
        raise SourceError(path, "no such folder", hint="Give the folder of the basic-memory project (its notes)")
    notes = sorted(
        note
        for note in path.rglob("*.md")
        if not SKIPPED_FOLDERS & set(note.relative_to(path).parts[:-1]) and note.is_file()
    )
    if not notes:
        raise SourceError(path, "holds no Markdown notes (*.md)", hint="Give the folder of a basic-memory project")
    items: list[ImportItem] = []
    for note in notes:
        items += _note(note, path)
    return items
