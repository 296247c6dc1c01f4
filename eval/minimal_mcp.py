"""A minimal MCP server on stdio, standard library only: the fastest a server can answer, for eval/claude_code.py.

It answers `initialize` (the handshake era) and `server/discover` (2026-07-28) at once, lists one tool,
`remember`, and answers its calls with "noted". Run: python eval/minimal_mcp.py
"""

import json
import sys

VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN = ("2026-07-28",)
INFO = {"name": "minimal", "version": "0.0.1"}
TOOL = {
    "name": "remember",
    "description": "Remember one sentence.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}


def answer(method, params):
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[-1],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": INFO,
        }
    if method == "server/discover":
        return {
            "supportedVersions": list(MODERN),
            "capabilities": {"tools": {"listChanged": False}},
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": INFO},
        }
    if method == "tools/list":
        return {"tools": [TOOL]}
    if method == "tools/call":
        return {"content": [{"type": "text", "text": "noted"}], "isError": False}
    if method == "ping":
        return {}
    return None


def main():
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "id" not in message or "method" not in message:
            continue  # notifications and responses
        result = answer(message["method"], message.get("params") or {})
        if result is None:
            reply = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "Method not found"}}
        else:
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
