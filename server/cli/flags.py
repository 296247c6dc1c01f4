"""The settings flags: the options every command takes, each also CEREBELLUM_<NAME> in the environment.

They are declared once here, on the top-level parser (where their defaults are None) and on a parent parser
every command's subparser inherits (where they default to SUPPRESS, so `cerebellum-mcp --db x list` keeps the
--db given before the command). `serve`'s own settings (--auth, --tokens-file, --public-url) are in serve.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from server.cli.command import version
from server.rules.scopes import ALL_SCOPES
from server.settings import DEFAULT_EMBEDDER, DEFAULT_MODEL, DEFAULT_SCOPE, default_db_path

SETTING_FLAGS = (
    "db",
    "model",
    "embedder",
    "scope",
    "threads",
    "context_size",
    "offline",
    "secrets",
    "gate_bank",
    "log_level",
    "standalone",
    "auth",
    "tokens_file",
    "public_url",
)
"""The argument names that are settings (read by settings_from_args, passed on by `config`)."""


class VersionAction(argparse.Action):
    """--version, reading the installed version only when asked (a hook's start pays nothing for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        sys.stdout.write(f"{parser.prog} {version()}\n")
        parser.exit()


def add_setting_flags(parser: argparse.ArgumentParser, *, suppress: bool, every_scope: Sequence[str]) -> None:
    """The settings flags on `parser`; `every_scope`: the commands that take --scope '*'."""
    # On subcommands the default is SUPPRESS, so `cerebellum-mcp --db x list` keeps the --db given
    # before the subcommand instead of the subparser resetting it.
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("settings (each also CEREBELLUM_<NAME> in the environment)")
    group.add_argument(
        "--db",
        default=default,
        help="the seed store: a SQLite file, or postgresql://user@host/dbname for a shared one "
        f"(CEREBELLUM_DB; default {default_db_path()})",
    )
    group.add_argument(
        "--model",
        default=default,
        help="cerebellum GGUF: a local path or 'repo_id:filename' on Hugging Face "
        f"(CEREBELLUM_MODEL; default {DEFAULT_MODEL})",
    )
    group.add_argument(
        "--embedder",
        default=default,
        help="embedding GGUF: a local path or 'repo_id:filename' on Hugging Face "
        f"(CEREBELLUM_EMBEDDER; default {DEFAULT_EMBEDDER})",
    )
    group.add_argument(
        "--scope",
        default=default,
        help=f"scope used when a call names none (CEREBELLUM_SCOPE; default {DEFAULT_SCOPE}); "
        f"'{ALL_SCOPES}' for every scope with {', '.join(every_scope)}",
    )
    group.add_argument(
        "--threads",
        type=int,
        default=default,
        help="CPU threads for the cerebellum (CEREBELLUM_THREADS; default: chosen before each model call, "
        "every core the machine's load leaves free; "
        "CEREBELLUM_EMBEDDER_THREADS for the embedder, default 1)",
    )
    group.add_argument(
        "--context-size",
        type=int,
        default=default,
        help="cerebellum context window in tokens (CEREBELLUM_CONTEXT_SIZE; default 4096)",
    )
    group.add_argument(
        "--offline",
        action="store_true",
        default=default,
        help="never download models: local paths and the Hugging Face cache only (CEREBELLUM_OFFLINE)",
    )
    group.add_argument(
        "--secrets",
        choices=["refuse", "redact"],
        default=default,
        help="a text holding a credential is refused, or stored with each secret replaced by a [REDACTED:kind] "
        "placeholder (CEREBELLUM_SECRETS; default refuse)",
    )
    group.add_argument(
        "--gate-bank",
        default=default,
        help="your own labelled texts for the calibrated gate, a JSONL file of {text, decision: SAVE|SKIP, "
        "category} lines, in place of the shipped bank (CEREBELLUM_GATE_BANK)",
    )
    group.add_argument(
        "--standalone",
        action="store_true",
        default=default,
        help="serve stdio from this process, with its own copy of the models, instead of attaching to the shared "
        "local service every client of this store uses (CEREBELLUM_STANDALONE)",
    )
    group.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=default,
        help="log level on stderr (CEREBELLUM_LOG_LEVEL; default INFO for serve --http and the shared service, "
        "WARNING for the stdio launch and the other commands)",
    )


def add_tokens_file(parser: argparse.ArgumentParser) -> None:
    """--tokens-file, for `serve --http` and the `token` commands."""
    from server.settings import default_tokens_path

    parser.add_argument(
        "--tokens-file", help=f"the bearer token file (CEREBELLUM_TOKENS_FILE; default {default_tokens_path()})"
    )
