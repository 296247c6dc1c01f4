"""The commands that move memories in and out: export, import (ours, or --from another tool), migrate."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli.command import CliError, Command, err, explicit_scope, out
from server.cli.stores import memory, progress, store
from server.settings import Settings

if TYPE_CHECKING:
    from server.pipeline.memory import Memory
    from server.pipeline.results import RememberResult
    from server.pipeline.transfer import ImportReport, SeedRecord


def export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    from server.pipeline.transfer import export_lines

    scope = explicit_scope(args)
    with store(settings) as opened:
        lines = list(export_lines(opened, scope))
    text = "".join(line + "\n" for line in lines)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    err().print(f"exported {len(lines)} memories" + (f" to {args.output}" if args.output else ""))


def import_options(parser: argparse.ArgumentParser) -> None:
    from server.importers import FORMATS  # the names only: nothing else is imported to build the parser

    parser.add_argument("file", help="the .jsonl file ('-' for stdin); with --from, the other tool's file or folder")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="store the lines as they are (ids, timestamps), without the gate and the arbiter",
    )
    parser.add_argument(
        "--from",
        dest="source_format",
        choices=FORMATS,
        help="the tool the memories come from; they are tidied on the way in (secrets, duplicates, the gate for "
        "raw texts, the arbiter for near-duplicates) and written under one operation 'undo' takes back",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="--from: say what would be kept, skipped or merged, and why; write nothing",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="--from: ask the gate about curated memories too (raw texts, transcripts and prompts, always are)",
    )


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.pipeline.transfer import ImportRefused, import_raw, read_records

    if args.source_format is not None:
        import_from(args, settings)
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
    with memory(settings, must_exist=False) as opened, progress("importing") as update:
        if args.raw:
            report = import_raw(opened.store, opened.embedder, records, update)
        else:
            report = import_gated(settings, opened, records, update)
    console = out()
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts.items()))
    mode = "as they are (--raw)" if args.raw else "through the gate and the arbiter"
    console.print(f"{len(records)} lines read from {args.file}, imported {mode}: {counts}.")
    for old, new in report.renumbered:
        console.print(f"  seed {old} of the file is seed {new} here (its id was taken)")
    if report.results:
        table = Table(title_justify="left")
        for column in ("#", "status", "seed", "gate", "arbiter", "text"):
            table.add_column(column, overflow="fold", justify="right" if column in ("#", "seed") else "left")
        for number, (record, result) in enumerate(zip(records, report.results, strict=True), start=1):
            gate = f"{result.gate.decision} {result.gate.category} ({result.gate.decided_by})" if result.gate else "-"
            arbiter = f"{result.arbiter.action} ({result.arbiter.decided_by})" if result.arbiter else "-"
            seed = str(result.seed.id) if result.seed else "-"
            table.add_row(str(number), result.status, seed, gate, arbiter, record.text)
        console.print(table)


def import_from(args: argparse.Namespace, settings: Settings) -> None:
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
        scope=explicit_scope(args),
        gate=args.gate,
        dry_run=args.dry_run,
        secrets_mode=settings.secrets,
        max_text_chars=settings.max_text_chars,
    )
    started = time.monotonic()
    with (
        planned_store(settings, args.dry_run) as settings,
        memory(settings, must_exist=False) as opened,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err(),
        ) as bar,
    ):
        task = bar.add_task("planning" if args.dry_run else "importing", total=None, rate="")

        def update(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f}/s")

        try:
            summary = import_items(
                opened, items, options, format_name=args.source_format, source=str(path), progress=update
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
    console = out()
    if summary.resumed_after:
        console.print(f"Went on after item {summary.resumed_after}, where an interrupted run of this import stopped.")
    if summary.dry_run:
        table = Table(title_justify="left")
        for column in ("where", "would be", "scope", "why", "text"):
            table.add_column(column, overflow="fold")
        for outcome in summary.outcomes:
            text = outcome.text if outcome.text is None or len(outcome.text) <= 160 else outcome.text[:159] + "…"
            table.add_row(outcome.origin, outcome.status, outcome.scope, outcome.reason, text or "-")
        console.print(table)
    verb = "would be" if summary.dry_run else "were"
    skipped = ", ".join(f"{count} {why}" for why, count in sorted(summary.skipped.items(), key=lambda kv: -kv[1]))
    console.print(
        f"{summary.read} items read from {path} ({summary.format}); {summary.kept} {verb} kept, {summary.merged} "
        f"merged into a memory saying the same, {summary.updated} updated one, {summary.retracted} retracted one, "
        f"{summary.refused} refused (a secret), {summary.redacted} stored with secrets redacted; "
        f"{sum(summary.skipped.values())} skipped"
        + (f" ({skipped})" if skipped else "")
        + f"; {summary.seconds:.1f} s."
    )
    if summary.operation_id and not summary.dry_run:
        console.print(
            f"Recorded as operation {summary.operation_id}: 'cerebellum-mcp undo {summary.operation_id}' takes "
            "the import back."
        )


@contextmanager
def planned_store(settings: Settings, dry_run: bool) -> Generator[Settings]:
    """A dry run writes nothing, not even a new store file: one that doesn't exist yet is planned against an
    empty store in a temporary folder, removed afterwards."""
    if not (dry_run and isinstance(settings.db, Path) and not settings.db.exists()):
        yield settings
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cerebellum-dry-run-") as scratch:
        yield settings.model_copy(update={"db": Path(scratch) / "seeds.db"})


def import_gated(
    settings: Settings, opened: Memory, records: list[SeedRecord], update: Callable[[int, int], None]
) -> ImportReport:
    """The records through the write entry point the MCP tools use (server/pipeline/write.py), waiting for each
    decision. A refused write (a secret, the store) is a ServerError, which main() reports."""
    from anyio.from_thread import start_blocking_portal

    from server.pipeline import write
    from server.pipeline.decider import Decider
    from server.pipeline.transfer import import_gated as import_each

    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Decider.over(settings, opened)) as decider,
    ):

        def remember(record: SeedRecord) -> RememberResult:
            async def one() -> RememberResult:
                return await write.remember(
                    decider, record.text, record.scope, tags=record.tags, source=record.source, deadline=None
                )

            return portal.call(one)

        return import_each(remember, records, update)


def migrate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", help="the store to copy (default: --db)")
    parser.add_argument("--to", dest="target", required=True, help="a new SQLite file or an empty postgresql:// URL")
    parser.add_argument(
        "--force", action="store_true", help="replace whatever the target holds by the copy (refused without it)"
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from pydantic import ValidationError

    from seeds import StoreError, open_store, redacted

    source_settings = settings if args.source is None else settings.model_copy(update={"db": args.source})
    try:
        target_location = Settings(db=args.target).db
    except ValidationError as exc:
        raise CliError(f"--to: {exc.errors()[0]['msg']}") from exc
    if str(target_location) == str(source_settings.db):
        raise CliError(f"--to is the store being copied ({redacted(target_location)}); give another file or database.")
    with store(source_settings) as source:
        dump = source.dump()
        target = open_store(target_location)
        try:
            replaced = target.load(dump, replace=args.force)
            copied = target.stats()
        except StoreError as exc:
            raise CliError(f"{exc} Nothing was copied.") from exc
        finally:
            target.close()
    out().print(
        f"copied {dump.summary()} from {source.path} to {redacted(target_location)} "
        f"({copied.engine}, {copied.seeds} seeds there now"
        + (f"; the {replaced} seeds it held before were replaced)" if args.force else ")")
    )


EXPORT = Command(
    "export",
    "write the memories as JSON Lines (all scopes unless --scope)",
    cmd_export,
    export_options,
    every_scope=True,
)
IMPORT = Command(
    "import",
    "read memories from a JSON Lines export, or with --from from another memory tool (tidied on the way)",
    cmd_import,
    import_options,
)
MIGRATE = Command(
    "migrate",
    "copy a whole store to another (SQLite file <-> PostgreSQL): seeds, ids, history, inbox, vectors",
    cmd_migrate,
    migrate_options,
)
