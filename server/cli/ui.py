"""`cerebellum-mcp ui`: the memory console (server/console), opened by the shared service on a loopback port."""

from __future__ import annotations

import argparse
import sys

from server.cli.command import Command
from server.settings import Settings


def ui_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="the loopback port to serve it on (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the address only")


def cmd_ui(args: argparse.Namespace, settings: Settings) -> None:
    import webbrowser

    from server.console.site import can_open_browser, open_console

    url = open_console(settings, args.port)  # UiError, ServiceError: ServerErrors, told by main.run
    sys.stdout.write(f"The memory console: {url}\n(the address signs one browser in; run `ui` again for another)\n")
    sys.stdout.flush()
    if not args.no_browser and can_open_browser():
        webbrowser.open(url)


UI = Command(
    "ui",
    "open the memory console: print its address and open a browser where there is one",
    cmd_ui,
    ui_options,
)
