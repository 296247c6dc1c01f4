"""The `cerebellum-mcp` command. With no subcommand it serves MCP over stdio (what MCP clients launch);
the subcommands are for people: look inside the store, tidy it, move it, check the set-up.

Every subcommand takes the same settings flags as the server (flags.py) and opens the same store. Each command
is declared in its module beside its handler, options included (a `Command`); COMMANDS lists them in the order
`--help` shows. Human output goes to stdout, logs and errors to stderr; here, and only here, an error becomes a
message and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from server.cli import config, hook, memory, models, serve, tokens, transfer, ui
from server.cli.command import Command
from server.cli.flags import SETTING_FLAGS, VersionAction, add_setting_flags
from server.errors import ServerError
from server.rules.scopes import ALL_SCOPES
from server.settings import Settings

COMMANDS: tuple[Command, ...] = (
    serve.SERVE,
    memory.RECALL,
    memory.LIST,
    memory.INBOX,
    memory.SHOW,
    transfer.EXPORT,
    transfer.IMPORT,
    memory.FORGET,
    memory.UNDO,
    memory.PURGE,
    memory.RECONCILE,
    memory.STATS,
    transfer.MIGRATE,
    models.DOWNLOAD,
    models.CALIBRATE,
    models.DOCTOR,
    serve.SERVICE,
    config.SCOPE,
    config.CONFIG,
    ui.UI,
    tokens.TOKEN,
    hook.HOOK,
)
BY_NAME = {command.name: command for command in COMMANDS}
EVERY_SCOPE_COMMANDS = tuple(command.name for command in COMMANDS if command.every_scope)
"""Commands that read or tidy several scopes take --scope '*' for all of them, as the MCP tools do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebellum-mcp",
        description="A local MCP server (stdio) that keeps a coding agent's long-term memory tidy with a small "
        "in-process GGUF model. Without a command it serves MCP on stdio (what MCP clients launch); the commands "
        "below are for people. Every flag can also be set as an environment variable CEREBELLUM_<FLAG>.",
    )
    parser.add_argument("--version", action=VersionAction, help="show the version and exit")
    add_setting_flags(parser, suppress=False, every_scope=EVERY_SCOPE_COMMANDS)
    common = argparse.ArgumentParser(add_help=False)
    add_setting_flags(common, suppress=True, every_scope=EVERY_SCOPE_COMMANDS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        command.options(sub.add_parser(command.name, parents=[common], help=command.help, description=command.help))
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then CEREBELLUM_* variables, then the flags given on the command line."""
    given: dict[str, Any] = {
        key: value for key, value in vars(args).items() if key in SETTING_FLAGS and value is not None
    }
    if given.get("scope") == ALL_SCOPES and getattr(args, "command", None) in EVERY_SCOPE_COMMANDS:
        # A selection for this command (see command.scope_selection), not a scope to store in.
        del given["scope"]
    return Settings(**given)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        if getattr(args, "scope", None) == ALL_SCOPES:
            problems += (
                f" ('{ALL_SCOPES}', every scope, is for {', '.join(EVERY_SCOPE_COMMANDS)}; "
                f"{args.command or 'serving'} needs one scope)"
            )
        sys.exit(f"cerebellum-mcp: invalid setting: {problems}")
    # The services (`serve --http`, the shared service's log) log at the level set, INFO by default; a person
    # reading a table, and an MCP client reading a stdio launch's stderr, get WARNING unless they ask.
    level = settings.log_level
    if (
        not serve.is_service(args)
        and getattr(args, "log_level", None) is None
        and "CEREBELLUM_LOG_LEVEL" not in os.environ
    ):
        level = "WARNING"
    # stdout is the MCP stream when serving: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(BY_NAME[args.command or serve.SERVE.name], args, settings)


def run(command: Command, args: argparse.Namespace, settings: Settings) -> None:
    """Run a command; the one place where a failure it can explain becomes its message and exit status 1."""
    try:
        command.run(args, settings)
    except KeyboardInterrupt:
        if command is serve.SERVE:
            raise  # a server stopped at the terminal: Python's own report, as before
        sys.exit(f"cerebellum-mcp {command.name}: interrupted")
    except Exception as exc:
        if not explained(exc):
            raise
        sys.exit(f"cerebellum-mcp {command.name}: {exc}")


def explained(exc: BaseException) -> bool:
    """A failure whose message says what happened and what to do: a `ServerError`, or the store's `StoreError`.

    `seeds` is looked up, not imported: only the commands that open a store import it (a hook's start does not
    pay for it), and a command that did not can't have raised its error."""
    if isinstance(exc, ServerError):
        return True
    store_error: object = getattr(sys.modules.get("seeds"), "StoreError", None)
    return isinstance(store_error, type) and isinstance(exc, store_error)


if __name__ == "__main__":
    main()
