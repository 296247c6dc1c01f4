"""The cerebellum: a small GGUF chat model that answers memory-routing questions in schema-constrained JSON."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from server import prompts
from server.embedder import quiet_stderr

logger = logging.getLogger(__name__)

# Used when a GGUF carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Texts longer than this many tokens are cut before they are shown to the model: the head of a
# text says what kind of text it is, and the context window stays free for the prompt.
MAX_TEXT_TOKENS = 1024


class CerebellumError(Exception):
    """The cerebellum could not give a usable answer."""


class UnparsableAnswer(CerebellumError):
    def __init__(self, raw: str) -> None:
        super().__init__(f"the cerebellum's answer is not the JSON asked for: {raw[:200]!r}")
        self.raw = raw


@dataclass(frozen=True)
class Answer:
    fields: dict[str, Any]
    raw: str
    prompt_tokens: int
    completion_tokens: int
    elapsed_ms: float
    truncated: bool
    """The token limit cut the answer (its last field may be incomplete)."""


# Token limits: a routing answer is a few enum values and a short reason. A small model that keeps
# talking is cut off instead of costing seconds.
MEMORIZE_MAX_TOKENS = 64
ARBITRATE_MAX_TOKENS = 192
RELATE_MAX_TOKENS = 48
PAIRWISE_LIMIT = 3  # most similar candidates asked about, one at a time


@dataclass(frozen=True)
class MemorizeVerdict:
    decision: Literal["SAVE", "SKIP"]
    category: str
    reason: str
    elapsed_ms: float


@dataclass(frozen=True)
class ArbitrateVerdict:
    action: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    target: int | None
    merged: str
    reason: str
    elapsed_ms: float


@lru_cache(maxsize=64)
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    with quiet_stderr():
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)


def parse_json_answer(raw: str) -> dict[str, Any]:
    """Parse the model's JSON; an answer cut off inside its last string (the reason) is closed first."""
    for candidate in (raw, raw + '"}', raw + "}"):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return cast(dict[str, Any], value)
    raise UnparsableAnswer(raw)


