"""Run by `make wheel-check` with the Python of a fresh venv that has only the built wheel installed.

Starts the installed `cerebellum-mcp` over stdio with the given GGUF as both models and a temporary
store, and checks that a client can list the tools and remember and recall through it (and through the
shared service it starts, which is stopped at the end).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def smoke(model: str) -> None:
    command = Path(sys.executable).parent / "cerebellum-mcp"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--db", f"{tmp}/seeds.db", "--model", model, "--embedder", model, "--offline", "--threads", "2"]
        # Loading can outlast remember's deadline on busy cores; a 'queued' text is not recallable yet. The
        # default launch attaches to the shared service: its folder is the temporary one, and it is stopped below.
        env = {"HF_HUB_OFFLINE": "1", "CEREBELLUM_DEADLINE_SECONDS": "300", "CEREBELLUM_SERVICE_DIR": f"{tmp}/service"}
        params = StdioServerParameters(command=str(command), args=args, env=env)
        async with Client(params, read_timeout_seconds=120) as client:
            tools = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert {"recall", "reconcile", "remember"} <= set(tools), tools
            text = "The wheel check stored this."
            saved = await client.call_tool("remember", {"text": text, "force": True})
            assert not saved.is_error, saved.content
            found = await client.call_tool("recall", {"query": text})
            assert found.structured_content is not None and found.structured_content["hits"][0]["text"] == text
        stopped = subprocess.run([str(command), *args, "service", "stop"], env=env, capture_output=True, text=True)
        assert "stopped the shared service" in stopped.stdout, (stopped.stdout, stopped.stderr)
    print(f"stdio ok: {command} lists {', '.join(tools)}; remember and recall work")


if __name__ == "__main__":
    anyio.run(smoke, sys.argv[1])
