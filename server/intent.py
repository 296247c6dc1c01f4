"""Intent routing, the cerebellum's third role: for one message, should memory be recalled, written, both, or
left alone? Then the route use case: recall what bears on the message, send what is worth keeping through
the normal write path.

A message whose shape settles the question is decided by rule (a question about what was decided before,
an explicit "remember that", an acknowledgement, bare command output); the cerebellum's scored label
decides the rest. The rules are general statements about how people ask about the past and tell an agent
to keep something, in English and Chinese; they are not fitted to any evaluation case.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, Field

from server import signals
from server.cerebellum import CerebellumError, IntentLabel
from server.memory import Memory, RecallResult, RememberResult, ScopeSelection, screen_secrets

logger = logging.getLogger(__name__)

Intent = Literal["RECALL", "REMEMBER", "BOTH", "NONE"]
INTENTS: tuple[Intent, ...] = ("RECALL", "REMEMBER", "BOTH", "NONE")
DecidedBy = Literal["rule", "model", "fallback"]

# Missing a recall the message needed costs more than an extra one (a recall only reads): when the model
# leans elsewhere but gives the recall side (recall + both) at least this share, the recall side wins.
RECALL_FLOOR = 0.5


class ClassifiesIntent(Protocol):
    def intent(self, text: str) -> IntentLabel: ...


@dataclass(frozen=True)
class IntentRule:
    intent: Intent
    rule: str


# -- rules --------------------------------------------------------------------------------------

_ACK_WORDS = {
    # English acknowledgements and go-aheads
    "ok", "okay", "k", "kk", "thanks", "thank you", "thx", "ty", "cheers", "great", "nice", "cool", "perfect",
    "lgtm", "looks good", "sounds good", "got it", "yes", "yep", "yeah", "yup", "sure", "done", "good",
    "awesome", "excellent", "fine", "alright", "all right", "continue", "go on", "go ahead", "proceed",
    "carry on", "hi", "hello", "hey", "good morning", "bye", "nice work", "good job", "well done", "amazing",
    "much appreciated", "appreciated", "no problem", "np", "great work", "thanks a lot", "thank you so much",
    "ship it", "works", "it works", "that works", "makes sense", "understood", "nevermind", "never mind",
    # Chinese
    "好", "好的", "好滴", "好嘞", "嗯", "嗯嗯", "行", "可以", "谢谢", "多谢", "感谢", "收到", "明白", "明白了",
    "没问题", "继续", "对", "是的", "不错", "很好", "好了", "辛苦了", "太好了", "可以了", "懂了", "知道了",
    "你好", "早上好", "行吧", "好吧", "完美", "棒", "厉害", "谢啦", "谢了",
}  # fmt: skip
# Words that may stand beside an acknowledgement without making it more ("thanks, that's perfect").
_ACK_FILLERS = {
    "that's", "thats", "that", "it's", "its", "is", "so", "very", "really", "much", "all", "for", "the", "help",
    "a", "lot", "you", "now", "again", "please", "just", "oh", "ah", "wow", "man", "buddy", "guys", "how's",
    "it", "going", "how", "are", "doing", "today", "there", "then", "and", "thank",
}  # fmt: skip
_ZH_PARTICLES = "吧啊呀哈了呢哦噢嘛啦"
_ACK_SPLIT = re.compile(r"[\s,.!?？~。，！、…:;；：)(（）\-]+|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_ACK_MAX_CHARS = 40

# Asking what was settled before: a past-tense question about a choice, a convention, an earlier time.
_RECALL_EN = re.compile(
    r"\b(what|which|where|when|how|who|why)\b[^.?!\n]{0,60}?\b(did|do|have|had)\s+(we|i|you|they|the team)\s+"
    r"(ever\s+)?(decide|decided|pick|picked|choose|chose|chosen|agree|agreed|settle|settled|go with|went with|"
    r"land on|landed on|end up|ended up|say|said|use|used|fix|fixed|solve|solved|set|configure|configured|"
    r"name|named|call|called|conclude|concluded)\b"
    r"|\b(do|did) you (still )?(remember|recall)\b"
    r"|\b(can you )?(remind me|refresh my memory)\b"
    r"|\b(last time|previously|the other day|in the past|before)\b[^.!\n]*\?"
    r"|\bwhat (is|was|were|are|'s) (our|the team's|my|the project's|this project's) "
    r"(convention|conventions|policy|decision|preference|preferences|rule|rules|standard|approach|setup|"
    r"stack|workflow|process)\b"
    r"|\bhow do (we|i) (usually|normally|typically|always)\b"
    r"|\bwhat do (we|i) (usually|normally|typically|always)\b"
    r"|\bwhat did (we|i|you) (learn|find out|conclude|note)\b",
    re.IGNORECASE,
)
_RECALL_ZH = re.compile(
    r"上次|上回|还记得|记不记得|记得吗"
    r"|(之前|以前|当时|早先)[^。！\n]{0,16}(决定|选|定|约定|说|讨论|商量|用|怎么|如何|为什么|是什么|哪)"
    r"|我们[^。！\n]{0,12}(决定|选|定|约定)(了)?[^。！\n]{0,6}(什么|哪|啥|吗|没有)"
    r"|(我们|咱们)(一般|通常|平时|一直)[^。！\n]{0,10}(怎么|如何|用什么|用哪)"
)
# Telling the agent to keep something from now on.
_REMEMBER_EN = re.compile(
    r"^\s*(please\s+)?(remember|note|keep in mind|don't forget|do not forget|never forget|make a note|"
    r"for (future|the) record|for future reference|fyi|heads up)\b(\s+that)?\s*[:,-]?\s*\S"
    r"|\b(from now on|going forward|in the future|in future|from here on|henceforth)\b",
    re.IGNORECASE,
)
_REMEMBER_ZH = re.compile(
    r"^\s*(请)?(记住|记一下|记下|记好|别忘了|不要忘了|注意)|以后(都|一律|请|要|别|不要|统一)|从现在(起|开始)|今后"
)
# A short instruction about the code at hand: an editing verb first, and something here it points at.
_EDIT_VERB = re.compile(
    r"^\s*(please\s+)?(rename|format|reformat|indent|dedent|add (a |an )?(blank line|newline|comment|docstring|"
    r"type hints?|log line|print)|remove|delete|drop|show( me)?|print|explain|run|rerun|re-run|undo|revert|move|"
    r"sort|wrap|inline|extract|split|make (it|this|that|these|the)|change (this|that|the)|fix (the|this) typo|"
    r"convert (this|that|the))\b"
    r"|^\s*(请)?(把|将|给)?(这个|这段|这里|这行|这几行|上面|下面)",
    re.IGNORECASE,
)
_HERE = re.compile(
    r"\b(this|that|these|those|here|above|below|it)\b|`[^`]+`|\b[\w/-]+\.(py|ts|tsx|js|go|rs|java|md|json|ya?ml|toml)\b"
    r"|\bthe (diff|output|file|function|line|lines|variable|button|test|tests|class|method|loop|import|imports)\b"
    r"|这个|这段|这里|这行|上面|下面",
    re.IGNORECASE,
)
_EDIT_MAX_CHARS = 120
_QUESTION = re.compile(r"[?？]")
_SLASH_COMMAND = re.compile(r"^/[a-z][\w-]*(\s.*)?$", re.DOTALL)


def _acknowledgement(text: str) -> bool:
    if len(text) > _ACK_MAX_CHARS:
        return False
    lowered = text.strip().casefold()
    if lowered in _ACK_WORDS:
        return True
    parts = [part for part in _ACK_SPLIT.split(lowered) if part]
    if not parts:
        return True  # punctuation and emoji only
    # "great, thanks!", "好的，谢谢", "ok thank you": every piece is an acknowledgement (or a filler beside one)
    parts = [part.rstrip(_ZH_PARTICLES) or part for part in parts]
    acknowledged = False
    i = 0
    while i < len(parts):
        for width in (3, 2, 1):
            phrase = " ".join(parts[i : i + width])
            if phrase in _ACK_WORDS:
                acknowledged = True
                i += width
                break
        else:
            if parts[i] not in _ACK_FILLERS:
                return False
            i += 1
    return acknowledged


def asks_about_the_past(text: str) -> bool:
    return bool(_RECALL_EN.search(text) or _RECALL_ZH.search(text))


def says_to_keep(text: str) -> bool:
    return bool(_REMEMBER_EN.search(text) or _REMEMBER_ZH.search(text))


def rule(text: str) -> IntentRule | None:
    """The certain intent of a message from its shape, or None when the shape leaves it open."""
    stripped = text.strip()
    if not stripped:
        return IntentRule("NONE", "empty message")
    if _SLASH_COMMAND.match(stripped) and "\n" not in stripped:
        return IntentRule("NONE", "a client command")
    if _acknowledgement(stripped):
        return IntentRule("NONE", "an acknowledgement")
    asks = asks_about_the_past(stripped)
    signal = signals.classify(stripped)
    if signal is not None and signal.decision == "SKIP":
        return IntentRule("NONE", f"bare {signal.category} ({signal.rule})")
    keeps = says_to_keep(stripped) or (signal is not None and signal.decision == "SAVE")
    if asks and keeps:
        return IntentRule("BOTH", "it says something to keep and asks about what was decided before")
    if asks:
        return IntentRule("RECALL", "it asks about something decided or learned before")
    if not keeps and len(stripped) <= _EDIT_MAX_CHARS and _EDIT_VERB.search(stripped) and _HERE.search(stripped):
        return IntentRule("NONE", "an instruction about the code at hand")
    if keeps and _QUESTION.search(stripped):
        return None  # something to keep and a question about the present: the model tells BOTH from REMEMBER
    if keeps:
        why = signal.rule if signal is not None else "it tells the agent to keep it from now on"
        return IntentRule("REMEMBER", why)
    return None


# -- classification -----------------------------------------------------------------------------


class IntentVerdict(BaseModel):
    intent: Annotated[
        Intent,
        Field(
            description="RECALL: stored memory bears on it; REMEMBER: it states something to keep; BOTH: a "
            "correction of something stored, or a statement and a question; NONE: nothing for memory."
        ),
    ]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        DecidedBy,
        Field(
            description="rule: the message's shape alone; model: the cerebellum's scored label; fallback: no model "
            "was available (or it failed), so the message was treated as a recall (reading costs little)."
        ),
    ]
    probabilities: Annotated[
        dict[str, float] | None, Field(description="model: each intent's share of the model's probability.")
    ] = None


def from_model(label: IntentLabel, recall_floor: float = RECALL_FLOOR) -> IntentVerdict:
    """The model's label, with the recall side winning when it holds at least `recall_floor` of the mass."""
    shares: Mapping[str, float] = label.probabilities
    intent: Intent = label.intent
    recall_side = shares.get("RECALL", 0.0) + shares.get("BOTH", 0.0)
    reason = f"the cerebellum read it as a {label.kind or intent}"
    if intent in ("NONE", "REMEMBER") and recall_side >= recall_floor:
        leaned = intent
        intent = "BOTH" if intent == "REMEMBER" else "RECALL"
        reason = f"the cerebellum leaned to {leaned}, but gave recall {recall_side:.2f}: {intent}"
    rounded = {name: round(value, 4) for name, value in shares.items()}
    return IntentVerdict(intent=intent, reason=reason, decided_by="model", probabilities=rounded)


