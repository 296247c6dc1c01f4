"""The MCP server: the tools, resources and prompt of server/protocol/tools.py and server/protocol/resources.py
registered over a lifespan that runs the Decider (server/protocol/lifespan.py). The same server is served over
stdio or HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server import MCPServer

from server.pipeline.decider import MemoryFactory
from server.pipeline.loading import open_memory
from server.protocol import resources, tools
from server.protocol.instructions import INSTRUCTIONS
from server.protocol.lifespan import AppContext, lifespan_for
from server.settings import Settings

if TYPE_CHECKING:
    from server.protocol.auth import HttpAuth


async def mark_handshake(ctx: Any, call_next: Any) -> Any:
    """Any request means the handshake is over: the Decider may open the store and load the models."""
    result = await call_next(ctx)
    if isinstance(ctx.lifespan_context, AppContext):
        ctx.lifespan_context.decider.handshake_done.set()
    return result


def create_server(
    settings: Settings,
    *,
    memory_factory: MemoryFactory = open_memory,
    on_ready: Callable[[AppContext], None] | None = None,
    auth: HttpAuth | None = None,
    launch_folder: Path | None = None,
    abandon_background: bool = False,
) -> MCPServer[AppContext]:
    """Build the MCP server. Models and the store are opened in the lifespan, after the handshake.
    With `auth` (server/protocol/auth.py), its Streamable HTTP app asks every request for a bearer token.
    `launch_folder`: the client's project folder, for a stdio server the client started (server/protocol/roots.py).
    `abandon_background`: for a process that ends with os._exit once the server stops (`serve --http`, the
    shared service), stopping does not wait for the warm-up's or the gate fit's step in progress."""
    server: MCPServer[AppContext] = MCPServer(
        "cerebellum-mcp",
        instructions=INSTRUCTIONS,
        lifespan=lifespan_for(settings, memory_factory, on_ready, launch_folder, abandon_background=abandon_background),
        log_level=settings.log_level,
        auth=None if auth is None else auth.settings,
        token_verifier=None if auth is None else auth.verifier,
    )
    server.middleware.append(mark_handshake)
    for tool, hints in tools.TOOLS.items():
        server.add_tool(tool, annotations=hints)
    # The recent-seeds template first: "recent" would otherwise be read as a seed id.
    server.resource(
        "seeds://{scope}/recent", name="recent-seeds", title="Recent memories of a scope", mime_type="application/json"
    )(resources.recent_seeds)
    server.resource("seeds://{scope}/{id}", name="seed", title="One memory", mime_type="application/json")(
        resources.seed
    )
    server.prompt(name="memory-habits", title="When to remember and recall")(resources.memory_habits)
    return server
