"""The stdio wire: JSON-RPC lines in, with one repair so that every request gets an answer.

JSON allows the escape of a lone UTF-16 surrogate (`"\\ud800"`), but the SDK's JSON parser refuses
the whole line, so a request carrying one in any argument got no answer at all, neither a result
nor an error, and the client waited until its own timeout. Such a line is rewritten here: each
lone surrogate escape becomes U+FFFF, a noncharacter that no valid text holds, and the request
reaches the tools, whose argument checks refuse it with an error that says what to send instead.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from io import TextIOWrapper
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server import MCPServer

# Only the standard library at import: the stdio launch's front (server/transport/front.py) repairs lines with
# this module before the SDK is imported.

INVALID_TEXT = "\uffff"
"""What a lone surrogate escape arrives as: a noncharacter, refused wherever text is checked."""

# An escape of a high surrogate not followed by one of a low surrogate, or a low one not preceded by a
# high one; the backslash must not itself be escaped (an even run of backslashes goes before it).
_LONE_SURROGATE = re.compile(
    r"(?<!\\)((?:\\\\)*)(?:\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def repair_line(line: str) -> str:
    """The line with each lone surrogate escape replaced by the escape of U+FFFF; others unchanged."""
    if "\\u" not in line:
        return line
    return _LONE_SURROGATE.sub(lambda m: m.group(1) + "\\uffff", line)


class RepairedLines:
    """The async text stream `stdio_server(stdin=...)` reads, line by line, each one repaired."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for line in self._source:
            yield repair_line(line)


def stdin_lines() -> Any:
    """The process's standard input as the SDK's stdio transport reads it (UTF-8, bad bytes replaced),
    repaired line by line."""
    import anyio

    wrapper = TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    return RepairedLines(anyio.wrap_file(wrapper))


async def serve_stdio(server: MCPServer[Any]) -> None:
    """`MCPServer.run_stdio_async`, reading the repaired lines (the SDK takes no other stdin there)."""
    from mcp.server.stdio import stdio_server

    async with stdio_server(stdin=stdin_lines()) as (read_stream, write_stream):
        lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
