"""A call's default scope: the setting when the user pinned one, else the client's project folder (its first root).

Roots belong to a client's session, not to the server: over HTTP (or through the shared service)
one server holds many sessions, each with its own project folder, so everything here is per session.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import anyio
from mcp.server.session import ServerSession
from mcp.types import ListRootsRequest, ListRootsResult

from server.settings import Settings, scope_from_root

__all__ = ["RootScopes", "scope_from_root"]

logger = logging.getLogger(__name__)

# A client that declares roots but does not answer roots/list should not hold up every tool call.
ROOTS_TIMEOUT_SECONDS = 5.0


def _connection_of(session: ServerSession) -> object:
    """What lasts for one client: the SDK builds a ServerSession per request, over the client's connection
    (stdio: the process; HTTP: the MCP session). The session itself where the SDK keeps no connection."""
    return getattr(session, "_connection", None) or session


class RootScopes:
    """Asks each session's client for its roots when a call names no scope."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._unavailable: weakref.WeakSet[Any] = weakref.WeakSet()
        """Connections whose client declared roots but failed roots/list: not asked again."""

    async def default_scope(self, session: ServerSession) -> str:
        """--scope / CEREBELLUM_SCOPE when set, else the client's first root (its project folder), else
        the documented default."""
        settings = self.settings
        connection = _connection_of(session)
        if "scope" in settings.model_fields_set or connection in self._unavailable:
            return settings.scope
        capabilities = session.client_capabilities
        if capabilities is None or capabilities.roots is None:
            return settings.scope
        try:
            with anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
                result = await session.send_request(
                    ListRootsRequest(), ListRootsResult, request_read_timeout_seconds=ROOTS_TIMEOUT_SECONDS
                )
        except Exception as exc:  # any failure (no back-channel, an error answer, a timeout) means no roots
            self._unavailable.add(connection)
            logger.warning("the client declared roots but roots/list failed (%s); using scope %r", exc, settings.scope)
            return settings.scope
        if not result.roots:
            return settings.scope
        return scope_from_root(str(result.roots[0].uri))
