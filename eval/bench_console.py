"""`python -m eval bench console`: the memory console at size, on SQLite and PostgreSQL.

    python -m eval bench console [--sizes 100000] [--db postgresql://…|embedded] [--queries 50] [--json]

Each store is filled with `add_many` (one transaction) to the size: texts made of a few hundred words, spread
over 30 scopes and 6 categories, and normalized random vectors of the embedder's dimension; and as many logged
decisions (one a seed, over the last 30 days, with the verdicts' JSON remember writes) (search cost does
not depend on where the vectors came from; the store is bound to the real embedder, which embeds each query).
Timed in process, through the console's whole ASGI app (Starlette's test client: routing, guard, store reads
on a worker thread, template rendering), each request `--queries` times, p50 and p95:

- memories: the Memories page, every scope, newest first (page 1);
- memories, deep: the page 40 pages down (keyset cursor);
- memories, scope + category: one scope, one category;
- search: the Memories page with a query (the recall tool's hybrid recall: query embedding, vector and BM25);
- activity and overview.

Memory: a `serve --http` process on the SQLite store at the size, with the stand-in models: its RSS after the
models loaded and one MCP-free warm-up, then after every console page was served 20 times (the console's
cost), and the RSS an interpreter gains by importing the console (its code, Jinja2, the templates).
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_recall import postgres_location
from eval.common import Models
from seeds import SeedStore, open_store

SCOPES = [f"project-{i:02d}" for i in range(30)]
CATEGORIES = ["fact", "lesson", "decision", "preference", "convention", "todo"]
WORDS = (
    "deploy script staging database postgres redis queue retry cache ttl gateway timeout docker compose kube "
    "helm chart ingress certificate vault token rotate nightly backup restore migration schema index vacuum "
    "lint format test flaky fixture mock coverage release branch tag changelog semver review merge rebase "
    "monorepo workspace package lockfile pin upgrade python node rust go java typescript react vue api grpc "
    "webhook cron job worker thread pool latency budget p95 alert pager oncall runbook incident postmortem"
).split()
QUERIES = [
    "how do we deploy to staging",
    "which database holds the main data",
    "when does the nightly backup run",
    "what is the gateway timeout",
    "how are tokens rotated",
]


def _fill(store: SeedStore, size: int, name: str, dimension: int) -> None:
    rng = np.random.default_rng(9)
    pick = random.Random(9)
    store.bind_embedder(name, dimension)
    batch = 5000
    for start in range(0, size, batch):
        count = min(batch, size - start)
        vectors = rng.standard_normal((count, dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        by_scope: dict[tuple[str, str], list[tuple[str, list[float]]]] = {}
        for i, vector in enumerate(vectors):
            text = f"note {start + i}: " + " ".join(pick.choice(WORDS) for _ in range(12))
            key = (SCOPES[(start + i) % len(SCOPES)], CATEGORIES[(start + i) % len(CATEGORIES)])
            by_scope.setdefault(key, []).append((text, vector.tolist()))
        for (scope, category), items in by_scope.items():
            store.add_many(scope, items, category=category)
    _fill_decisions(store, size)


LABELS = ["ADD", "ADD", "ADD", "SKIP", "NONE", "UPDATE"]


def _fill_decisions(store: SeedStore, size: int) -> None:
    """One logged decision per seed, all within the last 30 days (what the Activity and Overview pages read): the
    verdicts' JSON as remember writes it, with a gate's shares and three compared seeds."""
    from server.pipeline.results import ArbiterVerdict, ComparedSeed, GateVerdict, decided

    rng = random.Random(11)
    now = time.time()
    rows: list[tuple[object, ...]] = []
    for i in range(size):
        label = LABELS[i % len(LABELS)]
        gate = GateVerdict(
            decision="SKIP" if label == "SKIP" else "SAVE",
            category="chatter" if label == "SKIP" else "lesson",
            reason="the cerebellum read it as lesson",
            decided_by="model",
            shares={"lesson": 0.71, "fact": 0.2, "chatter": 0.09},
        )
        arbiter = None
        if label != "SKIP":
            compared = [ComparedSeed(id=rng.randrange(1, size), similarity=0.8, relation="DIFFERENT") for _ in range(3)]
            arbiter = ArbiterVerdict(
                action=label,  # pyright: ignore[reportArgumentType]
                target_id=None if label == "ADD" else compared[0].id,
                reason="no stored note is about the same subject",
                decided_by="model",
                candidates=[c.id for c in compared],
                compared=compared,
            )
        record = decided(label, f"note {i}", gate, arbiter, rng.uniform(200, 4000))  # pyright: ignore[reportArgumentType]
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - (size - i) * 30 * 86400 / size))
        rows.append(
            (
                SCOPES[i % len(SCOPES)],
                at,
                label,
                record.text,
                i + 1,
                None,
                None,
                record.latency_ms,
                json.dumps(record.detail),
            )
        )
    with store._lock, store._write():  # pyright: ignore[reportPrivateUsage]
        store._conn.executemany(  # pyright: ignore[reportPrivateUsage]
            "INSERT INTO decisions (scope, decided_at, label, text, seed_id, operation_id, inbox_id, latency_ms, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _time(call: Callable[[], Any], runs: int) -> dict[str, float]:
    call()  # warm: the first call pays for caches and imports
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
    }


def _pages(models: Models, store: SeedStore, runs: int) -> dict[str, dict[str, float]]:
    from starlette.testclient import TestClient

    from server.console.app import Console
    from server.console.backend import MemoryBackend
    from server.console.guard import Guard, allowed_hosts

    memory = models.memory(store)
    app = Console(MemoryBackend(memory), Guard(allowed_hosts("127.0.0.1", 8765), "open")).app()
    figures: dict[str, dict[str, float]] = {}
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:

        def get(path: str, **params: str) -> str:
            answer = client.get(path, params=params)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            return answer.text

        deep = "/console/memories"
        for _ in range(40):
            found = re.search(r'id="next-page" href="([^"]+)"', get(deep))
            assert found, "fewer than 40 pages"
            deep = found.group(1).replace("&amp;", "&")
        queries = iter(QUERIES * (runs + 2))
        figures["memories"] = _time(lambda: get("/console/memories"), runs)
        figures["memories, 40 pages down"] = _time(lambda: get(deep), runs)
        figures["memories, scope + category"] = _time(
            lambda: get("/console/memories", scope=SCOPES[3], category=CATEGORIES[3]), runs
        )
        figures["search"] = _time(lambda: get("/console/memories", q=next(queries)), runs)
        figures["activity"] = _time(lambda: get("/console/activity"), runs)
        figures["overview"] = _time(lambda: get("/console/overview"), max(5, runs // 5))
    return figures


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _service_memory(db: Path, model: str, embedder: str) -> dict[str, Any]:
    """RSS of a `serve --http` process before and after the console served its pages."""
    import httpx2

    with tempfile.TemporaryDirectory(prefix="cerebellum-console-rss-") as cache:
        port = 20000 + os.getpid() % 20000
        env = {**os.environ, "CEREBELLUM_CACHE_DIR": cache, "CEREBELLUM_CALIBRATE_GATE": "false", "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "server", "--db", str(db), "--model", model, "--embedder", embedder]
        process = subprocess.Popen(
            [*command, "--offline", "serve", "--http", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 600
            with httpx2.Client(base_url=base, timeout=600) as client:
                while True:
                    try:
                        client.get("/mcp")
                        break
                    except httpx2.TransportError:
                        if time.monotonic() > deadline or process.poll() is not None:
                            raise SystemExit("bench console: the server did not start") from None
                        time.sleep(0.5)
                # The models load after the first request; wait until they are in (RSS stops growing).
                time.sleep(60)
                before = _rss(process.pid)
                for _ in range(20):
                    for path, params in (
                        ("/console/memories", {}),
                        ("/console/memories", {"q": QUERIES[0]}),
                        ("/console/memories", {"scope": SCOPES[1]}),
                        ("/console/activity", {}),
                        ("/console/inbox", {}),
                        ("/console/overview", {}),
                    ):
                        assert client.get(path, params=params).status_code == 200
                after = _rss(process.pid)
        finally:
            process.terminate()
            process.wait(60)
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            "import re, pathlib, server.protocol.app, server.transport.http; "
            "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', "
            "pathlib.Path('/proc/self/status').read_text()).group(1)); a = rss(); "
            "import server.console.site, server.console.app as c; c.Console.__init__; "
            "from server.console.app import _environment; e = _environment(); "
            "[e.get_template(n) for n in ('memories.html', 'memory.html', 'inbox.html', 'activity.html', "
            "'overview.html')]; print(a, rss())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    without, with_console = (int(v) * 1024 for v in imports.stdout.split())
    return {
        "rss_models_loaded_mb": round(before / 2**20, 1),
        "rss_after_console_mb": round(after / 2**20, 1),
        "console_pages_added_mb": round((after - before) / 2**20, 1),
        "console_import_mb": round((with_console - without) / 2**20, 1),
    }


def run(models: Models, sizes: list[int], db: str, runs: int, model: str, embedder: str) -> dict[str, Any]:
    report: dict[str, Any] = {
        "cerebellum": Path(model).name,
        "embedder": models.embedder.name,
        "runs": runs,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "engines": [],
    }
    with postgres_location(db) as url, tempfile.TemporaryDirectory(prefix="cerebellum-console-bench-") as tmp:
        for size in sizes:
            for engine, location in (("sqlite", str(Path(tmp) / f"seeds-{size}.db")), ("postgresql", url)):
                store = open_store(location)
                try:
                    started = time.perf_counter()
                    if engine == "postgresql":  # the same seeds, copied as `migrate` copies them
                        source = open_store(str(Path(tmp) / f"seeds-{size}.db"))
                        try:
                            store.load(source.dump(), replace=True)
                        finally:
                            source.close()
                    else:
                        _fill(store, size, models.embedder.name, models.embedder.dimension)
                    filled = time.perf_counter() - started
                    pages = _pages(models, store, runs)
                    report["engines"].append(
                        {"engine": engine, "seeds": store.count(), "fill_s": round(filled, 1), "pages": pages}
                    )
                finally:
                    store.close()
            report["memory"] = _service_memory(Path(tmp) / f"seeds-{size}.db", model, embedder)
    return report


def render(report: dict[str, Any]) -> list[str]:
    lines = [
        f"console at size: cerebellum {report['cerebellum']}, embedder {report['embedder']}, {report['runs']} runs"
    ]
    for run in report["engines"]:
        lines.append(f"{run['engine']}, {run['seeds']} seeds (filled in {run['fill_s']} s):")
        for name, figure in run["pages"].items():
            lines.append(f"  {name:30} p50 {figure['p50_ms']:7.1f} ms   p95 {figure['p95_ms']:7.1f} ms")
    memory = report.get("memory")
    if memory:
        lines.append(
            f"serve --http RSS: {memory['rss_models_loaded_mb']} MB with the models loaded, "
            f"{memory['rss_after_console_mb']} MB after 120 console pages (+{memory['console_pages_added_mb']} MB); "
            f"importing the console adds {memory['console_import_mb']} MB"
        )
    return lines
