"""Claude Code hooks: memory that works without the agent asking.

Every hook names the project's scope by the one rule of settings.project_scope, from the folder Claude Code
gives it (CLAUDE_PROJECT_DIR, else the payload's `cwd`): the same scope as the agent's tools, whose stdio
launch Claude Code starts in that folder. This module imports only the standard library, the rules and
the settings; the store and the models are reached through the shared local service (server/transport/service.py)
with the lean client of server/transport/lean_client.py, or opened here only where no service is warm.

- `session-start` (SessionStart): prints a short digest of the project's standing memories (preferences,
  decisions, lessons, corrections; a few hundred tokens at most) as `additionalContext`; nothing when
  there are none.
- `user-prompt` (UserPromptSubmit): prints the memories that bear on the prompt as `additionalContext`,
  with their seed uris; nothing when none do. With the service warm it asks its `recall` (hybrid: vectors
  and keywords, about 50 ms) and does not wait for the cerebellum's intent (one to several seconds with a
  1.5B, more while the service decides): the message's form (server/rules/intent.py) and the recall's own
  evidence decide together (`bears_on`). Without a warm service it reads the store alone (keyword recall),
  or with `models=True` loads the models itself. It answers within its budget or prints nothing. It never
  starts a service.
- `pre-compact` (PreCompact) and `session-end` (SessionEnd): read the transcript the hook points to (JSON
  Lines: `type` user/assistant, `message.content` a string or content blocks) from the line the last
  harvest of this session stopped at (kept in the store, so the two never send a turn twice), and commit
  each user turn that states something, and each paragraph in which the agent labelled a decision or
  lesson ("Decision: ..."), to the inbox at once: a hook killed at exit loses nothing. Questions,
  acknowledgements and pasted output are left out by the intent rules, and so is a turn that only asks
  (it states nothing to keep). Then the shared service, which holds the models, is woken to decide them
  (started first if none runs); the hook does not load a model, and waits for the decisions only when
  asked to (`wait`).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from seeds import open_store
from server.importers.transcripts import Turn, transcript_turns
from server.rules import intent as intent_rules
from server.rules import secrets
from server.rules.limits import MAX_QUERY_CHARS
from server.settings import ScopeChoice, Settings, project_folder, project_scope
from server.transport import lean_client

if TYPE_CHECKING:
    from seeds import SeedStore

logger = logging.getLogger(__name__)

USER_PROMPT_BUDGET_SECONDS = 3.0
SESSION_START_BUDGET_SECONDS = 5.0
HARVEST_BUDGET_SECONDS = 45.0
"""The most a pre-compact or session-end hook takes (Claude Code cancels SessionEnd hooks at about 60 s)."""
# What `config claude-code --hooks` writes: Claude Code's own limits, a little above the budgets.
USER_PROMPT_TIMEOUT_SECONDS = 10
SESSION_START_TIMEOUT_SECONDS = 10
HARVEST_TIMEOUT_SECONDS = 60
SERVICE_CALL_SECONDS = 2.0
"""How long the prompt hook waits for the warm service's recall (it answers in about 50 ms)."""
CONTEXT_MEMORIES = 5
MEMORY_CHARS = 400
DIGEST_MEMORIES = 12
DIGEST_CHARS = 1600
"""The session-start digest's size: about 400 tokens."""
DIGEST_CATEGORIES = ("preference", "decision", "lesson", "correction")
CLEAR_MARGIN = 0.15
"""How far above the arbiter's candidate similarity a memory is close enough to bear on any prompt."""
SESSION_MARK = "claude-code:session-end:"  # + session id: how many transcript lines were handled
HOOK_SOURCE = "claude-code"
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


def hook_choice(settings: Settings, cwd: str | None) -> ScopeChoice:
    """The project's scope, as the agent's tools name it (settings.project_scope)."""
    return project_scope(settings, folder=project_folder(cwd), folder_source="hook-folder")


def hook_scope(settings: Settings, cwd: str | None) -> str:
    return hook_choice(settings, cwd).scope


def _warm_service(settings: Settings) -> Path | None:
    """The socket of the shared service for these settings when it runs with its models loaded."""
    from server.transport.service import SHARED_SERVICE, service_place

    if not SHARED_SERVICE or settings.standalone:
        return None
    place = service_place(settings)
    return place.socket if lean_client.warm(place.socket, place.key) else None


def _store_exists(settings: Settings) -> bool:
    return not isinstance(settings.db, Path) or settings.db.expanduser().exists()


