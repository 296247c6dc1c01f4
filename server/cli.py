"""The `cerebellum-mcp` command: with no arguments it serves MCP over stdio."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import ValidationError

from server.settings import DEFAULT_EMBEDDER, DEFAULT_MODEL, DEFAULT_SCOPE, Settings, default_db_path


def _version() -> str:
    try:
        return version("cerebellum-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebellum-mcp",
        description="A local MCP server (stdio) that keeps a coding agent's long-term memory tidy with a small "
        "in-process GGUF model. Every flag can also be set as an environment variable CEREBELLUM_<FLAG>.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--db", help=f"SQLite file of the seed store (CEREBELLUM_DB; default {default_db_path()})")
    parser.add_argument(
        "--model",
        help="cerebellum GGUF: a local path or 'repo_id:filename' on Hugging Face "
        f"(CEREBELLUM_MODEL; default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--embedder",
        help="embedding GGUF: a local path or 'repo_id:filename' on Hugging Face "
        f"(CEREBELLUM_EMBEDDER; default {DEFAULT_EMBEDDER})",
    )
    parser.add_argument(
        "--scope", help=f"scope used when a call names none (CEREBELLUM_SCOPE; default {DEFAULT_SCOPE})"
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads for llama.cpp (CEREBELLUM_THREADS; default: all cores)"
    )
    parser.add_argument(
        "--context-size", type=int, help="cerebellum context window in tokens (CEREBELLUM_CONTEXT_SIZE; default 4096)"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="never download models: local paths and the Hugging Face cache only (CEREBELLUM_OFFLINE)",
    )
    parser.add_argument(
        "--secrets",
        choices=["refuse", "redact"],
        help="a text holding a credential is refused, or stored with each secret replaced by a [REDACTED:kind] "
        "placeholder (CEREBELLUM_SECRETS; default refuse)",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on stderr (CEREBELLUM_LOG_LEVEL; default INFO)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then CEREBELLUM_* variables, then the flags given on the command line."""
    given: dict[str, Any] = {key: value for key, value in vars(args).items() if value is not None}
    return Settings(**given)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"cerebellum-mcp: invalid setting: {problems}")
    # stdout is the MCP stream: every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from server.app import create_server

    create_server(settings).run("stdio")


if __name__ == "__main__":
    main()
