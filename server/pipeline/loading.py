"""Loading the pipeline as configured: find the model files, load the embedder and the cerebellum, read or fit
the gate's rule, and open a `Memory` over a store (what the server's Decider, the CLI and eval call)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from seeds import SeedStore
from server.models.calibration import CalibrationError
from server.pipeline.gate import GateFitter
from server.pipeline.memory import Memory
from server.settings import Settings

if TYPE_CHECKING:
    from server.models.calibration import GateCalibration
    from server.models.cerebellum import Cerebellum
    from server.models.embedder import Embedder

logger = logging.getLogger(__name__)


def model_path(settings: Settings, role: Literal["cerebellum", "embedder"]) -> Path:
    """The local file of the configured cerebellum or embedder (downloaded into the hub cache if needed)."""
    from server.models.files import resolve_model

    if role == "embedder":
        return resolve_model(
            settings.embedder, role=role, setting="--embedder / CEREBELLUM_EMBEDDER", offline=settings.offline
        )
    return resolve_model(settings.model, role=role, setting="--model / CEREBELLUM_MODEL", offline=settings.offline)


def load_embedder(path: Path, settings: Settings) -> Embedder:
    """The embedder in `path`, with the configured threads and context."""
    from server.models.embedder import Embedder

    return Embedder(path, threads=settings.embedder_threads, context_size=settings.embedder_context_size)


def load_cerebellum(path: Path, settings: Settings) -> Cerebellum:
    """The cerebellum in `path`, with the configured threads, context, arbiter and prompt-head cache."""
    from server.models.cerebellum import Cerebellum
    from server.models.threads import chooser

    return Cerebellum(
        path,
        threads=chooser(settings.threads),
        context_size=settings.context_size,
        arbiter=settings.arbiter,
        verify=settings.second_look,
        group_vote=settings.group_vote,
        head_cache=settings.cache_dir / "heads",
    )


def open_memory(settings: Settings, store: SeedStore) -> Memory:
    """Resolve and load both models, as configured, over an open store. Slow: seconds to minutes."""
    # Both files are found first, so a missing model is reported before anything slow is loaded.
    embedder_path, cerebellum_path = model_path(settings, "embedder"), model_path(settings, "cerebellum")
    embedder = load_embedder(embedder_path, settings)
    try:
        # Check the store accepts this embedder before paying for the larger model.
        store.bind_embedder(embedder.name, embedder.dimension)
        cerebellum = load_cerebellum(cerebellum_path, settings)
    except BaseException:
        embedder.close()
        raise
    calibration: GateCalibration | None = None
    fitter: GateFitter | None = None
    if settings.calibrate_gate:
        # A fit at hand (cached, or shipped for these models) is read now; otherwise the first use of a
        # model pair decides with the plain gate while the fit runs in the background: no remember waits
        # minutes in the queue for it.
        calibration = ready_gate(settings, cerebellum, embedder)
        if calibration is None:
            fitter = partial(calibrate_gate, settings, cerebellum, embedder)
    memory = Memory.from_settings(store, cerebellum, embedder, settings, gate_calibration=calibration)
    # The prompt heads are evaluated (or read from the cache) in the background, between decisions.
    memory.prepare_in_background(cerebellum.warm_up_steps(), fitter)
    logger.info("memory ready: store %s, cerebellum %s, embedder %s", store.path, cerebellum.name, embedder.name)
    return memory


def ready_gate(settings: Settings, cerebellum: Cerebellum, embedder: Embedder) -> GateCalibration | None:
    """The gate's rule for this model pair and bank if a fit is at hand (the cache, or shipped), else None.
    A bank that can't be read leaves the plain gate (logged)."""
    from server.models.calibration import calibration_key, load_bank, ready_fit

    try:
        bank = load_bank(settings.gate_bank)
        return ready_fit(settings.cache_dir, calibration_key(cerebellum.path, embedder.path, bank))
    except (CalibrationError, OSError) as exc:
        logger.warning("could not read the gate calibration's bank, using the plain gate: %s", exc)
        return None


def calibrate_gate(
    settings: Settings,
    cerebellum: Cerebellum,
    embedder: Embedder,
    step: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> GateCalibration:
    """The gate's rule for this model pair: from the cache, or fitted now on the bank (slow once; each bank
    question inside `step()`)."""
    from server.models.calibration import load_bank, load_or_fit

    def scores(text: str) -> Mapping[str, float]:
        return cerebellum.memorize(text).scores

    bank = load_bank(settings.gate_bank)
    return load_or_fit(
        settings.cache_dir, cerebellum.path, embedder.path, scores, embedder.embed_document, bank=bank, step=step
    )