# -- user-prompt --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A recalled memory as the hooks print it."""

    uri: str
    text: str
    category: str
    updated_at: str
    similarity: float | None

    @classmethod
    def of(cls, hit: dict[str, Any]) -> Hit:
        """From a recall hit as JSON (the service's answer, or a RecallHit's model_dump())."""
        similarity = hit.get("similarity")
        return cls(
            uri=str(hit.get("uri")),
            text=str(hit.get("text")),
            category=str(hit.get("category")),
            updated_at=str(hit.get("updated_at")),
            similarity=float(similarity) if isinstance(similarity, int | float) else None,
        )


@dataclass
class Context:
    scope: str
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
    "need", "want", "like", "get", "set", "some", "thing", "things", "way", "new", "good", "work", "still",
    # the words of asking about the past, which a memory's text shares by accident
    "decide", "decided", "pick", "picked", "choose", "chose", "chosen", "agree", "agreed", "settle", "settled",
    "remember", "recall", "remind", "last", "time", "before", "previously", "earlier", "usually", "we're",
    "上次", "之前", "以前", "决定", "记得",
}  # fmt: skip


def _stem(word: str) -> str:
    """A light fold of plurals, so that "jobs" meets "job" and "retries" meets "retry"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and len(word) > 3 and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _terms(text: str) -> set[str]:
    words = {w.casefold().strip(".-/") for w in re.findall(_WORD, text)} - _STOP
    cjk = re.findall(r"[\u4e00-\u9fff]", text)
    return {_stem(w) for w in words if w} | {a + b for a, b in itertools.pairwise(cjk)}


Asks = Literal["asks", "open"]
"""What the message's form says: it asks about the past or how things stand (a rule said RECALL or BOTH),
or the form leaves it open."""


def bears_on(prompt_terms: set[str], hit: Hit, asks: Asks, close_at: float) -> bool:
    """Whether a recalled memory bears on the prompt: the form of the message and the recall's own evidence
    (the memory's cosine similarity to the prompt, the content words they share) decided together. A prompt
    that asks about the past takes any close or word-sharing memory (search always has a nearest one: it must
    be close, or share a word). One whose form leaves it open takes only a clear match: two shared content
    words (one for a one-word prompt), or a close memory that shares one, or a very close one. So no verdict
    of "nothing to recall" hides a memory the prompt plainly names."""
    shared = len(prompt_terms & _terms(hit.text))
    close = hit.similarity is not None and hit.similarity >= close_at
    if asks == "asks":
        return close or shared >= 1
    clear_words = max(1, min(2, len(prompt_terms)))
    very_close = hit.similarity is not None and hit.similarity >= close_at + CLEAR_MARGIN
    return shared >= clear_words or (close and shared >= 1) or very_close


def _line(hit: Hit) -> str:
    text = secrets.redact(" ".join(hit.text.split()))
    if len(text) > MEMORY_CHARS:
        text = text[: MEMORY_CHARS - 1] + "…"
    return f"- [{hit.uri}] ({hit.category}, {hit.updated_at[:10]}) {text}"


def prompt_context(payload: dict[str, Any], settings: Settings, *, models: bool = False) -> Context | None:
    """The memories that bear on the prompt (None: nothing to add). Reads the store; writes nothing."""
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    if secrets.find_secrets(prompt):
        logger.warning("user-prompt hook: the prompt holds a credential; it is not searched with")
        return None
    ruled = intent_rules.rule(prompt)
    if ruled is not None and ruled.intent not in ("RECALL", "BOTH"):
        return None  # an acknowledgement, the code at hand, a thing to keep: nothing to recall
    asks: Asks = "asks" if ruled is not None else "open"
    if not _store_exists(settings):
        return None
    scope = hook_scope(settings, cast(str | None, payload.get("cwd")))
    found = _service_hits(prompt, scope, settings)
    decided_by = "service"
    if found is None and models:
        found, decided_by = _model_hits(prompt, scope, settings), "models"
    if found is None:
        found, decided_by = _keyword_hits(prompt, scope, settings), "keywords"
    terms = _terms(prompt)
    lines = [_line(hit) for hit in found if bears_on(terms, hit, asks, settings.candidate_similarity)]
    return Context(scope, decided_by, lines) if lines else None


def _service_hits(prompt: str, scope: str, settings: Settings) -> list[Hit] | None:
    """The warm service's hybrid recall (None: no service with its models loaded, or no answer in time)."""
    socket = _warm_service(settings)
    if socket is None:
        return None
    arguments = {"query": prompt[:MAX_QUERY_CHARS], "scope": scope, "k": CONTEXT_MEMORIES}
    answer = lean_client.call_tool(socket, "recall", arguments, SERVICE_CALL_SECONDS)
    if answer is None:
        return None
    return [Hit.of(hit) for hit in cast(list[dict[str, Any]], answer.get("hits") or [])]


def _model_hits(prompt: str, scope: str, settings: Settings) -> list[Hit] | None:
    """With the models loaded in this process: hybrid recall. None when they could not be loaded."""
    from server.pipeline.loading import open_memory

    store = open_store(settings.db)
    try:
        memory = open_memory(settings, store)
    except Exception as exc:  # a missing or unreadable model: the keyword answer will do
        store.close()
        logger.warning("user-prompt hook: the models could not be loaded (%s); keywords only", exc)
        return None
    try:
        return [Hit.of(hit.model_dump()) for hit in memory.recall(prompt, scope, CONTEXT_MEMORIES).hits]
    finally:
        memory.close()


def _keyword_hits(prompt: str, scope: str, settings: Settings) -> list[Hit]:
    from server.pipeline.recall import keyword_recall

    store = open_store(settings.db)
    try:
        result = keyword_recall(store, prompt[:MAX_QUERY_CHARS], scope, CONTEXT_MEMORIES, "hook", settings.secrets)
    finally:
        store.close()
    return [Hit.of(hit.model_dump()) for hit in result.hits]


def _output(event: str, context: str) -> str:
    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": event, "additionalContext": context}}, ensure_ascii=False
    )


