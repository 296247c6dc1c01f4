"""Claude Code's transcripts (`~/.claude/projects/<project>/<session>.jsonl`): the user's turns and the
agent's labelled decisions, read as the session-end hook reads them (server/importers/transcripts.py).

Each line carries the session's `cwd` and a `timestamp`: the project folder gives the scope as the MCP
server and the hooks name it (server/settings.py `scope_from_root`), the timestamp the memory's time. The
texts are raw, so the gate decides what is kept. Give one transcript, one project's folder, or
`~/.claude/projects` for all of them.
"""

from __future__ import annotations

from pathlib import Path

from server.importers.records import ImportItem, SourceError, json_lines, read_text, timestamp
from server.importers.transcripts import transcript_turns
from server.rules.scopes import scope_from_root
from server.settings import project_folder

SOURCE = "import:claude-code"


def _transcript(path: Path, root: Path) -> list[ImportItem]:
    # The hook's reader passes over a line it can't read (a session still being written); an import says so.
    context: dict[int, tuple[str | None, str | None]] = {}
    for number, record in json_lines(path, read_text(path)):
        if not context and ("type" not in record or not ({"message", "sessionId", "summary"} & set(record))):
            raise SourceError(
                path,
                "not a Claude Code transcript line (no type with message or sessionId)",
                line=number,
                hint="Claude Code keeps transcripts in ~/.claude/projects/<project>/<session>.jsonl",
            )
        cwd = record.get("cwd")
        context[number - 1] = (cwd if isinstance(cwd, str) and cwd else None, timestamp(record.get("timestamp")))
    name = path.relative_to(root).as_posix() if path != root else path.name
    items: list[ImportItem] = []
    for turn in transcript_turns(path):
        cwd, when = context.get(turn.line, (None, None))
        # The folder as the hooks read a payload's cwd (settings.project_folder: the root and the home folder
        # are no project), without this process's own CLAUDE_PROJECT_DIR.
        folder = project_folder(cwd, env={})
        items.append(
            ImportItem(
                text=turn.text,
                scope=scope_from_root(folder.as_uri()) if folder is not None else None,
                tags=("session",),
                source=SOURCE,
                created_at=when,
                updated_at=when,
                raw=True,
                origin=f"{name}:{turn.line + 1}",
            )
        )
    return items


def read(path: Path) -> list[ImportItem]:
    if path.is_file():
        files, root = [path], path
    elif path.is_dir():
        files, root = sorted(path.glob("*.jsonl")) + sorted(path.glob("*/*.jsonl")), path
    else:
        raise SourceError(path, "no such file or folder", hint="Claude Code keeps transcripts in ~/.claude/projects")
    if not files:
        raise SourceError(path, "holds no transcripts (*.jsonl)", hint="Give ~/.claude/projects or a folder in it")
    items: list[ImportItem] = []
    for file in files:
        items += _transcript(file, root)
    return items
