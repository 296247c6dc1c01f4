"""The cerebellum: a small GGUF chat model that answers memory-routing questions in schema-constrained JSON."""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, cast

from server.errors import ServerError
from server.models import prompts
from server.models.embedder import quiet_stderr
from server.models.threads import ChooseThreads, fixed
from server.rules import signals

logger = logging.getLogger(__name__)

# Used when a GGUF carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Texts longer than this many tokens are cut before they are shown to the model: the head of a
# text says what kind of text it is, and the context window stays free for the prompt.
MAX_TEXT_TOKENS = 1024


class CerebellumError(ServerError):
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
    evaluated_tokens: int = 0
    """Prompt tokens actually run through the model (the rest came from a cached prefix)."""


@dataclass
class _Prefix:
    """The evaluated static head of one task's prompt: its tokens and their KV cache (sequence 0)."""

    tokens: list[int]
    kv: bytes


@dataclass
class Usage:
    """What model calls cost (the last one, or a running total): for the write-path benchmark."""

    calls: int = 0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    completion_tokens: int = 0
    elapsed_ms: float = 0.0
    restore_ms: float = 0.0
    """Time spent copying a cached prompt head back into the context (the cost of sharing one context)."""
    restores: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.evaluated_tokens + other.evaluated_tokens,
            self.completion_tokens + other.completion_tokens,
            self.elapsed_ms + other.elapsed_ms,
            self.restore_ms + other.restore_ms,
            self.restores + other.restores,
        )

    def __sub__(self, other: Usage) -> Usage:
        """What was spent between two readings of a running total."""
        return Usage(
            self.calls - other.calls,
            self.prompt_tokens - other.prompt_tokens,
            self.evaluated_tokens - other.evaluated_tokens,
            self.completion_tokens - other.completion_tokens,
            self.elapsed_ms - other.elapsed_ms,
            self.restore_ms - other.restore_ms,
            self.restores - other.restores,
        )


# Token limits: a routing answer is a few enum values and a short reason. A small model that keeps
# talking is cut off instead of costing seconds.
ARBITRATE_MAX_TOKENS = 192
HEAD_FORMAT = 1  # of the saved prompt heads: a change makes every process evaluate them anew
LABEL_MAX_TOKENS = 8  # room left in the context for a label and its closing quote
_SEQUENCE = ctypes.c_int32(0)  # llama-cpp-python's high-level API decodes everything as sequence 0
ADDS_DETAIL_RATIO = 1.5  # second look: a new note this many times the stored one's length adds detail
PAIRWISE_LIMIT = 3  # most similar candidates asked about, one at a time


@dataclass(frozen=True)
class MemorizeVerdict:
    decision: Literal["SAVE", "SKIP"]
    category: str
    reason: str
    elapsed_ms: float
    scores: Mapping[str, float] = field(default_factory=dict[str, float])
    """Each category's log-probability as the answer's first token (what a calibrated gate weighs)."""


