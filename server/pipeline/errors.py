"""The pipeline's errors: what remember, recall and the Decider raise on purpose, each with a message a user can act on.

All are `ServerError`s; the MCP layer (server/protocol/tools.py) answers them as the SDK's `ToolError` with the same
message, and the CLI as its own error. The pipeline never imports the MCP SDK.
"""

from __future__ import annotations

from server.errors import ServerError


class DecisionFailed(ServerError):
    """Deciding an inbox text failed for a reason other than the model's answer (the model crashed,
    the store refused the write). The text stays in the inbox, to be decided again later."""


class StoreNotOpen(ServerError):
    """The seed store could not be opened: nothing can be stored or searched until the server is restarted."""


class ModelsNotLoaded(ServerError):
    """The models could not be loaded: what needs them (reconcile) can't run; the load is retried."""


class WriteRefused(ServerError):
    """The store refused to take a text into the inbox (a full disk, a lost database): nothing was stored."""
