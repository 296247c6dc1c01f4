"""The commands that read and tidy the memories: recall, list, inbox, show, forget, undo, reconcile, purge, stats."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Literal

from server.cli.command import (
    CliError,
    Command,
    err,
    explicit_scope,
    moment,
    out,
    scope_selection,
    version,
    when,
)
from server.cli.serve import service_line
from server.cli.stores import memory, progress, store
from server.rules.scopes import ALL_SCOPES, describe
from server.settings import Settings
from server.system import byte_size

# -- recall ---------------------------------------------------------------------------------------


def recall_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="what you want to know, in your own words")
    parser.add_argument("-k", type=int, default=5, help="how many memories to show (1-50, default 5)")


def cmd_recall(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.rules.limits import check_k, check_query
    from server.rules.secrets import SecretInText

    check_k(args.k)  # the recall tool's rules: a refusal is a ServerError, which main() reports
    check_query(args.query)
    with memory(settings) as opened:
        try:
            result = opened.recall(args.query, scope_selection(args, settings), args.k)
        except SecretInText as exc:
            raise CliError(str(exc)) from exc
    console = out()
    if not result.hits:
        console.print(f"No memories in {describe(result.scope)} match.")
    else:
        where = "every scope" if result.scope == ALL_SCOPES else f"'{result.scope}'"
        table = Table(title=f"recall in {where}: {result.query}", title_justify="left")
        for column in ("#", "id", "scope", "score", "similarity", "stored", "text"):
            table.add_column(column, overflow="fold", justify="right" if column in ("#", "id") else "left")
        for rank, hit in enumerate(result.hits, start=1):
            similarity = "-" if hit.similarity is None else f"{hit.similarity:.3f}"
            table.add_row(
                str(rank), str(hit.id), hit.scope, f"{hit.score:.3f}", similarity, when(hit.created_at), hit.text
            )
        console.print(table)
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
            table.add_row("queued", str(waiting.inbox_id), waiting.scope, when(waiting.received_at), waiting.text)
        console.print(table)


# -- list, inbox, show ----------------------------------------------------------------------------


def list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", help="only this category (lesson, decision, fact, ...)")
    parser.add_argument("--since", help="only memories stored since: a date (2026-11-01), a time, or 7d / 12h / 30m")
    parser.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")


def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1; got {args.limit}.")
    scope = explicit_scope(args)
    since = moment(args.since) if args.since else None
    with store(settings) as opened:
        seeds = opened.list_seeds(scope, args.limit, category=args.category, since=since, newest_first=True)
        total = opened.count(scope, category=args.category, since=since)
    console = out()
    if not seeds:
        console.print("No memories match.")
        return
    table = Table(title_justify="left")
    for column in ("id", "scope", "category", "stored", "tags", "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "id" else "left")
    for seed in seeds:
        table.add_row(str(seed.id), seed.scope, seed.category, when(seed.created_at), ", ".join(seed.tags), seed.text)
    console.print(table)
    console.print(f"{len(seeds)} of {total} memories shown, newest first.")


def inbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skipped",
        action="store_true",
        help="the texts the gate skipped or the arbiter judged duplicates, newest first, with the reason",
    )
    parser.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1; got {args.limit}.")
    scope = explicit_scope(args)
    state: Literal["pending", "skipped"] = "skipped" if args.skipped else "pending"
    with store(settings) as opened:
        rows = opened.inbox(state, scope, args.limit, newest_first=args.skipped)
        total = opened.inbox_count(state, scope)
    console = out()
    if not rows:
        console.print("No skipped texts." if args.skipped else "No texts are waiting for a decision.")
        return
    table = Table(title_justify="left")
    why = "reason" if args.skipped else "attempts"
    for column in ("inbox id", "scope", "received", why, "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "inbox id" else "left")
    for row in rows:
        detail = (row.reason or "-") if args.skipped else str(row.attempts)
        table.add_row(str(row.id), row.scope, when(row.received_at), detail, row.text)
    console.print(table)
    if args.skipped:
        console.print(
            f"{len(rows)} of {total} skipped texts shown, newest first. To keep one, have the agent remember it "
            "with force=true."
        )
    else:
        console.print(
            f"{len(rows)} of {total} waiting texts shown, oldest first. The server or reconcile decides them."
        )


def show_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=int, help="the seed id")


def cmd_show(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from server.pipeline.results import DecisionDetail, seed_uri

    with store(settings) as opened:
        seed = opened.get(args.id)
        history = opened.history(args.id)
        decisions = opened.decisions_about(args.id)
    if seed is None and not history:
        raise CliError(f"No seed with id {args.id}: list them with 'cerebellum-mcp list'.")
    console = out()
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
    console.print(fields)
    if decisions:
        console.print("\ndecisions (oldest first): who made them and how", style="bold")
        for decision in decisions:
            took = "" if decision.latency_ms is None else f", in {decision.latency_ms:.0f} ms"
            applied = "" if decision.operation_id is None else f" (operation {decision.operation_id})"
            console.print(f"{when(decision.decided_at)}  {decision.label}{applied}{took}", markup=False)
            console.print(f"  text: {decision.text}", markup=False, soft_wrap=True)
            for line in DecisionDetail.read(decision.detail).describe():
                console.print(f"  {line}", markup=False, soft_wrap=True)
    if not history:
        console.print("\nNo earlier versions: the text is as first stored.")
        return
    table = Table(title="history (oldest first)", title_justify="left")
    for column in ("when", "operation", "action", "reason", "text before", "triggered by"):
        table.add_column(column, overflow="fold")
    for entry in history:
        table.add_row(
            when(entry.recorded_at),
            entry.operation_id,
            entry.action,
            entry.reason,
            entry.previous.text,
            entry.trigger_text or "-",
        )
    console.print()
    console.print(table)


# -- forget, undo, purge --------------------------------------------------------------------------


def forget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=int, help="the seed id (with --scope: only a seed of that scope)")


def cmd_forget(args: argparse.Namespace, settings: Settings) -> None:
    from seeds import SeedNotFound
    from server.pipeline.store_ops import forget_seed

    scope = explicit_scope(args)
    with store(settings) as opened:
        try:
            result = forget_seed(opened, args.id, scope)
        except SeedNotFound as exc:
            raise CliError(f"{exc} List them with 'cerebellum-mcp list'.") from exc
    console = out()
    console.print(f"Forgot seed {result.seed.id} in '{result.seed.scope}': {result.seed.text}")
    console.print(f"Operation {result.operation_id}; 'cerebellum-mcp undo {result.operation_id}' brings it back.")


def undo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("operation", help="the operation id, as 'show', 'reconcile' and 'forget' print it (op_...)")


def cmd_undo(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    with store(settings) as opened:
        outcome = opened.undo(args.operation)
    console = out()
    console.print(
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
        console.print(table)


PURGE_CONFIRMATION = "yes"


def purge_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--before",
        help="only the operations recorded before: a date (2026-11-01), a time, or 7d / 12h / 30m ago "
        "(default: all of them)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="purge without asking (needed when stdin is not a terminal); otherwise it asks you to type "
        f"'{PURGE_CONFIRMATION}'",
    )


def cmd_purge(args: argparse.Namespace, settings: Settings) -> None:
    """Forget for good: the recorded history (earlier versions, forgotten seeds, decisions) and the skipped texts."""
    from seeds.records import utc_iso

    scope = explicit_scope(args)
    before = None if args.before is None else utc_iso(moment(args.before, "--before"))
    where = describe(scope or ALL_SCOPES) + (f", recorded before {before}" if before else "")
    # What is counted is what goes: a server recording operations while the question waits keeps them.
    cutoff = before or utc_iso(datetime.now(UTC))
    with store(settings) as opened:
        preview = opened.purge_preview(scope, cutoff)
        if not preview.operations and not preview.skipped and not preview.decisions:
            out().print(f"Nothing to purge in {where}: no recorded operations, decisions or skipped texts.")
            return
        what = (
            f"{preview.operations} recorded operations with {preview.versions} earlier versions of seeds "
            f"(updated or forgotten), {preview.decisions} recorded decisions and {preview.skipped} skipped texts "
            f"in {where}"
        )
        if not args.yes:
            confirm(what)
        purged = opened.purge_history(scope, cutoff, record=True)
    console = out()
    console.print(
        f"Purged {purged.operations} operations with {purged.versions} earlier versions of seeds, "
        f"{purged.decisions} recorded decisions and {purged.skipped} skipped texts in {where}, for good: they "
        "can't be undone, and the store was compacted so that no copy of their text is left in its files."
    )
    console.print(f"Recorded as operation {purged.operation_id} (what was purged, not the texts).")


def confirm(what: str) -> None:
    """Ask on the terminal before purging; refused without one (the caller passes --yes instead)."""
    if not sys.stdin.isatty():
        raise CliError(
            f"this would delete {what} for good, and asks first on a terminal, but stdin is not one. "
            "Run it in a terminal, or add --yes to purge without asking. Nothing was purged."
        )
    err().print(
        f"This deletes {what} for good: no undo brings them back.\nType '{PURGE_CONFIRMATION}' to purge them: ",
        end="",
        markup=False,
    )
    answer = sys.stdin.readline()
    if answer.strip().lower() != PURGE_CONFIRMATION:
        raise CliError(f"not confirmed (the answer was not '{PURGE_CONFIRMATION}'). Nothing was purged.")


# -- reconcile, stats -----------------------------------------------------------------------------


def reconcile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="only show the plan; change nothing")


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    from seeds import StoreError

    with memory(settings) as opened, progress("reconciling" if not args.dry_run else "planning") as update:
        try:
            result = opened.reconcile(
                scope_selection(args, settings),
                dry_run=args.dry_run,
                progress=lambda done, total, _: update(done, total),
            )
        except StoreError as exc:
            raise CliError(f"The seed store refused a change: {exc}. Run reconcile again to go on.") from exc
        except KeyboardInterrupt:
            raise CliError(
                "interrupted; what was done is kept, and the next 'cerebellum-mcp reconcile' goes on from there."
            ) from None
    console = out()
    if result.resumed_after is not None:
        console.print(f"Went on after seed {result.resumed_after}, where an interrupted sweep stopped.")
    verb = "would be" if result.dry_run else "were"
    title = f"{'plan' if result.dry_run else 'reconcile'} for {describe(result.scope)}"
    console.print(
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
    console.print(table)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> None:
    from rich.table import Table

    with store(settings) as opened:
        stats = opened.stats()
        waiting = opened.inbox_count("pending")
        skipped = opened.inbox_count("skipped")
    console = out()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    summary.add_row("store", f"{stats.path} ({byte_size(stats.size_bytes)}, schema version {stats.schema_version})")
    summary.add_row("engine", f"{stats.engine}: {stats.engine_version}; vector search: {stats.vector_index}")
    summary.add_row("server", f"cerebellum-mcp {version()}")
    summary.add_row("service", service_line(settings))
    summary.add_row("embedder", f"{stats.embedder[0]} ({stats.embedder[1]} dimensions)" if stats.embedder else "-")
    summary.add_row("memories", str(stats.seeds))
    summary.add_row("operations", f"{stats.operations} (with {stats.history_entries} earlier versions kept)")
    summary.add_row(
        "inbox",
        f"{waiting} texts waiting for a decision (queued; the server or reconcile decides them), "
        f"{skipped} skipped (see 'inbox --skipped')",
    )
    if stats.oldest and stats.newest:
        summary.add_row("stored", f"{when(stats.oldest)} .. {when(stats.newest)}")
    console.print(summary)
    for title, counts in (("scope", stats.seeds_by_scope), ("category", stats.seeds_by_category)):
        if counts:
            table = Table(title_justify="left")
            table.add_column(title)
            table.add_column("memories", justify="right")
            for name, count in counts.items():
                table.add_row(name, str(count))
            console.print(table)


RECALL = Command("recall", "search the memories of a scope, best first", cmd_recall, recall_options, every_scope=True)
LIST = Command(
    "list",
    "list stored memories, newest first (all scopes unless --scope)",
    cmd_list,
    list_options,
    every_scope=True,
)
INBOX = Command(
    "inbox",
    "list texts not stored as memories: waiting for a decision, or skipped (with why)",
    cmd_inbox,
    inbox_options,
    every_scope=True,
)
SHOW = Command("show", "show one memory with its history", cmd_show, show_options)
FORGET = Command(
    "forget", "remove one memory (recorded: 'undo' brings it back)", cmd_forget, forget_options, every_scope=True
)
UNDO = Command(
    "undo",
    "reverse one recorded change (an update, a delete, a reconcile action, a forget, an undo)",
    cmd_undo,
    undo_options,
)
PURGE = Command(
    "purge",
    "forget for good: delete the recorded history (earlier versions, forgotten seeds) and the skipped texts; "
    "asks first, is recorded, can't be undone",
    cmd_purge,
    purge_options,
    every_scope=True,
)
RECONCILE = Command(
    "reconcile",
    "fold duplicates and resolve contradictions in a scope",
    cmd_reconcile,
    reconcile_options,
    every_scope=True,
)
STATS = Command("stats", "counts per scope and category, operations, store size", cmd_stats)
