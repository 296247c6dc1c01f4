"""The MCP layer: the server, its tools, resources, arguments, roots, access and tokens."""
