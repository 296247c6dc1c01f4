"""A lean client of the shared local service (server/transport/service.py), for the hooks: the standard library only.

A hook is a short process on every prompt; the MCP SDK's client costs it about two seconds of imports and
a handshake. The service speaks MCP over HTTP on its unix socket, and on protocol 2026-07-28 one tool call
is one self-contained POST (no `initialize`, no session): that is all a hook needs. Its status is
`GET /service`; `POST /inbox/wake` asks it to decide what waits in the inbox now.

Every function answers None (or False) when the service is not there or does not answer in time: the
caller then does without it. Nothing here starts a service.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from itertools import count
from pathlib import Path
from typing import Any, cast

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "2026-07-28"
STATUS_PATH = "/service"
MCP_PATH = "/mcp"
WAKE_PATH = "/inbox/wake"
_ids = count(1)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("127.0.0.1", timeout=timeout)  # the host is only a name over the socket
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def _request(
    path: Path, method: str, url: str, timeout: float, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes] | None:
    """(status, content type, body), or None when nothing answers on the socket in time."""
    if not path.exists():
        return None
    connection = _UnixConnection(path, timeout)
    try:
        connection.request(method, url, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    except (OSError, http.client.HTTPException) as exc:
        logger.debug("the shared service did not answer %s %s: %s", method, url, exc)
        return None
    finally:
        connection.close()


def status(path: Path, timeout: float = 1.0) -> dict[str, Any] | None:
    """The service's status (server/transport/service.py ServiceStatus, as JSON), or None."""
    answer = _request(path, "GET", STATUS_PATH, timeout)
    if answer is None or answer[0] != 200:
        return None
    try:
        loaded = json.loads(answer[2])
    except ValueError:
        return None
    return cast(dict[str, Any], loaded) if isinstance(loaded, dict) else None


def warm(path: Path, key: str, timeout: float = 1.0) -> bool:
    """Whether the service for `key` runs with its models loaded."""
    found = status(path, timeout)
    return found is not None and found.get("key") == key and found.get("models") == "loaded"


def _rpc_result(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC message of a response: the body itself, or the last `data:` event of a stream."""
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" in content_type:
        messages = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        candidates = [m for m in messages if m]
        text = candidates[-1] if candidates else ""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return cast(dict[str, Any], message) if isinstance(message, dict) else None


def call_tool(path: Path, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """One tool call on the service: its structured result, or None (no service, an error, no answer in time)."""
    request = {
        "jsonrpc": "2.0",
        "id": next(_ids),
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "cerebellum-mcp-hook", "version": "1"},
            },
        },
    }
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": PROTOCOL_VERSION,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    answer = _request(path, "POST", MCP_PATH, timeout, json.dumps(request).encode(), headers)
    if answer is None:
        return None
    message = _rpc_result(answer[1], answer[2])
    result = message.get("result") if message is not None else None
    if not isinstance(result, dict):
        logger.warning("the shared service refused %s: %s", name, message.get("error") if message else answer[0])
        return None
    outcome = cast(dict[str, Any], result)
    structured = outcome.get("structuredContent")
    if outcome.get("isError") or not isinstance(structured, dict):
        logger.warning("the shared service refused %s: %s", name, outcome.get("content"))
        return None
    return cast(dict[str, Any], structured)


def wake(path: Path, timeout: float = 2.0) -> bool:
    """Ask the service to decide what waits in the inbox now (rather than at its next poll)."""
    answer = _request(path, "POST", WAKE_PATH, timeout, b"")
    return answer is not None and answer[0] == 202
