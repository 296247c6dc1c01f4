"""The `cerebellum-mcp` command's entry point: the stdio launch's front first, then the CLI.

An MCP client starts `cerebellum-mcp` (or `python -m server`) and probes it at once. Before the CLI
and the SDK are imported (seconds on a busy machine), a launch that will relay to the shared
service starts server/transport/front.py, which answers the handshake from the standard library. Only the
standard library is imported here, and only the argument shape decides: the launch relays when it
has no command but `serve` (without `--http` or `--service`), no `--standalone` (flag or
CEREBELLUM_STANDALONE) and no `--help`/`--version`, on a system with the shared service.

Such a launch also dies at once on SIGINT (the default action, no KeyboardInterrupt): Claude Code
sends SIGINT at the end of every session and SIGTERM 100 ms later. The launch holds nothing of its
own to finish: a call in progress goes on in the service, which keeps every write it acknowledged.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence

BOOLEAN_FLAGS = frozenset({"--offline", "--standalone", "--service"})
"""The flags of the top level and `serve` that take no value (tests/transport/test_launch.py checks the parser
agrees)."""
NOT_RELAYED = frozenset({"--http", "--service", "--standalone", "--help", "-h", "--version"})
RELAY_AFTER_QUIET_SECONDS = 1.0
"""How long the wire stays quiet after the front's last answer before the relay starts anyway."""
TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
"""How CEREBELLUM_STANDALONE reads as true (pydantic's reading of a boolean)."""


def command_of(argv: Sequence[str]) -> tuple[str | None, set[str]]:
    """The subcommand (None without one) and the flags given, read from the argument shape alone."""
    command: str | None = None
    flags: set[str] = set()
    tokens = iter(argv)
    for token in tokens:
        if token.startswith("-") and token != "-":
            name, has_value, _ = token.partition("=")
            flags.add(name)
            if not has_value and name not in BOOLEAN_FLAGS and name not in NOT_RELAYED:
                next(tokens, None)  # the flag's value
        elif command is None:
            command = token
        else:
            break  # the command's own arguments
    return command, flags


def relays(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this launch serves stdio by relaying to the shared service (the default launch)."""
    if sys.platform == "win32":  # no shared service there (server/transport/service.py SHARED_SERVICE)
        return False
    command, flags = command_of(argv)
    if command not in (None, "serve") or flags & NOT_RELAYED:
        return False
    # Settings read their variables whatever their case, as pydantic-settings does.
    standalone = [value for name, value in environ.items() if name.upper() == "CEREBELLUM_STANDALONE"]
    return not any(value.strip().lower() in TRUE for value in standalone)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if relays(args, os.environ):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from server.transport.front import start_front

        front = start_front()
        # The relay's imports take a core for a second or more: started while the client is still setting up
        # its session (Claude Code prepares its first model request after the lists), they would slow that down.
        # They wait until a request needs the relay, or the client has been quiet for a moment.
        if not front.wait_for_work(RELAY_AFTER_QUIET_SECONDS):
            os._exit(0)  # the client left, and nothing it sent waits for an answer
    from server.cli.main import main as cli_main

    cli_main(args)
