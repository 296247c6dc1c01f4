"""Text embeddings from a GGUF model through llama-cpp-python."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

logger = logging.getLogger(__name__)


# llama.cpp's pooling types (llama_cpp.LLAMA_POOLING_TYPE_*), as GGUF metadata gives them.
POOLING_MEAN, POOLING_CLS, POOLING_LAST = 1, 2, 3


@dataclass(frozen=True)
class EmbedderFamily:
    """What a known embedding model wants around its input text, and how its vectors are pooled.

    Models trained with instructions embed a query and a document differently; using the wrong
    form costs them a lot of retrieval quality. Every family's vectors are normalized afterwards
    (EmbeddingGemma's, for one, are not unit length)."""

    name: str
    query_prefix: str = ""
    document_prefix: str = ""
    pooling: int = POOLING_MEAN
    """Used when the file names no pooling type of its own."""
    ends_with_eos: bool = False
    """It pools on a final end-of-sequence token, which the file's tokenizer must add."""

    def query(self, text: str) -> str:
        return self.query_prefix + text

    def document(self, text: str) -> str:
        return self.document_prefix + text


PLAIN = EmbedderFamily("plain")
# The first family with a key in the GGUF's architecture, base name, name or file name (lower-cased).
KNOWN_FAMILIES: tuple[tuple[tuple[str, ...], EmbedderFamily], ...] = (
    (
        ("gemma-embedding", "embeddinggemma"),
        # https://ai.google.dev/gemma/docs/embeddinggemma: retrieval queries and documents.
        EmbedderFamily(
            "embeddinggemma", query_prefix="task: search result | query: ", document_prefix="title: none | text: "
        ),
    ),
    (
        ("qwen3-embedding", "qwen3 embedding"),
        EmbedderFamily(
            "qwen3-embedding",
            query_prefix="Instruct: Given a question or topic, retrieve the stored memories that answer it\nQuery:",
            pooling=POOLING_LAST,
            ends_with_eos=True,
        ),
    ),
    (("multilingual-e5", "e5-"), EmbedderFamily("e5", query_prefix="query: ", document_prefix="passage: ")),
    (
        ("nomic-embed", "nomic embed", "nomic-bert"),
        EmbedderFamily("nomic-embed", query_prefix="search_query: ", document_prefix="search_document: "),
    ),
    (("minilm", "bert"), EmbedderFamily("sentence-transformers")),
)


def family_for(metadata: Mapping[str, str], filename: str = "") -> EmbedderFamily:
    """The family a GGUF embedder belongs to, by what its metadata says (then its file name)."""
    names = [
        metadata.get("general.architecture", ""),
        metadata.get("general.basename", ""),
        metadata.get("general.name", ""),
        filename,
    ]
    lowered = [n.lower() for n in names if n]
    for keys, family in KNOWN_FAMILIES:
        if any(key in name for key in keys for name in lowered):
            return family
    return PLAIN


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
    """A GGUF embedding model. Thread-safe: it holds its own lock, so a recall's embedding does not
    wait for the cerebellum's decision in progress (they are separate llama.cpp contexts)."""

    def __init__(self, path: Path, *, threads: int, context_size: int = 512) -> None:
        from llama_cpp import LLAMA_POOLING_TYPE_UNSPECIFIED, Llama

        metadata = read_gguf_metadata(path)
        architecture = metadata.get("general.architecture", "")
        trained_context = int(metadata.get(f"{architecture}.context_length", context_size))
        self.family = family_for(metadata, path.name)
        # The file's own pooling type wins; a model without one (a chat LLM used as embedder, or an old
        # conversion) is pooled as its family is (mean for most, the last token for Qwen3-Embedding).
        own_pooling = f"{architecture}.pooling_type" in metadata
        n_ctx = min(context_size, trained_context)
        with quiet_stderr():
            self._llm = Llama(
                model_path=str(path),
                embedding=True,
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,  # llama-cpp-python's default is every core, whatever n_threads says
                pooling_type=LLAMA_POOLING_TYPE_UNSPECIFIED if own_pooling else self.family.pooling,
                verbose=False,
            )
        self._lock = threading.Lock()
        self.path = path
        self.name = path.name
        self.dimension = int(self._llm.n_embd())
        self.pooling = int(self._llm.pooling_type())
        self._room = n_ctx - 8  # tokens of text that fit with the special tokens the tokenizer adds
        if self.family.ends_with_eos and metadata.get("tokenizer.ggml.add_eos_token") != "true":
            logger.warning(
                "embedder %s pools on a final end-of-sequence token but its tokenizer does not add one: its "
                "vectors will be poor; use a current conversion of the model",
                self.name,
            )
        logger.info(
            "embedder %s loaded: %s family, %d dimensions, pooling %d, context %d",
            self.name,
            self.family.name,
            self.dimension,
            self.pooling,
            n_ctx,
        )

    def _fit(self, text: str) -> str:
        """The text cut to the context by tokens, so the tokenizer's closing tokens (which last-token
        pooling reads) are never the part that is cut off."""
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= self._room:
            return text
        return self._llm.detokenize(tokens[: self._room]).decode("utf-8", errors="ignore")

    def _embed(self, text: str) -> list[float]:
        with self._lock:
            raw = cast(list[Any], self._llm.embed([self._fit(text)], truncate=True))
        vector = raw[0]
        if vector and isinstance(vector[0], list):  # per-token output: pool it ourselves
            tokens = cast(list[list[float]], vector)
            vector = [sum(column) / len(tokens) for column in zip(*tokens, strict=True)]
        return l2_normalize(cast(list[float], vector))

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Many documents' vectors in batches (bulk loads, benchmarks): the same vectors as one by one,
        to float rounding, in a fraction of the time."""
        if not texts:
            return []
        with self._lock:
            raw = cast(list[Any], self._llm.embed([self._fit(self.family.document(t)) for t in texts], truncate=True))
        vectors: list[list[float]] = []
        for vector in raw:
            if vector and isinstance(vector[0], list):  # per-token output: pool it ourselves
                tokens = cast(list[list[float]], vector)
                vector = [sum(column) / len(tokens) for column in zip(*tokens, strict=True)]
            vectors.append(l2_normalize(cast(list[float], vector)))
        return vectors

    def embed_document(self, text: str) -> list[float]:
        """The vector stored for a seed."""
        return self._embed(self.family.document(text))

    def embed_query(self, text: str) -> list[float]:
        """The vector a recall query is searched with (instruction-tuned embedders want a prefix)."""
        return self._embed(self.family.query(text))

    def close(self) -> None:
        with self._lock:
            self._llm.close()
