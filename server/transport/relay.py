"""The default stdio launch: an MCP server on stdio that relays every call to the shared local service.

What an MCP client starts (`cerebellum-mcp`) answers the handshake at once from its front
(server/transport/front.py, before this module is imported) and finds or starts the shared service of
server/transport/service.py for its store and settings. Tools,
resources and the prompt are the service's, listed and called through one MCP session with it
over its unix socket; the models live only there. Two things stay with the client's own process:

- the default scope: a call that names no scope gets this client's (`--scope`, else its first root, else
  the folder the client started this launch in, else `default`: settings.project_scope) before it is
  relayed, with the reason in the request's `_meta` (server/protocol/roots.py), so every client keeps its project;
- reconnecting: a service that went away (killed, crashed, exited idle between two calls) is
  started again and the call is sent once more. The service's writes are durable before they
  are acknowledged, so a call that had no answer is safe to send again: an exact repeat of a
  remembered text is answered `duplicate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
import httpx2
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from server.errors import ServerError
from server.protocol.instructions import INSTRUCTIONS
from server.protocol.roots import RootScopes, relay_meta
from server.settings import Settings, project_folder
from server.transport.front import Front
from server.transport.front import running as running_front
from server.transport.service import ServiceError, ensure_service, package_version, service_place, session_with
from server.transport.wire import stdin_lines

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ctx = ServerRequestContext[Any]

# What a lost service looks like from the client's side: the socket refuses, or the session's stream breaks.
LOST = (httpx2.TransportError, anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)


class ServiceLost(ServerError):
    """The shared service went away and could not be reached again."""


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, LOST):
        return True
    if isinstance(exc, MCPError):
        # The SDK's own names for a stream that ended under a request.
        return exc.error.code == types.CONNECTION_CLOSED or "terminated" in exc.error.message.lower()
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return any(_lost(one) for one in group.exceptions)
    return False


class ServiceLink:
    """This launch's MCP session with the shared service. Each session is held open by a task of its own
    (in `task_group`), so that a lost one can be dropped and a new one opened from any call."""

    def __init__(self, settings: Settings, task_group: TaskGroup) -> None:
        self.settings = settings
        self.task_group = task_group
        self._client: Client | None = None
        self._closing: anyio.Event | None = None
        self._lock = anyio.Lock()

    async def _hold(self, closing: anyio.Event, *, task_status: TaskStatus[Client]) -> None:
        started = False
        try:
            async with session_with(service_place(self.settings)) as client:
                started = True
                task_status.started(client)
                await closing.wait()
        except Exception:
            if not started:
                raise
            # The service went away under the session; the call that noticed has reconnected or will.
            logger.debug("the session with the shared service ended with an error", exc_info=True)

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                # abandon_on_cancel: a client that leaves while the service starts need not wait for it.
                status = await anyio.to_thread.run_sync(ensure_service, self.settings, abandon_on_cancel=True)
                closing = anyio.Event()
                client: Client = await self.task_group.start(self._hold, closing)
                self._client, self._closing = client, closing
                logger.info("attached to the shared service (pid %d)", status.pid)
            return self._client

    async def drop(self, client: Client) -> None:
        async with self._lock:
            if self._client is not client:
                return  # another call dropped it already
            self._client = None
            if self._closing is not None:
                self._closing.set()
                self._closing = None

    async def call(self, op: Callable[[Client], Awaitable[T]]) -> T:
        """Run `op` on the session; if the service is gone, start it again and run `op` once more."""
        for attempt in (1, 2):
            try:
                client = await self.client()
            except (ServiceError, *LOST) as exc:
                raise ServiceLost(str(exc)) from exc
            try:
                return await op(client)
            except Exception as exc:
                if not _lost(exc):
                    raise
                logger.warning("the shared service went away (%s)%s", exc, "; reconnecting" if attempt == 1 else "")
                await self.drop(client)
        raise ServiceLost(
            "the shared cerebellum service went away twice during this call; try again, or start the server "
            "with --standalone"
        )

    async def close(self) -> None:
        if self._client is not None:
            await self.drop(self._client)


def _lost_result(exc: ServiceLost) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"The memory service is not reachable: {exc}")],
        is_error=True,
    )


def _takes_scope(tool: types.Tool) -> bool:
    return "scope" in (tool.input_schema.get("properties") or {})


def create_relay(settings: Settings, link: ServiceLink, launch_folder: Path | None = None) -> Server[Any]:
    """The stdio-facing server: the service's tools, resources and prompt, with this client's default scope
    (`launch_folder`: the folder the client started this launch in, see settings.project_folder)."""
    roots = RootScopes(settings, launch_folder)
    tools: dict[str, types.Tool] = {}

    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        result = await link.call(lambda client: client.list_tools())
        tools.update({tool.name: tool for tool in result.tools})
        return result

    async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        try:
            if not tools:
                await list_tools(ctx, None)
            tool = tools.get(params.name)
            meta: dict[str, Any] | None = None
            if tool is not None and _takes_scope(tool) and arguments.get("scope") is None:
                # The service has no client to ask: the scope is this client's, and it is told why.
                choice = await roots.choice(ctx.session)
                arguments["scope"] = choice.scope
                meta = relay_meta(choice)

            async def progress(progress: float, total: float | None, message: str | None) -> None:
                await ctx.session.report_progress(progress, total, message)

            return await link.call(
                lambda client: client.call_tool(
                    params.name, arguments, progress_callback=progress, meta=cast(types.RequestParamsMeta, meta)
                )
            )
        except ServiceLost as exc:
            return _lost_result(exc)

    async def list_resource_templates(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await link.call(lambda client: client.list_resource_templates())

    async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return await link.call(lambda client: client.list_resources())

    async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return await link.call(lambda client: client.read_resource(params.uri))

    async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return await link.call(lambda client: client.list_prompts())

    async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        arguments = dict(params.arguments or {})
        return await link.call(lambda client: client.get_prompt(params.name, arguments))

    return Server(
        "cerebellum-mcp",
        version=package_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def _quiet_closing_race(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Closing the session at exit, the SDK's HTTP client can resolve a future its own stream task already
    # cancelled; asyncio would log that at ERROR in every client's log, for nothing lost.
    if isinstance(context.get("exception"), asyncio.InvalidStateError):
        logger.debug("ignored at exit: %s", context.get("message"))
        return
    loop.default_exception_handler(context)


class FrontLines:
    """The lines the front (server/transport/front.py) passes on, as the async text stream
    `stdio_server(stdin=...)` reads."""

    def __init__(self, front: Front) -> None:
        loop = asyncio.get_running_loop()
        send, self._receive = anyio.create_memory_object_stream[str | None](math.inf)

        def deliver(line: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the relay is gone
                loop.call_soon_threadsafe(send.send_nowait, line)

        front.attach(deliver)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self._receive:
            if line is None:
                return
            yield line


class FrontWriter:
    """The relay's messages to the client, written by the front (the async text file `stdio_server(stdout=...)`)."""

    def __init__(self, front: Front) -> None:
        self._front = front

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._front.from_relay, text)

    async def flush(self) -> None:
        pass


