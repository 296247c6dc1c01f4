"""Intent routing: the rules, the cerebellum's scored label on SmolLM2, the eval runner, and the `route` tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from seeds import SeedStore
from server.models.cerebellum import Cerebellum
from server.models.embedder import Embedder
from server.models.prompts import INTENT_SYSTEM
from server.pipeline import route as intents
from server.pipeline.memory import Memory
from server.pipeline.route import RouteResult
from server.protocol.app import create_server
from server.rules.intent import INTENTS
from server.rules.secrets import SecretInText
from server.settings import Settings
from tests.eval.test_eval import run_eval
from tests.helpers.fakes import HashEmbedder, ScriptedBrain

GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a made-up token of GitHub's shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What did we decide about the cache TTL?", "RECALL"),
        ("Which test runner did we pick for the CLI?", "RECALL"),
        ("我们上次选的是哪个日志库？", "RECALL"),
        ("Remember that the build server is ci-3.internal.", "REMEMBER"),
        ("Decision: all new services log JSON.", "REMEMBER"),
        ("以后都用 pnpm。", "REMEMBER"),
        ("From now on we use ruff; what did we decide about black?", "BOTH"),
        ("thanks!", "NONE"),
        ("好的，谢谢", "NONE"),
        ("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'x'", "NONE"),
        ("Rename `foo` to `bar` in this file.", "NONE"),
        ("", "NONE"),
        # How things stand now: a question about what we use or who owns it, not about the code at hand.
        ("Which message broker are we on these days?", "RECALL"),
        ("Do we still ship the Windows build?", "RECALL"),
        ("Who maintains the mobile app?", "RECALL"),
        ("现在的 CI 用的是哪个 runner？", "RECALL"),
        ("谁负责日志平台？", "RECALL"),
        # Plain corrections: a contradicting opening and what is true now, or the old value set against the new.
        ("no, it's 5433", "BOTH"),
        ("Nope, the bucket lives in eu-west-1.", "BOTH"),
        ("Not Monday: the freeze starts on Wednesday.", "BOTH"),
        ("The worker runs on Python 3.12 now, not 3.11.", "BOTH"),
        ("We no longer squash merges.", "BOTH"),
        ("Correction: the API listens on 8082.", "BOTH"),
        ("不是 6379，是 6380。", "BOTH"),
        ("不对，日志现在存在 S3。", "BOTH"),
        ("No, 测试库是 Postgres 16。", "BOTH"),
        # Starting project work that stored lessons bear on.
        ("Deploy the search service to staging.", "RECALL"),
        ("Let's migrate the sessions table to the new cluster.", "RECALL"),
        ("帮我把网关升级到新版本。", "RECALL"),
        # A question or a request about the code in front of the agent needs nothing stored.
        ("What does this function return?", "NONE"),
        ("Can you make this query faster?", "NONE"),
        ("这个函数为什么返回空？", "NONE"),
        # The live session (branch, a running process, the last run) is the agent's to look at, not memory's.
        ("is the build still running?", "NONE"),
        ("what branch am i on right now?", "NONE"),
        ("did the tests pass?", "NONE"),
        ("还在跑吗？", "NONE"),
        ("Which branch do we release from?", "RECALL"),  # the project's, not the session's
        ("fix the typo in the footer", "NONE"),
        ("no, use the other config file", "NONE"),  # "no" and an order: it steers the work at hand
        ("Nope, still failing.", "NONE"),  # the attempt turned down
        ("what's the difference between a mutex and a semaphore?", "NONE"),  # general knowledge
        ("什么是 CAP 定理？", "NONE"),
        ("帮我把 loadConfig 改成异步的", "NONE"),
        # A standing rule is kept even when it is worded as an order, or follows one.
        ("always run black before committing", "REMEMBER"),
        ("We never deploy on Fridays.", "REMEMBER"),
        ("rename `cnt` to `count` here. and in general avoid abbreviations in names", "REMEMBER"),
        # Referring to what was stored and saying what changed is a correction, asked or not.
        ("We moved the API to port 8081.", "BOTH"),
        ("Dropping the rule about rebasing: merge commits from now on.", "BOTH"),
        ("上次定的超时时间不对，改成 30 秒。", "BOTH"),
        ("what did we name the feature flag? add a second one for the mobile flow", "BOTH"),
        ("Is there anything I told you about the Terraform state?", "RECALL"),
    ],
)
def test_rules_settle_the_messages_whose_shape_is_certain(text: str, expected: str) -> None:
    verdict = intents.classify(text, None)
    assert verdict.intent == expected and verdict.decided_by == "rule"


@pytest.mark.parametrize(
    "text",
    [
        "No, don't change that.",  # an order after "no", not a correction
        "No, the other one.",  # names no value
        "Actually, can you also add tests?",
        "No, 我说的是另一个文件。",
        "Should we add a retry here?",  # asking for advice
        "你觉得我们应该怎么做？",
        "Can you look at the logs again?",  # a request
        "Please write docstrings in Google style, not NumPy style.",  # a preference with a contrast, no change
        "生产环境的配置在 Vault 里。",  # a noun 配置, not an order to configure
        "Deploy this.",  # the thing at hand
        "never mind, I'll do it myself",  # not a standing rule
        "whenever you're ready, go ahead with the refactor",
    ],
)
def test_shapes_that_only_look_like_a_correction_a_state_question_or_a_task_are_left_to_the_model(
    text: str,
) -> None:
    assert intents.rule(text) is None


def test_an_open_message_goes_to_the_model_and_without_one_is_read_as_a_recall() -> None:
    text = "Add pagination to the orders endpoint."
    assert intents.rule(text) is None
    brain = ScriptedBrain(intention="NONE")
    assert intents.classify(text, brain).intent == "NONE" and brain.prompts == [text]
    assert intents.classify(text, brain).decided_by == "model"
    # No model, or one that fails: a recall (it only reads), said so.
    assert intents.classify(text, None).model_dump(include={"intent", "decided_by"}) == {
        "intent": "RECALL",
        "decided_by": "fallback",
    }
    assert intents.classify(text, ScriptedBrain(fail=True)).decided_by == "fallback"


def test_the_message_form_bounds_what_the_model_may_say() -> None:
    from server.models.cerebellum import IntentLabel

    # One question states nothing to keep: a model reading a question about a value as the fact asks.
    as_fact = IntentLabel("REMEMBER", {"RECALL": 0.2, "REMEMBER": 0.8, "BOTH": 0.0, "NONE": 0.0}, 1.0, "fact")
    question = "What's the retry limit on the importer?"
    assert intents.rule(question) is None and intents.shape(question).question
    assert intents.classify(question, FixedLabel(as_fact)).intent == "RECALL"
    # A statement and then a question is not one question: the model's REMEMBER stands.
    assert not intents.shape("The importer retries 5 times. Why?").question
    # Told to keep something and asked something: REMEMBER or BOTH, never a bare RECALL.
    asking = IntentLabel("RECALL", {"RECALL": 0.9, "REMEMBER": 0.05, "BOTH": 0.05, "NONE": 0.0}, 1.0, "question")
    told = "From now on we use uv; which images still call pip?"
    assert intents.rule(told) is None and intents.shape(told).keeps
    assert intents.classify(told, FixedLabel(asking)).intent == "BOTH"
    leaning = IntentLabel("REMEMBER", {"RECALL": 0.1, "REMEMBER": 0.8, "BOTH": 0.1, "NONE": 0.0}, 1.0, "preference")
    assert intents.classify(told, FixedLabel(leaning)).intent == "REMEMBER"
    # Without a model such a message is still written as well as read.
    assert intents.classify(told, None).intent == "BOTH"


def label_of(kinds: dict[str, float]) -> Any:
    """An IntentLabel as the cerebellum makes it, from each kind's share."""
    from server.models.cerebellum import IntentLabel
    from server.models.prompts import INTENT_OF_KIND, intent_shares

    kind = max(kinds, key=lambda name: kinds[name])
    return IntentLabel(INTENT_OF_KIND[kind], intent_shares(kinds), 1.0, kind, kinds)


