"""Fast stand-ins for the two models, for tests whose subject is the store, the MCP layer or the process.

They are deterministic and take microseconds, so property-based and crash tests can make hundreds of
calls. The tests that prove the models themselves use the real GGUF (see conftest.py).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.models.cerebellum import ArbitrateVerdict, AskedPair, IntentLabel, MemorizeVerdict, UnparsableAnswer
from server.models.prompts import Candidate


@dataclass
class HashEmbedder:
    """Bag-of-words vectors: each word adds to a hashed bucket. Texts sharing words are similar."""

    dimension: int = 64
    name: str = "hash-embedder"
    seen: list[str] = field(default_factory=list[str])

    def _embed(self, text: str) -> list[float]:
        self.seen.append(text)
        vector = [0.0] * self.dimension
        for word in re.findall(r"\w+", text.casefold()) or [""]:
            digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            vector[digest[0] % self.dimension] += 1.0 if digest[1] % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0:
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]

    def embed_document(self, text: str) -> list[float]:
        return self._embed(text)

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


@dataclass
class ScriptedBrain:
    """A cerebellum whose answers the test chooses; it records every text it was shown. With `fail`, it
    answers nothing usable (as a model whose output doesn't parse)."""

    gate: str = "SAVE"
    action: str = "ADD"
    target: int | str | None = None  # "first": the first candidate shown
    merged: str = ""
    fail: bool = False
    scores: dict[str, float] = field(default_factory=dict[str, float])
    """Category scores the gate's verdict carries (for a calibrated gate)."""
    intention: str = "NONE"
    """What `intent` answers (RECALL, REMEMBER, BOTH or NONE), with all the probability."""
    relation_shares: dict[str, float] = field(default_factory=dict[str, float])
    """The arbiter's shares over the relations, reported as a pairwise arbiter's about the seed it names."""
    second_look: dict[str, float] = field(default_factory=dict[str, float])
    """With relation_shares: the second look's YES/NO shares; its answer is the action's relation, and the likeliest
    of relation_shares was the first answer."""
    name: str = "scripted"
    prompts: list[str] = field(default_factory=list[str])
    shown: list[list[int]] = field(default_factory=list[list[int]])

    def memorize(self, text: str) -> MemorizeVerdict:
        self.prompts.append(text)
        if self.fail:
            raise UnparsableAnswer("{not json")
        category = "lesson" if self.gate == "SAVE" else "chatter"
        return MemorizeVerdict(self.gate, category, "scripted", 1.0, dict(self.scores))  # type: ignore[arg-type]

    def intent(self, text: str) -> IntentLabel:
        self.prompts.append(text)
        if self.fail:
            raise UnparsableAnswer("{not json")
        shares = {label: float(label == self.intention) for label in ("RECALL", "REMEMBER", "BOTH", "NONE")}
        return IntentLabel(self.intention, shares, 1.0)  # type: ignore[arg-type]

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        self.prompts.append(text)
        self.prompts.extend(c.text for c in candidates)
        self.shown.append([c.id for c in candidates])
        if self.fail:
            raise UnparsableAnswer("{not json")
        target = candidates[0].id if self.target == "first" and candidates else self.target
        if isinstance(target, str):
            target = None
        asked: tuple[AskedPair, ...] = ()
        if self.relation_shares and target is not None:
            first = max(self.relation_shares, key=self.relation_shares.__getitem__)
            if self.second_look:
                relation = {"UPDATE": "UPDATE", "DELETE": "RETRACT", "NONE": "SAME"}[self.action]
                check = "same" if relation == "SAME" or first == "UPDATE" else "replacement"
                asked = (AskedPair(target, relation, dict(self.relation_shares), first, check, dict(self.second_look)),)
            else:
                asked = (AskedPair(target, first, dict(self.relation_shares)),)
        return ArbitrateVerdict(self.action, target, self.merged, "scripted", 1.0, asked)  # type: ignore[arg-type]


@dataclass
class HashBrain:
    """A cerebellum whose every answer follows from a hash of the text: all verdicts occur, reproducibly."""

    name: str = "hash-brain"

    @staticmethod
    def _pick(text: str, salt: str, options: Sequence[str]) -> str:
        digest = hashlib.blake2b((salt + text).encode("utf-8", "surrogatepass"), digest_size=4).digest()
        return options[int.from_bytes(digest) % len(options)]

    def memorize(self, text: str) -> MemorizeVerdict:
        decision = self._pick(text, "gate", ["SAVE", "SAVE", "SAVE", "SKIP"])
        return MemorizeVerdict(decision, "lesson" if decision == "SAVE" else "chatter", "hashed", 1.0)  # type: ignore[arg-type]

    def arbitrate(self, text: str, candidates: Sequence[Candidate]) -> ArbitrateVerdict:
        action = self._pick(text, "arbiter", ["ADD", "UPDATE", "DELETE", "NONE"])
        target = candidates[0].id if candidates and action != "ADD" else None
        merged = f"{candidates[0].text} / {text}" if action == "UPDATE" and candidates else ""
        return ArbitrateVerdict(action, target, merged, "hashed", 1.0)  # type: ignore[arg-type]
