"""The Decider: what runs the pipeline inside a long-lived server process.

It opens the store and loads the models in the background (after the MCP handshake, so `initialize`
is answered at once), retries a model load that failed, decides inbox texts on worker threads (one
decision per text at a time, however many callers wait for it), and keeps a worker that decides what
waits in the inbox: texts answered `queued` past the deadline, left by a restart, or written by a
process whose model is missing. The MCP tools (over stdio or HTTP) and the CLI reach it through
server/pipeline/write.py for writes, and through `store_ready` / `memory_within` for everything else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from seeds import SeedStore, StoreError, open_store
from server.models.cerebellum import CerebellumError
from server.models.files import ModelUnavailable
from server.pipeline.errors import DecisionFailed, ModelsNotLoaded, StoreNotOpen
from server.pipeline.loading import open_memory
from server.pipeline.memory import Memory
from server.pipeline.results import RememberResult
from server.settings import Settings

logger = logging.getLogger(__name__)

# If a client never sends anything after connecting, start loading anyway after this long.
HANDSHAKE_GRACE_SECONDS = 2.0
WORKER_POLL_SECONDS = 30.0  # how often the worker looks for texts queued by other processes or left undecided
WORKER_BATCH = 20
FINISHED_KEPT = 256

MemoryFactory = Callable[[Settings, SeedStore], Memory]


@dataclass(frozen=True)
class Undecided:
    """No decision within the deadline (or no model to decide with): the text waits in the inbox."""

    why: str


@dataclass(frozen=True)
class Failed:
    """Deciding failed (the model crashed, the store refused a write): the text stays pending, to be retried."""

    why: str


Decided = RememberResult | Failed | None
"""How a decision this process ran went: decided; failed; or not ours to decide (None: another server process
holds the text, or it is settled already)."""
Outcome = Decided | Undecided
"""How a decision went for a caller waiting on it: as `Decided`, or not decided within its deadline."""


class Decider:
    """The store, the models once loaded, and the decisions running in this process."""

    def __init__(self, settings: Settings, memory_factory: MemoryFactory = open_memory) -> None:
        self.settings = settings
        self.memory_factory = memory_factory
        self.handshake_done = anyio.Event()
        self.store_opened = anyio.Event()
        self.loaded = anyio.Event()
        """Set after the first load attempt, whatever its outcome."""
        self.retry_load = anyio.Event()
        self.wake_worker = anyio.Event()
        self.store: SeedStore | None = None
        self.store_error: str | None = None
        self.memory: Memory | None = None
        self.load_error: str | None = None
        self.task_group: TaskGroup | None = None
        self.in_flight: dict[int, anyio.Event] = {}
        """Inbox ids a decision is running for in this process, with the event set when it ends."""
        self._worker_error: str | None = None
        """The last reason the inbox worker could not read the inbox (logged once, until it changes)."""
        self.finished: dict[int, Decided] = {}
        """The latest decisions' outcomes, for a caller that joined a running decision."""

    # -- running -------------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def running(
        cls, settings: Settings, memory_factory: MemoryFactory = open_memory, *, abandon_background: bool = False
    ) -> AsyncGenerator[Decider]:
        """A Decider that opens the store and loads the models in the background, with its inbox worker;
        on exit the worker stops and the models and the store are closed. With `abandon_background` (a server
        process that ends with os._exit once stopped) the warm-up's or the gate fit's step in progress, and a
        model load, are not waited for."""
        decider = cls(settings, memory_factory)
        async with anyio.create_task_group() as tg:
            decider.task_group = tg
            tg.start_soon(decider._start)
            tg.start_soon(decider._worker)
            try:
                yield decider
            finally:
                tg.cancel_scope.cancel()
                # Shielded: in the cancelled scope an await would be cancelled at once, the models would
                # never be closed, and the warm-up thread would still be decoding as the process exits
                # (a segfault at exit). Closing waits for a caller's decision in progress, and for the
                # warm-up's step in progress unless the process ends with os._exit.
                with anyio.CancelScope(shield=True):
                    if decider.memory is not None:
                        memory = decider.memory
                        close = partial(memory.close, abandon_background=True) if abandon_background else memory.close
                        await anyio.to_thread.run_sync(close)
                    elif decider.store is not None:
                        decider.store.close()

    @classmethod
    @asynccontextmanager
    async def over(cls, settings: Settings, memory: Memory) -> AsyncGenerator[Decider]:
        """A Decider over a pipeline already loaded (the CLI's): no background load, no worker; the caller
        keeps and closes the memory."""
        decider = cls(settings)
        decider.store, decider.memory = memory.store, memory
        for event in (decider.handshake_done, decider.store_opened, decider.loaded):
            event.set()
        async with anyio.create_task_group() as tg:
            decider.task_group = tg
            yield decider

    async def _start(self) -> None:
        # Nothing is opened or loaded before the handshake: an `initialize` is answered at once.
        with anyio.move_on_after(HANDSHAKE_GRACE_SECONDS):
            await self.handshake_done.wait()
        try:
            self.store = await anyio.to_thread.run_sync(open_store, self.settings.db)
        except Exception as exc:  # whatever it was, it is every call's answer (store_ready), not the server's end
            self.store_error = self.load_error = (
                str(exc) if isinstance(exc, StoreError | OSError) else f"{type(exc).__name__}: {exc}"
            )
            if isinstance(exc, StoreError | OSError):
                logger.error("could not open the seed store: %s", exc)
            else:
                logger.exception("could not open the seed store")
            self.loaded.set()
            return
        finally:
            self.store_opened.set()
        await self._load_models(self.store)

    async def _load_models(self, store: SeedStore) -> None:
        while True:
            try:
                # abandon_on_cancel: a client that disconnects mid-load need not wait for the models.
                self.memory = await anyio.to_thread.run_sync(
                    self.memory_factory, self.settings, store, abandon_on_cancel=True
                )
                self.load_error = None
                self.loaded.set()
                self.wake_worker.set()
                return
            except (ModelUnavailable, StoreError, CerebellumError, OSError, ValueError) as exc:
                self.load_error = str(exc)
                logger.error("could not load the models: %s", exc)
            except Exception as exc:  # a model file llama.cpp cannot read raises bare errors
                self.load_error = f"{type(exc).__name__}: {exc}"
                logger.exception("could not load the models")
            self.loaded.set()
            with anyio.move_on_after(self.settings.model_retry_seconds):
                await self.retry_load.wait()
            self.retry_load = anyio.Event()

    async def _worker(self) -> None:
        """Decide what waits in the inbox: texts queued past the deadline, left by a restart, or
        written by another server process whose model is missing."""
        await self.loaded.wait()
        while True:
            progressed = False
            if self.memory is not None and self.store is not None:
                progressed = await self._worker_pass(self.store)
            if progressed:
                continue  # there may be more
            with anyio.move_on_after(WORKER_POLL_SECONDS):
                await self.wake_worker.wait()
            self.wake_worker = anyio.Event()

    async def _worker_pass(self, store: SeedStore) -> bool:
        """Decide a batch of what waits in the inbox; whether any was decided. Nothing raised here ends the
        worker (or the server with it): a store that can't be read is logged once, and tried again later."""
        try:
            pending = await anyio.to_thread.run_sync(store.inbox, "pending", None, WORKER_BATCH)
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            if why != self._worker_error:
                logger.warning("the inbox worker could not read the inbox, it tries again later: %s", why)
            self._worker_error = why
            return False
        self._worker_error = None
        progressed = False
        for received in pending:
            outcome = await self.decide(received.id)
            if isinstance(outcome, Failed):
                return False  # the model or the store is failing: wait before trying again
            progressed = progressed or outcome is not None
        return progressed

    # -- what the tools wait for ---------------------------------------------------------------

    async def store_ready(self) -> SeedStore:
        self.handshake_done.set()  # a tool call means the handshake is over
        await self.store_opened.wait()
        if self.store is None:
            raise StoreNotOpen(
                f"The seed store could not be opened: {self.store_error}. Check --db / CEREBELLUM_DB, then restart "
                "the server."
            )
        return self.store

    async def memory_within(self, seconds: float | None) -> Memory | None:
        """The pipeline, waiting at most `seconds` (None: until the first load attempt ends)."""
        self.handshake_done.set()
        with anyio.move_on_after(seconds):
            await self.loaded.wait()
        if self.memory is None and self.load_error is not None:
            self.retry_load.set()  # the model file may be back: try again now rather than at the next retry
        return self.memory

    async def memory_ready(self) -> Memory:
        memory = await self.memory_within(None)
        if memory is None:
            raise ModelsNotLoaded(f"The memory server could not start: {self.load_error}")
        return memory

    def not_ready(self) -> str:
        if self.load_error is not None:
            return (
                f"the cerebellum could not be loaded ({self.load_error}); the text is kept and will be decided "
                "once the model loads"
            )
        return "the models are still loading; the text is kept and will be decided in the background"

    # -- deciding ------------------------------------------------------------------------------

    async def decide(self, inbox_id: int) -> Decided:
        """Decide one inbox text on a worker thread (None: not ours to decide). If this process is
        already deciding it (the worker and a waiting call can meet on a fresh text), wait for that
        decision instead of starting another. Whatever fails is this call's answer (`Failed`, logged),
        never an exception: a failure must not end the task group that runs it, nor the server."""
        memory = self.memory
        if memory is None:
            return None
        running = self.in_flight.get(inbox_id)
        if running is not None:
            await running.wait()
            return self.finished.get(inbox_id)
        done = self.in_flight[inbox_id] = anyio.Event()
        outcome: Decided = None
        try:
            outcome = await anyio.to_thread.run_sync(memory.decide, inbox_id)
        except DecisionFailed as exc:
            logger.warning("deciding inbox text %d failed, it stays queued: %s", inbox_id, exc)
            outcome = Failed(str(exc))
        except Exception as exc:  # whatever it was, it must not end the server: this call gets it as its answer
            logger.exception("deciding inbox text %d failed unexpectedly; it stays queued", inbox_id)
            outcome = Failed(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished[inbox_id] = outcome
            while len(self.finished) > FINISHED_KEPT:
                self.finished.pop(next(iter(self.finished)))
            del self.in_flight[inbox_id]
            done.set()
        return outcome

    async def decide_within(self, inbox_id: int, deadline: float | None) -> Outcome:
        """Decide an inbox text, waiting at most `deadline` seconds (None: as long as it takes) for the
        models and the decision. The decision runs in the Decider's task group, so it finishes even if
        the caller stops waiting (or goes away); a failed one wakes the worker to retry it."""
        assert self.task_group is not None, "the Decider is not running"
        outcome: list[Decided] = []
        with anyio.move_on_after(deadline):
            if await self.memory_within(deadline) is None:
                return Undecided(self.not_ready())
            done = anyio.Event()

            async def decide() -> None:
                try:
                    outcome.append(await self.decide(inbox_id))
                finally:
                    done.set()

            self.task_group.start_soon(decide)
            await done.wait()
        if not outcome:
            return Undecided(
                f"the cerebellum did not decide within {deadline:g} s; the text is kept and will be decided "
                "in the background"
            )
        if isinstance(outcome[0], Failed):
            self.wake_worker.set()
        return outcome[0]