def classify(
    text: str,
    brain: object | None,
    *,
    lock: AbstractContextManager[object] | threading.Lock | None = None,
    use_rules: bool = True,
    recall_floor: float = RECALL_FLOOR,
) -> IntentVerdict:
    """The intent of one message: a rule where its shape settles it, the cerebellum's label otherwise.

    `brain` is anything with an `intent(text)` method (a Cerebellum); without one, or when it fails, an
    unsettled message is treated as a recall. `lock` serializes the model call with the pipeline's.
    """
    if use_rules:
        found = rule(text)
        if found is not None:
            return IntentVerdict(intent=found.intent, reason=found.rule, decided_by="rule")
    ask: Callable[[str], IntentLabel] | None = getattr(brain, "intent", None)
    if ask is None:
        return IntentVerdict(
            intent="RECALL", reason="no cerebellum to ask; reading costs little", decided_by="fallback"
        )
    try:
        with lock if lock is not None else nullcontext():
            label = ask(text)
    except CerebellumError as exc:
        logger.warning("intent: the cerebellum failed, treating the message as a recall: %s", exc)
        return IntentVerdict(intent="RECALL", reason=f"the cerebellum failed: {exc}", decided_by="fallback")
    return from_model(label, recall_floor)


def wants_recall(intent: Intent) -> bool:
    return intent in ("RECALL", "BOTH")


