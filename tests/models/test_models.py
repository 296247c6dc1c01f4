"""The embedder and the cerebellum themselves, through llama-cpp-python on the real SmolLM2 GGUF."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from server.models.cerebellum import Cerebellum, MemorizeVerdict, UnparsableAnswer, parse_json_answer
from server.models.embedder import Embedder, family_for
from server.models.prompts import CATEGORIES, Candidate


def test_embeddings_are_unit_vectors_of_the_models_width(embedder: Embedder) -> None:
    vector = embedder.embed_document("Use ruff for linting.")
    assert len(vector) == embedder.dimension == 576
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed_document("Use ruff for linting.") == pytest.approx(vector, abs=1e-6)
    assert embedder.embed_document("完全不同的一句话。") != pytest.approx(vector, abs=1e-3)


def test_a_text_longer_than_the_embedders_window_is_embedded_from_its_head(embedder: Embedder) -> None:
    long = "The deploy script retries three times. " * 400
    assert len(embedder.embed_document(long)) == embedder.dimension


# What the GGUF files of each family say about themselves (the MiniLM and EmbeddingGemma rows as their
# stand-in files here read; Qwen3-Embedding's as its published conversion is named).
MINILM = {"general.architecture": "bert", "general.name": "MiniLM L6 H384 Uncased", "bert.pooling_type": "1"}
EMBEDDINGGEMMA = {
    "general.architecture": "gemma-embedding",
    "general.basename": "embeddinggemma",
    "general.name": "Embeddinggemma 300m",
    "gemma-embedding.pooling_type": "1",
}
QWEN3_EMBEDDING = {"general.architecture": "qwen3", "general.basename": "Qwen3-Embedding", "general.name": "Qwen3"}


@pytest.mark.parametrize(
    ("metadata", "filename", "family", "query", "document"),
    [
        (MINILM, "all-MiniLM-L6-v2-f16.gguf", "sentence-transformers", "which port?", "The API uses 8080."),
        (
            EMBEDDINGGEMMA,
            "embeddinggemma-300m-q8_0.gguf",
            "embeddinggemma",
            "task: search result | query: which port?",
            "title: none | text: The API uses 8080.",
        ),
        (
            EMBEDDINGGEMMA,
            "model.gguf",  # found by the metadata, whatever the file is called
            "embeddinggemma",
            "task: search result | query: which port?",
            "title: none | text: The API uses 8080.",
        ),
        (
            QWEN3_EMBEDDING,
            "Qwen3-Embedding-0.6B-Q8_0.gguf",
            "qwen3-embedding",
            "Instruct: Given a question or topic, retrieve the stored memories that answer it\nQuery:which port?",
            "The API uses 8080.",
        ),
        ({"general.architecture": "bert"}, "multilingual-e5-small-q8_0.gguf", "e5", "query: which port?", None),
        ({"general.architecture": "llama"}, "SmolLM2-135M-Instruct.Q4_1.gguf", "plain", "which port?", None),
    ],
)
def test_each_embedder_family_builds_its_own_prompts(
    metadata: dict[str, str], filename: str, family: str, query: str, document: str | None
) -> None:
    found = family_for(metadata, filename)
    assert found.name == family
    assert found.query("which port?") == query
    expected_document = document if document is not None else found.document_prefix + "The API uses 8080."
    assert found.document("The API uses 8080.") == expected_document


def test_qwen3_embedding_pools_on_its_last_token_and_others_on_the_mean() -> None:
    from llama_cpp import LLAMA_POOLING_TYPE_LAST, LLAMA_POOLING_TYPE_MEAN

    assert family_for(QWEN3_EMBEDDING).pooling == LLAMA_POOLING_TYPE_LAST
    assert family_for(QWEN3_EMBEDDING).ends_with_eos
    assert family_for(EMBEDDINGGEMMA).pooling == family_for(MINILM).pooling == LLAMA_POOLING_TYPE_MEAN


def test_a_gguf_that_names_its_family_gets_its_prompts_and_unit_vectors(
    smollm2: Path, tmp_path: Path, embedder: Embedder
) -> None:
    from tests.helpers.ggufcopy import copy_with_metadata

    # SmolLM2's weights, saying they are EmbeddingGemma: the prompts follow what the file says.
    path = copy_with_metadata(smollm2, tmp_path / "named.gguf", {"general.basename": "embeddinggemma"})
    named = Embedder(path, threads=2)
    try:
        assert named.family.name == "embeddinggemma"
        query = named.embed_query("which port does the API use?")
        assert query == pytest.approx(
            embedder.embed_document("task: search result | query: which port does the API use?")
        )
        assert named.embed_document("The API uses 8080.") == pytest.approx(
            embedder.embed_document("title: none | text: The API uses 8080.")
        )
        assert math.sqrt(sum(x * x for x in query)) == pytest.approx(1.0, abs=1e-5)
    finally:
        named.close()


@pytest.mark.parametrize(
    "text",
    [
        "ok thanks!",
        "Merge branch 'main' into feature/login",
        "Lesson: mock the clock, not time.sleep, or the retry tests take minutes.",
        "我更喜欢用 early return，而不是层层嵌套的 if。",
    ],
)
def test_memorize_always_answers_in_the_schema(cerebellum: Cerebellum, text: str) -> None:
    verdict = cerebellum.memorize(text)
    assert verdict.decision in ("SAVE", "SKIP")
    assert verdict.category in CATEGORIES
    assert verdict.elapsed_ms > 0


def test_the_arbiter_can_only_name_a_candidate_it_was_shown(cerebellum: Cerebellum) -> None:
    shown = [
        Candidate(41, "The staging database listens on port 5433.", "2026-11-01T10:00:00"),
        Candidate(97, "Deploys go out on Tuesdays.", "2026-11-02T10:00:00"),
    ]
    for new in ("Staging DB port: 5433.", "Forget the Tuesday deploys, that was wrong.", "Use Redis 7 for caching."):
        verdict = cerebellum.arbitrate(new, shown)
        assert verdict.action in ("ADD", "UPDATE", "DELETE", "NONE")
        assert verdict.target in (41, 97, None)


def test_the_pairwise_arbiter_asks_one_candidate_at_a_time(smollm2: Path) -> None:
    brain = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise")
    shown = [
        Candidate(5, "Deploys go out on Tuesdays.", "2026-11-02T10:00:00"),
        Candidate(9, "The API gateway runs on port 8080.", "2026-11-03T10:00:00"),
    ]
    try:
        for new in ("Deploys happen every Tuesday.", "Use Redis 7 for caching."):
            verdict = brain.arbitrate(new, shown)
            assert verdict.action in ("ADD", "UPDATE", "DELETE", "NONE")
            assert (verdict.target is None) == (verdict.action == "ADD")
            assert verdict.target in (5, 9, None)
    finally:
        brain.close()


def test_a_long_text_is_cut_to_fit_the_context(cerebellum: Cerebellum) -> None:
    verdict = cerebellum.memorize("Traceback line from a very long log\n" * 2000)
    assert verdict.decision in ("SAVE", "SKIP")


def test_answers_cut_off_in_the_reason_are_repaired_and_garbage_is_refused() -> None:
    assert parse_json_answer('{"decision": "SKIP", "category": "chatter", "reason": "just than') == {
        "decision": "SKIP",
        "category": "chatter",
        "reason": "just than",
    }
    with pytest.raises(UnparsableAnswer):
        parse_json_answer("I think this should be saved")


def test_a_cached_prompt_head_changes_the_cost_not_the_answer(smollm2: Path) -> None:
    brain = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise")
    texts = ["ok thanks!", "We pinned numpy below 2 because the wheels for our CI image lag.", "Build is at 60%"]
    shown = [Candidate(3, "Deploys go out on Tuesdays.", "2026-11-02T10:00:00")]
    try:
        brain.warm_up()
        reused = []
        for text in texts:  # memorize and arbitrate alternate, so each call switches task
            reused.append((brain.memorize(text).category, brain.usage, brain.arbitrate(text, shown).action))
        brain.reuse_prefix = False
        fresh = [(brain.memorize(t).category, brain.usage, brain.arbitrate(t, shown).action) for t in texts]
    finally:
        brain.close()
    assert [(c, a) for c, _, a in reused] == [(c, a) for c, _, a in fresh]
    for (_, with_head, _), (_, without, _) in zip(reused, fresh, strict=True):
        assert with_head.prompt_tokens == without.prompt_tokens
        assert without.evaluated_tokens == without.prompt_tokens
        # Only the text's own part of the prompt (and the prefilled answer) is evaluated.
        assert with_head.evaluated_tokens < without.prompt_tokens / 3


def test_the_group_vote_and_the_second_look_only_ever_answer_with_known_labels(smollm2: Path) -> None:
    brain = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise", verify=True, group_vote=True)
    try:
        for text in ("正在安装依赖", "Lesson: pin the CI image digest.", "sounds good, go ahead"):
            verdict = brain.memorize(text)
            assert verdict.category in CATEGORIES
            assert verdict.decision == ("SAVE" if verdict.category in CATEGORIES[:5] else "SKIP")
        stored = Candidate(8, "We use Node 18 for the frontend build.", "2026-11-02T10:00:00")
        for new in ("The frontend build uses Node 18.", "We upgraded the frontend build to Node 20."):
            assert brain.arbitrate(new, [stored]).action in ("ADD", "UPDATE", "DELETE", "NONE")
    finally:
        brain.close()


def test_prompt_heads_evaluated_once_are_read_by_the_next_process(smollm2: Path, tmp_path: Path) -> None:
    # What a short-lived launch lacks is the evaluated prompt heads: they are kept in the cache folder.
    heads = tmp_path / "heads"
    text = "We pinned numpy below 2 because the CI image lags."

    def process(warm: bool) -> tuple[MemorizeVerdict, int]:
        """A new process's cerebellum: its answer about `text`, and how many heads it read from the cache."""
        brain = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise", head_cache=heads)
        try:
            if warm:
                brain.warm_up()
            return brain.memorize(text), brain.heads_from_cache
        finally:
            brain.close()

    verdict, read = process(warm=True)
    written = len(list(heads.glob("head-*.kv")))  # one per task: memorize, intent, relate and its two checks
    assert read == 0 and written >= 4
    again, read = process(warm=True)
    assert read == written
    assert again.category == verdict.category and again.scores == pytest.approx(verdict.scores, abs=1e-3)
    # A file that is not a state of this model is evaluated anew, not trusted.
    for path in heads.glob("head-*.kv"):
        path.write_bytes(b"not a state")
    third, read = process(warm=False)
    assert read == 0 and third.category == verdict.category
