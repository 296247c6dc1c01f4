"""Run by `make wheel-check` with the Python of a fresh venv that has only the built wheel installed.

Starts the installed `cerebellum-mcp` over stdio with the given GGUF as both models and a temporary
store, and checks that a client can list the tools and remember and recall through it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def smoke(model: str) -> None:
    command = Path(sys.executable).parent / "cerebellum-mcp"
    with tempfile.TemporaryDirectory() as tmp:
        params = StdioServerParameters(
            command=str(command),
            args=["--db", f"{tmp}/seeds.db", "--model", model, "--embedder", model, "--offline", "--threads", "2"],
            # Loading can outlast remember's deadline on busy cores; a 'queued' text is not recallable yet.
            env={"HF_HUB_OFFLINE": "1", "CEREBELLUM_DEADLINE_SECONDS": "300"},
        )
        async with Client(params, read_timeout_seconds=120) as client:
            tools = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert {"recall", "reconcile", "remember"} <= set(tools), tools
            text = "The wheel check stored this."
            saved = await client.call_tool("remember", {"text": text, "force": True})
            assert not saved.is_error, saved.content
            found = await client.call_tool("recall", {"query": text})
            assert found.structured_content is not None and found.structured_content["hits"][0]["text"] == text
    print(f"stdio ok: {command} lists {', '.join(tools)}; remember and recall work")


if __name__ == "__main__":
    anyio.run(smoke, sys.argv[1])
