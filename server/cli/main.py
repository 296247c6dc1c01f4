"""The `cerebellum-mcp` command. With no subcommand it serves MCP over stdio (what MCP clients launch);
the subcommands are for people: look inside the store, tidy it, move it, check the set-up.

Every subcommand takes the same settings flags as the server and opens the same store. Human output
goes to stdout, logs and errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import ValidationError

from server.settings import (
    DEFAULT_EMBEDDER,
    DEFAULT_MODEL,
    DEFAULT_SCOPE,
    PROJECT_HEADER,
    Settings,
    default_db_path,
    default_tokens_path,
)

if TYPE_CHECKING:
    from rich.console import Console

    from seeds import SeedStore
    from server.models.cerebellum import ArbitrateVerdict, Cerebellum, MemorizeVerdict
    from server.models.prompts import Candidate
    from server.pipeline.memory import Memory
    from server.pipeline.results import RememberResult
    from server.pipeline.transfer import ImportReport, SeedRecord

logger = logging.getLogger(__name__)

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
EVERY_SCOPE = "*"
# Commands that read or tidy several scopes take --scope '*' for all of them, as the MCP tools do.
EVERY_SCOPE_COMMANDS = ("recall", "reconcile", "list", "export", "forget", "inbox")
CLIENTS = ("claude-desktop", "cursor", "claude-code")
HOOK_EVENTS = ("session-start", "user-prompt", "pre-compact", "session-end")
DOCTOR_SAMPLE = "Lesson: run the database migrations before the integration tests, or they fail on a missing table."


class CliError(Exception):
    """A problem the user can fix; main() prints it on stderr and exits with status 1."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cerebellum-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, reading the installed version only when asked (a hook's start pays nothing for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit()


# -- arguments ------------------------------------------------------------------------------------