def test_a_correction_needs_something_said_to_have_changed() -> None:
    # A firm preference read as a correction: nothing in it says what was stored changed, so the
    # model's next kind stands (a preference: REMEMBER), and the probabilities say so.
    firm = label_of({"correction": 0.9, "preference": 0.07, "question": 0.03})
    text = "no default exports, named ones only in every package"
    assert intents.rule(text) is None and not intents.shape(text).both
    verdict = intents.classify(text, FixedLabel(firm))
    assert verdict.intent == "REMEMBER" and "does not fit" in verdict.reason
    assert verdict.probabilities is not None and verdict.probabilities["BOTH"] == 0.0
    # Where it says what changed, the model's correction stands.
    changed = "That's the old staging URL; please replace what you had."
    assert intents.rule(changed) is None and intents.shape(changed).both
    assert intents.classify(changed, FixedLabel(firm)).intent == "BOTH"
    # One question states nothing: a question read as a correction asks.
    asked = label_of({"correction": 0.6, "question": 0.3, "edit": 0.1})
    question = "Anything to watch for when touching the Terraform state?"
    assert intents.rule(question) is None
    assert intents.classify(question, FixedLabel(asked)).intent == "RECALL"


class FixedLabel:
    def __init__(self, label: Any) -> None:
        self.label = label

    def intent(self, text: str) -> Any:
        return self.label


