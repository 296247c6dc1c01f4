"""`python -m eval bench clients`: N MCP clients on one machine, sharing the local service or each alone.

For N in --clients (default 1, 2, 4) and each mode — `shared` (the default stdio launch: every client
attaches to one service) and `standalone` (each client's process loads its own models) — N real
`cerebellum-mcp` processes are launched over stdio, as MCP clients launch them, against one fresh
store. Each client then remembers --remembers texts and recalls --recalls queries, the clients
running side by side. Reported per configuration:

- memory: the summed PSS (proportional set size: shared pages divided among the processes that map
  them) and RSS of every process of the run (the clients' processes and the service), read from
  /proc after the calls, with the models loaded;
- p50 per call at the client: remember (decided by the cerebellum, the gate calibration off) and
  recall (embedding the query and searching);
- with --busy: the same recall calls again while another llama.cpp process keeps both cores busy
  (a 0.5B model evaluating prompts in a loop, as another program's inference would), and the ratio
  busy / quiet of recall p50 within the run.

Ratios within one run mean more than absolute times: the machine is shared.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server.system import process_memory

REMEMBERED = [
    "Lesson: the integration tests hang unless REDIS_URL is set.",
    "We chose SQLite with WAL over Postgres for the local cache: one file, no daemon.",
    "The staging database listens on port 5433, not 5432.",
    "The user prefers early returns over nested if statements.",
    "Decision: releases are cut on Tuesdays, after the dependency audit.",
    "The billing service retries webhooks three times with exponential backoff.",
    "Lesson: run the migrations before seeding, or the seed script fails on a missing table.",
    "The mobile app reads its feature flags from /config/flags.json at start-up.",
]
QUERIES = [
    "which port does staging use",
    "why do the integration tests hang",
    "when are releases cut",
    "how are webhooks retried",
    "what does the user prefer for control flow",
    "where are the feature flags read from",
]
BURNER = """
import sys, time
from llama_cpp import Llama
threads = int(sys.argv[2])
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
tokens = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 20)
while True:
    llm.reset()
    llm.eval(tokens)
