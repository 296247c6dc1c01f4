"""`cerebellum-mcp token add | list | revoke`: the bearer tokens `serve --http` accepts (server/protocol/tokens.py).

server/cli/main.py only wires the arguments; the commands are here. `token add` prints the token alone on
stdout (so `TOKEN=$(cerebellum-mcp token add laptop --scopes shop-api)` works) and everything else on
stderr; the token is not kept anywhere, only its hash.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from server.protocol.tokens import TokenError, TokenFile, TokenFileError, TokenRecord
from server.settings import Settings


class TokenCommandError(Exception):
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
