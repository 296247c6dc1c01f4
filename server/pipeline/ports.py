"""What the pipeline needs of its two models, as protocols: any embedder and any cerebellum that answer these
will do (the real GGUF ones in server/models, the tests' fakes, eval's stand-ins)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from server.models.cerebellum import ArbitrateVerdict, MemorizeVerdict
from server.models.prompts import Candidate


class Embeds(Protocol):
    """An embedder: unit vectors of one dimension for stored texts (documents) and for questions (queries)."""

    name: str
    dimension: int

    def embed_document(self, text: str) -> list[float]: ...
    def embed_query(self, text: str) -> list[float]: ...


class Decides(Protocol):
    """A cerebellum: the gate's verdict on a text, and the arbiter's on a text against similar stored ones."""

    name: str

    def memorize(self, text: str) -> MemorizeVerdict: ...
    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict: ...
