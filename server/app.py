"""The MCP layer: tools that adapt MCP calls to the memory pipeline. Nothing here decides anything."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import TaskGroup
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ListRootsRequest, ListRootsResult, ToolAnnotations
from pydantic import BaseModel, Field

from seeds import OperationNotFound, SeedNotFound, SeedStore, StoreError, UndoRefused
from server import intent as intents
from server import secrets
from server.cerebellum import CerebellumError
from server.memory import (
    ALL_SCOPES,
    DecisionFailed,
    ForgetResult,
    Memory,
    RecallResult,
    ReconcileResult,
    RememberResult,
    ScopeSelection,
    SecretInText,
    SeedView,
    UndoResult,
    forget_seed,
    keyword_recall,
    open_memory,
    queued,
    receive,
    screen_secrets,
    undo_operation,
)
from server.modelfiles import ModelUnavailable
from server.settings import SCOPE_PATTERN, Settings, scope_from_root

logger = logging.getLogger(__name__)

# If a client never sends anything after connecting, start loading anyway after this long.
HANDSHAKE_GRACE_SECONDS = 2.0
WORKER_POLL_SECONDS = 30.0  # how often the worker looks for texts queued by other processes or left undecided
WORKER_BATCH = 20
FINISHED_KEPT = 256
MAX_RECALL_K = 50
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_QUERY_CHARS = 2_000
MAX_SCOPES = 50
# A client that declares roots but does not answer roots/list should not hold up every tool call.
ROOTS_TIMEOUT_SECONDS = 5.0

INSTRUCTIONS = """\
Long-term memory for this coding agent. Call `remember` with one self-contained sentence or short \
paragraph whenever you learn something that should outlive this session: a lesson learned the hard \
way, a correction from the user, a decision and its reason, a preference, a durable project fact. \
A small local model decides whether it is worth keeping and merges it with what is already stored, \
so you need not check for duplicates first. Call `recall` at the start of a task and whenever past \
context might help. Call `reconcile` now and then to fold duplicates and resolve contradictions. \
Memories are kept per project (scope); recall and reconcile stay in the current one unless you pass \
scope="*" or a list of scopes. `forget` removes a memory the user wants gone; every change has an \
operation id that `undo` reverses."""


@dataclass
class AppState:
    """What the lifespan yields: the store as soon as it is open, the pipeline once the models are in."""

    settings: Settings
    handshake_done: anyio.Event = field(default_factory=anyio.Event)
    store_opened: anyio.Event = field(default_factory=anyio.Event)
    loaded: anyio.Event = field(default_factory=anyio.Event)
    """Set after the first load attempt, whatever its outcome."""
    retry_load: anyio.Event = field(default_factory=anyio.Event)
    wake_worker: anyio.Event = field(default_factory=anyio.Event)
    store: SeedStore | None = None
    store_error: str | None = None
    memory: Memory | None = None
    load_error: str | None = None
    task_group: TaskGroup | None = None
    in_flight: dict[int, anyio.Event] = field(default_factory=dict[int, anyio.Event])
    """Inbox ids a decision is running for in this process, with the event set when it ends."""
    finished: dict[int, RememberResult | DecisionFailed | None] = field(
        default_factory=dict[int, "RememberResult | DecisionFailed | None"]
    )
    """The latest decisions' outcomes, for a caller that joined a running decision."""
    roots_unavailable: bool = False
    """Set when the client declared roots but roots/list failed: not asked again."""

    async def store_ready(self) -> SeedStore:
        self.handshake_done.set()  # a tool call means the handshake is over
        await self.store_opened.wait()
        if self.store is None:
            raise ToolError(
                f"The seed store could not be opened: {self.store_error}. Check --db / CEREBELLUM_DB, then restart "
                "the server."
            )
        return self.store

    async def memory_within(self, seconds: float | None) -> Memory | None:
        """The pipeline, waiting at most `seconds` (None: until the first load attempt ends)."""
        self.handshake_done.set()
        with anyio.move_on_after(seconds):
            await self.loaded.wait()
        if self.memory is None and self.load_error is not None:
            self.retry_load.set()  # the model file may be back: try again now rather than at the next retry
        return self.memory

    async def memory_ready(self) -> Memory:
        memory = await self.memory_within(None)
        if memory is None:
            raise ToolError(f"The memory server could not start: {self.load_error}")
        return memory

    def not_ready(self) -> str:
        if self.load_error is not None:
            return (
                f"the cerebellum could not be loaded ({self.load_error}); the text is kept and will be decided "
                "once the model loads"
            )
        return "the models are still loading; the text is kept and will be decided in the background"

    async def decide(self, inbox_id: int) -> RememberResult | DecisionFailed | None:
        """Decide one inbox text on a worker thread (None: not ours to decide). If this process is
        already deciding it (the worker and a waiting call can meet on a fresh text), wait for that
        decision instead of starting another."""
        memory = self.memory
        if memory is None:
            return None
        running = self.in_flight.get(inbox_id)
        if running is not None:
            await running.wait()
            return self.finished.get(inbox_id)
        done = self.in_flight[inbox_id] = anyio.Event()
        outcome: RememberResult | DecisionFailed | None = None
        try:
            outcome = await anyio.to_thread.run_sync(memory.decide, inbox_id)
        except DecisionFailed as exc:
            logger.warning("deciding inbox text %d failed, it stays queued: %s", inbox_id, exc)
            outcome = exc
        finally:
            self.finished[inbox_id] = outcome
            while len(self.finished) > FINISHED_KEPT:
                self.finished.pop(next(iter(self.finished)))
            del self.in_flight[inbox_id]
            done.set()
        return outcome


