"""Scopes, the one place for their rules: what a name may be, "*" for every scope, a selection of several,
a folder or a peer's project turned into a name, and one message for each kind of mistake.

Every front end checks names here — the settings (--scope), the MCP tools' arguments and resources, the
bearer tokens' scopes, the export lines `import` reads — so a name refused by one is refused by all, with
the same sentence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from server.errors import ServerError
from server.rules.limits import echo

ALL_SCOPES = "*"
"""Every scope: for the calls that read or tidy (recall, reconcile, list, export, forget, inbox), never a
scope a memory is written in."""
DEFAULT_SCOPE = "default"
MAX_SCOPES = 50
"""The most scopes one selection (a search's, a token's) may name."""

ScopeSelection = str | Sequence[str]
"""One scope, several, or ALL_SCOPES."""

SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
SCOPE_RULE = "a scope is 1-128 letters, digits or . _ : / - starting with a letter or digit"


class ScopeRefused(ServerError, ValueError):
    """A scope name or selection that can't be used; the message says what to give instead.

    A ValueError too, so that pydantic validators (settings, export lines) report it as a field's error."""


def is_scope(name: str) -> bool:
    return SCOPE_PATTERN.match(name) is not None


def check_name(name: str) -> str:
    """A scope name as given, or ScopeRefused saying what a name may be."""
    if not is_scope(name):
        raise ScopeRefused(f"Invalid scope {echo(name)}: {SCOPE_RULE} (for example 'my-project').")
    return name


def check_one(name: str) -> str:
    """The one scope a memory is written in: a name, never ALL_SCOPES."""
    if name == ALL_SCOPES:
        raise ScopeRefused(f"A memory is stored in one scope: name it ('{ALL_SCOPES}' means every scope).")
    return check_name(name)


def check_selection(selection: ScopeSelection, limit: int = MAX_SCOPES) -> ScopeSelection:
    """A selection to read or tidy: one name, ALL_SCOPES, or a list of names (ALL_SCOPES among them: all)."""
    if isinstance(selection, str):
        return selection if selection == ALL_SCOPES else check_name(selection)
    names = list(selection)
    if not names:
        raise ScopeRefused(f"No scope named: give one or more scope names, or '{ALL_SCOPES}' for every scope.")
    if len(names) > limit:
        raise ScopeRefused(f"{len(names)} scopes is too many: name at most {limit}, or use '{ALL_SCOPES}'.")
    if ALL_SCOPES in names:
        return ALL_SCOPES
    return [check_name(name) for name in names]


def parse_list(value: str | Sequence[str], limit: int = MAX_SCOPES) -> tuple[str, ...]:
    """`a,b` (or a list of names) into distinct scope names, or (ALL_SCOPES,) for `*` alone."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [item.strip() for item in items]
    if not names or any(not name for name in names):
        raise ScopeRefused(
            f"{','.join(items)!r} has an empty name: give scope names separated by commas "
            f"(for example shop-api,notes), or '{ALL_SCOPES}' for every scope."
        )
    if ALL_SCOPES in names:
        if len(names) > 1:
            raise ScopeRefused(f"'{ALL_SCOPES}' already means every scope: give it alone, or only scope names.")
        return (ALL_SCOPES,)
    unique = tuple(dict.fromkeys(check_name(name) for name in names))
    if len(unique) > limit:
        raise ScopeRefused(f"{len(unique)} scopes is too many: give at most {limit}, or '{ALL_SCOPES}'.")
    return unique


def scope_filter(scope: ScopeSelection) -> list[str] | None:
    """The store's scope filter for a selection: None for every scope, else the names."""
    if isinstance(scope, str):
        return None if scope == ALL_SCOPES else [scope]
    names = list(dict.fromkeys(scope))
    return None if ALL_SCOPES in names else names


def scope_label(scope: ScopeSelection) -> str:
    """How a selection is reported in results: a name, names joined by commas, or ALL_SCOPES."""
    names = scope_filter(scope)
    return ALL_SCOPES if names is None else ",".join(names)


def describe(scope: ScopeSelection) -> str:
    """A selection in words, for people: "every scope" or "scope 'x'"."""
    label = scope_label(scope)
    return "every scope" if label == ALL_SCOPES else f"scope '{label}'"


def name_from(text: str) -> str | None:
    """A peer's project name (or any label) as a scope: other characters become '-'; None if nothing is left."""
    cleaned = re.sub(r"[^A-Za-z0-9._:/-]+", "-", text.strip()).strip("-._:/")[:128]
    return cleaned if cleaned and is_scope(cleaned) else None


def scope_from_root(uri: str) -> str:
    """A stable, readable scope for a client root or a project folder (as a URI): the folder's name and a
    short hash of its full path.

    file:///home/me/src/shop-api becomes `shop-api-1a2b3c4d`; two folders of the same name in
    different places stay apart, and the same folder always gets the same scope.
    """
    parsed = urlparse(uri)
    path = unquote(parsed.path) if parsed.scheme == "file" else uri
    path = path.rstrip("/") or "/"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", PurePosixPath(path).name).strip("-._")[:100] or "project"
    return f"{name}-{hashlib.sha256(path.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