def _add_setting_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
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
        f"'{EVERY_SCOPE}' for every scope with {', '.join(EVERY_SCOPE_COMMANDS)}",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebellum-mcp",
        description="A local MCP server (stdio) that keeps a coding agent's long-term memory tidy with a small "
        "in-process GGUF model. Without a command it serves MCP on stdio (what MCP clients launch); the commands "
        "below are for people. Every flag can also be set as an environment variable CEREBELLUM_<FLAG>.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    _add_setting_flags(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_setting_flags(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    serve = command("serve", "serve MCP over stdio (the same as no command), or over Streamable HTTP with --http")
    serve.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        help="serve MCP over Streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST: 127.0.0.1 if omitted; "
        "any other host needs bearer tokens, see 'token')",
    )
    serve.add_argument(
        "--auth",
        choices=["auto", "tokens"],
        help="--http: 'auto' asks for bearer tokens on any host but loopback; 'tokens' on loopback too "
        "(CEREBELLUM_AUTH; default auto)",
    )
    serve.add_argument(
        "--public-url",
        help="--http with tokens: the URL clients reach /mcp at, named in the protected-resource metadata "
        "(CEREBELLUM_PUBLIC_URL; default http://HOST:PORT/mcp)",
    )
    tokens_help = f"the bearer token file (CEREBELLUM_TOKENS_FILE; default {default_tokens_path()})"
    serve.add_argument("--tokens-file", help=tokens_help)
    tokens_file = argparse.ArgumentParser(add_help=False)
    tokens_file.add_argument("--tokens-file", help=tokens_help)
    # What a stdio launch starts (server/transport/service.py): the shared local service on its unix socket.
    serve.add_argument("--service", action="store_true", help=argparse.SUPPRESS)

    recall = command("recall", "search the memories of a scope, best first")
    recall.add_argument("query", help="what you want to know, in your own words")
    recall.add_argument("-k", type=int, default=5, help="how many memories to show (1-50, default 5)")

    listing = command("list", "list stored memories, newest first (all scopes unless --scope)")
    listing.add_argument("--category", help="only this category (lesson, decision, fact, ...)")
    listing.add_argument("--since", help="only memories stored since: a date (2026-11-01), a time, or 7d / 12h / 30m")
    listing.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")

    inbox = command("inbox", "list texts not stored as memories: waiting for a decision, or skipped (with why)")
    inbox.add_argument(
        "--skipped",
        action="store_true",
        help="the texts the gate skipped or the arbiter judged duplicates, newest first, with the reason",
    )
    inbox.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")

    show = command("show", "show one memory with its history")
    show.add_argument("id", type=int, help="the seed id")

    export = command("export", "write the memories as JSON Lines (all scopes unless --scope)")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")

    from server.importers import FORMATS  # the names only: nothing else is imported to build the parser

    importing = command(
        "import", "read memories from a JSON Lines export, or with --from from another memory tool (tidied on the way)"
    )
    importing.add_argument("file", help="the .jsonl file ('-' for stdin); with --from, the other tool's file or folder")
    importing.add_argument(
        "--raw",
        action="store_true",
        help="store the lines as they are (ids, timestamps), without the gate and the arbiter",
    )
    importing.add_argument(
        "--from",
        dest="source_format",
        choices=FORMATS,
        help="the tool the memories come from; they are tidied on the way in (secrets, duplicates, the gate for "
        "raw texts, the arbiter for near-duplicates) and written under one operation 'undo' takes back",
    )
    importing.add_argument(
        "--dry-run",
        action="store_true",
        help="--from: say what would be kept, skipped or merged, and why; write nothing",
    )
    importing.add_argument(
        "--gate",
        action="store_true",
        help="--from: ask the gate about curated memories too (raw texts, transcripts and prompts, always are)",
    )

    forget = command("forget", "remove one memory (recorded: 'undo' brings it back)")
    forget.add_argument("id", type=int, help="the seed id (with --scope: only a seed of that scope)")
    undo = command("undo", "reverse one recorded change (an update, a delete, a reconcile action, a forget, an undo)")
    undo.add_argument("operation", help="the operation id, as 'show', 'reconcile' and 'forget' print it (op_...)")

    reconcile = command("reconcile", "fold duplicates and resolve contradictions in a scope")
    reconcile.add_argument("--dry-run", action="store_true", help="only show the plan; change nothing")

    command("stats", "counts per scope and category, operations, store size")
    migrate = command(
        "migrate", "copy a whole store to another (SQLite file <-> PostgreSQL): seeds, ids, history, inbox, vectors"
    )
    migrate.add_argument("--from", dest="source", help="the store to copy (default: --db)")
    migrate.add_argument("--to", dest="target", required=True, help="a new SQLite file or an empty postgresql:// URL")
    migrate.add_argument(
        "--force", action="store_true", help="replace whatever the target holds by the copy (refused without it)"
    )
    command("download", "fetch the configured models into the Hugging Face cache now")
    calibrate = command(
        "calibrate",
        "fit the gate to the configured models now (once per model pair; the server otherwise fits it in the "
        "background on first load, deciding with the plain gate meanwhile)",
    )
    calibrate.add_argument(
        "--ship",
        action="store_true",
        help="for maintainers: also write the fit into the package (server/gate_fits/), so that installs with "
        "these exact model files start with the calibrated gate",
    )
    doctor = command("doctor", "check Python, SQLite, sqlite-vec, the models and the store; make a test decision")
    doctor.add_argument("--no-decision", action="store_true", help="skip loading the models for a test decision")

    service = command("service", "show (or stop) the shared local service that stdio launches of this store attach to")
    service.add_argument("action", nargs="?", choices=["status", "stop"], default="status")

    scope = command("scope", "print the scope a project folder gets (as the tools and hooks name it), for --scope")
    scope.add_argument("folder", nargs="?", help="the project folder (default: this one)")

    config = command("config", "print (or write) the MCP client configuration that launches this server")
    config.add_argument("client", choices=CLIENTS, help="the MCP client to configure")
    config.add_argument("--write", action="store_true", help="write it into the client's config file (with a backup)")
    config.add_argument("--path", help="the config file to write (default: the client's usual file)")
    config.add_argument("--name", default="cerebellum", help="the server's name in the client (default cerebellum)")
    config.add_argument(
        "--hooks",
        action="store_true",
        help="claude-code: write the session-start, user-prompt, pre-compact and session-end hooks into "
        ".claude/settings.json (or --path), merged with the hooks there, with a backup",
    )
    config.add_argument(
        "--http",
        metavar="URL",
        help="claude-code: register a running `serve --http` at URL (e.g. http://127.0.0.1:8765/mcp) instead of a "
        f"stdio launch, with this folder as the project ({PROJECT_HEADER} header), so it gets this project's scope",
    )

    token = command("token", "bearer tokens for serve --http: add one (shown once), list them, revoke one")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    token_add = token_sub.add_parser(
        "add", parents=[tokens_file], help="make a token for some scopes; it is printed once, on stdout"
    )
    token_add.add_argument("name", help="what the token is for (laptop, ci-runner): 1-64 letters, digits, . _ -")
    token_add.add_argument(
        "--scopes", required=True, help="the scopes it may read and change, separated by commas; '*' for every scope"
    )
    token_sub.add_parser("list", parents=[tokens_file], help="the tokens: names, scopes, created (never the tokens)")
    token_revoke = token_sub.add_parser("revoke", parents=[tokens_file], help="remove a token: refused from then on")
    token_revoke.add_argument("name", help="the token's name, as 'token list' shows it")

    hook = command("hook", "run as a client hook: read the hook's JSON on stdin, answer on stdout")
    hook.add_argument("client", choices=["claude-code"], help="the client that runs the hook")
    hook.add_argument(
        "event",
        choices=list(HOOK_EVENTS),
        help="session-start (SessionStart): print a digest of the project's standing memories; user-prompt "
        "(UserPromptSubmit): print the memories that bear on the prompt; pre-compact (PreCompact) and "
        "session-end (SessionEnd): send the session's new turns to the shared service's gate",
    )
    hook.add_argument(
        "--budget",
        type=float,
        help="seconds to answer within, or say nothing (default 5 for session-start, 3 for user-prompt, 45 for "
        "pre-compact and session-end)",
    )
    hook.add_argument(
        "--models",
        action="store_true",
        help="user-prompt: with no warm shared service, load the models (hybrid recall) instead of reading the "
        "store alone; the keyword answer stands if they are not done within the budget",
    )
    hook.add_argument(
        "--wait",
        action="store_true",
        help="pre-compact, session-end: wait (within the budget) until the shared service decided the turns",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then CEREBELLUM_* variables, then the flags given on the command line."""
    given: dict[str, Any] = {
        key: value for key, value in vars(args).items() if key in SETTING_FLAGS and value is not None
    }
    if given.get("scope") == EVERY_SCOPE and getattr(args, "command", None) in EVERY_SCOPE_COMMANDS:
        # A selection for this command (see _scope_selection), not a scope to store in.
        del given["scope"]
    return Settings(**given)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        if getattr(args, "scope", None) == EVERY_SCOPE:
            problems += (
                f" ('{EVERY_SCOPE}', every scope, is for {', '.join(EVERY_SCOPE_COMMANDS)}; "
                f"{args.command or 'serving'} needs one scope)"
            )
        sys.exit(f"cerebellum-mcp: invalid setting: {problems}")
    serving = args.command in (None, "serve")
    # The services (`serve --http`, the shared service's log) log at the level set, INFO by default; a person
    # reading a table, and an MCP client reading a stdio launch's stderr, get WARNING unless they ask.
    service = serving and (getattr(args, "http", None) or getattr(args, "service", False))
    level = settings.log_level
    if not service and getattr(args, "log_level", None) is None and "CEREBELLUM_LOG_LEVEL" not in os.environ:
        level = "WARNING"
    # stdout is the MCP stream when serving: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if serving:
        http_only = [
            flag for flag, name in (("--auth", "auth"), ("--public-url", "public_url")) if getattr(args, name, None)
        ]
        if http_only and not getattr(args, "http", None):
            sys.exit(
                f"cerebellum-mcp serve: {' and '.join(http_only)} apply to serve --http only (a stdio server is the "
                "client's own child and asks for no token); add --http [HOST:]PORT, or leave them out"
            )
        if getattr(args, "http", None):
            from server.protocol.auth import AuthSetupError
            from server.transport.http import AddressError, serve_http

            try:
                serve_http(settings, args.http)
            except (AddressError, AuthSetupError) as exc:
                sys.exit(f"cerebellum-mcp serve: {exc}")
            _exit_now(0)
        if getattr(args, "service", False):
            from server.transport.service import run_service

            _exit_now(run_service(settings))
        import anyio

        from server.transport.service import SHARED_SERVICE

        if SHARED_SERVICE and not settings.standalone:
            from server.transport.relay import serve_attached

            anyio.run(serve_attached, settings)
            # The client closed the wire. The launch holds nothing of its own (the service keeps every call's
            # work): it exits now, not after a service start it began has finished.
            _exit_now(0)
        from server.transport.front import running as running_front

        if running_front() is not None:  # server/launch.py reads the argument shape as the parser does
            sys.exit("cerebellum-mcp: the launch took stdio for the shared service but the settings say standalone")
        from server.protocol.app import create_server
        from server.settings import project_folder
        from server.transport.wire import serve_stdio

        anyio.run(serve_stdio, create_server(settings, launch_folder=project_folder(os.getcwd())))
        return
    try:
        COMMANDS[args.command](args, settings)
    except CliError as exc:
        sys.exit(f"cerebellum-mcp {args.command}: {exc}")
    except KeyboardInterrupt:
        sys.exit(f"cerebellum-mcp {args.command}: interrupted")


# -- shared pieces ----------------------------------------------------------------------------------


def _exit_now(status: int) -> None:
    """End a server process that has stopped: the store is closed and every acknowledged write is durable, but
    background work (a warm-up step, the gate's fit, a model load) may still run on its threads. The interpreter's
    exit would wait for them, or free the models under them; they are dropped instead and go on at the next start."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _out() -> Console:
    from rich.console import Console

    # Created per call so that the current sys.stdout (a pipe, a file, a test's capture) is used.
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def _err() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


@contextmanager
def _store(settings: Settings, *, must_exist: bool = True) -> Generator[SeedStore]:
    from seeds import SeedStore, StoreError

    if must_exist and isinstance(settings.db, Path) and not settings.db.exists():
        raise CliError(
            f"There is no seed store at {settings.db} yet (it is created when the server first stores something). "
            "Pass --db (or CEREBELLUM_DB) to use another file."
        )
    try:
        store = SeedStore.open(settings.db)
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


class _LazyCerebellum:
    """Loads the cerebellum on its first question: recall and raw imports never ask it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model: Cerebellum | None = None
        self.name = "cerebellum (not loaded)"

    def load(self) -> Cerebellum:
        if self._model is None:
            from server.pipeline.loading import load_cerebellum, model_path

            self._model = load_cerebellum(model_path(self._settings, "cerebellum"), self._settings)
            self.name = self._model.name
        return self._model

    def memorize(self, text: str) -> MemorizeVerdict:
        return self.load().memorize(text)

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        return self.load().arbitrate(text, candidates)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()


@contextmanager
def _memory(settings: Settings, *, must_exist: bool = True) -> Generator[Memory]:
    from seeds import StoreError
    from server.models.cerebellum import CerebellumError
    from server.models.files import ModelUnavailable
    from server.pipeline.loading import calibrate_gate, load_embedder, model_path
    from server.pipeline.memory import Memory

    with _store(settings, must_exist=must_exist) as store:
        try:
            with _err().status("loading the models..."):
                embedder = load_embedder(model_path(settings, "embedder"), settings)
                cerebellum = _LazyCerebellum(settings)
                # Fitted or read when the gate first asks the model, as the server does at load.
                fitter = (
                    (lambda: calibrate_gate(settings, cerebellum.load(), embedder)) if settings.calibrate_gate else None
                )
                memory = Memory.from_settings(store, cerebellum, embedder, settings, gate_fitter=fitter)
        except (ModelUnavailable, StoreError, CerebellumError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        try:
            yield memory
        except (ModelUnavailable, CerebellumError) as exc:
            raise CliError(str(exc)) from exc
        finally:
            for model in (memory.cerebellum, memory.embedder):
                close = getattr(model, "close", None)
                if callable(close):
                    close()


@contextmanager
def _progress(label: str) -> Generator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields update(done, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _when(timestamp: str) -> str:
    """A stored UTC timestamp, shortened for a table."""
    return timestamp[:19].replace("T", " ")


def _since(value: str) -> datetime:
    """--since as a moment: 7d / 12h / 30m ago, or an ISO date or time (the store takes naive ones as UTC)."""
    relative = re.fullmatch(r"(\d+)\s*([dhm])", value.strip())
    if relative:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[relative[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(relative[1])})
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(
            f"--since {value!r} is not a date or time: use 2026-11-01, 2026-11-01T09:30 or 7d / 12h / 30m."
        ) from exc


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _explicit_scope(args: argparse.Namespace) -> str | None:
    """--scope as a filter: only when given on the command line (else, or '*': every scope)."""
    scope = getattr(args, "scope", None)
    if scope == EVERY_SCOPE:
        return None
    if scope is not None:
        from server.protocol.arguments import InvalidArgument, scope_name

        try:
            scope_name(scope)
        except InvalidArgument as exc:
            raise CliError(str(exc)) from exc
    return scope


def _scope_selection(args: argparse.Namespace, settings: Settings) -> str:
    """The scope recall and reconcile cover: the settings' one scope, or '*' (every scope) when given."""
    return EVERY_SCOPE if getattr(args, "scope", None) == EVERY_SCOPE else settings.scope


def _in_scope(label: str) -> str:
    return "every scope" if label == EVERY_SCOPE else f"scope '{label}'"


# -- commands -------------------------------------------------------------------------------------


def cmd_recall(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.protocol.arguments import MAX_RECALL_K
    from server.rules.secrets import SecretInText

    if not 1 <= args.k <= MAX_RECALL_K:
        raise CliError(f"-k must be between 1 and {MAX_RECALL_K}; got {args.k}.")
    if not args.query.strip():
        raise CliError("The query is empty: say what you want to know.")
    with _memory(settings) as memory:
        try:
            result = memory.recall(args.query, _scope_selection(args, settings), args.k)
        except SecretInText as exc:
            raise CliError(str(exc)) from exc
    out = _out()
    if not result.hits:
        out.print(f"No memories in {_in_scope(result.scope)} match.")
    else:
        where = "every scope" if result.scope == EVERY_SCOPE else f"'{result.scope}'"
        table = Table(title=f"recall in {where}: {result.query}", title_justify="left")
        for column in ("#", "id", "scope", "score", "similarity", "stored", "text"):
            table.add_column(column, overflow="fold", justify="right" if column in ("#", "id") else "left")
        for rank, hit in enumerate(result.hits, start=1):
            similarity = "-" if hit.similarity is None else f"{hit.similarity:.3f}"
            table.add_row(
                str(rank), str(hit.id), hit.scope, f"{hit.score:.3f}", similarity, _when(hit.created_at), hit.text
            )
        out.print(table)
    if result.queued:
        # Apart from the memories: the cerebellum may still skip these, or merge them into a stored one.
        table = Table(
            title=f"queued, not decided yet: {len(result.queued)} remembered text(s) the cerebellum has not "
            "judged, matched by their words",
            title_justify="left",
        )
        for column in ("", "inbox id", "scope", "received", "text"):
            table.add_column(column, overflow="fold", justify="right" if column == "inbox id" else "left")
        for waiting in result.queued:
            table.add_row("queued", str(waiting.inbox_id), waiting.scope, _when(waiting.received_at), waiting.text)
        out.print(table)


def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1; got {args.limit}.")
    scope = _explicit_scope(args)
    since = _since(args.since) if args.since else None
    with _store(settings) as store:
        seeds = store.list_seeds(scope, args.limit, category=args.category, since=since, newest_first=True)
        total = store.count(scope, category=args.category, since=since)
    out = _out()
    if not seeds:
        out.print("No memories match.")
        return
    table = Table(title_justify="left")
    for column in ("id", "scope", "category", "stored", "tags", "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "id" else "left")
    for seed in seeds:
        table.add_row(str(seed.id), seed.scope, seed.category, _when(seed.created_at), ", ".join(seed.tags), seed.text)
    out.print(table)
    out.print(f"{len(seeds)} of {total} memories shown, newest first.")


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1; got {args.limit}.")
    scope = _explicit_scope(args)
    state: Literal["pending", "skipped"] = "skipped" if args.skipped else "pending"
    with _store(settings) as store:
        rows = store.inbox(state, scope, args.limit, newest_first=args.skipped)
        total = store.inbox_count(state, scope)
    out = _out()
    if not rows:
        out.print("No skipped texts." if args.skipped else "No texts are waiting for a decision.")
        return
    table = Table(title_justify="left")
    why = "reason" if args.skipped else "attempts"
    for column in ("inbox id", "scope", "received", why, "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "inbox id" else "left")
    for row in rows:
        detail = (row.reason or "-") if args.skipped else str(row.attempts)
        table.add_row(str(row.id), row.scope, _when(row.received_at), detail, row.text)
    out.print(table)
    if args.skipped:
        out.print(
            f"{len(rows)} of {total} skipped texts shown, newest first. To keep one, have the agent remember it "
            "with force=true."
        )
    else:
        out.print(f"{len(rows)} of {total} waiting texts shown, oldest first. The server or reconcile decides them.")


def cmd_show(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.pipeline.results import seed_uri

    with _store(settings) as store:
        seed = store.get(args.id)
        history = store.history(args.id)
    if seed is None and not history:
        raise CliError(f"No seed with id {args.id}: list them with 'cerebellum-mcp list'.")
    out = _out()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    if seed is not None:
        for name, value in (
            ("id", str(seed.id)),
            ("uri", seed_uri(seed.scope, seed.id)),
            ("scope", seed.scope),
            ("category", seed.category),
            ("tags", ", ".join(seed.tags) or "-"),
            ("source", seed.source),
            ("created", seed.created_at),
            ("updated", seed.updated_at),
            ("text", seed.text),
        ):
            fields.add_row(name, value)
    else:
        last = history[-1]
        fields.add_row("id", str(args.id))
        fields.add_row("status", f"removed by operation {last.operation_id} at {last.recorded_at}")
        fields.add_row("reason", last.reason)
        fields.add_row("last text", last.previous.text)
    out.print(fields)
    if not history:
        out.print("\nNo earlier versions: the text is as first stored.")
        return
    table = Table(title="history (oldest first)", title_justify="left")
    for column in ("when", "operation", "action", "reason", "text before", "triggered by"):
        table.add_column(column, overflow="fold")
    for entry in history:
        table.add_row(
            _when(entry.recorded_at),
            entry.operation_id,
            entry.action,
            entry.reason,
            entry.previous.text,
            entry.trigger_text or "-",
        )
    out.print()
    out.print(table)


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    from server.pipeline.transfer import export_lines

    scope = _explicit_scope(args)
    with _store(settings) as store:
        lines = list(export_lines(store, scope))
    text = "".join(line + "\n" for line in lines)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    _err().print(f"exported {len(lines)} memories" + (f" to {args.output}" if args.output else ""))


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.pipeline.transfer import ImportRefused, import_raw, read_records

    if args.source_format is not None:
        _import_from(args, settings)
        return
    if args.dry_run or args.gate:
        raise CliError("--dry-run and --gate go with --from FORMAT (for our own export: --from jsonl).")
    try:
        raw_text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"Could not read {args.file}: {exc}") from exc
    try:
        records = read_records(raw_text.splitlines())
    except ImportRefused as exc:
        raise CliError(str(exc)) from exc
    if not records:
        raise CliError(f"{args.file} holds no memories (one JSON object per line, as 'export' writes).")
    with _memory(settings, must_exist=False) as memory, _progress("importing") as update:
        if args.raw:
            report = import_raw(memory.store, memory.embedder, records, update)
        else:
            report = _import_gated(settings, memory, records, update)
    out = _out()
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts.items()))
    mode = "as they are (--raw)" if args.raw else "through the gate and the arbiter"
    out.print(f"{len(records)} lines read from {args.file}, imported {mode}: {counts}.")
    for old, new in report.renumbered:
        out.print(f"  seed {old} of the file is seed {new} here (its id was taken)")
    if report.results:
        table = Table(title_justify="left")
        for column in ("#", "status", "seed", "gate", "arbiter", "text"):
            table.add_column(column, overflow="fold", justify="right" if column in ("#", "seed") else "left")
        for number, (record, result) in enumerate(zip(records, report.results, strict=True), start=1):
            gate = f"{result.gate.decision} {result.gate.category} ({result.gate.decided_by})" if result.gate else "-"
            arbiter = f"{result.arbiter.action} ({result.arbiter.decided_by})" if result.arbiter else "-"
            seed = str(result.seed.id) if result.seed else "-"
            table.add_row(str(number), result.status, seed, gate, arbiter, record.text)
        out.print(table)


def _import_from(args: argparse.Namespace, settings: Settings) -> None:
    """`import --from FORMAT PATH`: read the whole source first, then tidy and write it (server/importers)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from seeds import StoreError
    from server.importers.pipeline import ImportOptions, import_items
    from server.importers.records import SourceError
    from server.importers.sources import read_source

    if args.raw:
        raise CliError("--raw is for our own export without --from; --from always tidies the memories on the way in.")
    path = Path(args.file).expanduser()
    try:
        items = read_source(args.source_format, path)
    except SourceError as exc:
        raise CliError(f"{exc}. Nothing was imported.") from exc
    options = ImportOptions(
        default_scope=settings.scope,
        scope=_explicit_scope(args),
        gate=args.gate,
        dry_run=args.dry_run,
        secrets_mode=settings.secrets,
        max_text_chars=settings.max_text_chars,
    )
    started = time.monotonic()
    with (
        _memory(settings, must_exist=False) as memory,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=_err(),
        ) as bar,
    ):
        task = bar.add_task("planning" if args.dry_run else "importing", total=None, rate="")

        def update(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f}/s")

        try:
            summary = import_items(
                memory, items, options, format_name=args.source_format, source=str(path), progress=update
            )
        except StoreError as exc:
            raise CliError(
                f"The seed store refused a write: {exc}. The batches written so far are kept; run the same import "
                "again to go on from there."
            ) from exc
        except KeyboardInterrupt:
            raise CliError(
                "interrupted; the batches written so far are kept, and running the same import again goes on "
                "after them."
            ) from None
    out = _out()
    if summary.resumed_after:
        out.print(f"Went on after item {summary.resumed_after}, where an interrupted run of this import stopped.")
    if summary.dry_run:
        table = Table(title_justify="left")
        for column in ("where", "would be", "scope", "why", "text"):
            table.add_column(column, overflow="fold")
        for outcome in summary.outcomes:
            text = outcome.text if outcome.text is None or len(outcome.text) <= 160 else outcome.text[:159] + "…"
            table.add_row(outcome.origin, outcome.status, outcome.scope, outcome.reason, text or "-")
        out.print(table)
    verb = "would be" if summary.dry_run else "were"
    skipped = ", ".join(f"{count} {why}" for why, count in sorted(summary.skipped.items(), key=lambda kv: -kv[1]))
    out.print(
        f"{summary.read} items read from {path} ({summary.format}); {summary.kept} {verb} kept, {summary.merged} "
        f"merged into a memory saying the same, {summary.updated} updated one, {summary.retracted} retracted one, "
        f"{summary.refused} refused (a secret), {summary.redacted} stored with secrets redacted; "
        f"{sum(summary.skipped.values())} skipped"
        + (f" ({skipped})" if skipped else "")
        + f"; {summary.seconds:.1f} s."
    )
    if summary.operation_id and not summary.dry_run:
        out.print(
            f"Recorded as operation {summary.operation_id}: 'cerebellum-mcp undo {summary.operation_id}' takes "
            "the import back."
        )


def _import_gated(
    settings: Settings, memory: Memory, records: list[SeedRecord], update: Callable[[int, int], None]
) -> ImportReport:
    """The records through the write entry point the MCP tools use (server/pipeline/write.py), waiting for each
    decision."""
    from anyio.from_thread import start_blocking_portal

    from server.errors import ServerError
    from server.pipeline import write
    from server.pipeline.decider import Decider
    from server.pipeline.transfer import import_gated

    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Decider.over(settings, memory)) as decider,
    ):

        def remember(record: SeedRecord) -> RememberResult:
            async def one() -> RememberResult:
                return await write.remember(
                    decider, record.text, record.scope, tags=record.tags, source=record.source, deadline=None
                )

            try:
                return portal.call(one)
            except ServerError as exc:
                raise CliError(str(exc)) from exc

        return import_gated(remember, records, update)


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from seeds import StoreError

    with _memory(settings) as memory, _progress("reconciling" if not args.dry_run else "planning") as update:
        try:
            result = memory.reconcile(
                _scope_selection(args, settings),
                dry_run=args.dry_run,
                progress=lambda done, total, _: update(done, total),
            )
        except StoreError as exc:
            raise CliError(f"The seed store refused a change: {exc}. Run reconcile again to go on.") from exc
        except KeyboardInterrupt:
            raise CliError(
                "interrupted; what was done is kept, and the next 'cerebellum-mcp reconcile' goes on from there."
            ) from None
    out = _out()
    if result.resumed_after is not None:
        out.print(f"Went on after seed {result.resumed_after}, where an interrupted sweep stopped.")
    verb = "would be" if result.dry_run else "were"
    title = f"{'plan' if result.dry_run else 'reconcile'} for {_in_scope(result.scope)}"
    out.print(
        f"{title}: {result.examined} memories examined, {result.arbitrated} asked about, "
        f"{len(result.actions)} changes {verb} made."
    )
    if not result.actions:
        return
    table = Table(title_justify="left")
    for column in ("action", "scope", "seed", "into / target", "reason", "merged text", "operation"):
        table.add_column(column, overflow="fold")
    for action in result.actions:
        table.add_row(
            action.action,
            action.scope,
            str(action.seed_id),
            str(action.target_id),
            action.reason,
            action.merged_text or "-",
            action.operation_id or ("(dry run)" if result.dry_run else "-"),
        )
    out.print(table)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    with _store(settings) as store:
        stats = store.stats()
        waiting = store.inbox_count("pending")
        skipped = store.inbox_count("skipped")
    out = _out()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    summary.add_row("store", f"{stats.path} ({_size(stats.size_bytes)}, schema version {stats.schema_version})")
    summary.add_row("engine", f"{stats.engine}: {stats.engine_version}; vector search: {stats.vector_index}")
    summary.add_row("server", f"cerebellum-mcp {_version()}")
    summary.add_row("service", _service_line(settings))
    summary.add_row("embedder", f"{stats.embedder[0]} ({stats.embedder[1]} dimensions)" if stats.embedder else "-")
    summary.add_row("memories", str(stats.seeds))
    summary.add_row("operations", f"{stats.operations} (with {stats.history_entries} earlier versions kept)")
    summary.add_row(
        "inbox",
        f"{waiting} texts waiting for a decision (queued; the server or reconcile decides them), "
        f"{skipped} skipped (see 'inbox --skipped')",
    )
    if stats.oldest and stats.newest:
        summary.add_row("stored", f"{_when(stats.oldest)} .. {_when(stats.newest)}")
    out.print(summary)
    for title, counts in (("scope", stats.seeds_by_scope), ("category", stats.seeds_by_category)):
        if counts:
            table = Table(title_justify="left")
            table.add_column(title)
            table.add_column("memories", justify="right")
            for name, count in counts.items():
                table.add_row(name, str(count))
            out.print(table)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from seeds import SeedStore, StoreError, redacted

    source_settings = settings if args.source is None else settings.model_copy(update={"db": args.source})
    try:
        target_location = Settings(db=args.target).db
    except ValidationError as exc:
        raise CliError(f"--to: {exc.errors()[0]['msg']}") from exc
    if str(target_location) == str(source_settings.db):
        raise CliError(f"--to is the store being copied ({redacted(target_location)}); give another file or database.")
    with _store(source_settings) as source:
        dump = source.dump()
        try:
            target = SeedStore.open(target_location)
        except StoreError as exc:
            raise CliError(str(exc)) from exc
        try:
            replaced = target.load(dump, replace=args.force)
            copied = target.stats()
        except StoreError as exc:
            raise CliError(f"{exc} Nothing was copied.") from exc
        finally:
            target.close()
    _out().print(
        f"copied {dump.summary()} from {source.path} to {redacted(target_location)} "
        f"({copied.engine}, {copied.seeds} seeds there now"
        + (f"; the {replaced} seeds it held before were replaced)" if args.force else ")")
    )


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> None:
    from server.models.calibration import CalibrationError
    from server.models.cerebellum import CerebellumError
    from server.models.files import ModelUnavailable
    from server.pipeline.loading import calibrate_gate, load_cerebellum, load_embedder, model_path

    started = time.monotonic()
    try:
        with _err().status("loading the models and fitting the gate (one question per bank text)..."):
            embedder = load_embedder(model_path(settings, "embedder"), settings)
            try:
                cerebellum = load_cerebellum(model_path(settings, "cerebellum"), settings)
                try:
                    fitted = calibrate_gate(settings, cerebellum, embedder)
                finally:
                    cerebellum.close()
            finally:
                embedder.close()
    except (ModelUnavailable, CerebellumError, CalibrationError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if getattr(args, "ship", False):
        from server.models.calibration import shipped_file

        target = shipped_file(fitted.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fitted.to_json(), encoding="utf-8")
        _out().print(f"shipped in the package: {target}")
    errors = fitted.out_of_fold
    _out().print(
        f"gate calibration {fitted.key} for {Path(settings.model).name} and {Path(settings.embedder).name} "
        f"({len(fitted.saves)} labelled texts, {time.monotonic() - started:.0f} s)\n"
        f"out of fold: {errors['skipped_saves']:.1%} of the texts to keep skipped, "
        f"{errors['saved_skips']:.1%} of the texts to skip kept"
    )


def cmd_download(args: argparse.Namespace, settings: Settings) -> None:
    from server.models.files import ModelUnavailable, download_model, locate_model, probe_hub_file

    out = _out()
    failures: list[str] = []
    for role, spec, setting in (
        ("cerebellum", settings.model, "--model / CEREBELLUM_MODEL"),
        ("embedder", settings.embedder, "--embedder / CEREBELLUM_EMBEDDER"),
    ):
        found = locate_model(spec)
        if found.path is not None:
            where = "local file" if found.hub is None else "already in the Hugging Face cache"
            out.print(f"{role}: {spec} - {where}, {_size(found.size)}: {found.path}")
            continue
        if found.hub is None:
            failures.append(f"{role}: '{spec}' is neither a file nor a 'repo_id:filename' reference ({setting})")
            continue
        if settings.offline:
            failures.append(f"{role}: {spec} is not in the Hugging Face cache and --offline forbids downloading")
            continue
        started = time.monotonic()
        try:
            size = probe_hub_file(found.hub, role=role, setting=setting)
            out.print(f"{role}: downloading {spec} ({_size(size)}); progress on stderr")
            path = download_model(spec, role=role, setting=setting)
        except ModelUnavailable as exc:
            failures.append(str(exc))
            continue
        out.print(f"{role}: {_size(path.stat().st_size)} in {time.monotonic() - started:.0f} s: {path}")
    if failures:
        raise CliError("\n".join(failures))


def _token_check(settings: Settings) -> tuple[str, bool | None, str]:
    """The bearer token file that serve --http reads: how many tokens, and whether it can be used."""
    from server.protocol.tokens import ADD_HINT, TokenFile, TokenFileError, exposed

    tokens = TokenFile(settings.tokens_file)
    try:
        records = tokens.records()
    except TokenFileError as exc:
        return ("bearer tokens", False, str(exc))
    if not records:
        return (
            "bearer tokens",
            None,
            f"none in {tokens.path}: serve --http on loopback needs none; on any other host, or with --auth tokens, "
            f"add one: {ADD_HINT}",
        )
    names = ", ".join(f"{r.name} ({','.join(r.scopes)})" for r in records)
    detail = f"{len(records)} in {tokens.path}: {names}"
    mode = tokens.path.stat().st_mode
    if exposed(mode):
        detail += f"; other users can read it (mode {mode & 0o777:o}): chmod 600 {tokens.path}"
    return ("bearer tokens", True, detail)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> None:
    from importlib.metadata import PackageNotFoundError, version

    from rich.table import Table

    checks: list[tuple[str, bool | None, str]] = []  # (what, ok / failed / None = note, detail)
    checks.append(("cerebellum-mcp", None, _version()))
    checks.append(("Python", None, f"{platform.python_version()} ({sys.executable})"))
    checks.extend(_sqlite_checks())
    try:
        checks.append(("llama-cpp-python", None, version("llama-cpp-python")))
    except PackageNotFoundError:
        checks.append(("llama-cpp-python", False, "not installed: reinstall cerebellum-mcp"))
    paths = _model_checks(settings, checks)
    checks.extend(_store_checks(settings))
    checks.append(_calibration_check(settings, paths))
    checks.append(("shared service", None, _service_line(settings)))
    checks.append(_token_check(settings))
    if not args.no_decision:
        checks.extend(_decision_check(settings, paths))
    table = Table(title="cerebellum-mcp doctor", title_justify="left")
    table.add_column("check")
    table.add_column("", justify="center")
    table.add_column("detail", overflow="fold")
    for what, ok, detail in checks:
        table.add_row(what, {True: "ok", False: "FAIL", None: ""}[ok], detail)
    _out().print(table)
    failed = [what for what, ok, _ in checks if ok is False]
    if failed:
        raise CliError(f"{len(failed)} check(s) failed: {', '.join(failed)}.")


def _service_line(settings: Settings) -> str:
    from server.transport.service import describe

    return describe(settings)


def cmd_service(args: argparse.Namespace, settings: Settings) -> None:
    from server.transport.service import stop_service

    if args.action == "stop":
        stopped = stop_service(settings)
        _out().print(f"stopped the shared service (pid {stopped.pid})" if stopped else "no shared service was running")
        return
    _out().print(_service_line(settings))


def _sqlite_checks() -> list[tuple[str, bool | None, str]]:
    import sqlite3

    from seeds import connect, sqlite_library

    binding, sqlite_version = sqlite_library()
    how = (
        "the standard library's sqlite3 loads extensions"
        if binding == "sqlite3"
        else f"{binding} (this Python's sqlite3 cannot load extensions; stdlib SQLite {sqlite3.sqlite_version})"
    )
    checks: list[tuple[str, bool | None, str]] = [("SQLite", None, f"{sqlite_version} via {how}")]
    try:
        conn = connect(":memory:")
        vec = str(conn.execute("SELECT vec_version()").fetchone()[0])
        fts5 = conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()[0]
        conn.close()
        checks.append(("sqlite-vec", True, f"{vec}, loaded into {binding}"))
        checks.append(("FTS5", bool(fts5), "compiled in" if fts5 else "missing: keyword recall will fail"))
    except Exception as exc:
        checks.append(("sqlite-vec", False, f"could not load: {exc}"))
    return checks


def _model_checks(settings: Settings, checks: list[tuple[str, bool | None, str]]) -> dict[str, Path]:
    from server.models.files import locate_model, sha256_of

    paths: dict[str, Path] = {}
    for role, spec, flag in (("cerebellum", settings.model, "--model"), ("embedder", settings.embedder, "--embedder")):
        found = locate_model(spec)
        if found.path is None:
            hint = "run 'cerebellum-mcp download'" if found.hub is not None else f"check {flag}"
            checks.append((f"{role} model", False, f"{spec}: not found ({hint})"))
            continue
        paths[role] = found.path
        checks.append((f"{role} model", True, f"{found.path} ({_size(found.size)})\nsha256 {sha256_of(found.path)}"))
    return paths


def _store_checks(settings: Settings) -> list[tuple[str, bool | None, str]]:
    from seeds import StoreError, redacted

    path = settings.db
    if isinstance(path, Path) and not path.exists():
        return [("store", None, f"{path}: not created yet (created on first use)")]
    try:
        with _store(settings) as store:
            stats = store.stats()
            integrity = store.integrity_check()
    except (CliError, StoreError) as exc:
        return [("store", False, f"{redacted(path)}: {exc}")]
    scopes = ", ".join(f"{scope} {count}" for scope, count in stats.seeds_by_scope.items()) or "none"
    embedder = f"{stats.embedder[0]} ({stats.embedder[1]} dims)" if stats.embedder else "none yet"
    return [
        (
            "store",
            integrity == "ok",
            f"{stats.path} ({_size(stats.size_bytes)}, schema {stats.schema_version}, integrity {integrity})",
        ),
        ("store engine", None, f"{stats.engine}: {stats.engine_version}; vector search: {stats.vector_index}"),
        ("memories", None, f"{stats.seeds} ({scopes}); vectors from {embedder}"),
    ]


def _calibration_check(settings: Settings, paths: dict[str, Path]) -> tuple[str, bool | None, str]:
    from server.models.calibration import CalibrationError, cache_file, calibration_key, load_bank, shipped_file

    which = "shipped" if settings.gate_bank is None else f"your ({settings.gate_bank})"
    try:
        bank = load_bank(settings.gate_bank)
    except (CalibrationError, OSError) as exc:
        return ("gate calibration", False, f"the {which} bank is unusable: {exc}")
    shipped = f"{which} bank of {len(bank)} labelled texts"
    if not settings.calibrate_gate:
        return ("gate calibration", None, f"off (CEREBELLUM_CALIBRATE_GATE=false); {shipped}")
    if set(paths) != {"cerebellum", "embedder"}:
        return ("gate calibration", None, f"{shipped}; fitted once the models are found")
    key = calibration_key(paths["cerebellum"], paths["embedder"], bank)
    for where in (cache_file(settings.cache_dir, key), shipped_file(key)):
        if where.is_file():
            return ("gate calibration", True, f"fitted for these models and the {which} bank: {where}")
    cached = cache_file(settings.cache_dir, key)
    return (
        "gate calibration",
        None,
        f"{shipped}; not fitted for these models yet: the server fits it in the background on first load "
        f"(deciding with the plain gate meanwhile), or 'cerebellum-mcp calibrate' now, into {cached.parent}",
    )


def _decision_check(settings: Settings, paths: dict[str, Path]) -> list[tuple[str, bool | None, str]]:
    from server.pipeline.loading import load_cerebellum, load_embedder

    if set(paths) != {"cerebellum", "embedder"}:
        return [("test decision", False, "skipped: a model file is missing")]
    checks: list[tuple[str, bool | None, str]] = []
    try:
        with _err().status("loading the models for a test decision..."):
            started = time.perf_counter()
            embedder = load_embedder(paths["embedder"], settings)
            cerebellum = load_cerebellum(paths["cerebellum"], settings)
            loaded = time.perf_counter() - started
        try:
            vector = embedder.embed_document(DOCTOR_SAMPLE)
            verdict = cerebellum.memorize(DOCTOR_SAMPLE)
        finally:
            embedder.close()
            cerebellum.close()
    except Exception as exc:  # the point of doctor is to show whatever goes wrong, named
        return [("test decision", False, f"{type(exc).__name__}: {exc}")]
    checks.append(("embedding", True, f"{len(vector)} dimensions (models loaded in {loaded:.1f} s)"))
    checks.append(
        (
            "test decision",
            True,
            f"{verdict.decision} ({verdict.category}: {verdict.reason}) in {verdict.elapsed_ms:.0f} ms\n"
            f"for: {DOCTOR_SAMPLE}",
        )
    )
    return checks


def _launch_command(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The command and arguments a client should run to start this server as configured now."""
    script = Path(sys.argv[0])
    if script.name.startswith("cerebellum-mcp") and script.is_file():
        command = str(script.absolute())
    else:
        beside = Path(sys.executable).parent / ("cerebellum-mcp.exe" if os.name == "nt" else "cerebellum-mcp")
        command = str(beside) if beside.is_file() else ""
    launch: list[str] = [] if command else ["-m", "server"]
    command = command or sys.executable
    for flag in SETTING_FLAGS:
        value = getattr(args, flag, None)
        if value is None:
            continue
        option = "--" + flag.replace("_", "-")
        if flag == "offline":
            launch.append(option) if value else None
            continue
        if flag in ("db", "gate_bank") or (flag in ("model", "embedder") and Path(str(value)).expanduser().exists()):
            value = str(Path(str(value)).expanduser().absolute())  # the client starts it from another folder
        launch += [option, str(value)]
    return command, launch


def _client_config_path(client: str) -> Path:
    home = Path.home()
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "claude-code":
        return Path.cwd() / ".mcp.json"  # the project's shared Claude Code configuration
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


def cmd_hook(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import hooks

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        logger.warning("hook: stdin is not the hook's JSON (%s); nothing done", exc)
        return
    if not isinstance(payload, dict):
        logger.warning("hook: stdin is not a JSON object; nothing done")
        return
    payload = cast(dict[str, Any], payload)
    output: str | None = None
    if args.event == "user-prompt":
        budget = args.budget if args.budget is not None else hooks.USER_PROMPT_BUDGET_SECONDS
        output = hooks.user_prompt_output(payload, settings, budget=budget, models=args.models)
    elif args.event == "session-start":
        budget = args.budget if args.budget is not None else hooks.SESSION_START_BUDGET_SECONDS
        output = hooks.session_start_output(payload, settings, budget=budget)
    else:
        budget = args.budget if args.budget is not None else hooks.HARVEST_BUDGET_SECONDS
        harvest = hooks.harvest(payload, settings, event=args.event, budget=budget, wait=args.wait)
        sys.stderr.write(hooks.harvest_report(harvest, args.event) + "\n")
    if output is not None:
        sys.stdout.write(output + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # work still running past the budget is dropped, not waited for


def _write_hooks(args: argparse.Namespace) -> None:
    from server.cli import hooks

    command, launch = _launch_command(args)
    path = Path(args.path).expanduser() if args.path else Path.cwd() / ".claude" / "settings.json"
    config = _read_json_object(path, "hooks")
    merged = hooks.merge_hooks(config, hooks.hook_entries([command, *launch]))
    if merged == config:
        _out().print(f"{path} already has these hooks; nothing written.")
        return
    backup = _replace_json(path, merged)
    kept = f" (previous file kept as {backup})." if backup else "."
    _out().print(f"Wrote the SessionStart, UserPromptSubmit, PreCompact and SessionEnd hooks into {path}{kept}")


def _read_json_object(path: Path, section: str) -> dict[str, Any]:
    """A client's JSON config file (empty if there is none), refused unless it and its `section` are objects."""
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid JSON ({exc}); fix or move it first. Nothing was written.") from exc
    if not isinstance(loaded, dict):
        raise CliError(f"{path} does not hold a JSON object. Nothing was written.")
    config = cast(dict[str, Any], loaded)
    if not isinstance(config.get(section, {}), dict):
        article = "an" if section[0] in "aeiou" else "a"
        raise CliError(f"{path} has {article} '{section}' that is not a JSON object. Nothing was written.")
    return config


def _replace_json(path: Path, config: dict[str, Any]) -> Path | None:
    """Write the file whole (a temporary file renamed over it), keeping the old one as a timestamped backup."""
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.bak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}")
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return backup


def cmd_config(args: argparse.Namespace, settings: Settings) -> None:
    if args.hooks:
        if args.client != "claude-code":
            raise CliError("--hooks is for claude-code: the other clients have no hooks to write.")
        _write_hooks(args)
        return
    command, launch = _launch_command(args)
    entry: dict[str, Any] = {"command": command, "args": launch}
    add = ["claude", "mcp", "add", args.name, "--", command, *launch]
    if args.http:
        if args.client != "claude-code":
            raise CliError("--http is for claude-code; for another client, give it the URL as its docs say.")
        if not args.http.startswith(("http://", "https://")):
            raise CliError(f"--http {args.http!r}: give the server's URL, e.g. http://127.0.0.1:8765/mcp")
        project = Path.cwd().absolute().as_uri()  # the project whose .mcp.json this is: its scope, as a launch's
        entry = {"type": "http", "url": args.http, "headers": {PROJECT_HEADER: project}}
        add = ["claude", "mcp", "add", "--transport", "http", args.name, args.http, "--header"]
        add.append(f"{PROJECT_HEADER}: {project}")
    elif args.client == "claude-code":
        entry = {"type": "stdio", **entry, "env": {}}
    path = Path(args.path).expanduser() if args.path else _client_config_path(args.client)
    out = _out()
    if not args.write:
        if args.client == "claude-code":
            out.print(shlex.join(add), soft_wrap=True)
            out.print(f"\n(or, with --write, into {path} for everyone on the project:)")
        else:
            out.print(f"Add to {path}:")
        out.print_json(json.dumps({"mcpServers": {args.name: entry}}))
        return
    config = _read_json_object(path, "mcpServers")
    servers: dict[str, Any] = dict(config.get("mcpServers", {}))
    if servers.get(args.name) == entry:
        out.print(f"{path} already has this '{args.name}' server; nothing written.")
        return
    servers[args.name] = entry
    config["mcpServers"] = servers
    backup = _replace_json(path, config)
    kept = f" (previous file kept as {backup})." if backup else "."
    out.print(f"Wrote the '{args.name}' server into {path}{kept}")
    out.print(f"Restart {args.client} to pick it up.")


def cmd_scope(args: argparse.Namespace, settings: Settings) -> None:
    from server.settings import project_folder, project_scope

    folder = args.folder or os.getcwd()
    if args.folder is not None and not Path(folder).is_dir():
        raise CliError(f"{folder} is not a folder; give a project folder, or none for this one.")
    choice = project_scope(settings, folder=project_folder(folder, env={}), folder_source="launch-folder")
    why = choice.reason
    if choice.source == "launch-folder":
        why = f"named after {project_folder(folder, env={})}, as a stdio launch or a hook started there names it"
    sys.stdout.write(choice.scope + "\n")  # whole on one line, for $(cerebellum-mcp scope)
    _err().print(f"({why})", markup=False)


def cmd_forget(args: argparse.Namespace, settings: Settings) -> None:
    from seeds import SeedNotFound, StoreError
    from server.pipeline.store_ops import forget_seed

    scope = _explicit_scope(args)
    with _store(settings) as store:
        try:
            result = forget_seed(store, args.id, scope)
        except SeedNotFound as exc:
            raise CliError(f"{exc} List them with 'cerebellum-mcp list'.") from exc
        except StoreError as exc:
            raise CliError(str(exc)) from exc
    out = _out()
    out.print(f"Forgot seed {result.seed.id} in '{result.seed.scope}': {result.seed.text}")
    out.print(f"Operation {result.operation_id}; 'cerebellum-mcp undo {result.operation_id}' brings it back.")


def cmd_undo(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from seeds import StoreError

    with _store(settings) as store:
        try:
            outcome = store.undo(args.operation)
        except StoreError as exc:
            raise CliError(str(exc)) from exc
    out = _out()
    out.print(
        f"Undid {outcome.undone.kind} {outcome.undone.id} in '{outcome.undone.scope}' "
        f"(recorded as {outcome.operation.id}; undo that to apply it again)."
    )
    table = Table(title_justify="left")
    for column in ("", "seed", "text"):
        table.add_column(column, overflow="fold")
    for what, seeds in (("restored", outcome.restored), ("removed", outcome.removed)):
        for seed in seeds:
            table.add_row(what, str(seed.id), seed.text)
    if outcome.restored or outcome.removed:
        out.print(table)


def cmd_token(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import tokens as token_commands

    try:
        token_commands.run(args, settings)
    except token_commands.TokenCommandError as exc:
        raise CliError(str(exc)) from exc


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], None]] = {
    "recall": cmd_recall,
    "list": cmd_list,
    "show": cmd_show,
    "inbox": cmd_inbox,
    "export": cmd_export,
    "import": cmd_import,
    "reconcile": cmd_reconcile,
    "stats": cmd_stats,
    "migrate": cmd_migrate,
    "download": cmd_download,
    "calibrate": cmd_calibrate,
    "doctor": cmd_doctor,
    "service": cmd_service,
    "config": cmd_config,
    "hook": cmd_hook,
    "scope": cmd_scope,
    "forget": cmd_forget,
    "undo": cmd_undo,
    "token": cmd_token,
}


if __name__ == "__main__":
    main()
