"""`cerebellum-mcp serve` (also what no command does) and `cerebellum-mcp service`: serving MCP, and the shared service.

`serve` serves stdio by attaching to the shared local service (server/transport/relay.py), from this process with
--standalone, or Streamable HTTP with --http; `serve --service` (hidden) is the shared service itself, which a
stdio launch starts. A server that stopped ends its process at once (exit_now): background model work is dropped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from server.cli.command import CliError, Command, out
from server.cli.flags import add_tokens_file
from server.settings import Settings


def serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="serve MCP over Streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST: 127.0.0.1 if omitted; "
        "any other host needs bearer tokens, see 'token')",
    )
    parser.add_argument(
        "--auth",
        choices=["auto", "tokens"],
        help="--http: 'auto' asks for bearer tokens on any host but loopback; 'tokens' on loopback too "
        "(CEREBELLUM_AUTH; default auto)",
    )
    parser.add_argument(
        "--public-url",
        help="--http with tokens: the URL clients reach /mcp at, named in the protected-resource metadata "
        "(CEREBELLUM_PUBLIC_URL; default http://HOST:PORT/mcp)",
    )
    add_tokens_file(parser)
    # What a stdio launch starts (server/transport/service.py): the shared local service on its unix socket.
    parser.add_argument("--service", action="store_true", help=argparse.SUPPRESS)


def is_service(args: argparse.Namespace) -> bool:
    """A long-running service (`serve --http`, the shared service), which logs at INFO unless told otherwise."""
    return args.command in (None, "serve") and bool(getattr(args, "http", None) or getattr(args, "service", False))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    http_only = [
        flag for flag, name in (("--auth", "auth"), ("--public-url", "public_url")) if getattr(args, name, None)
    ]
    if http_only and not getattr(args, "http", None):
        raise CliError(
            f"{' and '.join(http_only)} apply to serve --http only (a stdio server is the client's own child and "
            "asks for no token); add --http [HOST:]PORT, or leave them out"
        )
    if getattr(args, "http", None):
        from server.protocol.auth import AuthSetupError
        from server.transport.http import AddressError, serve_http

        try:
            serve_http(settings, args.http)
        except (AddressError, AuthSetupError) as exc:
            raise CliError(str(exc)) from exc
        exit_now(0)
    if getattr(args, "service", False):
        from server.transport.service import run_service

        exit_now(run_service(settings))
    import anyio

    from server.transport.service import SHARED_SERVICE

    if SHARED_SERVICE and not settings.standalone:
        from server.transport.relay import serve_attached

        anyio.run(serve_attached, settings)
        # The client closed the wire. The launch holds nothing of its own (the service keeps every call's
        # work): it exits now, not after a service start it began has finished.
        exit_now(0)
    from server.transport.front import running as running_front

    if running_front() is not None:  # server/launch.py reads the argument shape as the parser does
        sys.exit("cerebellum-mcp: the launch took stdio for the shared service but the settings say standalone")
    from server.protocol.app import create_server
    from server.settings import project_folder
    from server.transport.wire import serve_stdio

    anyio.run(serve_stdio, create_server(settings, launch_folder=project_folder(os.getcwd())))


def exit_now(status: int) -> None:
    """End a server process that has stopped: the store is closed and every acknowledged write is durable, but
    background work (a warm-up step, the gate's fit, a model load) may still run on its threads. The interpreter's
    exit would wait for them, or free the models under them; they are dropped instead and go on at the next start."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def service_line(settings: Settings) -> str:
    """The shared service of this store, in one line (for service, stats and doctor)."""
    from server.transport.service import describe

    return describe(settings)


def service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["status", "stop"], default="status")


def cmd_service(args: argparse.Namespace, settings: Settings) -> None:
    from server.transport.service import stop_service

    if args.action == "stop":
        stopped = stop_service(settings)
        out().print(f"stopped the shared service (pid {stopped.pid})" if stopped else "no shared service was running")
        return
    out().print(service_line(settings))


SERVE = Command(
    "serve",
    "serve MCP over stdio (the same as no command), or over Streamable HTTP with --http",
    cmd_serve,
    serve_options,
)
SERVICE = Command(
    "service",
    "show (or stop) the shared local service that stdio launches of this store attach to",
    cmd_service,
    service_options,
)