def user_prompt_output(
    payload: dict[str, Any], settings: Settings, *, budget: float = USER_PROMPT_BUDGET_SECONDS, models: bool = False
) -> str | None:
    """What the hook prints: Claude Code's JSON with the additional context, or None (print nothing)."""
    found = within(budget, lambda: prompt_context(payload, settings, models=models))
    return _output("UserPromptSubmit", found.text()) if found is not None else None


# -- session-start ------------------------------------------------------------------------------


def digest(payload: dict[str, Any], settings: Settings) -> str | None:
    """The project's standing memories, newest first, within DIGEST_CHARS (None: there are none)."""
    from server.pipeline.results import seed_uri

    if not _store_exists(settings):
        return None
    scope = hook_scope(settings, cast(str | None, payload.get("cwd")))
    store = open_store(settings.db)
    try:
        seeds = [seed for seed in store.list_seeds(scope, 200, newest_first=True) if seed.category in DIGEST_CATEGORIES]
    finally:
        store.close()
    if not seeds:
        return None
    head = f"Standing memories of this project from cerebellum-mcp (scope {scope}; newest first; `recall` finds more):"
    lines: list[str] = []
    used = len(head)
    for seed in seeds[:DIGEST_MEMORIES]:
        hit = Hit(seed_uri(seed.scope, seed.id), seed.text, seed.category, seed.updated_at, None)
        line = _line(hit)
        if used + len(line) + 1 > DIGEST_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join([head, *lines]) if lines else None


def session_start_output(
    payload: dict[str, Any], settings: Settings, *, budget: float = SESSION_START_BUDGET_SECONDS
) -> str | None:
    found = within(budget, lambda: digest(payload, settings))
    return _output("SessionStart", found) if found is not None else None


# -- session-end --------------------------------------------------------------------------------


@dataclass
class Harvest:
    scope: str
    turns: int = 0
    left_out: int = 0
    """Questions, acknowledgements, output: not sent to the gate."""
    refused: int = 0
    """Turns holding a credential (refuse mode): not stored anywhere."""
    received: list[int] = field(default_factory=list[int])
    handed_to: Literal["service", "inbox"] = "inbox"
    """service: the shared service was woken to decide them; inbox: they wait for the next server to start."""
    decided: int = 0
    """Received turns the service decided while the hook waited (saved, merged, skipped, ...)."""
    pending: int = 0
    """Received turns not decided yet: the service (or the next server) decides them."""


def only_asks(text: str) -> bool:
    """A turn that only asks: every sentence a question, nothing said to keep. It is never a memory."""
    return not intent_rules.statements(text) and not intent_rules.says_to_keep(text)


def _left_out(turn: Turn, settings: Settings) -> bool:
    if len(turn.text) > settings.max_text_chars:
        return True
    if turn.role != "user":
        return False  # the agent's labelled statements are kept by rule
    ruled = intent_rules.rule(turn.text)
    if ruled is not None:
        return ruled.intent not in ("REMEMBER", "BOTH")
    return only_asks(turn.text)


