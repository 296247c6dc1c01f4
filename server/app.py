"""The MCP layer: tools that adapt MCP calls to the memory pipeline. Nothing here decides anything."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from seeds import StoreError
from server.cerebellum import CerebellumError
from server.memory import Memory, RecallResult, ReconcileResult, RememberResult, SecretInText, open_memory
from server.modelfiles import ModelUnavailable
from server.settings import SCOPE_PATTERN, Settings

logger = logging.getLogger(__name__)

# If a client never sends anything after connecting, start loading anyway after this long.
HANDSHAKE_GRACE_SECONDS = 2.0
MAX_RECALL_K = 50
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_QUERY_CHARS = 2_000

INSTRUCTIONS = """\
Long-term memory for this coding agent. Call `remember` with one self-contained sentence or short \
paragraph whenever you learn something that should outlive this session: a lesson learned the hard \
way, a correction from the user, a decision and its reason, a preference, a durable project fact. \
A small local model decides whether it is worth keeping and merges it with what is already stored, \
so you need not check for duplicates first. Call `recall` at the start of a task and whenever past \
context might help. Call `reconcile` now and then to fold duplicates and resolve contradictions."""


@dataclass
class AppState:
    """What the lifespan yields: the pipeline once loaded, or the reason it could not be."""

    settings: Settings
    handshake_done: anyio.Event = field(default_factory=anyio.Event)
    loaded: anyio.Event = field(default_factory=anyio.Event)
    memory: Memory | None = None
    load_error: str | None = None

    async def memory_ready(self) -> Memory:
        self.handshake_done.set()  # a tool call means the handshake is over
        await self.loaded.wait()
        if self.memory is None:
            raise ToolError(f"The memory server could not start: {self.load_error}")
        return self.memory


MemoryFactory = Callable[[Settings], Memory]


def _state(ctx: Context[Any, Any]) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


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
                f"Invalid tag {tag[:80]!r}: a tag is 1-{MAX_TAG_CHARS} characters on one line, "
                "without control characters."
            )
        _text(tag, "tag", MAX_TAG_CHARS)
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _scope(state: AppState, scope: str | None) -> str:
    if scope is None or scope == "":
        return state.settings.scope
    if not SCOPE_PATTERN.match(scope):
        raise ToolError(
            f"Invalid scope {scope!r}: use 1-128 letters, digits or . _ : / - (for example 'my-project'), "
            "or leave it out for the default scope."
        )
    return scope


def create_server(settings: Settings, *, memory_factory: MemoryFactory = open_memory) -> MCPServer[AppState]:
    """Build the MCP server. Models and the store are opened in the lifespan, after the handshake."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        state = AppState(settings)

        async def load() -> None:
            with anyio.move_on_after(HANDSHAKE_GRACE_SECONDS):
                await state.handshake_done.wait()
            try:
                # abandon_on_cancel: a client that disconnects mid-load need not wait for the models.
                state.memory = await anyio.to_thread.run_sync(memory_factory, settings, abandon_on_cancel=True)
            except (ModelUnavailable, StoreError, CerebellumError, OSError, ValueError) as exc:
                state.load_error = str(exc)
                logger.error("could not start: %s", exc)
            except Exception as exc:  # a model file llama.cpp cannot read raises bare errors
                state.load_error = f"{type(exc).__name__}: {exc}"
                logger.exception("could not start")
            finally:
                state.loaded.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(load)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()
                if state.memory is not None:
                    await anyio.to_thread.run_sync(state.memory.close)

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
        scope_name = _scope(state, scope)
        _text(text, "text", state.settings.max_text_chars)
        tag_list = _tags(tags)
        memory = await state.memory_ready()
        try:
            return await anyio.to_thread.run_sync(lambda: memory.remember(text, scope_name, tags=tag_list, force=force))
        except SecretInText as exc:
            raise ToolError(str(exc)) from exc
        except StoreError as exc:
            raise ToolError(f"The seed store refused the write: {exc}. Nothing was changed; try again.") from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Recall", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
    )
    async def recall(
        query: Annotated[str, Field(description="What you want to know, in your own words.")],
        ctx: Context[AppState, Any],
        scope: Annotated[str | None, Field(description="The scope to search; the server's default if omitted.")] = None,
        k: Annotated[int, Field(description=f"How many memories to return (1-{MAX_RECALL_K}).")] = 5,
    ) -> RecallResult:
        """Find the stored memories most relevant to a query, best first, with scores and timestamps."""
        state = _state(ctx)
        scope_name = _scope(state, scope)
        _text(query, "query", MAX_QUERY_CHARS)
        if not 1 <= k <= MAX_RECALL_K:
            raise ToolError(f"k must be between 1 and {MAX_RECALL_K}; got {k}.")
        memory = await state.memory_ready()
        try:
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
        scope: Annotated[str | None, Field(description="The scope to tidy; the server's default if omitted.")] = None,
        dry_run: Annotated[bool, Field(description="True to only report what would change.")] = False,
    ) -> ReconcileResult:
        """Tidy a scope: fold near-duplicate memories together and resolve contradicting ones. Every change
        is kept in history with its reason. Use dry_run first to see the plan."""
        state = _state(ctx)
        scope_name = _scope(state, scope)
        memory = await state.memory_ready()
        try:
            return await anyio.to_thread.run_sync(lambda: memory.reconcile(scope_name, dry_run=dry_run))
        except StoreError as exc:
            raise ToolError(f"The seed store refused a change: {exc}. Nothing more was changed; try again.") from exc

    return server
