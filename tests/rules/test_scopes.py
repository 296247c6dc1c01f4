"""The scope and limit rules (server/rules/scopes.py, limits.py): one answer and one sentence for each kind of
mistake, wherever the name or text comes from — a tool, a token, an export line, the settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.protocol.arguments import InvalidArgument, one_scope, scope_name, scope_selection
from server.protocol.tokens import TokenError, parse_scopes
from server.rules import limits, scopes
from server.rules.scopes import ALL_SCOPES
from server.settings import Settings


@pytest.mark.parametrize("name", ["", "my project", "-shop", "../etc", "x" * 129, "a\nb", "é"])
def test_a_bad_scope_name_is_refused_the_same_way_everywhere(name: str, tmp_path: object) -> None:
    with pytest.raises(scopes.ScopeRefused) as rule:
        scopes.check_name(name)
    sentence = str(rule.value)
    assert sentence.startswith("Invalid scope") and scopes.SCOPE_RULE in sentence
    with pytest.raises(InvalidArgument, match="Invalid scope") as tool:
        scope_name(name)
    assert scopes.SCOPE_RULE in str(tool.value)
    if name:  # an empty --scopes entry has its own sentence
        with pytest.raises(TokenError, match="Invalid scope"):
            parse_scopes(name)
    with pytest.raises(ValidationError, match="Invalid scope"):
        Settings(scope=name)


@pytest.mark.parametrize("name", ["shop-api", "a", "team/shop:api.v2", "A" * 128])
def test_good_names_pass_unchanged(name: str) -> None:
    assert scopes.check_name(name) == name == scope_name(name) == Settings(scope=name).scope


def test_every_scope_is_for_reading_never_for_writing() -> None:
    with pytest.raises(InvalidArgument, match="stored in one scope"):
        one_scope(ALL_SCOPES)
    assert scope_selection(ALL_SCOPES) == ALL_SCOPES
    assert scope_selection(["a", ALL_SCOPES]) == ALL_SCOPES
    assert scope_selection(["a", "b"]) == ["a", "b"]
    assert scopes.scope_filter(["a", "a", "b"]) == ["a", "b"]
    assert scopes.scope_label(["a", "b"]) == "a,b" and scopes.scope_label(ALL_SCOPES) == ALL_SCOPES
    with pytest.raises(InvalidArgument, match="too many"):
        scope_selection([f"s{i}" for i in range(scopes.MAX_SCOPES + 1)])


def test_token_scopes_parse_as_a_list_with_every_scope_alone() -> None:
    assert parse_scopes("shop-api, notes,shop-api") == ("shop-api", "notes")
    assert parse_scopes("*") == (ALL_SCOPES,)
    with pytest.raises(TokenError, match="already means every scope"):
        parse_scopes("*,notes")
    with pytest.raises(TokenError, match="empty name"):
        parse_scopes("a,,b")


def test_a_peer_project_or_folder_becomes_a_usable_scope() -> None:
    assert scopes.name_from("  My Project (2) ") == "My-Project-2"
    assert scopes.name_from("///") is None
    assert scopes.check_name(scopes.scope_from_root("file:///home/me/src/shop%20api"))
    assert scopes.scope_from_root("file:///a/shop") != scopes.scope_from_root("file:///b/shop")


def test_text_and_tag_limits_refuse_with_a_sentence_saying_what_to_send() -> None:
    with pytest.raises(limits.TextRefused, match="empty"):
        limits.check_text("  ", "text", 100)
    with pytest.raises(limits.TextRefused, match="over the limit of 10"):
        limits.check_text("x" * 11, "text", 10)
    with pytest.raises(limits.TextRefused, match="NUL"):
        limits.check_text("a\x00b", "text", 10)
    with pytest.raises(limits.TextRefused, match="not valid Unicode"):
        limits.check_text("a\ud800b", "text", 10)
    assert limits.check_tags([" a", "a", "b "]) == ["a", "b"]
    with pytest.raises(limits.TextRefused, match="too many"):
        limits.check_tags([str(i) for i in range(limits.MAX_TAGS + 1)])
    with pytest.raises(limits.TextRefused, match="Invalid tag"):
        limits.check_tags(["two\nlines"])
    with pytest.raises(limits.TextRefused, match="between 1 and"):
        limits.check_k(limits.MAX_RECALL_K + 1)
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    with pytest.raises(limits.TextRefused) as refused:
        limits.check_tags([secret + " " + "x" * 64])
    assert secret not in str(refused.value)  # quoted back without the credential
