"""Claude Code hooks: memory that works without the agent asking.

- `user-prompt` (UserPromptSubmit): reads the hook's JSON on stdin (session_id, transcript_path, cwd,
  hook_event_name, prompt), routes the prompt and prints the memories that bear on it as the hook's
  `hookSpecificOutput.additionalContext`, with their seed uris; nothing when none apply. It answers within
  its budget or prints nothing: the work runs on a worker thread and the hook stops waiting at the budget.
  When the shared local service (server/service.py) runs with its models loaded, it asks the service's
  `route` (the cerebellum's intent, hybrid recall; nothing stored); else it reads the store alone (the
  intent rules, then keyword recall), or with `models=True` loads the models itself, falling back to the
  keyword answer if they are not done in time. It never starts a service.
- `session-end` (SessionEnd): reads the transcript the hook points to (JSON Lines: `type` user/assistant,
  `message.content` a string or content blocks) and sends each user turn, and each paragraph in which the
  agent labelled a decision or lesson ("Decision: ..."), through the write path: committed to the inbox at
  once (so a hook killed at exit loses nothing: the server decides what is left), then decided by the
  gate and the arbiter within the budget. Questions, acknowledgements and pasted output are left out by the
  intent rules; tool results and client commands are not user turns.

Nothing here prints a secret: a prompt holding one is neither searched with nor echoed, and memories are
redacted before they are printed. Logs go to stderr, never the prompt's text.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from server import intent as intents
from server import secrets, signals
from server.settings import Settings, scope_from_root

logger = logging.getLogger(__name__)

USER_PROMPT_BUDGET_SECONDS = 3.0
SESSION_END_BUDGET_SECONDS = 100.0
# What `config claude-code --hooks` writes: Claude Code's own limits, a little above the budgets.
USER_PROMPT_TIMEOUT_SECONDS = 10
SESSION_END_TIMEOUT_SECONDS = 120
CONTEXT_MEMORIES = 5
MEMORY_CHARS = 400
SESSION_MARK = "claude-code:session-end:"  # + session id: how many transcript lines were handled
HOOK_SOURCE = "claude-code"
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

T = TypeVar("T")


def within(budget: float, work: Callable[[], T]) -> T | None:
    """`work()`'s result if it finishes within `budget` seconds, else None (it is left running, as a
    daemon thread: the hook process exits without it). An exception in `work` is logged and gives None."""
    box: list[T] = []

    def run() -> None:
        try:
            box.append(work())
        except Exception:
            logger.exception("hook: the work failed")

    worker = threading.Thread(target=run, name="hook-work", daemon=True)
    worker.start()
    worker.join(budget)
    return box[0] if box else None


def hook_scope(settings: Settings, cwd: str | None) -> str:
    """The scope the MCP server would use for this project: --scope / CEREBELLUM_SCOPE when set, else the
    project folder (Claude Code's cwd) as the server names a client root."""
    if "scope" in settings.model_fields_set or not cwd:
        return settings.scope
    return scope_from_root(Path(cwd).absolute().as_uri())


# -- user-prompt --------------------------------------------------------------------------------


@dataclass
class Context:
    scope: str
    intent: str
    decided_by: str
    lines: list[str] = field(default_factory=list[str])

    def text(self) -> str:
        head = f"Memories from cerebellum-mcp that may bear on this message (scope {self.scope}):"
        return "\n".join([head, *self.lines])


_WORD = r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{2,}"
_STOP = {
    "the", "and", "for", "with", "that", "this", "what", "which", "did", "does", "our", "you", "are", "was",
    "were", "how", "can", "could", "should", "would", "have", "has", "from", "into", "about", "when", "where",
    "why", "who", "there", "their", "them", "then", "than", "please", "let", "lets", "use", "used", "now",
    "again", "just", "also", "any", "all", "one", "two", "not", "but", "its", "it's", "we", "us", "make",
    # the words of asking about the past, which a memory's text shares by accident
    "decide", "decided", "pick", "picked", "choose", "chose", "chosen", "agree", "agreed", "settle", "settled",
    "remember", "recall", "remind", "last", "time", "before", "previously", "earlier", "usually", "we're",
    "上次", "之前", "以前", "决定", "记得",
}  # fmt: skip


def _terms(text: str) -> set[str]:
    words = {w.casefold().strip(".-/") for w in re.findall(_WORD, text)} - _STOP
    cjk = re.findall(r"[\u4e00-\u9fff]", text)
    return words | {a + b for a, b in itertools.pairwise(cjk)}


def _line(hit: Any) -> str:
    text = secrets.redact(" ".join(str(hit.text).split()))
    if len(text) > MEMORY_CHARS:
        text = text[: MEMORY_CHARS - 1] + "…"
    return f"- [{hit.uri}] ({hit.category}, {str(hit.updated_at)[:10]}) {text}"


def prompt_context(payload: dict[str, Any], settings: Settings, *, models: bool = False) -> Context | None:
    """The memories that bear on the prompt (None: nothing to add). Reads the store; writes nothing."""
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    if secrets.find_secrets(prompt):
        logger.warning("user-prompt hook: the prompt holds a credential; it is not searched with")
        return None
    ruled = intents.rule(prompt)
    if ruled is not None and not intents.wants_recall(ruled.intent):
        return None
    if not Path(settings.db).exists():
        return None
    scope = hook_scope(settings, cast(str | None, payload.get("cwd")))
    # The warm models of the shared service first; else this process's own (with models=True), else keywords.
    found = _service_context(prompt, scope, settings)
    if found is None and models:
        found = _model_context(prompt, scope, settings)
    if found is not None:
        return found if found.lines else None
    from seeds import SeedStore
    from server.memory import keyword_recall

    store = SeedStore.open(settings.db)
    try:
        result = keyword_recall(store, prompt, scope, CONTEXT_MEMORIES, "hook", settings.secrets)
    finally:
        store.close()
    # A keyword match must share a content word with the prompt (two when nothing says the message is
    # about the past), not only the words of asking ("what did we decide").
    asked = _terms(prompt)
    need = max(1, min(2 if ruled is None else 1, len(asked)))
    hits = [hit for hit in result.hits if len(asked & _terms(hit.text)) >= need]
    if not hits:
        return None
    intent = ruled.intent if ruled is not None else "RECALL"
    decided = "rule" if ruled is not None else "keywords"
    return Context(scope, intent, decided, [_line(hit) for hit in hits])


def _service_context(prompt: str, scope: str, settings: Settings) -> Context | None:
    """The shared service's answer: the cerebellum's intent and hybrid recall, storing nothing (the
    session-end hook stores the turns). None when no service is running with its models loaded."""
    from server.results import RecallResult
    from server.service import call_service

    arguments = {"message": prompt, "scope": scope, "k": CONTEXT_MEMORIES, "write": False}
    answer = call_service(settings, "route", arguments)
    if answer is None:
        return None
    found = Context(scope, str(answer["intent"]), str(answer["decided_by"]))
    if answer.get("memories"):
        # Vector search always has a nearest seed: only those as close as the arbiter's candidates, or
        # sharing a content word with the prompt, bear on it.
        asked = _terms(prompt)
        for hit in RecallResult.model_validate(answer["memories"]).hits:
            close = hit.similarity is not None and hit.similarity >= settings.candidate_similarity
            if close or asked & _terms(hit.text):
                found.lines.append(_line(hit))
    return found


def _model_context(prompt: str, scope: str, settings: Settings) -> Context | None:
    """With the models: the cerebellum's intent, hybrid recall. None when they could not be loaded."""
    from seeds import SeedStore
    from server.memory import open_memory

    store = SeedStore.open(settings.db)
    try:
        memory = open_memory(settings, store)
    except Exception as exc:  # a missing or unreadable model: the keyword answer will do
        store.close()
        logger.warning("user-prompt hook: the models could not be loaded (%s); keywords only", exc)
        return None
    try:
        verdict = intents.classify(prompt, memory.cerebellum, lock=memory.lock)
        if not intents.wants_recall(verdict.intent):
            return Context(scope, verdict.intent, verdict.decided_by)
        hits = memory.recall(prompt, scope, CONTEXT_MEMORIES).hits
        return Context(scope, verdict.intent, verdict.decided_by, [_line(hit) for hit in hits])
    finally:
        memory.close()


def user_prompt_output(
    payload: dict[str, Any], settings: Settings, *, budget: float = USER_PROMPT_BUDGET_SECONDS, models: bool = False
) -> str | None:
    """What the hook prints: Claude Code's JSON with the additional context, or None (print nothing)."""
    found = within(budget, lambda: prompt_context(payload, settings, models=models))
    if found is None:
        return None
    output = {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": found.text()}}
    return json.dumps(output, ensure_ascii=False)


# -- session-end --------------------------------------------------------------------------------


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


@dataclass
class Harvest:
    scope: str
    turns: int = 0
    left_out: int = 0
    """Questions, acknowledgements, output: not sent to the gate."""
    refused: int = 0
    """Turns holding a credential (refuse mode): not stored anywhere."""
    received: list[int] = field(default_factory=list[int])
    decided: dict[str, int] = field(default_factory=dict[str, int])
    """Statuses of the turns decided within the budget (saved, skipped, duplicate, ...)."""
    pending: int = 0
    """Received but not decided in time: the server decides them."""


def session_end(
    payload: dict[str, Any], settings: Settings, *, budget: float = SESSION_END_BUDGET_SECONDS, decide: bool = True
) -> Harvest:
    """Send the session's user turns through the write path (see the module docstring)."""
    from seeds import SeedStore
    from server.memory import SecretInText, receive

    started = time.monotonic()
    scope = hook_scope(settings, cast(str | None, payload.get("cwd")))
    harvest = Harvest(scope)
    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not Path(transcript).is_file():
        logger.warning("session-end hook: no transcript at %r; nothing to read", transcript)
        return harvest
    session = str(payload.get("session_id") or Path(transcript).stem)
    store = SeedStore.open(settings.db)
    try:
        mark = store.get_meta(SESSION_MARK + session)
        start = int(mark) + 1 if mark is not None else 0
        last = start - 1
        for turn in transcript_turns(Path(transcript), start):
            harvest.turns += 1
            last = max(last, turn.line)
            ruled = intents.rule(turn.text) if turn.role == "user" else None
            if ruled is not None and not intents.wants_write(ruled.intent):
                harvest.left_out += 1
                continue
            if len(turn.text) > settings.max_text_chars:
                harvest.left_out += 1
                continue
            try:
                received = receive(
                    store, turn.text, scope, source=HOOK_SOURCE, tags=["session"], secrets_mode=settings.secrets
                )
            except SecretInText:
                harvest.refused += 1
                continue
            harvest.received.append(received.id)
        if last >= start:
            store.set_meta(SESSION_MARK + session, str(last))
    finally:
        store.close()
    harvest.pending = len(harvest.received)
    remaining = budget - (time.monotonic() - started)
    if decide and harvest.received and remaining > 0:
        decided = within(remaining, lambda: _decide(settings, harvest.received))
        if decided is not None:
            harvest.decided = decided
            harvest.pending = len(harvest.received) - sum(decided.values())
    return harvest


def _decide(settings: Settings, inbox_ids: list[int]) -> dict[str, int]:
    from seeds import SeedStore
    from server.memory import DecisionFailed, open_memory

    store = SeedStore.open(settings.db)
    try:
        memory = open_memory(settings, store)
    except Exception:
        store.close()
        raise
    counts: dict[str, int] = {}
    try:
        for inbox_id in inbox_ids:
            try:
                result = memory.decide(inbox_id)
            except DecisionFailed as exc:
                logger.warning("session-end hook: a turn stays queued: %s", exc)
                continue
            if result is not None:
                counts[result.status] = counts.get(result.status, 0) + 1
    finally:
        memory.close()
    return counts


# -- settings.json ------------------------------------------------------------------------------


def hook_entries(command: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The hooks block `config claude-code --hooks` merges into .claude/settings.json."""
    import shlex

    def entry(event: str, timeout: int) -> list[dict[str, Any]]:
        line = shlex.join([*command, "hook", "claude-code", event])
        return [{"hooks": [{"type": "command", "command": line, "timeout": timeout}]}]

    return {
        "UserPromptSubmit": entry("user-prompt", USER_PROMPT_TIMEOUT_SECONDS),
        "SessionEnd": entry("session-end", SESSION_END_TIMEOUT_SECONDS),
    }


def merge_hooks(config: dict[str, Any], ours: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The settings with our hooks in: other hooks are kept; an earlier cerebellum-mcp hook is replaced."""
    hooks = dict(cast(dict[str, Any], config.get("hooks") or {}))
    for event, groups in ours.items():
        marker = " hook claude-code "
        kept = [
            group
            for group in cast(list[dict[str, Any]], hooks.get(event) or [])
            if not any(marker in str(h.get("command", "")) for h in cast(list[dict[str, Any]], group.get("hooks", [])))
        ]
        hooks[event] = kept + groups
    return {**config, "hooks": hooks}
