"""Where the console gets the store and the models: the running server's Decider (the shared service,
`serve --http`), or a pipeline already open (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from pydantic import BaseModel

from server.console.errors import NotReady

if TYPE_CHECKING:
    from seeds import SeedStore
    from server.pipeline.memory import Memory

MODEL_WAIT_SECONDS = 30.0


class ServiceInfo(BaseModel):
    """What the overview shows of the process serving the console."""

    models: str
    """loading, loaded, or why they are not."""
    cerebellum: str | None = None
    embedder: str | None = None
    clients: int | None = None
    pending: int | None = None
    rss_bytes: int | None = None


class Backend(Protocol):
    async def store(self) -> SeedStore: ...
    async def memory(self) -> Memory: ...
    def service(self) -> ServiceInfo: ...


def _model_names(memory: Memory | None) -> tuple[str | None, str | None]:
    if memory is None:
        return None, None
    return memory.cerebellum.name, memory.embedder.name


class MemoryBackend:
    """A pipeline already open in this process."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    async def store(self) -> SeedStore:
        return self._memory.store

    async def memory(self) -> Memory:
        return self._memory

    def service(self) -> ServiceInfo:
        from server.system import process_memory

        cerebellum, embedder = _model_names(self._memory)
        return ServiceInfo(
            models="loaded",
            cerebellum=cerebellum,
            embedder=embedder,
            pending=self._memory.store.inbox_count("pending"),
            rss_bytes=process_memory()[0],
        )


class DeciderBackend:
    """The running server's Decider, found through its lifespan context once the server runs."""

    def __init__(self, context: Callable[[], Any], clients: Callable[[], int | None] = lambda: None) -> None:
        self._context = context
        self._clients = clients

    def _decider(self) -> Any:
        decider = getattr(self._context(), "decider", None)
        if decider is None:
            raise NotReady("the server is starting; reload the page in a moment")
        return decider

    async def store(self) -> SeedStore:
        decider = self._decider()
        decider.handshake_done.set()  # the console counts as a client: open the store now
        await decider.store_opened.wait()
        if decider.store is None:
            raise NotReady(f"the seed store could not be opened: {decider.store_error}")
        return decider.store

    async def memory(self) -> Memory:
        decider = self._decider()
        decider.handshake_done.set()
        memory = await decider.memory_within(MODEL_WAIT_SECONDS)
        if memory is None:
            raise NotReady(decider.not_ready().replace("the text is kept and will be decided", "try again"))
        return memory

    def service(self) -> ServiceInfo:
        from server.system import process_memory

        try:
            decider = self._decider()
        except NotReady:
            return ServiceInfo(models="starting")
        if decider.memory is not None:
            models = "loaded"
        elif decider.load_error is not None:
            models = f"not loaded: {decider.load_error}"
        else:
            models = "loading"
        pending = None
        if decider.store is not None:
            try:
                pending = decider.store.inbox_count("pending")
            except Exception:  # the overview shows what it can
                pending = None
        cerebellum, embedder = _model_names(decider.memory)
        return ServiceInfo(
            models=models,
            cerebellum=cerebellum,
            embedder=embedder,
            clients=self._clients(),
            pending=pending,
            rss_bytes=process_memory()[0],
        )


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Store and model calls block: they run on a worker thread, never on the event loop."""
    return await anyio.to_thread.run_sync(lambda: function(*args))
