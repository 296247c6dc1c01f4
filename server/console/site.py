"""Where the console is served: beside /mcp in `serve --http`, and, for the shared service on its private unix
socket, on a loopback TCP port opened on request (`cerebellum-mcp ui`), entered through a one-time address."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from server.console.app import PREFIX, Console
from server.console.backend import DeciderBackend
from server.console.errors import ConsoleError
from server.console.guard import Guard, allowed_hosts
from server.settings import Settings

if TYPE_CHECKING:
    from server.protocol.auth import HttpAuth

logger = logging.getLogger(__name__)

OPEN_PATH = PREFIX + "/open"
"""POST on the service's socket: open the console's loopback port (if not open) and answer its one-time address."""
LOOPBACK = "127.0.0.1"


class Dispatch:
    """ASGI: requests under /console go to the console, the rest to the app it stands in front of."""

    def __init__(self, app: ASGIApp, console: ASGIApp, on_console: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.console = console
        self.on_console = on_console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            self.on_console()
            await self.console(scope, receive, send)
            return
        await self.app(scope, receive, send)


def http_console(
    app: ASGIApp, settings: Settings, host: str, port: int, auth: HttpAuth | None, context: Callable[[], Any]
) -> ASGIApp:
    """`serve --http`: the console at /console beside /mcp. With bearer tokens in force, a person signs in with
    one (and sees its scopes only); tokenless loopback is open, as the MCP endpoint is."""
    from server.protocol.tokens import TokenFile

    extra = (urlsplit(settings.public_url).netloc,) if settings.public_url else ()
    if auth is None:
        guard = Guard(allowed_hosts(host, port, extra), "open")
    else:
        guard = Guard(allowed_hosts(host, port, extra), "token", TokenFile(settings.tokens_file))
    logger.info("the memory console is at http://%s:%d%s/", host if ":" not in host else f"[{host}]", port, PREFIX)
    return Dispatch(app, Console(DeciderBackend(context), guard).app())


class _QuietServer:
    """A uvicorn server that leaves the process's signal handlers to the service's own server."""

    def __init__(self, app: ASGIApp, log_level: str) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None]:
                yield

        # No access log: the one-time address's key would be written to the service's log.
        config = uvicorn.Config(app, log_level=log_level, log_config=None, lifespan="off", access_log=False)
        self.server = Quiet(config)


class ServiceConsole:
    """ASGI in front of the shared service's app: answers POST /console/open on the private socket by opening
    the console on a loopback TCP port, once, and handing out a one-time address that signs a browser in."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        context: Callable[[], Any],
        clients: Callable[[], int | None],
        touch: Callable[[], None],
    ) -> None:
        self.app = app
        self.settings = settings
        self.context = context
        self.clients = clients
        self.touch = touch
        self.guard: Guard | None = None
        self.port: int | None = None
        self._task: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == OPEN_PATH and scope["method"] == "POST":
            query = dict(
                part.split("=", 1) for part in scope.get("query_string", b"").decode().split("&") if "=" in part
            )
            try:
                url = await self.open(int(query.get("port", "0") or 0))
                body, code = json.dumps({"url": url}).encode(), 200
            except (OSError, ValueError, ConsoleError) as exc:
                body, code = json.dumps({"error": str(exc)}).encode(), 409
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": code, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    async def open(self, port: int) -> str:
        import asyncio

        if self.guard is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, port))
            sock.listen(64)
            sock.setblocking(False)
            self.port = int(sock.getsockname()[1])
            self.guard = Guard(allowed_hosts(LOOPBACK, self.port), "key")
            console = Console(DeciderBackend(self.context, self.clients), self.guard).app()
            server = _QuietServer(Dispatch(_not_found, console, self.touch), self.settings.log_level.lower()).server
            self._task = asyncio.ensure_future(server.serve(sockets=[sock]))
            logger.info("the memory console listens on http://%s:%d%s/", LOOPBACK, self.port, PREFIX)
        return f"http://{LOOPBACK}:{self.port}{PREFIX}/enter?key={self.guard.key}"


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    from starlette.responses import PlainTextResponse

    await PlainTextResponse("Not found: the console is at /console/.", 404)(scope, receive, send)


def touch_after(attendance: Any) -> Callable[[], None]:
    """A console request counts as activity: the service does not exit idle under a person using it."""

    def touch() -> None:
        attendance.last_activity = time.monotonic()

    return touch