def harvest(
    payload: dict[str, Any],
    settings: Settings,
    *,
    event: str = "session-end",
    budget: float = HARVEST_BUDGET_SECONDS,
    wait: bool = False,
) -> Harvest:
    """Commit the session's new turns to the inbox and hand them to the shared service (module docstring).
    With `wait`, wait within `budget` for the service to decide them."""
    from server.pipeline.store_ops import receive
    from server.rules.secrets import SecretInText

    started = time.monotonic()
    scope = hook_scope(settings, cast(str | None, payload.get("cwd")))
    result = Harvest(scope)
    transcript = payload.get("transcript_path")
    if not isinstance(transcript, str) or not Path(transcript).is_file():
        logger.warning("%s hook: no transcript at %r; nothing to read", event, transcript)
        return result
    session = str(payload.get("session_id") or Path(transcript).stem)
    store = open_store(settings.db)
    try:
        mark = store.get_meta(SESSION_MARK + session)
        start = int(mark) + 1 if mark is not None else 0
        last = start - 1
        for turn in transcript_turns(Path(transcript), start):
            result.turns += 1
            last = max(last, turn.line)
            if _left_out(turn, settings):
                result.left_out += 1
                continue
            try:
                received = receive(
                    store, turn.text, scope, source=HOOK_SOURCE, tags=["session"], secrets_mode=settings.secrets
                ).received
            except SecretInText:
                result.refused += 1
                continue
            result.received.append(received.id)
        if last >= start:
            store.set_meta(SESSION_MARK + session, str(last))
        result.pending = len(result.received)
        if result.received:
            socket = _service_for(settings, started + budget)
            if socket is not None:
                # Woken, it decides them now; one still starting decides its inbox once its models are in.
                lean_client.wake(socket)
                result.handed_to = "service"
                if wait:
                    _wait_for(store, result, started + budget)
    finally:
        store.close()
    return result


def _service_for(settings: Settings, deadline: float) -> Path | None:
    """The shared service's socket, the service started first if none runs (it loads the models, decides
    the inbox, and serves the next session too). None where there is no shared service (--standalone:
    the turns wait for the next server's inbox worker) or it could not be started in time."""
    from server.transport.service import SHARED_SERVICE, ServiceError, ensure_service, service_place

    if not SHARED_SERVICE or settings.standalone:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 1:
        return None
    try:
        ensure_service(settings, timeout=remaining)
    except ServiceError as exc:
        logger.warning("the shared service could not be started (%s); the turns wait in the inbox", exc)
        return None
    return service_place(settings).socket


def _wait_for(store: SeedStore, result: Harvest, deadline: float) -> None:
    """Wait until the service decided the received turns, or the deadline."""
    waiting = set(result.received)
    while time.monotonic() < deadline:
        pending = {received.id for received in store.inbox("pending", result.scope, None)}
        result.pending = len(waiting & pending)
        result.decided = len(waiting) - result.pending
        if not result.pending:
            return
        time.sleep(0.2)


def harvest_report(result: Harvest, event: str) -> str:
    where = {"service": "the shared service", "inbox": "the inbox, for the next server to decide"}[result.handed_to]
    sent = "0 sent: nothing to keep"
    if result.received:
        sent = f"{len(result.received)} sent to {where}: {result.decided} decided, {result.pending} pending"
    return (
        f"cerebellum-mcp {event}: {result.turns} turns, {result.left_out} left out, {result.refused} refused "
        f"(secrets), {sent} (scope {result.scope})"
    )


# -- settings.json ------------------------------------------------------------------------------


def hook_entries(command: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The hooks block `config claude-code --hooks` merges into .claude/settings.json."""
    import shlex

    def entry(event: str, timeout: int) -> list[dict[str, Any]]:
        line = shlex.join([*command, "hook", "claude-code", event])
        return [{"hooks": [{"type": "command", "command": line, "timeout": timeout}]}]

    return {
        "SessionStart": entry("session-start", SESSION_START_TIMEOUT_SECONDS),
        "UserPromptSubmit": entry("user-prompt", USER_PROMPT_TIMEOUT_SECONDS),
        "PreCompact": entry("pre-compact", HARVEST_TIMEOUT_SECONDS),
        "SessionEnd": entry("session-end", HARVEST_TIMEOUT_SECONDS),
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