async def write_text(
    state: AppState, text: str, scope_name: str, tag_list: list[str], force: bool, source: str = "agent"
) -> RememberResult:
    """The write path of a tool call: the text is committed to the inbox first, then decided within the
    deadline (or queued). `remember` and `route` both write through it."""
    store = await state.store_ready()
    try:
        # Durable first: from here on the text survives a slow, missing or crashing model.
        received = await anyio.to_thread.run_sync(
            lambda: receive(
                store,
                text,
                scope_name,
                tags=tag_list,
                force=force,
                source=source,
                secrets_mode=state.settings.secrets,
            )
        )
    except SecretInText as exc:
        raise ToolError(str(exc)) from exc
    except StoreError as exc:
        raise ToolError(f"The seed store refused the write: {exc}. Nothing was changed; try again.") from exc
    deadline = state.settings.deadline_seconds
    outcome: list[RememberResult | DecisionFailed | None] = []
    with anyio.move_on_after(deadline):
        if await state.memory_within(deadline) is None:
            return queued(received, state.not_ready())
        done = anyio.Event()

        async def decide() -> None:
            try:
                outcome.append(await state.decide(received.id))
            finally:
                done.set()

        # The decision runs in the server's task group, so it finishes even if we stop waiting.
        assert state.task_group is not None
        state.task_group.start_soon(decide)
        await done.wait()
    if not outcome:
        return queued(
            received,
            f"the cerebellum did not decide within {deadline:g} s; the text is kept and will be decided "
            "in the background",
        )
    result = outcome[0]
    if isinstance(result, DecisionFailed):
        state.wake_worker.set()
        return queued(received, f"deciding failed ({result}); the text is kept and will be retried")
    if result is None:
        return queued(received, "another server process is deciding it")
    result.redacted = list(received.redacted)
    return result


MemoryFactory = Callable[[Settings, SeedStore], Memory]


class RecentSeeds(BaseModel):
    scope: str
    seeds: Annotated[list[SeedView], Field(description="Newest first.")]


def _state(ctx: Context[Any, Any]) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


def _echo(value: str) -> str:
    """A value quoted back in an error, with any credential taken out first: errors are logged too."""
    shown = secrets.redact(value)
    return repr(shown if len(shown) <= 60 else shown[:60] + "...")


