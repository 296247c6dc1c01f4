"""The cerebellum's prompts are rendered with the model's own chat template; for a template with
Qwen3's thinking switch, thinking is off and the answer starts after the (empty) thinking block.

No Qwen3 GGUF can be had here, so these tests use SmolLM2's file carrying Qwen3's published chat
template (tests/data/qwen3_chat_template.jinja, from Qwen3's tokenizer_config.json) in place of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.models import prompts
from server.models.cerebellum import Cerebellum, answer_start
from tests.helpers.ggufcopy import copy_with_metadata

QWEN3_TEMPLATE = (Path(__file__).parents[1] / "data" / "qwen3_chat_template.jinja").read_text(encoding="utf-8")
# A template that always opens a thinking block for the answer and has no switch (as reasoning models ship).
ALWAYS_THINKS = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def qwen3_styled(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cerebellum]:
    path = copy_with_metadata(
        smollm2,
        tmp_path_factory.mktemp("qwen3") / "smollm2-with-qwen3-template.gguf",
        {"tokenizer.chat_template": QWEN3_TEMPLATE},
    )
    model = Cerebellum(path, threads=2, context_size=2048, arbiter="pairwise")
    yield model
    model.close()


def test_the_qwen3_template_is_rendered_with_thinking_off(qwen3_styled: Cerebellum) -> None:
    assert qwen3_styled.thinking_switch
    text = qwen3_styled.prompt_text(prompts.MEMORIZE_SYSTEM, prompts.memorize_user("Use pnpm, not npm."), '{"x": "')
    assert text.startswith("<|im_start|>system\n" + prompts.MEMORIZE_SYSTEM + "<|im_end|>\n<|im_start|>user\n")
    # The template's own empty block, then the prefilled answer: the label is read after </think>.
    assert text.endswith('<|im_start|>assistant\n<think>\n\n</think>\n\n{"x": "')
    assert text.count("<think>") == 1


def test_a_label_is_read_where_the_answer_starts_with_the_qwen3_template(qwen3_styled: Cerebellum) -> None:
    verdict = qwen3_styled.memorize("Lesson learned: the staging deploy needs VPN access first.")
    assert verdict.category in prompts.CATEGORIES
    assert set(verdict.scores) == set(prompts.CATEGORIES)
    relation, _ = qwen3_styled.label(
        prompts.RELATE_SYSTEM,
        prompts.relate_user("The API listens on port 8080.", "The API listens on port 8081 now."),
        "relation",
        prompts.RELATIONS,
    )
    assert relation in prompts.RELATIONS


def test_smollm2_own_template_has_no_thinking_block(cerebellum: Cerebellum) -> None:
    assert not cerebellum.thinking_switch
    assert "<think>" not in cerebellum.prompt_text(prompts.MEMORIZE_SYSTEM, "hello")


def test_a_template_that_always_opens_a_thinking_block_gets_it_closed_empty() -> None:
    assert answer_start("<|im_start|>assistant\n<think>\n") == "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert answer_start(closed) == closed
    assert answer_start("<|im_start|>assistant\n") == "<|im_start|>assistant\n"


def test_an_always_thinking_template_is_answered_after_the_block(
    smollm2: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = copy_with_metadata(
        smollm2, tmp_path_factory.mktemp("thinks") / "always-thinks.gguf", {"tokenizer.chat_template": ALWAYS_THINKS}
    )
    model = Cerebellum(path, threads=2, context_size=2048)
    try:
        text = model.prompt_text(prompts.MEMORIZE_SYSTEM, "hello", '{"category": "')
        assert text.endswith('<|im_start|>assistant\n<think>\n\n</think>\n\n{"category": "')
        assert model.memorize("We chose Postgres for the main database.").category in prompts.CATEGORIES
    finally:
        model.close()
