"""What a tool call may ask for, checked before anything is stored or searched.

The limits and the scope rules themselves live in server/rules (limits.py, scopes.py), where the
settings, the export lines and the CLI check the same things; here each check's refusal becomes an
`InvalidArgument`: a ToolError whose sentence says what to send instead, so the agent can correct the call.
Nothing has been read or written yet when one is raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from server.errors import ServerError
from server.rules import limits, scopes
from server.rules.limits import echo
from server.rules.scopes import ALL_SCOPES, ScopeSelection

OPERATION_ID = re.compile(r"op_[0-9a-f]{1,32}")
LEAVE_OUT = "or leave it out for this project's scope."
T = TypeVar("T")


class InvalidArgument(ToolError):
    """A tool argument that can't be used; the message says what to send instead."""


def _checked(check: Callable[[], T], hint: str = "") -> T:
    try:
        return check()
    except ServerError as exc:
        raise InvalidArgument(f"{str(exc).rstrip('.')}, {hint}" if hint else str(exc)) from exc


def text(value: str, what: str, limit: int) -> str:
    """Refuse text the store should never hold; the sentence says what to send instead."""
    return _checked(lambda: limits.check_text(value, what, limit))


def query(value: str) -> str:
    return _checked(lambda: limits.check_query(value))


def tags(values: Sequence[str] | None) -> list[str]:
    """The tags, stripped and without repeats."""
    return _checked(lambda: limits.check_tags(values))


def recall_k(k: int) -> int:
    return _checked(lambda: limits.check_k(k))


def scope_name(scope: str) -> str:
    return _checked(lambda: scopes.check_name(scope), LEAVE_OUT)


def one_scope(scope: str | None) -> str | None:
    """The one scope a write works in; None: the caller's default scope (this project's)."""
    if scope is None or scope == "":
        return None
    return _checked(lambda: scopes.check_one(scope), LEAVE_OUT)


def scope_selection(scope: str | Sequence[str] | None) -> ScopeSelection | None:
    """The scopes a search or a tidy covers: a named one, several, or "*" for all; None: the caller's default."""
    if scope is None or scope == "" or (not isinstance(scope, str) and len(scope) == 0):
        return None
    return _checked(lambda: scopes.check_selection(scope))


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
