"""Seeds as MCP resources (one seed, the recent ones of a scope) and the memory-habits prompt.

Module-level functions, like the tools; server/protocol/app.py registers them. Reading needs only the store,
so resources answer while the models load, or when they can't.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError

from server.pipeline.results import RecentSeeds, SeedView
from server.protocol import access
from server.protocol.lifespan import AppContext
from server.rules import scopes

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


def _read_scope(scope: str) -> str:
    try:
        scopes.check_name(scope)
    except scopes.ScopeRefused as exc:
        raise ResourceError(str(exc)) from exc
    try:
        return access.one(scope)  # the caller's token must hold it (server/protocol/access.py)
    except access.ScopeNotHeld as exc:
        raise ResourceError(str(exc)) from exc


async def recent_seeds(scope: str, ctx: Context[AppContext, Any]) -> str:
    """The most recently stored memories of a scope, newest first (JSON)."""
    scope_name = _read_scope(scope)
    store = await ctx.request_context.lifespan_context.decider.store_ready()
    seeds = await anyio.to_thread.run_sync(lambda: store.list_seeds(scope_name, RECENT_SEEDS, newest_first=True))
    return RecentSeeds(scope=scope_name, seeds=[SeedView.of(seed) for seed in seeds]).model_dump_json(indent=2)


async def seed(scope: str, id: str, ctx: Context[AppContext, Any]) -> str:
    """One stored memory with its text, category, tags and timestamps (JSON)."""
    scope_name = _read_scope(scope)
    if not id.isdigit():
        raise ResourceError(f"Invalid seed id {id!r}: a seed id is a number, as in seeds://{scope_name}/12.")
    store = await ctx.request_context.lifespan_context.decider.store_ready()
    found = await anyio.to_thread.run_sync(lambda: store.get(int(id)))
    if found is None or found.scope != scope_name:
        raise ResourceError(
            f"No seed {id} in scope {scope_name!r}: it may have been merged or removed; "
            f"read seeds://{scope_name}/recent or call recall."
        )
    return SeedView.of(found).model_dump_json(indent=2)


def memory_habits(scope: str | None = None) -> str:
    """How and when to use this memory: recall at the start of a task, remember lessons, decisions,
    corrections and preferences as they happen, reconcile now and then."""
    where = f" (scope `{scope}`: pass it as `scope` to every call)" if scope else ""
    return MEMORY_HABITS.format(where=where)