def _text(value: str, what: str, limit: int) -> str:
    """Refuse text the store should never hold; the sentence says what to send instead."""
    if not value.strip():
        raise ToolError(f"The {what} is empty: send the words themselves.")
    if len(value) > limit:
        raise ToolError(
            f"The {what} is {len(value)} characters, over the limit of {limit}: send the part worth keeping "
            "(a summary, the conclusion), not the whole document or log."
        )
    if "\x00" in value:
        raise ToolError(f"The {what} contains a NUL character: send plain text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(f"The {what} is not valid Unicode (a lone surrogate at {exc.start}): send plain text.") from exc
    return value


def _tags(tags: list[str] | None) -> list[str]:
    tags = tags or []
    if len(tags) > MAX_TAGS:
        raise ToolError(f"{len(tags)} tags is too many: give at most {MAX_TAGS}.")
    cleaned: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_CHARS or any(ord(c) < 32 for c in tag):
            raise ToolError(
                f"Invalid tag {_echo(tag)}: a tag is 1-{MAX_TAG_CHARS} characters on one line, "
                "without control characters."
            )
        _text(tag, "tag", MAX_TAG_CHARS)
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


async def _default_scope(ctx: Context[Any, Any]) -> str:
    """The scope of a call that names none: --scope / CEREBELLUM_SCOPE when set, else the client's first
    root (its project folder), else the documented default."""
    state = _state(ctx)
    if "scope" in state.settings.model_fields_set or state.roots_unavailable:
        return state.settings.scope
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return state.settings.scope
    try:
        with anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
            result = await ctx.session.send_request(
                ListRootsRequest(), ListRootsResult, request_read_timeout_seconds=ROOTS_TIMEOUT_SECONDS
            )
    except Exception as exc:  # any failure (no back-channel, an error answer, a timeout) means no roots
        state.roots_unavailable = True
        logger.warning(
            "the client declared roots but roots/list failed (%s); using scope %r", exc, state.settings.scope
        )
        return state.settings.scope
    if not result.roots:
        return state.settings.scope
    return scope_from_root(str(result.roots[0].uri))


def _scope_name(scope: str) -> str:
    if not SCOPE_PATTERN.match(scope):
        raise ToolError(
            f"Invalid scope {_echo(scope)}: use 1-128 letters, digits or . _ : / - (for example 'my-project'), "
            "or leave it out for this project's scope."
        )
    return scope


async def _scope(ctx: Context[Any, Any], scope: str | None) -> str:
    """The one scope a call works in."""
    if scope is None or scope == "":
        return await _default_scope(ctx)
    if scope == ALL_SCOPES:
        raise ToolError("A memory is stored in one scope: name it, or leave scope out for this project's scope.")
    return _scope_name(scope)


async def _scopes(ctx: Context[Any, Any], scope: str | list[str] | None) -> ScopeSelection:
    """The scopes a search or a tidy covers: this project's, a named one, several, or "*" for all."""
    if scope is None or scope == "" or scope == []:
        return await _default_scope(ctx)
    if isinstance(scope, str):
        return scope if scope == ALL_SCOPES else _scope_name(scope)
    if len(scope) > MAX_SCOPES:
        raise ToolError(f"{len(scope)} scopes is too many: name at most {MAX_SCOPES}, or use '*' for every scope.")
    if ALL_SCOPES in scope:
        return ALL_SCOPES
    return [_scope_name(name) for name in scope]


def create_server(settings: Settings, *, memory_factory: MemoryFactory = open_memory) -> MCPServer[AppState]:
    """Build the MCP server. Models and the store are opened in the lifespan, after the handshake."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        state = AppState(settings)

        async def start() -> None:
            # Nothing is opened or loaded before the handshake: an `initialize` is answered at once.
            with anyio.move_on_after(HANDSHAKE_GRACE_SECONDS):
                await state.handshake_done.wait()
            try:
                state.store = await anyio.to_thread.run_sync(SeedStore.open, settings.db)
            except (StoreError, OSError, sqlite3.Error) as exc:
                state.store_error = state.load_error = str(exc)
                logger.error("could not open the seed store: %s", exc)
                state.loaded.set()
                return
            finally:
                state.store_opened.set()
            await load_models(state.store)

        async def load_models(store: SeedStore) -> None:
            while True:
                try:
                    # abandon_on_cancel: a client that disconnects mid-load need not wait for the models.
                    state.memory = await anyio.to_thread.run_sync(
                        memory_factory, settings, store, abandon_on_cancel=True
                    )
                    state.load_error = None
                    state.loaded.set()
                    state.wake_worker.set()
                    return
                except (ModelUnavailable, StoreError, CerebellumError, OSError, ValueError) as exc:
                    state.load_error = str(exc)
                    logger.error("could not load the models: %s", exc)
                except Exception as exc:  # a model file llama.cpp cannot read raises bare errors
                    state.load_error = f"{type(exc).__name__}: {exc}"
                    logger.exception("could not load the models")
                state.loaded.set()
                with anyio.move_on_after(settings.model_retry_seconds):
                    await state.retry_load.wait()
                state.retry_load = anyio.Event()

        async def worker() -> None:
            """Decide what waits in the inbox: texts queued past the deadline, left by a restart, or
            written by another server process whose model is missing."""
            await state.loaded.wait()
            while True:
                progressed = False
                if state.memory is not None and state.store is not None:
                    pending = await anyio.to_thread.run_sync(state.store.inbox, "pending", None, WORKER_BATCH)
                    for received in pending:
                        outcome = await state.decide(received.id)
                        if isinstance(outcome, DecisionFailed):
                            progressed = False
                            break  # the model or the store is failing: wait before trying again
                        progressed = progressed or outcome is not None
                if progressed:
                    continue  # there may be more
                with anyio.move_on_after(WORKER_POLL_SECONDS):
                    await state.wake_worker.wait()
                state.wake_worker = anyio.Event()

        async with anyio.create_task_group() as tg:
            state.task_group = tg
            tg.start_soon(start)
            tg.start_soon(worker)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()
                if state.memory is not None:
                    await anyio.to_thread.run_sync(state.memory.close)
                elif state.store is not None:
                    state.store.close()

    server: MCPServer[AppState] = MCPServer(
        "cerebellum-mcp",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
    )

    async def mark_handshake(ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if isinstance(ctx.lifespan_context, AppState):
            ctx.lifespan_context.handshake_done.set()
        return result

    server.middleware.append(mark_handshake)

    @server.tool(
        annotations=ToolAnnotations(
            title="Remember",
            read_only_hint=False,
            # It may merge into or retract a stored seed, but every change is kept in history.
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        )
    )
    async def remember(
        text: Annotated[str, Field(description="What to remember: one self-contained fact, lesson or decision.")],
        ctx: Context[AppState, Any],
        scope: Annotated[
            str | None, Field(description="The project or area it belongs to; the server's default if omitted.")
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Optional labels to file it under.")] = None,
        force: Annotated[
            bool,
            Field(description="True when the user explicitly asked to remember this: skips the worth-keeping gate."),
        ] = False,
    ) -> RememberResult:
        """Store a memory. The cerebellum decides whether it is worth keeping and how it relates to what is
        stored: new (saved), a refinement (updated), a retraction (deleted) or a repeat (duplicate)."""
        state = _state(ctx)
        scope_name = await _scope(ctx, scope)
        _text(text, "text", state.settings.max_text_chars)
        tag_list = _tags(tags)
        return await write_text(state, text, scope_name, tag_list, force)

    @server.tool(
        annotations=ToolAnnotations(
            title="Recall", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
    )
    async def recall(
        query: Annotated[str, Field(description="What you want to know, in your own words.")],
        ctx: Context[AppState, Any],
        scope: Annotated[
            str | list[str] | None,
            Field(
                description="Where to search: this project's scope if omitted; a scope name; a list of names; "
                "or '*' for every scope."
            ),
        ] = None,
        k: Annotated[
            int,
            Field(description=f"How many memories to return (1-{MAX_RECALL_K}), and at most as many queued texts."),
        ] = 5,
    ) -> RecallResult:
        """Find the stored memories most relevant to a query, best first, with scores, timestamps and scope.
        Texts remembered but not decided yet (`queued`: the models were loading or busy) that share words with
        the query are listed apart, in `queued`; they are not memories yet and may still be skipped or merged."""
        state = _state(ctx)
        scope_name = await _scopes(ctx, scope)
        _text(query, "query", MAX_QUERY_CHARS)
        if not 1 <= k <= MAX_RECALL_K:
            raise ToolError(f"k must be between 1 and {MAX_RECALL_K}; got {k}.")
        store = await state.store_ready()
        memory = await state.memory_within(state.settings.deadline_seconds)
        try:
            if memory is None:
                # Keywords need no model: better than making the agent wait or fail.
                why = f"keyword search only: {state.not_ready().split(';')[0]}"
                return await anyio.to_thread.run_sync(
                    lambda: keyword_recall(store, query, scope_name, k, why, state.settings.secrets)
                )
            return await anyio.to_thread.run_sync(lambda: memory.recall(query, scope_name, k))
        except SecretInText as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Reconcile", read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
        )
    )
    async def reconcile(
        ctx: Context[AppState, Any],
        scope: Annotated[
            str | list[str] | None,
            Field(
                description="What to tidy: this project's scope if omitted; a scope name; a list of names; or '*' "
                "for every scope (each on its own: memories of two scopes are never merged)."
            ),
        ] = None,
        dry_run: Annotated[bool, Field(description="True to only report what would change.")] = False,
    ) -> ReconcileResult:
        """Tidy a scope: fold near-duplicate memories together and resolve contradicting ones. Every change
        is kept in history with its reason and an operation id for `undo`. Use dry_run first to see the plan."""
        state = _state(ctx)
        scope_name = await _scopes(ctx, scope)
        memory = await state.memory_ready()

        def progress(done: int, total: int, seed_id: int) -> None:
            # On the worker thread: a cancelled call stops the sweep here (it resumes next time).
            anyio.from_thread.check_cancelled()
            anyio.from_thread.run(ctx.report_progress, done, total, f"seed {seed_id}")

        try:
            return await anyio.to_thread.run_sync(
                lambda: memory.reconcile(scope_name, dry_run=dry_run, progress=progress)
            )
        except StoreError as exc:
            raise ToolError(f"The seed store refused a change: {exc}. Nothing more was changed; try again.") from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Forget", read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    async def forget(
        seed_id: Annotated[int, Field(description="The id of the memory to remove, as recall or remember gave it.")],
        ctx: Context[AppState, Any],
        scope: Annotated[
            str | None,
            Field(description="The memory's scope: this project's if omitted; '*' to remove it from whatever scope."),
        ] = None,
    ) -> ForgetResult:
        """Remove one memory because the user asked for it to be forgotten (or it is plainly wrong). The removal
        is recorded: `undo` with the returned operation_id brings it back."""
        scope_name = scope if scope == ALL_SCOPES else await _scope(ctx, scope)
        state = _state(ctx)
        store = await state.store_ready()
        memory = await state.memory_within(0)  # the store alone will do while the models load
        try:
            if memory is None:
                return await anyio.to_thread.run_sync(lambda: forget_seed(store, seed_id, scope_name))
            return await anyio.to_thread.run_sync(lambda: memory.forget(seed_id, scope_name))
        except SeedNotFound as exc:
            raise ToolError(
                f"{exc} Nothing was removed. `recall` shows stored memories with their ids and scopes; pass the "
                "memory's scope (or '*') if it is not in this project's."
            ) from exc
        except StoreError as exc:
            raise ToolError(f"The seed store refused the change: {exc}. Nothing was changed; try again.") from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Undo", read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
    )
    async def undo(
        operation_id: Annotated[
            str,
            Field(
                description="The operation to reverse: the operation_id that remember (update/delete), reconcile, "
                "forget or undo returned."
            ),
        ],
        ctx: Context[AppState, Any],
    ) -> UndoResult:
        """Reverse one recorded change exactly: an update, a deletion, a reconcile merge, a forget or an undo.
        The seeds come back as they were (same ids, text, tags and timestamps). The undo is recorded too."""
        operation_id = operation_id.strip()
        if not re.fullmatch(r"op_[0-9a-f]{1,32}", operation_id):
            raise ToolError(
                f"{_echo(operation_id)} is not an operation id: send the operation_id a result gave you "
                "(it looks like op_1a2b3c4d5e6f)."
            )
        state = _state(ctx)
        store = await state.store_ready()
        memory = await state.memory_within(0)  # the store alone will do while the models load
        try:
            if memory is None:
                return await anyio.to_thread.run_sync(lambda: undo_operation(store, operation_id))
            return await anyio.to_thread.run_sync(lambda: memory.undo(operation_id))
        except (OperationNotFound, UndoRefused) as exc:
            raise ToolError(f"{exc} Nothing was changed.") from exc
        except StoreError as exc:
            raise ToolError(f"The seed store refused the change: {exc}. Nothing was changed; try again.") from exc

    server.tool(annotations=ROUTE_ANNOTATIONS)(route)
    _add_resources_and_prompts(server)
    return server


ROUTE_ANNOTATIONS = ToolAnnotations(
    title="Route a message through memory",
    read_only_hint=False,
    destructive_hint=False,  # what it writes goes through remember's path: every change is kept in history
    idempotent_hint=True,
    open_world_hint=False,
)


async def route(
    message: Annotated[str, Field(description="The user's message, as they wrote it (or your own stated decision).")],
    ctx: Context[AppState, Any],
    scope: Annotated[
        str | None, Field(description="The project the message belongs to; this project's scope if omitted.")
    ] = None,
    k: Annotated[int, Field(description=f"At most this many memories to return (1-{MAX_RECALL_K}).")] = 5,
) -> intents.RouteResult:
    """Call this once for each new user message, before you answer it: the local cerebellum decides whether
    stored memory bears on the message (then the best memories come back, as `recall` returns them) and
    whether it states something worth keeping (then it goes through `remember`'s path: secrets refused,
    worth-keeping gate, merged with what is stored, or queued when the model is slow). You may skip it for
    messages that are only acknowledgements ("ok", "thanks") or when the user's prompt hook already added
    memories to the context. Returns the intent (RECALL, REMEMBER, BOTH or NONE), why, and who decided."""
    state = _state(ctx)
    scope_name = await _scope(ctx, scope)
    _text(message, "message", state.settings.max_text_chars)
    if not 1 <= k <= MAX_RECALL_K:
        raise ToolError(f"k must be between 1 and {MAX_RECALL_K}; got {k}.")
    store = await state.store_ready()
    memory = await state.memory_within(state.settings.deadline_seconds)
    try:
        # The model never sees a credential: refused (or taken out) before the message is classified.
        screened, _ = screen_secrets(message, "message", state.settings.secrets)
    except SecretInText as exc:
        raise ToolError(str(exc)) from exc
    brain = memory.cerebellum if memory is not None else None
    lock = memory.lock if memory is not None else None
    verdict = await anyio.to_thread.run_sync(lambda: intents.classify(screened, brain, lock=lock))
    result = intents.RouteResult(intent=verdict.intent, reason=verdict.reason, decided_by=verdict.decided_by)
    if intents.wants_recall(verdict.intent):
        query = screened[:MAX_QUERY_CHARS]
        if memory is None:
            why = f"keyword search only: {state.not_ready().split(';')[0]}"
            result.memories = await anyio.to_thread.run_sync(
                lambda: keyword_recall(store, query, scope_name, k, why, state.settings.secrets)
            )
        else:
            result.memories = await anyio.to_thread.run_sync(lambda: memory.recall(query, scope_name, k))
    if intents.wants_write(verdict.intent):
        result.write = await write_text(state, message, scope_name, [], False, source="route")
    return result


RECENT_SEEDS = 20

MEMORY_HABITS = """You have a long-term memory through the cerebellum-mcp tools. Use it like this{where}:

1. At the start of a task, call `recall` with what the task is about (the feature, the error, the file). \
Call it again before a decision that past work may have settled: a library choice, a convention, a command.
2. Call `remember` the moment you learn something a future session would need, in one self-contained \
sentence that names its subject:
   - a lesson learned the hard way ("Lesson: the integration tests hang unless REDIS_URL is set"),
   - a correction from the user ("Use early returns, not nested ifs"),
   - a decision and its reason ("We chose SQLite with WAL over Postgres for the local cache: one file, no daemon"),
   - a preference or a durable project fact (ports, paths, commands, owners).
   Pass `force=true` when the user explicitly asks you to remember something.
3. Do not remember chatter, status updates, command output, stack traces or commit logs; do not check for \
duplicates first: the memory merges repeats and refinements itself.
4. Never put secrets (keys, tokens, passwords) in a memory: such a text is refused.
5. When memories seem to repeat or contradict each other, call `reconcile` with `dry_run=true`, show the \
plan, then run it. Every change is kept in history.

Stored memories are readable as resources: seeds://{{scope}}/{{id}} for one, seeds://{{scope}}/recent \
for the latest."""


def _add_resources_and_prompts(server: MCPServer[AppState]) -> None:
    """Seeds as MCP resources (one seed, the recent ones of a scope) and the memory-habits prompt."""

    def read_scope(scope: str) -> str:
        if not SCOPE_PATTERN.match(scope):
            raise ResourceError(f"Invalid scope {scope!r}: use 1-128 letters, digits or . _ : / -.")
        return scope

    # Registered before the one-seed template: "recent" would otherwise be read as a seed id.
    @server.resource(
        "seeds://{scope}/recent",
        name="recent-seeds",
        title="Recent memories of a scope",
        mime_type="application/json",
    )
    async def recent_seeds(scope: str, ctx: Context[AppState, Any]) -> str:
        """The most recently stored memories of a scope, newest first (JSON)."""
        state = _state(ctx)
        scope_name = read_scope(scope)
        # Reading needs only the store: resources answer while the models load, or when they can't.
        store = await state.store_ready()
        seeds = await anyio.to_thread.run_sync(lambda: store.list_seeds(scope_name, RECENT_SEEDS, newest_first=True))
        return RecentSeeds(scope=scope_name, seeds=[SeedView.of(seed) for seed in seeds]).model_dump_json(indent=2)

    @server.resource(
        "seeds://{scope}/{id}",
        name="seed",
        title="One memory",
        mime_type="application/json",
    )
    async def seed(scope: str, id: str, ctx: Context[AppState, Any]) -> str:
        """One stored memory with its text, category, tags and timestamps (JSON)."""
        state = _state(ctx)
        scope_name = read_scope(scope)
        if not id.isdigit():
            raise ResourceError(f"Invalid seed id {id!r}: a seed id is a number, as in seeds://{scope_name}/12.")
        store = await state.store_ready()
        found = await anyio.to_thread.run_sync(lambda: store.get(int(id)))
        if found is None or found.scope != scope_name:
            raise ResourceError(
                f"No seed {id} in scope {scope_name!r}: it may have been merged or removed; "
                f"read seeds://{scope_name}/recent or call recall."
            )
        return SeedView.of(found).model_dump_json(indent=2)

    @server.prompt(name="memory-habits", title="When to remember and recall")
    def memory_habits(scope: str | None = None) -> str:
        """How and when to use this memory: recall at the start of a task, remember lessons, decisions,
        corrections and preferences as they happen, reconcile now and then."""
        where = f" (scope `{scope}`: pass it as `scope` to every call)" if scope else ""
        return MEMORY_HABITS.format(where=where)
