"""The memory console: see and steer what the cerebellum did, in a browser.

Served by the process that holds the models: beside /mcp in `serve --http` (server/console/site.py
`http_console`), and by the shared service on a loopback port (`ServiceConsole`) that `cerebellum-mcp ui`
asks for (server/cli/ui.py). Pages and actions: app.py; what they read: reads.py; what they change, always
through the core's recorded operations: actions.py; the protections (Host, Origin, sessions, CSRF, CSP,
tokens and scopes): guard.py.
"""