def shares_of(scores: Mapping[str, float]) -> dict[str, float]:
    """Each label's share of the model's probability over the labels (log-probabilities in, shares summing to 1
    out): what a person reads to see how sure the model was."""
    if not scores:
        return {}
    top = max(scores.values())
    weights = {label: math.exp(score - top) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


@dataclass(frozen=True)
class AskedPair:
    """One stored note the pairwise arbiter asked about: its answer and the model's shares over the relations."""

    target: int
    relation: str
    """The answer that counts: the first one, or the second look's correction of it."""
    shares: Mapping[str, float]
    """The model's shares over the relations, at the first question."""
    first: str = ""
    """The first question's answer, when the second look changed it."""
    check: str = ""
    """The second look's question, if asked: 'same' (a rewording?) or 'replacement' (names what is true now?)."""
    check_shares: Mapping[str, float] = field(default_factory=dict[str, float])
    """The model's shares over YES and NO at the second look."""


@dataclass(frozen=True)
class ArbitrateVerdict:
    action: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    target: int | None
    merged: str
    reason: str
    elapsed_ms: float
    asked: tuple[AskedPair, ...] = ()
    """The pairwise arbiter's question about each stored note, in the order asked (none for the joint one)."""


@dataclass(frozen=True)
class IntentLabel:
    """The cerebellum's reading of one message: its likeliest intent and every intent's probability."""

    intent: Literal["RECALL", "REMEMBER", "BOTH", "NONE"]
    probabilities: Mapping[str, float]
    """Each intent's share of the model's probability over the four (they sum to 1)."""
    elapsed_ms: float
    kind: str = ""
    """The kind of message the model named (question, task, decision, correction, chatter, ...)."""
    kinds: Mapping[str, float] = field(default_factory=dict[str, float])
    """Each kind's share of the model's probability (they sum to 1): what is left when a kind is ruled out."""


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


def answer_start(prompt: str) -> str:
    """The rendered prompt, ending where the answer starts. A template that always opens a thinking
    block for the answer (one without Qwen3's switch, or with the switch ignored) gets it closed empty
    here, so that what follows is read as the answer and not as a thought."""
    tail = prompt.rstrip()
    if tail.endswith("<think>"):
        return tail + "\n\n</think>\n\n"
    return prompt


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Cerebellum:
    """Memorize and arbitrate with one GGUF model. Not thread-safe: callers serialize.

    Two things keep a decision near the cost of the new text's own tokens:
    - each task's static prompt head (system prompt, few-shot examples) is evaluated once and its
      KV cache kept; switching task restores it instead of evaluating it again;
    - a label question (memorize's category, the pairwise relation) is answered by prefilling the
      JSON up to the label and letting the grammar allow only the labels: a few decoded tokens.
    """

    def __init__(
        self,
        path: Path,
        *,
        threads: int | ChooseThreads,
        context_size: int = 4096,
        arbiter: Literal["joint", "pairwise"] = "joint",
        reuse_prefix: bool = True,
        verify: bool = True,
        group_vote: bool = True,
        head_cache: Path | None = None,
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.choose_threads = fixed(threads) if isinstance(threads, int) else threads
        """How many threads the next model call runs on (server/models/threads.py: fixed, or by the machine's load)."""
        self.threads = self.choose_threads()
        with quiet_stderr():
            # n_threads_batch too: llama-cpp-python's default for it is every core, and reading a prompt is
            # most of a decision's work.
            self._llm = Llama(
                model_path=str(path),
                n_ctx=context_size,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        self.path = path
        self.name = path.name
        self.context_size = context_size
        self.arbiter = arbiter
        self.reuse_prefix = reuse_prefix
        self.verify = verify
        self.group_vote = group_vote
        self.head_cache = head_cache
        """Where evaluated prompt heads are kept between processes (None: in memory only)."""
        self.heads_from_cache = 0
        """Memorize: SAVE or SKIP by the summed probability of each side's categories."""
        """Pairwise: ask a yes/no second question when the relation is UPDATE or RETRACT."""
        """False re-evaluates every prompt from its first token (for the benchmark's comparison)."""
        self.usage = Usage()
        self.total = Usage()
        """Every call since the model was loaded (warm-up included)."""
        self._prefixes: dict[str, _Prefix] = {}
        self.last_read: list[str] = []
        """The stored notes the last arbitrate showed the model (for the write benchmark's floor)."""
        self._spellings: dict[str, tuple[int, ...]] = {}
        self.last_scores: dict[str, float] = {}
        """The last label question's log-probability of each label's first token, over all labels'."""
        template = self._llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
        token_text = self._llm._model.token_get_text  # pyright: ignore[reportPrivateUsage]
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(eos_id) if eos_id != -1 else "",
            bos_token=token_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        # Qwen3 templates take enable_thinking; thinking would only add latency to a routing answer, and
        # a label read inside a <think> block would be a thought, not the answer.
        self.thinking_switch = "enable_thinking" in template
        self._template_kwargs: dict[str, Any] = {"enable_thinking": False} if self.thinking_switch else {}
        logger.info("cerebellum %s loaded, context %d", self.name, context_size)

    def _clip(self, text: str) -> str:
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= MAX_TEXT_TOKENS:
            return text
        head = self._llm.detokenize(tokens[:MAX_TEXT_TOKENS]).decode("utf-8", errors="ignore")
        return head + "\n[… cut]"

    # -- prompts and the prefix cache --------------------------------------------------------

    def _format(self, system: str, user: str) -> Any:
        """The prompt as the model's own chat template renders it, with Qwen3's thinking switched off:
        the template then closes an empty `<think>` block itself, so the answer (and a prefilled label)
        starts right after it, never inside a block of thoughts."""
        return self._formatter(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            **self._template_kwargs,
        )

    def prompt_text(self, system: str, user: str, prefill: str = "") -> str:
        """The text the model reads for one question: the template's rendering, a thinking block the
        template opened closed empty, then the prefill."""
        return answer_start(str(self._format(system, user).prompt)) + prefill

    def _prompt_tokens(self, system: str, user: str, prefill: str = "") -> tuple[list[int], Any]:
        formatted = self._format(system, user)
        text = answer_start(str(formatted.prompt)) + prefill
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True), formatted

    def _task_prefix(self, system: str) -> _Prefix:
        """The KV cache of the tokens every prompt with this system prompt starts with (made once)."""
        prefix = self._prefixes.get(system)
        if prefix is None:
            # The shared head is what two prompts with different user texts have in common: this
            # respects however the template and tokenizer join the system and user parts.
            one, _ = self._prompt_tokens(system, "A")
            two, _ = self._prompt_tokens(system, "Z")
            tokens = one[: _common_prefix(one, two)]
            prefix = self._stored_head(tokens)
            if prefix is None:
                self._set_threads()
                self._llm.reset()
                self._llm.eval(tokens)
                from llama_cpp import llama_cpp as lib

                ctx = self._llm.ctx
                size = lib.llama_state_seq_get_size(ctx, _SEQUENCE)
                buffer = (ctypes.c_uint8 * size)()
                written = lib.llama_state_seq_get_data(ctx, buffer, size, _SEQUENCE)
                prefix = _Prefix(tokens, bytes(buffer[:written]))
                self._store_head(prefix)
                logger.debug("cached a %d-token prompt head (%d KB)", len(tokens), written // 1024)
            self._prefixes[system] = prefix
        return prefix

    def _head_file(self, tokens: Sequence[int]) -> Path | None:
        if self.head_cache is None:
            return None
        import llama_cpp

        from server.models.calibration import file_fingerprint

        # The saved state is llama.cpp's own: the same model file, llama.cpp version and tokens only.
        origin = f"{file_fingerprint(self.path)}|{llama_cpp.__version__}|{HEAD_FORMAT}|{tokens}"
        key = hashlib.sha256(origin.encode()).hexdigest()[:24]
        return self.head_cache / f"head-{key}.kv"

    def _stored_head(self, tokens: list[int]) -> _Prefix | None:
        """A prompt head evaluated by an earlier process, read from the cache folder and checked by
        loading it into the context (seconds of evaluation saved at each start: what a short-lived
        launch lacks)."""
        try:
            path = self._head_file(tokens)
            if path is None or not path.is_file():
                return None
            prefix = _Prefix(tokens, path.read_bytes())
        except OSError as exc:
            logger.warning("could not read a cached prompt head: %s", exc)
            return None
        if not self._restore(prefix):
            return None
        self.heads_from_cache += 1
        logger.debug("read a %d-token prompt head from %s", len(tokens), path)
        return prefix

    def _store_head(self, prefix: _Prefix) -> None:
        try:
            path = self._head_file(prefix.tokens)
            if path is None:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            partial_file = path.with_suffix(f".{os.getpid()}.tmp")
            partial_file.write_bytes(prefix.kv)
            partial_file.replace(path)
        except OSError as exc:
            logger.warning("could not cache a prompt head: %s", exc)

    def _restore(self, prefix: _Prefix) -> bool:
        """Put a task's prompt head back in the context, unless the context already starts with it.
        False (and an empty context) when the saved state does not fit this context."""
        llm = self._llm
        n = len(prefix.tokens)
        if llm.n_tokens >= n and list(llm.input_ids[:n]) == prefix.tokens:
            return True  # the last call had the same task: llama.cpp reuses the head by itself
        from llama_cpp import llama_cpp as lib

        started = time.perf_counter()
        llm.reset()
        buffer = (ctypes.c_uint8 * len(prefix.kv)).from_buffer_copy(prefix.kv)
        if lib.llama_state_seq_set_data(llm.ctx, buffer, len(prefix.kv), _SEQUENCE) != len(prefix.kv):
            logger.warning("could not restore a cached prompt head; evaluating it again")
            self._prefixes.clear()
            llm.reset()
            return False
        llm.input_ids[:n] = prefix.tokens
        llm.n_tokens = n
        self.total.restore_ms += (time.perf_counter() - started) * 1000
        self.total.restores += 1
        return True

    def warm_up_steps(self) -> list[Callable[[], object]]:
        """The warm-up, one step per task's prompt head (each a few seconds on a small CPU), so that a
        caller can run them between decisions: a decision that comes first evaluates what it needs."""
        systems = [prompts.MEMORIZE_SYSTEM, prompts.INTENT_SYSTEM]
        if self.arbiter == "joint":
            systems.append(prompts.ARBITRATE_SYSTEM)
        else:
            systems.append(prompts.RELATE_SYSTEM)
            if self.verify:
                systems += [prompts.SAME_CHECK_SYSTEM, prompts.REPLACEMENT_CHECK_SYSTEM]
        steps: list[Callable[[], object]] = [partial(self._task_prefix, system) for system in systems]
        # One real decision also warms the scoring path.
        steps.append(partial(self.memorize, "warm-up"))
        return steps

    def warm_up(self) -> None:
        """Evaluate each task's prompt head now, so the first real decision does not pay for it."""
        started = time.perf_counter()
        for step in self.warm_up_steps():
            step()
        logger.info("cerebellum warmed up in %.0f ms", (time.perf_counter() - started) * 1000)

    def _set_threads(self) -> None:
        threads = self.choose_threads()
        if threads != self.threads:
            from llama_cpp import llama_cpp as lib

            lib.llama_set_n_threads(self._llm.ctx, threads, threads)
            logger.debug("cerebellum threads %d -> %d", self.threads, threads)
            self.threads = threads

    def _prepare(self, system: str, tokens: Sequence[int], room: int) -> int:
        """Check the prompt fits, put the task's cached head in the context (or empty it), and return
        how many of the prompt's tokens are already evaluated."""
        if len(tokens) + room > self.context_size:
            raise CerebellumError(
                f"the prompt ({len(tokens)} tokens) does not fit the context of {self.context_size}; "
                "raise --context-size"
            )
        self._set_threads()
        if self.reuse_prefix:
            self._restore(self._task_prefix(system))
        else:
            self._llm.reset()
        evaluated = self._llm.input_ids[: self._llm.n_tokens].tolist()
        return min(_common_prefix(evaluated, tokens), len(tokens) - 1)

    def _complete(
        self, system: str, user: str, grammar: Any, max_tokens: int, prefill: str = ""
    ) -> tuple[str, str | None, float]:
        tokens, formatted = self._prompt_tokens(system, user, prefill)
        started = time.perf_counter()
        reused = self._prepare(system, tokens, max_tokens)
        result = cast(
            dict[str, Any],
            self._llm.create_completion(
                prompt=tokens,
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=0.0,
                stop=formatted.stop,
                stopping_criteria=formatted.stopping_criteria,
            ),
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        choice = result["choices"][0]
        usage = cast(dict[str, Any], result.get("usage") or {})
        self.usage = Usage(
            calls=1,
            prompt_tokens=len(tokens),
            evaluated_tokens=len(tokens) - max(reused, 0),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            elapsed_ms=elapsed_ms,
        )
        self.total += self.usage
        return str(choice["text"]), choice.get("finish_reason"), elapsed_ms

    def ask(self, system: str, user: str, schema: dict[str, object], max_tokens: int) -> Answer:
        """One schema-constrained completion. The grammar makes the output follow `schema`."""
        # Key order is kept: the grammar makes the model write the fields in schema order.
        raw, finish, elapsed_ms = self._complete(system, user, _grammar(json.dumps(schema)), max_tokens)
        return Answer(
            fields=parse_json_answer(raw),
            raw=raw,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            elapsed_ms=elapsed_ms,
            truncated=finish == "length",
            evaluated_tokens=self.usage.evaluated_tokens,
        )

    def label(
        self, system: str, user: str, field: str, labels: Sequence[str], groups: Mapping[str, str] | None = None
    ) -> tuple[str, float]:
        """The answer's first field, scored from the model's logits instead of generated.

        The JSON answer is prefilled up to the field's value; each label is written as the model's
        own tokens (closing quote included) and the most probable one wins, token by token, where
        labels share a head. Only the prompt is evaluated, plus a token where labels share their first
        one: no sampling loop, no reason decoded. (A grammar that allows the labels lets a weak model
        spell one letter at a time toward whichever label starts like the word it wanted.)
        The label is the first field the model would write anyway, so what would follow it (a
        reason) cannot change it. With `groups` (label -> group), the group with the larger share of
        the model's probability over the labels' first tokens is chosen first, then the likeliest
        label in it: a model torn between three kinds of text to skip should not save the text
        because one kind to keep edged out each of them alone.
        """
        prefill = f'{{"{field}": "'
        tokens, _ = self._prompt_tokens(system, user, prefill)
        started = time.perf_counter()
        reused = self._prepare(system, tokens, LABEL_MAX_TOKENS)
        llm = self._llm
        llm.n_tokens = reused
        llm.eval(tokens[reused:])
        spelled = {label: self._label_tokens(label) for label in labels}
        self.last_scores = self._first_token_scores(spelled)
        if groups is not None:
            spelled = self._keep_likelier_group(spelled, groups, self.last_scores)
        chosen: list[int] = []
        evaluated_after = 0
        while True:
            alive = [label for label, toks in spelled.items() if list(toks[: len(chosen)]) == chosen]
            if len(alive) == 1:
                break
            options = sorted({spelled[label][len(chosen)] for label in alive})
            if len(options) > 1:
                logits = self._last_logits()
                best = max(options, key=lambda token: logits[token])
            else:
                best = options[0]
            chosen.append(best)
            alive = [label for label in alive if spelled[label][len(chosen) - 1] == best]
            if len(alive) == 1:
                break
            llm.eval([best])
            evaluated_after += 1
        value = alive[0]
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.usage = Usage(
            calls=1,
            prompt_tokens=len(tokens),
            evaluated_tokens=len(tokens) - reused + evaluated_after,
            completion_tokens=0,
            elapsed_ms=elapsed_ms,
        )
        self.total += self.usage
        return value, elapsed_ms

    def _first_token_scores(self, spelled: Mapping[str, tuple[int, ...]]) -> dict[str, float]:
        import numpy as np

        logits = self._last_logits()
        firsts = sorted({tokens[0] for tokens in spelled.values()})
        values = np.array([float(logits[token]) for token in firsts])
        log_probs = values - values.max() - np.log(np.exp(values - values.max()).sum())
        by_token = dict(zip(firsts, log_probs.tolist(), strict=True))
        return {label: by_token[tokens[0]] for label, tokens in spelled.items()}

    @staticmethod
    def _keep_likelier_group(
        spelled: dict[str, tuple[int, ...]], groups: Mapping[str, str], scores: Mapping[str, float]
    ) -> dict[str, tuple[int, ...]]:
        first: dict[int, set[str]] = {}
        for label, tokens in spelled.items():
            first.setdefault(tokens[0], set()).add(groups[label])
        if any(len(owners) > 1 for owners in first.values()):
            return spelled  # a first token shared across groups: its mass can't be split honestly
        # Each first token's probability counts once, for the group that owns it.
        share = {spelled[label][0]: math.exp(score) for label, score in scores.items()}
        mass: dict[str, float] = {}
        for token, owners in first.items():
            group = next(iter(owners))
            mass[group] = mass.get(group, 0.0) + share[token]
        winner = max(sorted(mass), key=mass.__getitem__)
        return {label: tokens for label, tokens in spelled.items() if groups[label] == winner}

    def _label_tokens(self, label: str) -> tuple[int, ...]:
        if label not in self._spellings:
            spelled = self._llm.tokenize((label + '"').encode("utf-8"), add_bos=False, special=False)
            self._spellings[label] = tuple(spelled)
        return self._spellings[label]

    def _last_logits(self) -> Any:
        import numpy as np
        from llama_cpp import llama_cpp as lib

        pointer = lib.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._llm.n_vocab(),))

    def memorize(self, text: str) -> MemorizeVerdict:
        category, elapsed_ms = self.label(
            prompts.MEMORIZE_SYSTEM,
            prompts.memorize_user(self._clip(text)),
            "category",
            prompts.CATEGORIES,
            groups={category: prompts.decision_for(category) for category in prompts.CATEGORIES}
            if self.group_vote
            else None,
        )
        # The category decides: SAVE or SKIP follows from it by rule.
        decision: Literal["SAVE", "SKIP"] = "SAVE" if prompts.decision_for(category) == "SAVE" else "SKIP"
        return MemorizeVerdict(
            decision, category, f"the cerebellum read it as {category}", elapsed_ms, dict(self.last_scores)
        )

    def intent(self, text: str) -> IntentLabel:
        """What the memory should do with one message: the model names its kind (question, task,
        decision, correction, chatter, ...) from the intent prompt's cached head; the intent whose
        kinds hold most of the probability wins (RECALL, REMEMBER, BOTH or NONE)."""
        kind, elapsed_ms = self.label(
            prompts.INTENT_SYSTEM,
            prompts.intent_user(self._clip(text)),
            "kind",
            prompts.INTENT_KINDS,
            groups=prompts.INTENT_OF_KIND,
        )
        kinds = shares_of(self.last_scores)
        intent = prompts.INTENT_OF_KIND[kind]
        return IntentLabel(intent, prompts.intent_shares(kinds), elapsed_ms, kind, kinds)

    def arbitrate(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        """How the new text relates to the candidates (most similar first): one joint question, or
        one question per candidate ("pairwise"), whichever this cerebellum was set up with."""
        if self.arbiter == "pairwise":
            return self._arbitrate_pairwise(text, candidates)
        return self._arbitrate_joint(text, candidates)

    def _arbitrate_pairwise(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        # One stored note at a time is a question a small model can answer; the prompt head is the
        # same for every pair, so it is evaluated once.
        elapsed = 0.0
        new = self._clip(text)
        self.last_read = []
        asked: list[AskedPair] = []
        for candidate in candidates[:PAIRWISE_LIMIT]:
            self.last_read.append(self._clip(candidate.text))
            relation, elapsed_ms = self.label(
                prompts.RELATE_SYSTEM,
                prompts.relate_user(self._clip(candidate.text), new),
                "relation",
                prompts.RELATIONS,
            )
            shares = shares_of(self.last_scores)
            elapsed += elapsed_ms
            first, check, check_shares = relation, "", dict[str, float]()
            if self.verify and relation in ("UPDATE", "RETRACT"):
                relation, checked_ms, check = self._second_look(relation, candidate.text, new)
                elapsed += checked_ms
                check_shares = shares_of(self.last_scores) if check else {}
            asked.append(
                AskedPair(candidate.id, relation, shares, first if first != relation else "", check, check_shares)
            )
            if relation != "DIFFERENT":
                action = cast(Literal["UPDATE", "DELETE", "NONE"], prompts.RELATION_TO_ACTION[relation])
                reason = prompts.RELATION_REASONS[relation].format(id=candidate.id)
                return ArbitrateVerdict(action, candidate.id, "", reason, elapsed, tuple(asked))
        return ArbitrateVerdict("ADD", None, "", "no stored note is about the same subject", elapsed, tuple(asked))

    def _second_look(self, relation: str, stored: str, new: str) -> tuple[str, float, str]:
        """Check the verdicts a small model most often gets wrong with one yes/no question each:
        an UPDATE that adds nothing is the SAME note reworded; a RETRACT that names what is true
        now is an UPDATE. Returns (the relation, ms, the question asked: 'same', 'replacement' or '')."""
        user = prompts.relate_user(self._clip(stored), new)
        if relation == "UPDATE":
            # A note half again as long as the stored one adds detail: it is not a rewording.
            if self._token_count(new) >= ADDS_DETAIL_RATIO * self._token_count(stored):
                return relation, 0.0, ""
            same, elapsed_ms = self.label(prompts.SAME_CHECK_SYSTEM, user, "same", ("YES", "NO"))
            return ("SAME" if same == "YES" else "UPDATE"), elapsed_ms, "same"
        # A replacement names what replaces the stored value; a text naming nothing new only retracts.
        if not signals.new_values(stored, new):
            return relation, 0.0, ""
        replaced, elapsed_ms = self.label(prompts.REPLACEMENT_CHECK_SYSTEM, user, "replacement", ("YES", "NO"))
        return ("UPDATE" if replaced == "YES" else "RETRACT"), elapsed_ms, "replacement"

    def _token_count(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _arbitrate_joint(self, text: str, candidates: Sequence[prompts.Candidate]) -> ArbitrateVerdict:
        ids = [c.id for c in candidates]
        self.last_read = [self._clip(c.text) for c in candidates]
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

    def floor_ms(self, text: str, stored: Sequence[str] = ()) -> float:
        """The unavoidable cost of a decision about `text`: its own tokens through the model once, from
        an empty context (for the benchmark's pipeline / floor ratio). With `stored`, the notes an
        arbiter has to read as well, each once. Leaves the context empty."""
        tokens: list[int] = []
        for part in (text, *stored):
            tokens += self._llm.tokenize(self._clip(part).encode("utf-8"), add_bos=False, special=False)
        self._set_threads()
        self._llm.reset()
        started = time.perf_counter()
        self._llm.eval(tokens)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._llm.reset()
        return elapsed_ms

    def forget_last(self) -> None:
        """Empty the context: the next call restores its task's cached head and evaluates the rest, as a
        new question does. (A question asked twice in a row is otherwise answered from the first's tokens,
        which a benchmark that asks the same question under different settings must not count.)"""
        self._llm.reset()

    def close(self) -> None:
        close_chooser = getattr(self.choose_threads, "close", None)
        if close_chooser is not None:
            close_chooser()
        self._llm.close()
