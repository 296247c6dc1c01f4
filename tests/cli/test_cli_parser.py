"""The command line's parser, built from the commands' own registrations (server/cli/main.py COMMANDS)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any, cast

from server.cli.main import COMMANDS, EVERY_SCOPE_COMMANDS, build_parser

HEAVY = ("mcp", "rich", "seeds", "anyio", "llama_cpp", "psycopg", "server.pipeline", "server.protocol", "server.models")


def test_building_the_parser_imports_neither_the_sdk_nor_the_store_nor_the_models() -> None:
    # Every command builds it first, a hook's start and the stdio launch included: it must stay cheap.
    code = "import sys; from server.cli.main import build_parser; build_parser(); print(' '.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = run.stdout.split()
    assert [name for name in loaded if name.startswith(HEAVY) or name == "server.cli.hooks"] == []


def test_each_registered_command_has_its_subparser_with_its_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # pyright: ignore[reportPrivateUsage]
    choices = cast(dict[str, Any], cast(Any, subparsers).choices)
    assert list(choices) == [command.name for command in COMMANDS]
    for command in COMMANDS:
        assert choices[command.name].description == command.help
    assert set(EVERY_SCOPE_COMMANDS) == {"recall", "list", "inbox", "export", "forget", "purge", "reconcile"}