class Cerebellum:
    """Memorize and arbitrate with one GGUF model. Not thread-safe: callers serialize."""

    def __init__(
        self, path: Path, *, threads: int, context_size: int = 4096, arbiter: Literal["joint", "pairwise"] = "joint"
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        with quiet_stderr():
            self._llm = Llama(model_path=str(path), n_ctx=context_size, n_threads=threads, verbose=False)
        self.path = path
        self.name = path.name
        self.context_size = context_size
        self.arbiter = arbiter
        template = self._llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
        token_text = self._llm._model.token_get_text  # pyright: ignore[reportPrivateUsage]
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(eos_id) if eos_id != -1 else "",
            bos_token=token_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        # Qwen3 templates take enable_thinking; thinking would only add latency to a routing answer.
        self._template_kwargs: dict[str, Any] = {"enable_thinking": False} if "enable_thinking" in template else {}
        logger.info("cerebellum %s loaded, context %d", self.name, context_size)

    def _clip(self, text: str) -> str:
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= MAX_TEXT_TOKENS:
            return text
        head = self._llm.detokenize(tokens[:MAX_TEXT_TOKENS]).decode("utf-8", errors="ignore")
        return head + "\n[… cut]"

    def ask(self, system: str, user: str, schema: dict[str, object], max_tokens: int) -> Answer:
        """One schema-constrained completion. The grammar makes the output follow `schema`."""
        formatted = self._formatter(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            **self._template_kwargs,
        )
        tokens = self._llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + max_tokens > self.context_size:
            raise CerebellumError(
                f"the prompt ({len(tokens)} tokens) does not fit the context of {self.context_size}; "
                "raise --context-size"
            )
        started = time.perf_counter()
        result = cast(
            dict[str, Any],
            self._llm.create_completion(
                prompt=tokens,
                # Key order is kept: the grammar makes the model write the fields in schema order.
                grammar=_grammar(json.dumps(schema)),
                max_tokens=max_tokens,
                temperature=0.0,
                stop=formatted.stop,
                stopping_criteria=formatted.stopping_criteria,
            ),
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        choice = result["choices"][0]
        raw = str(choice["text"])
        usage = cast(dict[str, Any], result.get("usage") or {})
        return Answer(
            fields=parse_json_answer(raw),
            raw=raw,
            prompt_tokens=int(usage.get("prompt_tokens", len(tokens))),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            elapsed_ms=elapsed_ms,
            truncated=choice.get("finish_reason") == "length",
        )

    def memorize(self, text: str) -> MemorizeVerdict:
        answer = self.ask(
            prompts.MEMORIZE_SYSTEM,
            prompts.memorize_user(self._clip(text)),
            prompts.memorize_schema(),
            MEMORIZE_MAX_TOKENS,
        )
        fields = answer.fields
        category = fields.get("category")
        if category not in prompts.CATEGORIES:
            raise UnparsableAnswer(answer.raw)
        # The category decides; a model that names a SKIP kind and says SAVE contradicts itself.
        decision: Literal["SAVE", "SKIP"] = "SAVE" if prompts.decision_for(str(category)) == "SAVE" else "SKIP"
        if fields.get("decision") != decision:
            logger.debug("memorize: category %s overrides the model's %s", category, fields.get("decision"))
        return MemorizeVerdict(decision, str(category), str(fields.get("reason", "")), answer.elapsed_ms)

    def arbitrate(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        """How the new text relates to the candidates (most similar first): one joint question, or
        one question per candidate ("pairwise"), whichever this cerebellum was set up with."""
        if self.arbiter == "pairwise":
            return self._arbitrate_pairwise(text, candidates)
        return self._arbitrate_joint(text, candidates)

    def _arbitrate_pairwise(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        # One stored note at a time is a question a small model can answer; the system prompt is
        # the same for every pair, so llama.cpp reuses its evaluated prefix between them.
        elapsed = 0.0
        new = self._clip(text)
        for candidate in candidates[:PAIRWISE_LIMIT]:
            answer = self.ask(
                prompts.RELATE_SYSTEM,
                prompts.relate_user(self._clip(candidate.text), new),
                prompts.relate_schema(),
                RELATE_MAX_TOKENS,
            )
            elapsed += answer.elapsed_ms
            relation = answer.fields.get("relation")
            if relation not in ("SAME", "UPDATE", "RETRACT", "DIFFERENT"):
                raise UnparsableAnswer(answer.raw)
            if relation != "DIFFERENT":
                action = cast(Literal["UPDATE", "DELETE", "NONE"], prompts.RELATION_TO_ACTION[relation])
                return ArbitrateVerdict(action, candidate.id, "", str(answer.fields.get("reason", "")), elapsed)
        return ArbitrateVerdict("ADD", None, "", "no stored note is about the same subject", elapsed)

    def _arbitrate_joint(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        ids = [c.id for c in candidates]
        answer = self.ask(
            prompts.ARBITRATE_SYSTEM,
            prompts.arbitrate_user(
                self._clip(text), [prompts.Candidate(c.id, self._clip(c.text), c.updated_at) for c in candidates]
            ),
            prompts.arbitrate_schema(ids),
            ARBITRATE_MAX_TOKENS,
        )
        fields = answer.fields
        action, target = fields.get("action"), fields.get("target")
        if action not in ("ADD", "UPDATE", "DELETE", "NONE") or (target is not None and target not in ids):
            raise UnparsableAnswer(answer.raw)
        # A merged text cut off by the token limit would store half a sentence; the caller then
        # falls back to the new text itself.
        merged = "" if answer.truncated else str(fields.get("merged") or "")
        return ArbitrateVerdict(action, target, merged, str(fields.get("reason", "")), answer.elapsed_ms)

    def close(self) -> None:
        self._llm.close()
