"""What the caller's bearer token may touch: the one place every tool and resource checks its scopes.

Over HTTP with tokens (server/protocol/auth.py) each request carries the token the SDK verified; a token holds a
list of scopes, or "*" for all of them. Every tool and resource resolves the scopes it will read or change,
then asks here before touching the store:

- a named scope (or a list naming one) the token doesn't hold is refused: a ToolError naming the scope and
  the token's scopes, before anything is read or written;
- "*" (every scope) means every scope the token holds;
- a call that names no scope gets its usual default (the setting, or the client's project folder); when
  the token doesn't hold that one and holds exactly one scope, that scope is the default, else the call
  is refused and asked to name one;
- forget with "*" only finds a seed in the token's scopes, and undo is refused for an operation that
  touched a scope the token doesn't hold (server/protocol/tools.py asks `operation_scopes` which).

Without a token (stdio, tokenless loopback HTTP) nothing is limited: every function returns its input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver.exceptions import ToolError

from seeds import SeedStore
from server.rules.scopes import ALL_SCOPES, ScopeSelection, scope_filter

TOKEN_HINT = "`cerebellum-mcp token add NAME --scopes ...` on the server makes a token with other scopes"


class ScopeNotHeld(ToolError):
    """The caller's token does not hold a scope the call would read or change; nothing was."""


@dataclass(frozen=True)
class Holder:
    """The token a request came with: its name and the scopes it holds."""

    name: str
    scopes: tuple[str, ...]

    def holds(self, scope: str) -> bool:
        return scope in self.scopes

    def listed(self) -> str:
        return ", ".join(repr(scope) for scope in self.scopes)


def holder() -> Holder | None:
    """The current request's token when it is limited to some scopes; None when nothing is limited
    (no token at all, or one holding "*")."""
    token = get_access_token()
    if token is None or ALL_SCOPES in token.scopes:
        return None
    return Holder(name=token.client_id, scopes=tuple(token.scopes))


def require(scopes: Iterable[str], what: str = "this call") -> None:
    """Refuse unless the token holds every one of `scopes` (`what` says what would have touched them)."""
    limited = holder()
    if limited is None:
        return
    missing = [scope for scope in dict.fromkeys(scopes) if not limited.holds(scope)]
    if missing:
        names = ", ".join(repr(scope) for scope in missing)
        raise ScopeNotHeld(
            f"The token {limited.name!r} does not hold scope {names}, which {what} would read or change; it holds "
            f"{limited.listed()}. Nothing was read or changed: name one of its scopes, or {TOKEN_HINT}."
        )


def one(scope: str) -> str:
    """A scope the call named, checked."""
    require([scope], f"scope {scope!r}")
    return scope


def default(scope: str) -> str:
    """The default scope (the setting or the client's project folder) of a call that named none: itself when
    the token holds it; the token's one scope when it holds only one; else refused, asking for a scope."""
    limited = holder()
    if limited is None or limited.holds(scope):
        return scope
    if len(limited.scopes) == 1:
        return limited.scopes[0]
    raise ScopeNotHeld(
        f"This call names no scope, and this project's scope {scope!r} is not one the token {limited.name!r} "
        f"holds; it holds {limited.listed()}. Nothing was read or changed: pass scope as one of those."
    )


def selection(scope: ScopeSelection) -> ScopeSelection:
    """The scopes a search or a tidy covers, checked: "*" becomes every scope the token holds; a list
    (or a name) with one the token doesn't hold is refused."""
    limited = holder()
    if limited is None:
        return scope
    names = scope_filter(scope)
    if names is None:
        return list(limited.scopes)
    require(names, f"scope {', '.join(repr(name) for name in names)}")
    return scope


def forget_scope(store: SeedStore, seed_id: int, scope: str) -> str:
    """forget's scope, checked: with "*" and a limited token, the seed's own scope if the token holds it
    (a seed in another scope is not found, as it would not be with that scope named)."""
    limited = holder()
    if scope != ALL_SCOPES:
        return one(scope)
    if limited is None:
        return scope
    found = store.get(seed_id)
    if found is None or not limited.holds(found.scope):
        raise ScopeNotHeld(
            f"No seed with id {seed_id} in the scopes the token {limited.name!r} holds ({limited.listed()}). "
            "Nothing was removed: `recall` shows the memories of those scopes with their ids."
        )
    return found.scope


def operation_scopes(store: SeedStore, operation_id: str) -> set[str]:
    """Every scope an operation touched, so undoing it touches no other: the operation's own and the scope
    of each seed it changed, before and now (seeds/history.py keeps each version with its scope).
    Empty for an unknown operation (undo itself says so)."""
    operation = store.get_operation(operation_id)
    if operation is None:
        return set()
    scopes = {operation.scope}
    for seed_id in operation.seed_ids:
        scopes.update(entry.previous.scope for entry in store.history(seed_id) if entry.operation_id == operation_id)
        current = store.get(seed_id)
        if current is not None:
            scopes.add(current.scope)
    return scopes


def undo_allowed(store: SeedStore, operation_id: str) -> None:
    """Refuse an undo of an operation that touched a scope the token doesn't hold; nothing is undone."""
    if holder() is None:
        return
    require(sorted(operation_scopes(store, operation_id)), f"undoing {operation_id}")
