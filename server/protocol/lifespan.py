"""What every tool call sees: the server's typed lifespan state, set up once per server run."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.pipeline.decider import Decider, MemoryFactory
from server.protocol.roots import RootScopes
from server.settings import Settings


@dataclass(frozen=True)
class AppContext:
    """The lifespan context of the MCP server: `ctx.request_context.lifespan_context` in a tool."""

    settings: Settings
    decider: Decider
    """The store, the models and the decisions of this process (server/pipeline/decider.py)."""
    roots: RootScopes
    """Each session's default scope, from its client's roots (server/protocol/roots.py)."""


def lifespan_for(
    settings: Settings,
    memory_factory: MemoryFactory,
    on_ready: Callable[[AppContext], None] | None = None,
    launch_folder: Path | None = None,
    *,
    abandon_background: bool = False,
) -> Callable[[Any], AbstractAsyncContextManager[AppContext]]:
    """The server's lifespan: a running Decider (store and models opened in the background) for as long
    as the server runs; closed when it stops (a decision in progress is finished first: its thread is waited for).
    `on_ready` is given the context once it exists (the shared service reads its state for its status).
    `launch_folder`: the client's project folder when this process is its stdio launch (server/protocol/roots.py).
    `abandon_background`: see `Decider.running` (for a process that ends with os._exit once stopped)."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncGenerator[AppContext]:
        async with Decider.running(settings, memory_factory, abandon_background=abandon_background) as decider:
            context = AppContext(settings=settings, decider=decider, roots=RootScopes(settings, launch_folder))
            if on_ready is not None:
                on_ready(context)
            yield context

    return lifespan
