"""The credential detector, against a corpus of pasted texts: fake secrets in real shapes, and ordinary texts.

tests/data/secrets.jsonl holds one case a line: positives carry the kind expected and the planted (random, fake)
secret value; negatives are technical texts that must pass untouched.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from server.rules.secrets import Finding, describe, find_secrets, redact

CORPUS = Path(__file__).parents[1] / "data" / "secrets.jsonl"
MAX_FALSE_POSITIVE_RATE = 0.02
PLACEHOLDER = re.compile(r"\[REDACTED:[a-z-]+\]")
KINDS = {
    "aws-access-key",
    "aws-secret-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "openai-key",
    "anthropic-key",
    "google-api-key",
    "cerebellum-token",
    "jwt",
    "private-key",
    "password-in-url",
    "connection-string-password",
    "secret-assignment",
    "high-entropy-assignment",
}


def _load() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


CASES = _load()
POSITIVES = [case for case in CASES if case["secret"]]
NEGATIVES = [case for case in CASES if not case["secret"]]


def _windows(value: str, size: int = 12) -> list[str]:
    """Every run of `size` characters of a secret (the whole value when shorter): none may survive redaction."""
    if len(value) <= size:
        return [value]
    return [value[i : i + size] for i in range(len(value) - size + 1)]


def _secret_texts(case: dict[str, Any], findings: list[Finding]) -> list[str]:
    texts = [case["text"][f.start : f.end] for f in findings]
    if case.get("value"):
        texts.append(case["value"])
    return texts


# -- the corpus itself ------------------------------------------------------------------------------------------


def test_corpus_is_large_and_covers_every_kind() -> None:
    assert len(POSITIVES) >= 70
    assert len(NEGATIVES) >= 70
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    per_kind = Counter(case["kind"] for case in POSITIVES)
    assert set(per_kind) == KINDS
    assert min(per_kind.values()) >= 3, per_kind
    for case in POSITIVES:
        assert case["value"] in case["text"], case["id"]


# -- positives --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", POSITIVES, ids=lambda case: case["id"])
def test_positive_is_found_with_its_kind(case: dict[str, Any]) -> None:
    findings = find_secrets(case["text"])
    assert findings, f"nothing found in {case['text']!r}"
    assert case["kind"] in {f.kind for f in findings}, [(f.kind, case["text"][f.start : f.end]) for f in findings]


@pytest.mark.parametrize("case", POSITIVES, ids=lambda case: case["id"])
def test_redaction_removes_the_secret(case: dict[str, Any]) -> None:
    findings = find_secrets(case["text"])
    redacted = redact(case["text"])
    assert "[REDACTED:" in redacted
    assert f"[REDACTED:{case['kind']}]" in redacted
    for secret in _secret_texts(case, findings):
        assert secret not in redacted
        survivors = [window for window in _windows(secret) if window in redacted]
        assert not survivors, f"parts of the secret survive: {survivors[:3]}"


@pytest.mark.parametrize("case", POSITIVES, ids=lambda case: case["id"])
def test_describe_never_contains_the_secret(case: dict[str, Any]) -> None:
    findings = find_secrets(case["text"])
    sentence = describe(findings)
    assert "line" in sentence
    for secret in _secret_texts(case, findings):
        assert not [window for window in _windows(secret) if window in sentence], sentence


# -- negatives --------------------------------------------------------------------------------------------------


def test_false_positive_rate() -> None:
    flagged = {case["id"]: find_secrets(case["text"]) for case in NEGATIVES}
    flagged = {case_id: findings for case_id, findings in flagged.items() if findings}
    rate = len(flagged) / len(NEGATIVES)
    print(f"\nfalse positives: {len(flagged)}/{len(NEGATIVES)} = {rate:.1%}")
    for case in NEGATIVES:
        for finding in flagged.get(case["id"], []):
            print(f"  {case['id']}: {finding.kind} {case['text'][finding.start : finding.end]!r}")
    assert rate <= MAX_FALSE_POSITIVE_RATE


def test_redact_leaves_negatives_unchanged() -> None:
    changed = [case["id"] for case in NEGATIVES if redact(case["text"]) != case["text"]]
    print(f"\nnegatives changed by redact: {len(changed)}/{len(NEGATIVES)} {changed}")
    assert len(changed) / len(NEGATIVES) <= MAX_FALSE_POSITIVE_RATE
    for case in NEGATIVES:
        if not find_secrets(case["text"]):
            assert redact(case["text"]) == case["text"]
            assert redact(case["text"], []) == case["text"]


# -- properties over the whole corpus ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["id"])
def test_findings_are_sorted_and_do_not_overlap(case: dict[str, Any]) -> None:
    findings = find_secrets(case["text"])
    for finding in findings:
        assert 0 <= finding.start < finding.end <= len(case["text"])
        assert finding.line == case["text"].count("\n", 0, finding.start) + 1
    for before, after in itertools.pairwise(findings):
        assert before.end <= after.start


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["id"])
def test_redact_keeps_everything_else_byte_identical(case: dict[str, Any]) -> None:
    text = case["text"]
    findings = find_secrets(text)
    redacted = redact(text, findings)
    kept = PLACEHOLDER.split(redacted)
    bounds = [0, *[edge for f in findings for edge in (f.start, f.end)], len(text)]
    expected = [text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    assert kept == expected
    assert PLACEHOLDER.findall(redacted) == [f"[REDACTED:{f.kind}]" for f in findings]


# -- the API in small ------------------------------------------------------------------------------------------


def _fake_github_token() -> str:
    return "ghp_" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU1vW3xY5zA7"


def test_describe_names_kinds_and_lines() -> None:
    text = (
        "deploy notes\n\n"
        f"GITHUB_TOKEN={_fake_github_token()}\n\n"
        "DATABASE_URL=postgres://app:Qm7xR2pLk9Vw4@db.internal:5432/app\n"
    )
    findings = find_secrets(text)
    assert [(f.kind, f.line) for f in findings] == [("github-token", 3), ("password-in-url", 5)]
    assert describe(findings) == "a GitHub token on line 3 and a password in a URL on line 5"
    assert describe([]) == "no secrets"


def test_describe_counts_repeated_kinds() -> None:
    other = "ghp_" + "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8B"
    text = f"A={_fake_github_token()}\nB={other}\nC={_fake_github_token()}\n"
    findings = find_secrets(text)
    assert describe(findings) == "three GitHub tokens on lines 1, 2 and 3"
    assert redact(text) == "A=[REDACTED:github-token]\nB=[REDACTED:github-token]\nC=[REDACTED:github-token]\n"


def test_span_is_the_value_not_the_line() -> None:
    text = 'DB_PASSWORD=Vq8#kL2mX9pz\nconfig = {"client_secret": "9fKx2LmQ8vRt4WnZ7pYc"}\n'
    findings = find_secrets(text)
    assert [text[f.start : f.end] for f in findings] == ["Vq8#kL2mX9pz", "9fKx2LmQ8vRt4WnZ7pYc"]
    assert redact(text) == (
        'DB_PASSWORD=[REDACTED:secret-assignment]\nconfig = {"client_secret": "[REDACTED:secret-assignment]"}\n'
    )


def test_private_key_block_is_redacted_whole() -> None:
    body = "\n".join(["MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7" + "q" * 12] * 4)
    text = f"key:\n-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\nthanks"
    assert redact(text) == "key:\n[REDACTED:private-key]\nthanks"


@pytest.mark.parametrize(
    "block",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLI\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY----- MHcCAQEEIBkg4= -----END EC PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_a_whole_private_key_block_is_a_secret_however_short_its_body(block: str) -> None:
    # Found from outside: a block around a 30-character body was stored as it was.
    text = f"the staging deploy key:\n{block}\nuse it for the runner"
    assert [f.kind for f in find_secrets(text)] == ["private-key"]
    assert redact(text) == "the staging deploy key:\n[REDACTED:private-key]\nuse it for the runner"


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN PRIVATE KEY-----\n<paste your key here>\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nxxxxxxxxxxxxxxxxxxxx\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_a_private_key_block_around_a_placeholder_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_redact_uses_the_findings_it_is_given() -> None:
    text = f"one {_fake_github_token()} two"
    assert redact(text, []) == text
    assert redact(text, [Finding("custom", 0, 3, 1)]) == f"[REDACTED:custom] {_fake_github_token()} two"


def test_findings_are_frozen() -> None:
    finding = Finding("jwt", 0, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.start = 2  # type: ignore[misc]


def test_empty_text() -> None:
    assert find_secrets("") == []
    assert redact("") == ""


def test_redacted_text_holds_no_secret_so_redacting_is_stable() -> None:
    for case in POSITIVES:
        redacted = redact(case["text"])
        assert find_secrets(redacted) == [], case["id"]
        assert redact(redacted) == redacted, case["id"]