def wants_write(intent: Intent) -> bool:
    return intent in ("REMEMBER", "BOTH")


# -- the route use case -------------------------------------------------------------------------


class RouteResult(BaseModel):
    intent: Annotated[Intent, Field(description="What the message asks of memory (see decided_by).")]
    reason: Annotated[str, Field(description="Why, in a few words.")]
    decided_by: Annotated[
        DecidedBy, Field(description="rule: the message's shape; model: the cerebellum; fallback: no model.")
    ]
    memories: Annotated[
        RecallResult | None,
        Field(description="RECALL or BOTH: the stored memories that bear on the message, best first (as recall)."),
    ] = None
    write: Annotated[
        RememberResult | None,
        Field(
            description="REMEMBER or BOTH: what the write path did with the message (saved, updated, deleted, "
            "duplicate, skipped by the gate, or queued), as remember returns it."
        ),
    ] = None


def route(
    memory: Memory, text: str, scope: str, *, k: int = 5, recall_scope: ScopeSelection | None = None
) -> RouteResult:
    """Classify one message; recall for it and/or send it through the write path (synchronous: CLI, hooks, eval).

    Secrets are screened before the model sees the message: in refuse mode a message with a credential
    raises SecretInText, and nothing is classified, searched or stored.
    """
    screened, _ = screen_secrets(text, "message", memory.secrets_mode)
    verdict = classify(screened, memory.cerebellum, lock=memory.lock)
    result = RouteResult(intent=verdict.intent, reason=verdict.reason, decided_by=verdict.decided_by)
    if wants_recall(verdict.intent):
        result.memories = memory.recall(screened, recall_scope if recall_scope is not None else scope, k)
    if wants_write(verdict.intent):
        result.write = memory.remember(text, scope, source="route")
    return result
