"""`cerebellum-mcp ui`: the memory console (server/console), opened by the shared service on a loopback port."""

from __future__ import annotations

import argparse
import os
import sys

from server.cli.command import Command
from server.errors import ServerError
from server.settings import Settings


def ui_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="the loopback port to serve it on (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the address only")


def cmd_ui(args: argparse.Namespace, settings: Settings) -> None:
    import webbrowser

    url = open_console(settings, args.port)  # UiError, ServiceError: ServerErrors, told by main.run
    sys.stdout.write(f"The memory console: {url}\n(the address signs one browser in; run `ui` again for another)\n")
    sys.stdout.flush()
    if not args.no_browser and can_open_browser():
        webbrowser.open(url)


class UiError(ServerError):
    """`cerebellum-mcp ui` could not open the console; the message says why."""


def open_console(settings: Settings, port: int = 0, timeout: float = 60.0) -> str:
    """The one-time address of the shared service's console (the service started first if none runs)."""
    import httpx2

    from server.console.site import OPEN_PATH
    from server.transport.service import SHARED_SERVICE, ensure_service, service_place

    if not SHARED_SERVICE:
        raise UiError(
            "there is no shared service on this system: run `cerebellum-mcp serve --http 8765` and open "
            "http://127.0.0.1:8765/console/"
        )
    ensure_service(settings, timeout)
    place = service_place(settings)
    with httpx2.Client(transport=httpx2.HTTPTransport(uds=str(place.socket)), timeout=30.0) as client:
        response = client.post(f"http://127.0.0.1{OPEN_PATH}", params={"port": str(port)})
    answer = response.json()
    if response.status_code != 200:
        raise UiError(f"the service could not open the console: {answer.get('error')}")
    return str(answer["url"])


def can_open_browser() -> bool:
    """Whether a browser window can be shown here (a desktop session, or macOS / Windows)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


UI = Command(
    "ui",
    "open the memory console: print its address and open a browser where there is one",
    cmd_ui,
    ui_options,
)
