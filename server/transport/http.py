"""`cerebellum-mcp serve --http [HOST:]PORT`: the same server over MCP Streamable HTTP, at /mcp.

Bound to 127.0.0.1 unless a host is given; any other host needs bearer tokens (server/protocol/auth.py).
uvicorn runs the SDK's Streamable HTTP app; on SIGTERM or SIGINT it stops taking requests, gives open
ones a few seconds, then runs the lifespan's shutdown: the Decider's worker stops, a decision in
progress is finished (its thread is waited for) and what has not been decided stays in the inbox for
the next start.
"""

from __future__ import annotations

import ipaddress
import logging

from server.errors import ServerError
from server.settings import Settings

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
DEFAULT_HOST = "127.0.0.1"
GRACEFUL_SHUTDOWN_SECONDS = 1
"""How long a stopping server lets open HTTP requests end (an attached client's event stream never does).
A decision in progress is not one of them: it runs in the Decider and is finished before the process exits."""


class AddressError(ServerError):
    """A --http address that can't be served; the message says what to give instead."""


def parse_address(value: str) -> tuple[str, int]:
    """[HOST:]PORT, with HOST 127.0.0.1 when left out; an IPv6 host goes in brackets ([::1]:8765)."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, value
    host = host.strip("[]") or DEFAULT_HOST
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"--http {value!r}: give [HOST:]PORT with a port from 1 to 65535, for example 8765.")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_http(settings: Settings, address: str) -> None:
    """Serve MCP over Streamable HTTP until SIGTERM / SIGINT. The caller ends the process with os._exit
    afterwards (server/cli/serve.py): background work may still run on its threads."""
    import uvicorn

    from server.protocol.app import create_server
    from server.protocol.auth import http_auth

    host, port = parse_address(address)
    # Anything but loopback needs bearer tokens (and loopback with --auth tokens): refused here if there are none.
    auth = http_auth(settings, host, port, MCP_PATH, loopback=is_loopback(host))
    from server.console.site import http_console

    running: list[object] = []
    server = create_server(settings, auth=auth, abandon_background=True, on_ready=running.append)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    # The memory console at /console, beside /mcp (server/console/).
    app = http_console(app, settings, host, port, auth, lambda: running[0] if running else None)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's own config logs to stdout; its loggers go to the root logger (stderr) instead
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    logger.info("serving MCP over Streamable HTTP at http://%s:%d%s", host, port, MCP_PATH)
    uvicorn.Server(config).run()