async def serve_attached(settings: Settings) -> None:
    """Serve MCP on stdio, relaying to the shared service (started in the background if none runs). The wire
    is the front's when the launch started one (it answered the handshake already), else stdin and stdout."""
    asyncio.get_running_loop().set_exception_handler(_quiet_closing_race)
    async with anyio.create_task_group() as tg:
        link = ServiceLink(settings, tg)
        # Only this process's folder is the client's: the service was started elsewhere, for every client.
        relay = create_relay(settings, link, project_folder(os.getcwd()))

        async def attach_early() -> None:
            # Find or start the service while the client is still shaking hands.
            try:
                await link.client()
            except Exception as exc:  # the first call reports it
                logger.warning("could not attach to the shared service yet: %s", exc)

        tg.start_soon(attach_early)
        front = running_front()
        wire: Any = (
            stdio_server(stdin=stdin_lines())
            if front is None
            else stdio_server(stdin=FrontLines(front), stdout=FrontWriter(front))  # pyright: ignore[reportArgumentType]
        )
        async with wire as (read_stream, write_stream):
            await relay.run(read_stream, write_stream, relay.create_initialization_options())
        await link.close()
        # The client is gone: nothing waits for the service any more (a start in progress goes on alone).
        tg.cancel_scope.cancel()
