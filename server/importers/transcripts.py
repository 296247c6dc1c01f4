"""Reading Claude Code's transcripts (`~/.claude/projects/*/*.jsonl`): the user's own turns and the agent's
labelled statements. The session-end and pre-compact hooks (server/cli/hooks.py) and `import --from
claude-code` (claude_code.py) read them the same way, here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from server.rules import signals

_NOT_USER_TEXT = (
    "<command-name>",
    "<command-message>",
    "<command-args>",
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<user-prompt-submit-hook>",
    "<system-reminder>",
    "Caveat: ",
    "This session is being continued from a previous conversation",
    "[Request interrupted",
)


@dataclass
class Turn:
    line: int
    role: str
    text: str


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    found: list[str] = []
    for block in cast(list[object], content):
        if isinstance(block, dict):
            part = cast(dict[str, Any], block)
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                found.append(part["text"])
    return found


def transcript_turns(path: Path, start: int = 0) -> Iterator[Turn]:
    """The user's own turns and the agent's labelled statements in a Claude Code transcript, from line
    `start` on. Tool results, client commands, injected reminders and compaction summaries are skipped."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle):
            if number < start or not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            record = cast(dict[str, Any], entry)
            message = record.get("message")
            if record.get("isMeta") or record.get("isSidechain") or not isinstance(message, dict):
                continue
            content = cast(dict[str, Any], message).get("content")
            if record.get("type") == "user":
                for text in _texts(content):
                    text = text.strip()
                    if text and not text.startswith(_NOT_USER_TEXT):
                        yield Turn(number, "user", text)
            elif record.get("type") == "assistant":
                for text in _texts(content):
                    for paragraph in text.split("\n\n"):
                        labelled = signals.classify(paragraph.strip())
                        if labelled is not None and labelled.decision == "SAVE":
                            yield Turn(number, "assistant", paragraph.strip())