"""


def processes_marked(variable: str, value: str) -> list[int]:
    """Pids of the other processes whose environment sets `variable` to `value` (a run's servers and relays)."""
    needle = f"{variable}={value}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def busy_cores(model: Path, threads: int) -> Iterator[None]:
    burner = subprocess.Popen([sys.executable, "-c", BURNER, str(model), str(threads)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # its model loaded and evaluating
        yield
    finally:
        burner.kill()
        burner.wait()


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def run_configuration(
    model: str, embedder: str, n: int, mode: str, remembers: int, recalls: int, busy_model: Path | None
) -> dict[str, Any]:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    command = str(Path(sys.executable).parent / "cerebellum-mcp")
    marker = uuid.uuid4().hex
    figures: dict[str, Any] = {"clients": n, "mode": mode}
    with tempfile.TemporaryDirectory(prefix="cerebellum-bench-clients-") as tmp:
        env = {
            **os.environ,
            "CEREBELLUM_DB": str(Path(tmp) / "seeds.db"),
            "CEREBELLUM_MODEL": model,
            "CEREBELLUM_EMBEDDER": embedder,
            "CEREBELLUM_OFFLINE": "true",
            "CEREBELLUM_CALIBRATE_GATE": "false",
            "CEREBELLUM_DEADLINE_SECONDS": "600",
            "CEREBELLUM_SERVICE_DIR": str(Path(tmp) / "service"),
            "CEREBELLUM_STANDALONE": "true" if mode == "standalone" else "false",
            "CEREBELLUM_BENCH_RUN": marker,
        }
        params = StdioServerParameters(command=command, args=[], env=env)
        remember_ms: list[float] = []
        recall_ms: list[float] = []
        busy_ms: list[float] = []

        async def client_work(index: int, client: Any, into: list[float], only_recall: bool) -> None:
            if not only_recall:
                for i in range(remembers):
                    text = f"{REMEMBERED[(index + i) % len(REMEMBERED)]} (client {index}, note {i})"
                    started = time.perf_counter()
                    await client.call_tool("remember", {"text": text, "scope": "bench"})
                    remember_ms.append((time.perf_counter() - started) * 1000)
            for i in range(recalls):
                started = time.perf_counter()
                await client.call_tool("recall", {"query": QUERIES[(index + i) % len(QUERIES)], "scope": "bench"})
                into.append((time.perf_counter() - started) * 1000)

        async def measure() -> None:
            async with contextlib.AsyncExitStack() as stack:
                started = time.perf_counter()
                clients = [await stack.enter_async_context(Client(params, read_timeout_seconds=900)) for _ in range(n)]
                # The first call of each waits for the models: not part of the per-call figures.
                for client in clients:
                    await client.call_tool("recall", {"query": "warm up", "scope": "bench"})
                figures["ready_s"] = round(time.perf_counter() - started, 1)
                async with anyio.create_task_group() as tg:
                    for index, client in enumerate(clients):
                        tg.start_soon(client_work, index, client, recall_ms, False)
                pids = processes_marked("CEREBELLUM_BENCH_RUN", marker)
                memory = [process_memory(pid) for pid in pids]
                figures["processes"] = len(pids)
                figures["rss_mib"] = round(sum(rss or 0 for rss, _ in memory) / 2**20)
                figures["pss_mib"] = round(sum(pss or 0 for _, pss in memory) / 2**20)
                if busy_model is not None:
                    with busy_cores(busy_model, 2):
                        async with anyio.create_task_group() as tg:
                            for index, client in enumerate(clients):
                                tg.start_soon(client_work, index, client, busy_ms, True)

        anyio.run(measure)
        if mode == "shared":
            subprocess.run([command, "service", "stop"], env=env, capture_output=True, timeout=60)
    figures["remember_p50_ms"] = p50(remember_ms)
    figures["recall_p50_ms"] = p50(recall_ms)
    busy, quiet = p50(busy_ms), p50(recall_ms)
    if busy is not None:
        figures["recall_busy_p50_ms"] = busy
        figures["busy_over_quiet"] = round(busy / quiet, 2) if quiet else None
    return figures


def run_clients(
    model: str,
    embedder: str,
    counts: list[int],
    *,
    remembers: int = 4,
    recalls: int = 10,
    busy_model: Path | None = None,
) -> dict[str, Any]:
    rows = [
        run_configuration(model, embedder, n, mode, remembers, recalls, busy_model)
        for n in counts
        for mode in ("shared", "standalone")
    ]
    report: dict[str, Any] = {
        "runner": "bench-clients",
        "model": Path(model).name,
        "embedder": Path(embedder).name,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "rows": rows,
    }
    for mode in ("shared", "standalone"):
        by_n = {row["clients"]: row for row in rows if row["mode"] == mode}
        if 1 in by_n and max(by_n) > 1:
            report[f"{mode}_pss_ratio_{max(by_n)}_vs_1"] = round(by_n[max(by_n)]["pss_mib"] / by_n[1]["pss_mib"], 2)
    return report


def render_clients(report: dict[str, Any]) -> list[str]:
    lines = [
        f"bench clients: cerebellum {report['model']}, embedder {report['embedder']}, {report['cpus']} CPUs, "
        f"load {report['load_before']:.1f} at start",
        f"  {'mode':<11}{'N':>3}{'procs':>6}{'PSS MiB':>9}{'RSS MiB':>9}{'ready s':>9}"
        f"{'remember p50':>14}{'recall p50':>12}{'busy p50':>10}{'busy/quiet':>11}",
    ]
    for row in report["rows"]:
        lines.append(
            f"  {row['mode']:<11}{row['clients']:>3}{row['processes']:>6}{row['pss_mib']:>9}{row['rss_mib']:>9}"
            f"{row['ready_s']:>9}{row['remember_p50_ms']!s:>14}{row['recall_p50_ms']!s:>12}"
            f"{row.get('recall_busy_p50_ms', '-')!s:>10}{row.get('busy_over_quiet', '-')!s:>11}"
        )
    for key, value in report.items():
        if key.endswith("_vs_1"):
            lines.append(f"  {key}: {value}")
    return lines
