"""claude-mem (thedotmack): its SQLite database, `~/.claude-mem/claude-mem.db`, opened read-only.

- `observations` (what its worker distilled from a session: type decision / bugfix / feature / refactor /
  discovery / change, title, subtitle, narrative, facts and concepts as JSON arrays, project, created_at,
  created_at_epoch in ms): one memory each, the title with the narrative (or text) and the facts. Curated.
- `session_summaries` (request, investigated, learned, completed, next_steps, notes, project): what was
  learned and what was completed, one memory each. Curated.
- `user_prompts` (prompt_text, content_session_id → `sdk_sessions.project`): the user's own words, raw: the
  gate decides, as for a transcript.

A project (claude-mem names it by the folder's name) becomes the scope, unless --scope is given.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from server.importers.mcp_memory_service import columns, is_sqlite, open_sqlite
from server.importers.records import ImportItem, SourceError, scope_name, tag_list, timestamp

SOURCE = "import:claude-mem"
CATEGORIES = {"decision": "decision", "bugfix": "lesson"}


def _json_list(value: object) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        parsed: object = json.loads(value)
    except json.JSONDecodeError:
        return [value.strip()]
    return list(tag_list(parsed)) if isinstance(parsed, list) else []  # pyright: ignore[reportUnknownArgumentType]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _scope(project: object) -> str | None:
    return scope_name(project) if isinstance(project, str) else None


def _when(epoch: object, iso: object) -> str | None:
    return timestamp(epoch) or timestamp(iso)


def _observations(conn: sqlite3.Connection, name: str) -> list[ImportItem]:
    have = columns(conn, "observations")
    wanted = ["id", "project", "type", "title", "subtitle", "narrative", "text", "facts", "concepts"]
    wanted += ["created_at", "created_at_epoch"]
    picked = [column if column in have else "NULL" for column in wanted]
    items: list[ImportItem] = []
    for row in conn.execute(f"SELECT {', '.join(picked)} FROM observations ORDER BY id").fetchall():
        record = dict(zip(wanted, row, strict=True))
        title = _text(record["title"])
        body = _text(record["narrative"]) or _text(record["text"]) or _text(record["subtitle"])
        facts = _json_list(record["facts"])
        parts = [f"{title}: {body}" if title and body else title or body]
        parts += [f"- {fact}" for fact in facts]
        text = "\n".join(part for part in parts if part)
        if not text:
            continue
        kind = _text(record["type"])
        items.append(
            ImportItem(
                text=text,
                scope=_scope(record["project"]),
                category=CATEGORIES.get(kind, "fact"),
                tags=tuple(dict.fromkeys(t for t in (kind, *_json_list(record["concepts"])) if t))[:20],
                source=SOURCE,
                created_at=_when(record["created_at_epoch"], record["created_at"]),
                origin=f"{name}:observations:{record['id']}",
            )
        )
    return items


def _summaries(conn: sqlite3.Connection, name: str) -> list[ImportItem]:
    have = columns(conn, "session_summaries")
    wanted = ["id", "project", "learned", "completed", "notes", "created_at", "created_at_epoch"]
    picked = [column if column in have else "NULL" for column in wanted]
    items: list[ImportItem] = []
    for row in conn.execute(f"SELECT {', '.join(picked)} FROM session_summaries ORDER BY id").fetchall():
        record = dict(zip(wanted, row, strict=True))
        for field, label, category in (("learned", "Learned", "lesson"), ("completed", "Completed", "fact")):
            body = _text(record[field])
            if body:
                items.append(
                    ImportItem(
                        text=f"{label}: {body}",
                        scope=_scope(record["project"]),
                        category=category,
                        tags=("session-summary",),
                        source=SOURCE,
                        created_at=_when(record["created_at_epoch"], record["created_at"]),
                        origin=f"{name}:session_summaries:{record['id']}:{field}",
                    )
                )
    return items


def _prompts(conn: sqlite3.Connection, name: str) -> list[ImportItem]:
    project = "NULL"
    if "project" in columns(conn, "sdk_sessions"):
        project = "(SELECT s.project FROM sdk_sessions s WHERE s.content_session_id = p.content_session_id LIMIT 1)"
    rows = conn.execute(
        f"SELECT p.id, p.prompt_text, {project}, p.created_at, p.created_at_epoch FROM user_prompts p ORDER BY p.id"
    ).fetchall()
    return [
        ImportItem(
            text=str(row[1]),
            scope=_scope(row[2]),
            tags=("prompt",),
            source=SOURCE,
            created_at=_when(row[4], row[3]),
            raw=True,
            origin=f"{name}:user_prompts:{row[0]}",
        )
        for row in rows
        if isinstance(row[1], str) and row[1].strip()
    ]


def read(path: Path) -> list[ImportItem]:
    if not is_sqlite(path):
        raise SourceError(
            path, "not a SQLite database", hint="claude-mem keeps its memories in ~/.claude-mem/claude-mem.db"
        )
    conn = open_sqlite(path)
    try:
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        readers = {"observations": _observations, "session_summaries": _summaries, "user_prompts": _prompts}
        found = [table for table in readers if table in tables]
        if not found:
            raise SourceError(
                path,
                "has none of claude-mem's tables (observations, session_summaries, user_prompts)",
                hint="Is it ~/.claude-mem/claude-mem.db? Pick the --from that made it",
            )
        items: list[ImportItem] = []
        for table in found:
            items += readers[table](conn, path.name)
        return items
    except sqlite3.Error as exc:
        raise SourceError(path, f"the SQLite database can't be read ({exc})") from None
    finally:
        conn.close()