def test_the_recall_side_wins_when_it_holds_the_floor() -> None:
    from server.models.cerebellum import IntentLabel

    leaning = IntentLabel("NONE", {"RECALL": 0.35, "REMEMBER": 0.0, "BOTH": 0.2, "NONE": 0.45}, 1.0, "edit")
    assert intents.from_model(leaning).intent == "RECALL"
    assert intents.from_model(leaning, recall_floor=0.6).intent == "NONE"


def test_cerebellum_scores_the_intent_from_a_cached_prompt_head(cerebellum: Cerebellum) -> None:
    cerebellum.warm_up()
    assert INTENT_SYSTEM in cerebellum._prefixes  # pyright: ignore[reportPrivateUsage]
    label = cerebellum.intent("Which database did we choose for the analytics service?")
    assert label.intent in INTENTS
    assert abs(sum(label.probabilities.values()) - 1.0) < 1e-6
    assert label.kind
    # Only the message's own tokens were evaluated: the head came from the cache.
    assert cerebellum.usage.evaluated_tokens < cerebellum.usage.prompt_tokens / 2


@pytest.mark.slow
def test_eval_runner_reports_intent_figures(smollm2: Path, tmp_path: Path) -> None:
    cases = tmp_path / "intent.jsonl"
    rows = [
        {"id": "a", "task": "intent", "text": "What did we decide about retries?", "expected": "RECALL", "kind": "q"},
        {"id": "b", "task": "intent", "text": "thanks", "expected": "NONE", "kind": "chatter"},
        {"id": "c", "task": "intent", "text": "We chose Redis for the queue.", "expected": "REMEMBER", "kind": "d"},
    ]
    cases.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    reports: dict[str, dict[str, Any]] = {}
    for mode in ("pipeline", "prompt"):
        lines, report = run_eval(
            "decisions", "--cases", str(cases), "--model", str(smollm2), "--embedder", str(smollm2), "--mode", mode
        )
        reports[mode] = report
        assert report["task"] == "intent" and report["n"] == 3 and report["parse_failures"] == 0
        for key in ("accuracy", "p50_ms", "per_kind", "per_label_recall", "confusion"):
            assert key in report
        assert sum(sum(row.values()) for row in report["confusion"].values()) == 3
        assert any("confusion" in line for line in lines)
    # Pipeline: the two rule-shaped cases (a question about a decision, a thanks) are decided by rule, and right.
    assert reports["pipeline"]["decided_by_rule"] == 2 and reports["pipeline"]["rule_accuracy"] == 1.0


