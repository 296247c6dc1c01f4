"""The root of every error server/ raises on purpose, as `seeds.StoreError` is for the store.

Each package subclasses it for its own mistakes (a bad argument, a model that can't be had, a service that
can't be reached); callers catch `ServerError` or one subclass, never a tuple of builtins. Only the MCP layer
(server/protocol) turns these into the SDK's `ToolError`, and only the CLI (server/cli) into exit codes.
"""


class ServerError(Exception):
    """A failure server/ expected and can explain: its message says what happened and what to do."""
