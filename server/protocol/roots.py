"""A call's default scope, per client session: the one rule of `settings.project_scope` (--scope, else the
client's first root, else the project folder the client gave otherwise, else `default`), fed with what
this session's client offers.

Roots belong to a client's session, not to the server: over HTTP (or through the shared service)
one server holds many sessions, each with its own project folder, so everything here is per session.
A client on protocol 2026-07-28 (Claude Code) can't be asked for roots; its project folder comes from
where it started the stdio launch (`launch_folder`, only ever the client's own child process's folder,
never the shared service's) or, over HTTP, from the project header it sends (PROJECT_HEADER).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import unquote, urlparse

import anyio
from mcp.server.session import ServerSession
from mcp.types import ListRootsRequest, ListRootsResult

from server.settings import (
    PROJECT_HEADER,
    ScopeChoice,
    ScopeSource,
    Settings,
    project_folder,
    project_scope,
)

logger = logging.getLogger(__name__)

# A client that declares roots but does not answer roots/list should not hold up every tool call.
ROOTS_TIMEOUT_SECONDS = 5.0
SCOPE_META = "cerebellum-mcp/scope"
"""The request `_meta` key under which a stdio launch tells the shared service why it named the scope it
fills in for its client (the service has no client of its own to ask)."""
_SOURCES: frozenset[str] = frozenset(get_args(ScopeSource))


def relay_meta(choice: ScopeChoice) -> dict[str, Any]:
    return {SCOPE_META: {"scope": choice.scope, "source": choice.source, "reason": choice.reason}}


def relayed_choice(meta: Mapping[str, Any] | None) -> ScopeChoice | None:
    """The scope choice a stdio launch sent with a call (relay_meta), or None."""
    value = (meta or {}).get(SCOPE_META)
    if not isinstance(value, dict):
        return None
    sent = cast(dict[str, Any], value)
    scope, source, reason = sent.get("scope"), sent.get("source"), sent.get("reason")
    if not (isinstance(scope, str) and isinstance(source, str) and isinstance(reason, str)) or source not in _SOURCES:
        return None
    return ScopeChoice(scope, cast(ScopeSource, source), reason)


def _connection_of(session: ServerSession) -> object:
    """What lasts for one client: the SDK builds a ServerSession per request, over the client's connection
    (stdio: the process; HTTP: the MCP session). The session itself where the SDK keeps no connection."""
    return getattr(session, "_connection", None) or session


def folder_of_header(request: Any) -> Path | None:
    """The project folder an HTTP request names in its PROJECT_HEADER (a file:// URI, or a plain absolute
    path), or None (no header, not an HTTP request, or no project: see settings.project_folder)."""
    headers = getattr(request, "headers", None)
    found: object = headers.get(PROJECT_HEADER) if headers is not None else None
    if not isinstance(found, str) or not found:
        return None
    value: str = found
    parsed = urlparse(value)
    path = unquote(parsed.path) if parsed.scheme == "file" else value
    if not path.startswith("/") and not Path(path).is_absolute():
        logger.warning("the %s header %r is not an absolute path or file:// URI; ignored", PROJECT_HEADER, value)
        return None
    return project_folder(path, env={})


class RootScopes:
    """Each session's default scope: asks the client for its roots when it declares them."""

    def __init__(self, settings: Settings, launch_folder: Path | None = None) -> None:
        self.settings = settings
        self.launch_folder = launch_folder
        """The project folder of the stdio launch this process is (None: HTTP, the shared service)."""
        self._unavailable: weakref.WeakSet[Any] = weakref.WeakSet()
        """Connections whose client declared roots but failed roots/list: not asked again."""

    async def first_root(self, session: ServerSession) -> str | None:
        """The client's first root's URI, when it declares roots and answers roots/list."""
        connection = _connection_of(session)
        capabilities = session.client_capabilities
        if connection in self._unavailable or capabilities is None or capabilities.roots is None:
            return None
        try:
            with anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
                result = await session.send_request(
                    ListRootsRequest(), ListRootsResult, request_read_timeout_seconds=ROOTS_TIMEOUT_SECONDS
                )
        except Exception as exc:  # any failure (no back-channel, an error answer, a timeout) means no roots
            self._unavailable.add(connection)
            logger.info("the client declared roots but roots/list failed (%s); using its project folder", exc)
            return None
        return str(result.roots[0].uri) if result.roots else None

    async def choice(self, session: ServerSession, request: Any = None) -> ScopeChoice:
        """This session's default scope and why (settings.project_scope): the setting, else its first root,
        else the launch folder or the HTTP request's project header, else the default."""
        if "scope" in self.settings.model_fields_set:
            return project_scope(self.settings)  # pinned: the client is not asked
        root = await self.first_root(session)
        if self.launch_folder is not None:
            return project_scope(self.settings, root=root, folder=self.launch_folder, folder_source="launch-folder")
        header = folder_of_header(request)
        return project_scope(self.settings, root=root, folder=header, folder_source="project-header")

    async def default_scope(self, session: ServerSession, request: Any = None) -> str:
        return (await self.choice(session, request)).scope
