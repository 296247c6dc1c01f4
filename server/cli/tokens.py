"""`cerebellum-mcp token add | list | revoke`: the bearer tokens `serve --http` accepts (server/protocol/tokens.py).

`token add` prints the token alone on stdout (so `TOKEN=$(cerebellum-mcp token add laptop --scopes shop-api)`
works) and everything else on stderr; the token is not kept anywhere, only its hash. The token file's module and
rich are imported when a token command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from server.cli.command import CliError, Command
from server.cli.flags import add_tokens_file
from server.settings import Settings

if TYPE_CHECKING:
    from server.protocol.tokens import TokenFile, TokenRecord


class TokenCommandError(CliError):
    """A token command that failed; the message says why and what to do. Nothing was changed."""


def _scopes(record: TokenRecord) -> str:
    return "every scope (*)" if record.every_scope else ", ".join(record.scopes)


def add(tokens: TokenFile, name: str, scopes: str) -> None:
    record, token = tokens.add(name, scopes)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"Added token {record.name!r} for {_scopes(record)} to {tokens.path}.\n"
        "It is shown once, above, and can't be shown again (only its hash is kept): put it in the client's "
        "config now, as the header\n  Authorization: Bearer <token>\n"
        f"Lost it? `cerebellum-mcp token revoke {record.name}` and add another.\n"
    )


def listing(tokens: TokenFile) -> None:
    from rich.console import Console
    from rich.table import Table

    records = tokens.records()
    out = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if not records:
        out.print(f"No tokens in {tokens.path}. Add one with `cerebellum-mcp token add NAME --scopes SCOPES`.")
        return
    table = Table(title=f"tokens in {tokens.path}", title_justify="left")
    for column in ("name", "scopes", "created"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(record.name, _scopes(record), record.created)
    out.print(table)


def revoke(tokens: TokenFile, name: str) -> None:
    record = tokens.revoke(name)
    sys.stdout.write(
        f"Revoked token {record.name!r} ({_scopes(record)}); a running server refuses it from its next request on.\n"
    )


def run(args: argparse.Namespace, settings: Settings) -> None:
    """The `token` command: args.token_command is add, list or revoke."""
    from server.protocol.tokens import TokenError, TokenFile, TokenFileError

    tokens = TokenFile(settings.tokens_file)
    try:
        if args.token_command == "add":
            add(tokens, args.name, args.scopes)
        elif args.token_command == "revoke":
            revoke(tokens, args.name)
        else:
            listing(tokens)
    except (TokenError, TokenFileError) as exc:
        raise TokenCommandError(str(exc)) from exc


def token_options(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    add_action = actions.add_parser("add", help="make a token for some scopes; it is printed once, on stdout")
    add_tokens_file(add_action)
    add_action.add_argument("name", help="what the token is for (laptop, ci-runner): 1-64 letters, digits, . _ -")
    add_action.add_argument(
        "--scopes", required=True, help="the scopes it may read and change, separated by commas; '*' for every scope"
    )
    add_tokens_file(actions.add_parser("list", help="the tokens: names, scopes, created (never the tokens)"))
    revoke_action = actions.add_parser("revoke", help="remove a token: refused from then on")
    add_tokens_file(revoke_action)
    revoke_action.add_argument("name", help="the token's name, as 'token list' shows it")


TOKEN = Command(
    "token", "bearer tokens for serve --http: add one (shown once), list them, revoke one", run, token_options
)