# -- route ----------------------------------------------------------------------------------


def routed(result: Any) -> RouteResult:
    assert not result.is_error, result.content
    return RouteResult.model_validate(result.structured_content)


def scripted_memory(store: SeedStore, intention: str, gate: str = "SAVE") -> Memory:
    return Memory(store, ScriptedBrain(gate=gate, intention=intention), HashEmbedder(), candidate_similarity=0.0)


def test_route_recalls_and_writes_through_the_pipeline(store: SeedStore) -> None:
    memory = scripted_memory(store, "NONE")
    stored = memory.remember("The staging API runs on port 8080.", "proj", force=True)
    assert stored.seed is not None

    asked = intents.route(memory, "Which port did we pick for the staging API?", "proj")
    assert asked.intent == "RECALL" and asked.decided_by == "rule" and asked.write is None
    assert asked.memories is not None and asked.memories.hits[0].id == stored.seed.id

    kept = intents.route(memory, "Remember that the build cache lives in /var/cache/build.", "proj")
    assert kept.intent == "REMEMBER" and kept.memories is None
    assert kept.write is not None and kept.write.status == "saved" and kept.write.gate is not None

    idle = intents.route(memory, "ok thanks", "proj")
    assert idle.intent == "NONE" and idle.memories is None and idle.write is None

    with pytest.raises(SecretInText):
        intents.route(memory, f"Remember the deploy token is {GITHUB_TOKEN}", "proj")
    assert all(GITHUB_TOKEN not in seed.text for seed in store.list_seeds("proj"))


def test_route_model_says_both_and_the_gate_still_decides(store: SeedStore) -> None:
    memory = scripted_memory(store, "BOTH", gate="SKIP")
    result = intents.route(memory, "The worker needs Python 3.12 for the new typing features.", "proj")
    assert result.intent == "BOTH" and result.decided_by == "model"
    assert result.memories is not None
    assert result.write is not None and result.write.status == "skipped"  # the gate, not the router, said no


@pytest.mark.anyio
async def test_route_tool_over_mcp_with_smollm2(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert "route" in tools and tools["route"].annotations is not None
        assert "once for each new user message" in (tools["route"].description or "")
        await client.call_tool("remember", {"text": "The docs site is built with Astro.", "force": True})
        asked = routed(await client.call_tool("route", {"message": "What did we decide about the docs site?"}))
        assert asked.intent == "RECALL" and asked.memories is not None
        assert asked.memories.hits and "Astro" in asked.memories.hits[0].text
        kept = routed(await client.call_tool("route", {"message": "Lesson: run migrations before the e2e tests."}))
        assert kept.intent == "REMEMBER" and kept.write is not None and kept.write.arbiter is not None
        assert kept.write.status in ("saved", "duplicate", "updated")  # SmolLM2's arbiter, not the router, says which
        # Whatever the model says about an open message, the answer is one of the four, and usable.
        open_one = routed(await client.call_tool("route", {"message": "The queue is RabbitMQ now, not Kafka."}))
        assert open_one.intent in INTENTS and open_one.decided_by in ("model", "rule")
        refused = await client.call_tool("route", {"message": f"remember: token {GITHUB_TOKEN}"})
        assert refused.is_error and GITHUB_TOKEN not in str(refused.content)


def test_real_models_route_a_message(store: SeedStore, cerebellum: Cerebellum, embedder: Embedder) -> None:
    memory = Memory(store, cerebellum, embedder, candidate_similarity=0.0)
    result = intents.route(memory, "Add pagination to the orders endpoint.", "proj")
    assert result.decided_by == "model" and result.intent in INTENTS
