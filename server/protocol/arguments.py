"""What a tool call may ask for: the limits on its arguments and the checks that enforce them, defined once.

Every front end (the MCP tools over stdio or HTTP, the relay, the CLI) checks a call's arguments here
before anything is stored or searched. A refusal is an `InvalidArgument`: a ToolError whose sentence
says what to send instead, so the agent can correct the call; nothing has been read or written yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp.server.mcpserver.exceptions import ToolError

from server.pipeline.memory import ALL_SCOPES, ScopeSelection
from server.rules import secrets
from server.settings import MAX_QUERY_CHARS as MAX_QUERY_CHARS  # defined with the settings: the hooks read it too
from server.settings import SCOPE_PATTERN
from server.transport.wire import INVALID_TEXT

MAX_RECALL_K = 50
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_SCOPES = 50
OPERATION_ID = re.compile(r"op_[0-9a-f]{1,32}")


class InvalidArgument(ToolError):
    """A tool argument that can't be used; the message says what to send instead."""


def echo(value: str) -> str:
    """A value quoted back in an error, with any credential taken out first: errors are logged too."""
    shown = secrets.redact(value)
    return repr(shown if len(shown) <= 60 else shown[:60] + "...")


def text(value: str, what: str, limit: int) -> str:
    """Refuse text the store should never hold; the sentence says what to send instead."""
    if not value.strip():
        raise InvalidArgument(f"The {what} is empty: send the words themselves.")
    if len(value) > limit:
        raise InvalidArgument(
            f"The {what} is {len(value)} characters, over the limit of {limit}: send the part worth keeping "
            "(a summary, the conclusion), not the whole document or log."
        )
    if "\x00" in value:
        raise InvalidArgument(f"The {what} contains a NUL character: send plain text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"The {what} is not valid Unicode (a lone surrogate at {exc.start}): send plain text."
        ) from exc
    if INVALID_TEXT in value:  # how the stdio wire delivers a lone surrogate escape
        raise InvalidArgument(
            f"The {what} is not valid Unicode (a lone surrogate or U+FFFF at {value.index(INVALID_TEXT)}): "
            "send plain text."
        )
    return value


def query(value: str) -> str:
    return text(value, "query", MAX_QUERY_CHARS)


def tags(values: Sequence[str] | None) -> list[str]:
    """The tags, stripped and without repeats."""
    values = values or []
    if len(values) > MAX_TAGS:
        raise InvalidArgument(f"{len(values)} tags is too many: give at most {MAX_TAGS}.")
    cleaned: list[str] = []
    for tag in values:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_CHARS or any(ord(c) < 32 for c in tag):
            raise InvalidArgument(
                f"Invalid tag {echo(tag)}: a tag is 1-{MAX_TAG_CHARS} characters on one line, "
                "without control characters."
            )
        text(tag, "tag", MAX_TAG_CHARS)
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def recall_k(k: int) -> int:
    if not 1 <= k <= MAX_RECALL_K:
        raise InvalidArgument(f"k must be between 1 and {MAX_RECALL_K}; got {k}.")
    return k


def scope_name(scope: str) -> str:
    if not SCOPE_PATTERN.match(scope):
        raise InvalidArgument(
            f"Invalid scope {echo(scope)}: use 1-128 letters, digits or . _ : / - (for example 'my-project'), "
            "or leave it out for this project's scope."
        )
    return scope


def one_scope(scope: str | None) -> str | None:
    """The one scope a write works in; None: the caller's default scope (this project's)."""
    if scope is None or scope == "":
        return None
    if scope == ALL_SCOPES:
        raise InvalidArgument("A memory is stored in one scope: name it, or leave scope out for this project's scope.")
    return scope_name(scope)


def scope_selection(scope: str | Sequence[str] | None) -> ScopeSelection | None:
    """The scopes a search or a tidy covers: a named one, several, or "*" for all; None: the caller's default."""
    if scope is None or scope == "" or (not isinstance(scope, str) and len(scope) == 0):
        return None
    if isinstance(scope, str):
        return scope if scope == ALL_SCOPES else scope_name(scope)
    if len(scope) > MAX_SCOPES:
        raise InvalidArgument(
            f"{len(scope)} scopes is too many: name at most {MAX_SCOPES}, or use '*' for every scope."
        )
    if ALL_SCOPES in scope:
        return ALL_SCOPES
    return [scope_name(name) for name in scope]


def forget_scope(scope: str | None) -> str | None:
    """forget's scope: one scope, or "*" to remove the seed from whatever scope; None: the default."""
    return ALL_SCOPES if scope == ALL_SCOPES else one_scope(scope)


def operation_id(value: str) -> str:
    value = value.strip()
    if not OPERATION_ID.fullmatch(value):
        raise InvalidArgument(
            f"{echo(value)} is not an operation id: send the operation_id a result gave you "
            "(it looks like op_1a2b3c4d5e6f)."
        )
    return value
