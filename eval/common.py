"""What the eval runners share: loading the configured models once, timing, and printing figures."""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seeds import SeedStore
from server.models.calibration import GateCalibration
from server.models.cerebellum import Cerebellum, CerebellumError
from server.models.embedder import Embedder
from server.models.prompts import PROMPT_VERSION
from server.models.threads import describe as describe_threads
from server.pipeline.loading import calibrate_gate, load_cerebellum, load_embedder, model_path
from server.pipeline.memory import Memory
from server.settings import Settings


def settings_from(model: str | None, embedder: str | None) -> Settings:
    given: dict[str, Any] = {key: value for key, value in (("model", model), ("embedder", embedder)) if value}
    return Settings(**given)  # CEREBELLUM_* variables apply as for the server


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Models:
    settings: Settings
    embedder: Embedder
    cerebellum: Cerebellum | None
    calibration: GateCalibration | None = None

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "embedder": self.embedder.name,
            "embedder_sha256": sha256_of(self.embedder.path),
            "prompts": PROMPT_VERSION,
        }
        if self.cerebellum is not None:
            info["model"] = self.cerebellum.name
            info["model_sha256"] = sha256_of(self.cerebellum.path)
            info["threads"] = describe_threads(self.cerebellum.choose_threads)
        if self.calibration is not None:
            info["gate_calibration"] = {"key": self.calibration.key, "out_of_fold": self.calibration.out_of_fold}
        return info

    def memory(self, store: SeedStore) -> Memory:
        """The pipeline the MCP tools use, over the given store, with the configured thresholds."""
        brain = self.cerebellum if self.cerebellum is not None else NoCerebellum()
        return Memory.from_settings(store, brain, self.embedder, self.settings, gate_calibration=self.calibration)


class NoCerebellum:
    """Stands in where only recall is measured; any decision it is asked for fails loudly."""

    name = "none"

    def memorize(self, text: str) -> Any:
        raise CerebellumError("no cerebellum is loaded in this runner")

    def arbitrate(self, text: str, candidates: Sequence[Any]) -> Any:
        raise CerebellumError("no cerebellum is loaded in this runner")


def load_models(settings: Settings, *, cerebellum: bool = True) -> Models:
    embedder = load_embedder(model_path(settings, "embedder"), settings)
    brain = load_cerebellum(model_path(settings, "cerebellum"), settings) if cerebellum else None
    # Fitted (or read from the cache) before anything is timed, as the server does while loading.
    calibration = calibrate_gate(settings, brain, embedder) if brain is not None and settings.calibrate_gate else None
    return Models(settings, embedder, brain, calibration)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "mean_ms": round(statistics.fmean(values), 1) if values else 0.0,
    }


def emit(report: dict[str, Any], lines: list[str], as_json: bool) -> None:
    """Human-readable lines, then (with --json) the report as one JSON object on the last line."""
    for line in lines:
        print(line)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, sort_keys=True))
    sys.stdout.flush()
