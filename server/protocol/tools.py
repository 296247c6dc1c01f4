"""The MCP tools, as plain module-level functions; server/protocol/app.py registers them on the server.

Each one checks its arguments (server/protocol/arguments.py), resolves the default scope from the client's
roots (server/protocol/roots.py), checks its scopes against the caller's token (server/protocol/access.py), and calls
the pipeline through the Decider (server/pipeline/decider.py); a write goes through the one write entry point
(server/pipeline/write.py). Nothing here decides anything.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from seeds import OperationNotFound, SeedNotFound, StoreError, UndoRefused
from server.errors import ServerError
from server.pipeline import route as intents
from server.pipeline import write as write_path
from server.pipeline.decider import Decider
from server.pipeline.memory import Memory, ScopeSelection
from server.pipeline.recall import keyword_recall
from server.pipeline.results import ForgetResult, RecallResult, ReconcileResult, RememberResult, UndoResult
from server.pipeline.store_ops import forget_seed, undo_operation
from server.protocol import access, arguments
from server.protocol.lifespan import AppContext
from server.protocol.roots import relayed_choice
from server.rules.limits import MAX_QUERY_CHARS, MAX_RECALL_K
from server.rules.secrets import screen_secrets
from server.settings import ScopeChoice

AppCtx = Context[AppContext, Any]
P = ParamSpec("P")
R = TypeVar("R")


def _answers_errors(tool: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A tool whose `ServerError`s (a secret in the text, the store refusing a write or not open, the models not
    loaded: server/pipeline/errors.py) reach the client as the SDK's ToolError, with the same message."""

    @functools.wraps(tool)
    async def answered(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await tool(*args, **kwargs)
        except ServerError as exc:
            raise ToolError(str(exc)) from exc

    return answered


async def _default_choice(ctx: AppCtx) -> ScopeChoice:
    """The call's default scope and why (server/protocol/roots.py), checked against the caller's token."""
    request = ctx.request_context
    choice = await request.lifespan_context.roots.choice(request.session, request.request)
    allowed = access.default(choice.scope)
    if allowed != choice.scope:
        return ScopeChoice(allowed, "token", f"the caller's token holds only this scope, not {choice.scope!r}")
    return choice


async def _default_scope(ctx: AppCtx) -> str:
    return (await _default_choice(ctx)).scope


def _named_choice(ctx: AppCtx, named: str) -> ScopeChoice:
    """A scope named in the call: the relay's own choice for its client when it named it (server/transport/relay.py)."""
    relayed = relayed_choice(ctx.request_context.meta)
    if relayed is not None and relayed.scope == named:
        return relayed
    return ScopeChoice(named, "argument", "named in the call")


async def _one_scope(ctx: AppCtx, scope: str | None) -> str:
    """The one scope a call works in, checked against the caller's token (server/protocol/access.py)."""
    named = arguments.one_scope(scope)
    return access.one(named) if named is not None else await _default_scope(ctx)


async def _scope_choice(ctx: AppCtx, scope: str | list[str] | None) -> tuple[ScopeSelection, ScopeChoice]:
    """The scopes a search or a tidy covers, checked against the caller's token (server/protocol/access.py), and why."""
    selection = arguments.scope_selection(scope)
    if selection is None:
        choice = await _default_choice(ctx)
        return choice.scope, choice
    checked = access.selection(selection)
    label = checked if isinstance(checked, str) else ",".join(checked)
    return checked, _named_choice(ctx, label)


async def _scopes(ctx: AppCtx, scope: str | list[str] | None) -> ScopeSelection:
    return (await _scope_choice(ctx, scope))[0]


def _with_choice(result: RecallResult, choice: ScopeChoice) -> RecallResult:
    return result.model_copy(update={"scope_source": choice.source, "scope_reason": choice.reason})


@_answers_errors
async def remember(
    text: Annotated[str, Field(description="What to remember: one self-contained fact, lesson or decision.")],
    ctx: AppCtx,
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
    app = ctx.request_context.lifespan_context
    scope_name = await _one_scope(ctx, scope)
    arguments.text(text, "text", app.settings.max_text_chars)
    tag_list = arguments.tags(tags)
    return await write_path.remember(
        app.decider, text, scope_name, tags=tag_list, force=force, deadline=app.settings.deadline_seconds
    )


async def _searcher(
    app: AppContext, scope: ScopeSelection, k: int
) -> tuple[Memory | None, Callable[[str], RecallResult]]:
    """How a call searches: hybrid recall when the models are ready within the deadline, else by keywords,
    which need no model (better than making the agent wait or fail). Run the searcher in a thread. The
    pipeline comes with it: None while the models load."""
    decider = app.decider
    store = await decider.store_ready()
    memory = await decider.memory_within(app.settings.deadline_seconds)
    if memory is not None:
        return memory, lambda query: memory.recall(query, scope, k)
    why = f"keyword search only: {decider.not_ready().split(';')[0]}"
    return None, lambda query: keyword_recall(store, query, scope, k, why, app.settings.secrets)


@_answers_errors
async def recall(
    query: Annotated[str, Field(description="What you want to know, in your own words.")],
    ctx: AppCtx,
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
    app = ctx.request_context.lifespan_context
    scope_name, choice = await _scope_choice(ctx, scope)
    arguments.query(query)
    arguments.recall_k(k)
    _, search = await _searcher(app, scope_name, k)
    found = await anyio.to_thread.run_sync(lambda: search(query))
    return _with_choice(found, choice)


@_answers_errors
async def reconcile(
    ctx: AppCtx,
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
    scope_name = await _scopes(ctx, scope)
    memory = await ctx.request_context.lifespan_context.decider.memory_ready()

    def progress(done: int, total: int, seed_id: int) -> None:
        # On the worker thread: a cancelled call stops the sweep here (it resumes next time).
        anyio.from_thread.check_cancelled()
        anyio.from_thread.run(ctx.report_progress, done, total, f"seed {seed_id}")

    try:
        return await anyio.to_thread.run_sync(lambda: memory.reconcile(scope_name, dry_run=dry_run, progress=progress))
    except StoreError as exc:
        raise ToolError(f"The seed store refused a change: {exc}. Nothing more was changed; try again.") from exc


T = TypeVar("T")


async def _change(decider: Decider, alone: Callable[[], T], through: Callable[[Memory], T]) -> T:
    """A change that needs no model (forget, undo): through the pipeline when its models are in (so it is
    serialized with the decisions), else on the store alone, which will do while they load. A refusal of the
    store that is not the caller's to explain (not a missing seed or operation) becomes a ToolError."""
    memory = await decider.memory_within(0)
    try:
        if memory is None:
            return await anyio.to_thread.run_sync(alone)
        return await anyio.to_thread.run_sync(lambda: through(memory))
    except (SeedNotFound, OperationNotFound, UndoRefused):
        raise
    except StoreError as exc:
        raise ToolError(f"The seed store refused the change: {exc}. Nothing was changed; try again.") from exc


@_answers_errors
async def forget(
    seed_id: Annotated[int, Field(description="The id of the memory to remove, as recall or remember gave it.")],
    ctx: AppCtx,
    scope: Annotated[
        str | None,
        Field(description="The memory's scope: this project's if omitted; '*' to remove it from whatever scope."),
    ] = None,
) -> ForgetResult:
    """Remove one memory because the user asked for it to be forgotten (or it is plainly wrong). The removal
    is recorded: `undo` with the returned operation_id brings it back."""
    app = ctx.request_context.lifespan_context
    named = arguments.forget_scope(scope)
    store = await app.decider.store_ready()
    if named is None:
        scope_name = await _default_scope(ctx)
    else:
        scope_name = await anyio.to_thread.run_sync(lambda: access.forget_scope(store, seed_id, named))
    try:
        return await _change(
            app.decider,
            lambda: forget_seed(store, seed_id, scope_name),
            lambda memory: memory.forget(seed_id, scope_name),
        )
    except SeedNotFound as exc:
        raise ToolError(
            f"{exc} Nothing was removed. `recall` shows stored memories with their ids and scopes; pass the "
            "memory's scope (or '*') if it is not in this project's."
        ) from exc


@_answers_errors
async def undo(
    operation_id: Annotated[
        str,
        Field(
            description="The operation to reverse: the operation_id that remember (update/delete), reconcile, "
            "forget or undo returned."
        ),
    ],
    ctx: AppCtx,
) -> UndoResult:
    """Reverse one recorded change exactly: an update, a deletion, a reconcile merge, a forget or an undo.
    The seeds come back as they were (same ids, text, tags and timestamps). The undo is recorded too."""
    operation_id = arguments.operation_id(operation_id)
    decider = ctx.request_context.lifespan_context.decider
    store = await decider.store_ready()
    await anyio.to_thread.run_sync(lambda: access.undo_allowed(store, operation_id))
    try:
        return await _change(
            decider, lambda: undo_operation(store, operation_id), lambda memory: memory.undo(operation_id)
        )
    except (OperationNotFound, UndoRefused) as exc:
        raise ToolError(f"{exc} Nothing was changed.") from exc


@_answers_errors
async def route(
    message: Annotated[str, Field(description="The user's message, as they wrote it (or your own stated decision).")],
    ctx: AppCtx,
    scope: Annotated[
        str | None, Field(description="The project the message belongs to; this project's scope if omitted.")
    ] = None,
    k: Annotated[int, Field(description=f"At most this many memories to return (1-{MAX_RECALL_K}).")] = 5,
    write: Annotated[
        bool,
        Field(
            description="False to only classify and return memories, storing nothing (for a caller that stores "
            "the message some other way, such as a session-end hook)."
        ),
    ] = True,
) -> intents.RouteResult:
    """Call this once for each new user message, before you answer it: the local cerebellum decides whether
    stored memory bears on the message (then the best memories come back, as `recall` returns them) and
    whether it states something worth keeping (then it goes through `remember`'s path: secrets refused,
    worth-keeping gate, merged with what is stored, or queued when the model is slow). You may skip it for
    messages that are only acknowledgements ("ok", "thanks") or when the user's prompt hook already added
    memories to the context. Returns the intent (RECALL, REMEMBER, BOTH or NONE), why, and who decided."""
    app = ctx.request_context.lifespan_context
    named = arguments.one_scope(scope)
    choice = _named_choice(ctx, access.one(named)) if named is not None else await _default_choice(ctx)
    scope_name = choice.scope
    arguments.text(message, "message", app.settings.max_text_chars)
    arguments.recall_k(k)
    decider = app.decider
    memory, search = await _searcher(app, scope_name, k)
    # The model never sees a credential: refused (or taken out) before the message is classified.
    screened, _ = screen_secrets(message, "message", app.settings.secrets)
    brain = memory.cerebellum if memory is not None else None
    lock = memory.lock if memory is not None else None
    verdict, found = await anyio.to_thread.run_sync(
        lambda: intents.plan(screened, brain, lambda query: search(query[:MAX_QUERY_CHARS]), lock=lock)
    )
    written: RememberResult | None = None
    if write and intents.wants_write(verdict.intent):
        written = await write_path.remember(
            decider, message, scope_name, source="route", deadline=app.settings.deadline_seconds
        )
    return intents.routed(verdict, _with_choice(found, choice) if found is not None else None, written)


TOOLS = {
    remember: ToolAnnotations(
        title="Remember",
        read_only_hint=False,
        # It may merge into or retract a stored seed, but every change is kept in history.
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    ),
    recall: ToolAnnotations(
        title="Recall", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    ),
    reconcile: ToolAnnotations(
        title="Reconcile", read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
    ),
    forget: ToolAnnotations(
        title="Forget", read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    ),
    undo: ToolAnnotations(
        title="Undo", read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    ),
    route: ToolAnnotations(
        title="Route a message through memory",
        read_only_hint=False,
        destructive_hint=False,  # what it writes goes through remember's path: every change is kept in history
        idempotent_hint=True,
        open_world_hint=False,
    ),
}
"""Every tool with its annotations, in the order they are listed."""
