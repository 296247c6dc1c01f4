"""Text embeddings from a GGUF model through llama-cpp-python."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedderFamily:
    """What a known embedding model wants around its input text."""

    query_prefix: str = ""
    document_prefix: str = ""


# Matched against the lower-cased file name. Models trained with instructions embed a query
# and a document differently; using the wrong form costs them a lot of retrieval quality.
KNOWN_FAMILIES: dict[str, EmbedderFamily] = {
    "qwen3-embedding": EmbedderFamily(
        query_prefix="Instruct: Given a question or topic, retrieve the stored memories that answer it\nQuery:"
    ),
    "multilingual-e5": EmbedderFamily(query_prefix="query: ", document_prefix="passage: "),
    "e5-": EmbedderFamily(query_prefix="query: ", document_prefix="passage: "),
    "nomic-embed": EmbedderFamily(query_prefix="search_query: ", document_prefix="search_document: "),
}


def family_for(filename: str) -> EmbedderFamily:
    lowered = filename.lower()
    for key, family in KNOWN_FAMILIES.items():
        if key in lowered:
            return family
    return EmbedderFamily()


@contextlib.contextmanager
def quiet_stderr() -> Generator[None]:
    """Silence llama.cpp's C-level logging on fd 2 while a model loads (it ignores verbose=False in places)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (some embedded hosts)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """The GGUF key/values, read by loading the vocabulary only (fast: no weights)."""
    from llama_cpp import Llama

    with quiet_stderr():
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return dict(llm.metadata)
    finally:
        llm.close()


def l2_normalize(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


class Embedder:
    """A GGUF embedding model. Not thread-safe: callers serialize (the pipeline holds one lock)."""

    def __init__(self, path: Path, *, threads: int, context_size: int = 512) -> None:
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, LLAMA_POOLING_TYPE_UNSPECIFIED, Llama

        metadata = read_gguf_metadata(path)
        architecture = metadata.get("general.architecture", "")
        trained_context = int(metadata.get(f"{architecture}.context_length", context_size))
        # A text model without a pooling type of its own (a chat LLM used as embedder) would return
        # one vector per token; mean pooling is the usual, reasonable choice for those.
        has_pooling = f"{architecture}.pooling_type" in metadata
        n_ctx = min(context_size, trained_context)
        with quiet_stderr():
            self._llm = Llama(
                model_path=str(path),
                embedding=True,
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=threads,
                pooling_type=LLAMA_POOLING_TYPE_UNSPECIFIED if has_pooling else LLAMA_POOLING_TYPE_MEAN,
                verbose=False,
            )
        self.path = path
        self.name = path.name
        self.dimension = int(self._llm.n_embd())
        self.family = family_for(path.name)
        logger.info("embedder %s loaded: %d dimensions, context %d", self.name, self.dimension, n_ctx)

    def _embed(self, text: str) -> list[float]:
        raw = cast(list[Any], self._llm.embed([text], truncate=True))
        vector = raw[0]
        if vector and isinstance(vector[0], list):  # per-token output: pool it ourselves
            tokens = cast(list[list[float]], vector)
            vector = [sum(column) / len(tokens) for column in zip(*tokens, strict=True)]
        return l2_normalize(cast(list[float], vector))

    def embed_document(self, text: str) -> list[float]:
        """The vector stored for a seed."""
        return self._embed(self.family.document_prefix + text)

    def embed_query(self, text: str) -> list[float]:
        """The vector a recall query is searched with (instruction-tuned embedders want a prefix)."""
        return self._embed(self.family.query_prefix + text)

    def close(self) -> None:
        self._llm.close()
