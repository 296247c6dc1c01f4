"""What the commands open: the seed store alone, or the store with the models (a `Memory`), and a progress bar.

Each is a context manager that closes what it opened. A store or a model that can't be had is a `CliError`
saying why; the commands that need neither import nothing from here.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli.command import CliError, err
from server.settings import Settings

if TYPE_CHECKING:
    from seeds import SeedStore
    from server.models.cerebellum import ArbitrateVerdict, Cerebellum, MemorizeVerdict
    from server.models.prompts import Candidate
    from server.pipeline.memory import Memory


@contextmanager
def store(settings: Settings, *, must_exist: bool = True) -> Generator[SeedStore]:
    from seeds import open_store

    if must_exist and isinstance(settings.db, Path) and not settings.db.exists():
        raise CliError(
            f"There is no seed store at {settings.db} yet (it is created when the server first stores something). "
            "Pass --db (or CEREBELLUM_DB) to use another file."
        )
    opened = open_store(settings.db)  # a StoreError is the CLI's to report (main.run)
    try:
        yield opened
    finally:
        opened.close()


class LazyCerebellum:
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
def memory(settings: Settings, *, must_exist: bool = True) -> Generator[Memory]:
    """The store with the embedder loaded now and the cerebellum on its first question."""
    from server.models.cerebellum import CerebellumError
    from server.models.files import ModelUnavailable
    from server.pipeline.loading import calibrate_gate, load_embedder, model_path
    from server.pipeline.memory import Memory

    with store(settings, must_exist=must_exist) as opened:
        try:
            with err().status("loading the models..."):
                embedder = load_embedder(model_path(settings, "embedder"), settings)
                cerebellum = LazyCerebellum(settings)
                # Fitted or read when the gate first asks the model, as the server does at load.
                fitter = (
                    (lambda: calibrate_gate(settings, cerebellum.load(), embedder)) if settings.calibrate_gate else None
                )
                loaded = Memory.from_settings(opened, cerebellum, embedder, settings, gate_fitter=fitter)
        except (ModelUnavailable, CerebellumError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        try:
            yield loaded
        except (ModelUnavailable, CerebellumError) as exc:
            raise CliError(str(exc)) from exc
        finally:
            for model in (loaded.cerebellum, loaded.embedder):
                close = getattr(model, "close", None)
                if callable(close):
                    close()


@contextmanager
def progress(label: str) -> Generator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields update(done, total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
