"""The console's errors: one root, each with the HTTP status its page answers with."""

from __future__ import annotations

from server.errors import ServerError


class ConsoleError(ServerError):
    """Something the console refuses or can't do; the message is shown to the person (escaped)."""

    status = 400


class NotAllowed(ConsoleError):
    """The request may not read or change this (a scope the token doesn't hold, a bad CSRF token or origin)."""

    status = 403


class NotSignedIn(ConsoleError):
    """No session: sign in with a token, or open the address `cerebellum-mcp ui` printed."""

    status = 401


class Missing(ConsoleError):
    """No such memory, operation or inbox text (in the scopes this session sees)."""

    status = 404


class NotReady(ConsoleError):
    """The store or the models are not open yet (or could not be opened)."""

    status = 503
