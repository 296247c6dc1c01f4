"""Importing other tools' memory (`import --from`): per source, items read, kept, skipped by reason, merged,
refused, secrets leaked and time, each into a fresh SQLite store with the configured models.

    python -m eval import server-memory=FILE mcp-memory-service=FILE ... [--model M --embedder E] [--json]

Sources are made by the peers' own software (eval/peers.py) where it runs here. "Secrets leaked" counts the
stored seeds in which the secret screen (server/rules/secrets.py) still finds a credential: it must be 0.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.common import Models
from seeds import open_store
from server.importers.pipeline import ImportOptions, import_items
from server.importers.sources import read_source
from server.rules import secrets


def run(models: Models, sources: list[tuple[str, Path]], *, dry_run: bool = False) -> dict[str, Any]:
    report: dict[str, Any] = {"models": models.describe(), "sources": []}
    for format_name, path in sources:
        with tempfile.TemporaryDirectory(prefix="cerebellum-import-") as tmp:
            store = open_store(Path(tmp) / "seeds.db")
            memory = models.memory(store)
            try:
                started = time.perf_counter()
                items = read_source(format_name, path)
                read_s = time.perf_counter() - started
                summary = import_items(
                    memory,
                    items,
                    ImportOptions(default_scope="imported", dry_run=dry_run, secrets_mode=models.settings.secrets),
                    format_name=format_name,
                    source=str(path),
                    progress=_progress(format_name),
                )
                seeds = store.list_seeds()
                leaked = sum(1 for seed in seeds if secrets.find_secrets(seed.text))
                report["sources"].append(
                    {
                        "format": format_name,
                        "source": path.name,
                        "read": summary.read,
                        "kept": summary.kept,
                        "merged": summary.merged,
                        "updated": summary.updated,
                        "retracted": summary.retracted,
                        "refused": summary.refused,
                        "redacted": summary.redacted,
                        "skipped": summary.skipped,
                        "gated": summary.gated,
                        "arbitrated": summary.arbitrated,
                        "stored": len(seeds),
                        "secrets_leaked": leaked,
                        "read_s": round(read_s, 2),
                        "import_s": summary.seconds,
                        "arbiter_s": summary.arbiter_seconds,
                        "embedding_s": summary.embedding_seconds,
                        "writing_s": summary.writing_seconds,
                        "per_item_ms": round(1000 * summary.seconds / max(summary.read, 1), 1),
                    }
                )
            finally:
                store.close()
    return report


def _progress(format_name: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"{format_name}: {done}/{total}", file=sys.stderr, flush=True)

    return show


def render(report: dict[str, Any]) -> list[str]:
    models = report["models"]
    lines = [f"import: cerebellum {models.get('model', '-')}, embedder {models['embedder']}"]
    for row in report["sources"]:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(row["skipped"].items(), key=lambda kv: -kv[1])) or "-"
        lines.append(
            f"  {row['format']:<19} {row['source']}: read {row['read']}, kept {row['kept']}, merged {row['merged']}, "
            f"updated {row['updated']}, retracted {row['retracted']}, refused {row['refused']}, skipped "
            f"{sum(row['skipped'].values())} ({skipped}); gate asked {row['gated']}, arbiter asked "
            f"{row['arbitrated']}; secrets leaked {row['secrets_leaked']}; {row['import_s']} s "
            f"({row['per_item_ms']} ms/item; arbiter {row.get('arbiter_s', '-')} s, embedding "
            f"{row.get('embedding_s', '-')} s, writing {row.get('writing_s', '-')} s)"
        )
    return lines
