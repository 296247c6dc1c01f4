"""Entry point for `mcp dev server/mcp_dev.py` (the MCP Inspector): the server with settings from the environment."""

from server.protocol.app import create_server
from server.settings import Settings

server = create_server(Settings())
