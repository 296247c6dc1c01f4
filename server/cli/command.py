"""What every command module shares: the `Command` registration, `CliError`, output consoles and argument readings.

A command module declares each of its commands as a `Command` beside its handler: the name and help, a function
that adds the command's own options to its subparser, and the handler. server/cli/main.py builds the parser from
these registrations and dispatches to the handler; the settings flags every command takes are in flags.py.

Only the standard library and the settings are imported here: building the parser must stay cheap (a hook's
start pays for it), so rich, the store and the models are imported where a command uses them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from server.errors import ServerError
from server.rules.scopes import ALL_SCOPES, check_name
from server.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console


Handler = Callable[[argparse.Namespace, Settings], None]


class CliError(ServerError):
    """A problem the user can fix; main() prints it on stderr and exits with status 1."""


def no_options(parser: argparse.ArgumentParser) -> None:
    """A command that takes only the settings flags."""


@dataclass(frozen=True)
class Command:
    """One `cerebellum-mcp COMMAND`: declared in its module beside its handler, listed in main.COMMANDS."""

    name: str
    help: str
    """The one line `cerebellum-mcp --help` shows for it, and its own --help's description."""
    run: Handler
    options: Callable[[argparse.ArgumentParser], None] = no_options
    """Adds the command's own arguments to its subparser."""
    every_scope: bool = False
    """Takes --scope '*' for every scope (a selection for this command, not a scope to store in)."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("cerebellum-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


# -- output ---------------------------------------------------------------------------------------


def out() -> Console:
    """The command's own output (stdout)."""
    from rich.console import Console

    # Created per call so that the current sys.stdout (a pipe, a file, a test's capture) is used.
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err() -> Console:
    """Progress, notes and prompts (stderr)."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def when(timestamp: str) -> str:
    """A stored UTC timestamp, shortened for a table."""
    return timestamp[:19].replace("T", " ")


# -- arguments ------------------------------------------------------------------------------------


def moment(value: str, flag: str = "--since") -> datetime:
    """A moment given as 7d / 12h / 30m ago, or an ISO date or time (the store takes naive ones as UTC)."""
    relative = re.fullmatch(r"(\d+)\s*([dhm])", value.strip())
    if relative:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[relative[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(relative[1])})
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(
            f"{flag} {value!r} is not a date or time: use 2026-11-01, 2026-11-01T09:30 or 7d / 12h / 30m."
        ) from exc


def explicit_scope(args: argparse.Namespace) -> str | None:
    """--scope as a filter: only when given on the command line (else, or '*': every scope)."""
    scope = getattr(args, "scope", None)
    if scope == ALL_SCOPES:
        return None
    if scope is not None:
        check_name(scope)  # the one rule for a scope name (server/rules/scopes.py); main() reports a refusal
    return scope


def scope_selection(args: argparse.Namespace, settings: Settings) -> str:
    """The scope recall and reconcile cover: the settings' one scope, or '*' (every scope) when given."""
    return ALL_SCOPES if getattr(args, "scope", None) == ALL_SCOPES else settings.scope
