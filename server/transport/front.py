"""The stdio launch's first answers: `server/discover` and `initialize`, from the standard library alone.

Claude Code opens a stdio server with a `server/discover` probe and gives up on it after 2.5 s; a
server that answers later sees an `initialize` next, on a connection already in the 2026-07-28 era.
Importing the MCP SDK and finding the shared service takes seconds on a busy machine, so the
default launch (server/launch.py) starts this front before anything else: it reads the wire on a
thread of its own and answers both handshakes at once (0.1 s from the process start), with what
the relay would answer (tests/transport/test_launch.py compares them for every protocol version). Every other
line waits for the relay (server/transport/relay.py), which takes it once the SDK is up:

- the 2026-07-28 era: each request carries its own envelope, so the probe needs nothing replayed;
- the handshake era: the client's `initialize` (answered here) is replayed to the relay under an id
  of its own, so the SDK's session is initialized as the client's is; its answer is dropped.

A client may send both (a probe it gave up on, then `initialize`): both are answered, and the
relay serves the era of the `initialize`, which is what the client goes on with.

Claude Code sends its first model request only once it has the server's tools, so the lists
(tools, prompts, resources, resource templates) are answered here too, from the relay's own
answers of an earlier launch, kept in the cache folder under a fingerprint of the code that made
them (this package's and the SDK's versions, the server modules' sizes and times): a changed
server never gets an old list. A list not cached yet goes to the relay, and its answer is kept.

The process's own fds 0 and 1 are moved off the wire (to /dev/null and to stderr) while the front
holds it, so a stray print or a child process can't write into the MCP stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The protocol versions of the `initialize` handshake the relay speaks (the SDK's)."""
MODERN_VERSIONS = ("2026-07-28",)
"""The per-request-envelope versions, offered by `server/discover`."""
CAPABILITIES: dict[str, Any] = {
    "prompts": {"listChanged": False},
    "resources": {"listChanged": False, "subscribe": False},
    "tools": {"listChanged": False},
}
"""What the relay serves: tools, resources and prompts, none of them changing while it runs."""
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
REPLAY_ID = "cerebellum-front-initialize"
"""The id the client's `initialize` is replayed to the relay under; the relay's answer to it is dropped."""
SERVER_NAME = "cerebellum-mcp"

LISTS = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list"})
"""The requests answered from the relay's earlier answers (first pages only)."""
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"

Line = str | None
"""A line of the wire for the relay; None when the client closed it."""


def installed_versions(names: Iterable[str], path: Iterable[str] | None = None) -> dict[str, str]:
    """The installed versions of these distributions, read from their `.dist-info` folder names on
    sys.path (importlib.metadata reads the same, at ten times the import cost)."""
    wanted = {name.replace("-", "_").lower(): name for name in names}
    found: dict[str, str] = {}
    for folder in path if path is not None else sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith(".dist-info"):
                continue
            project, _, version = entry[: -len(".dist-info")].partition("-")
            name = wanted.get(project.lower())
            if name is not None and name not in found:
                found[name] = version
        if len(found) == len(wanted):
            break
    return found


class Listings:
    """The relay's answers to the list requests, per protocol version, in a file named by a fingerprint."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Any]] = {}
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = {}
            if isinstance(loaded, dict):
                self._answers = loaded  # pyright: ignore[reportUnknownMemberType]

    def get(self, version: str, method: str) -> Any:
        with self._lock:
            return self._answers.get(version, {}).get(method)

    def put(self, version: str, method: str, result: Any) -> None:
        with self._lock:
            if self._answers.get(version, {}).get(method) == result:
                return
            self._answers.setdefault(version, {})[method] = result
            text = json.dumps(self._answers, ensure_ascii=False)
        if self.path is None:
            return
        try:  # written whole, then renamed: a reader never sees half a file
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(self.path)
        except OSError:
            pass  # the next launch asks the relay again


def fingerprint(versions: dict[str, str], folder: Path = Path(__file__).parents[1]) -> str:
    """What the lists depend on: the package's and the SDK's versions, and the server's modules (every
    package under `folder`) as they are."""
    digest = hashlib.sha256(json.dumps(versions, sort_keys=True).encode())
    for parent, folders, names in sorted(os.walk(folder)):
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(parent, name))
                relative = os.path.relpath(os.path.join(parent, name), folder)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def cache_folder(environ: Mapping[str, str]) -> Path:
    """The settings' cache_dir (CEREBELLUM_CACHE_DIR, else the user's cache folder), read without the settings."""
    for name, value in environ.items():
        if name.upper() == "CEREBELLUM_CACHE_DIR" and value:
            return Path(value).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cerebellum-mcp", appauthor=False))


def handshake_result(method: str, params: Any, server_info: dict[str, str], instructions: str) -> dict[str, Any] | None:
    """The relay's result for a `server/discover` or `initialize` request, or None when the front
    leaves the request to the relay (another method, or params it would have to refuse)."""
    if not isinstance(params, dict):
        return None
    given: dict[str, Any] = params  # pyright: ignore[reportUnknownVariableType]
    if method == "server/discover":
        return {
            "cacheScope": "private",
            "capabilities": CAPABILITIES,
            "instructions": instructions,
            "resultType": "complete",
            "supportedVersions": list(MODERN_VERSIONS),
            "ttlMs": 0,
            "_meta": {SERVER_INFO_KEY: server_info},
        }
    if method == "initialize":
        asked = given.get("protocolVersion")
        if not isinstance(asked, str) or not isinstance(given.get("capabilities"), dict):
            return None
        client = given.get("clientInfo")
        if not isinstance(client, dict) or not all(isinstance(client.get(k), str) for k in ("name", "version")):  # pyright: ignore[reportUnknownMemberType]
            return None
        return {
            "capabilities": CAPABILITIES,
            "instructions": instructions,
            "protocolVersion": asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1],
            "serverInfo": server_info,
        }
    return None


def _dumps(message: dict[str, Any]) -> str:
    # As the SDK writes a message: compact, non-ASCII as it is.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Front:
    """Holds the stdio wire: answers the handshakes, passes every other line on to the relay."""

    def __init__(
        self,
        wire_in: BinaryIO,
        wire_out: BinaryIO,
        server_info: dict[str, str],
        instructions: str,
        listings: Listings | None = None,
    ) -> None:
        self._in = wire_in
        self._out = wire_out
        self.server_info = server_info
        self.instructions = instructions
        self.listings = listings or Listings(None)
        self._negotiated: str | None = None
        """The protocol version of the `initialize` answered last (the handshake era's requests carry none)."""
        self._asked: dict[str, tuple[str, str]] = {}
        """List requests passed on to the relay: their id's JSON, with the version and method."""
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._held: list[Line] = []
        self._deliver: Callable[[Line], None] | None = None
        self._work = threading.Event()
        """Set once a line waits for the relay (or the client closed the wire)."""
        self._answered_at = time.monotonic()
        self.answered: list[str] = []
        """The handshake methods answered here, in order."""
        self._thread = threading.Thread(target=self._read, name="cerebellum-front", daemon=True)

    def start(self) -> Front:
        self._thread.start()
        return self

    # -- the wire ------------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            for raw in iter(self._in.readline, b""):
                self._take(raw.decode("utf-8", errors="replace"))
        except (OSError, ValueError):  # the wire broke: the same as the client closing it
            pass
        self._pass(None)

    def _take(self, line: str) -> None:
        from server.transport.wire import repair_line

        line = repair_line(line)
        try:
            message: Any = json.loads(line)
        except ValueError:
            message = None
        request: dict[str, Any] = message if isinstance(message, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        if "id" in request and isinstance(request.get("method"), str):
            method = str(request["method"])
            result = handshake_result(method, request.get("params"), self.server_info, self.instructions)
            if result is not None:
                self.write(_dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))
                self.answered.append(method)
                self._answered_at = time.monotonic()
                if method == "initialize":
                    self._negotiated = result["protocolVersion"]
                    self._pass(_dumps({**request, "id": REPLAY_ID}))
                return
            if method in LISTS and self._first_page(request.get("params")):
                version = self._version(request.get("params"))
                cached = self.listings.get(version, method) if version else None
                if cached is not None:
                    self.write(_dumps({"jsonrpc": "2.0", "id": request["id"], "result": cached}))
                    self.answered.append(method)
                    self._answered_at = time.monotonic()
                    return
                if version:
                    with self._lock:
                        self._asked[json.dumps(request["id"])] = (version, method)
        self._pass(line)

    @staticmethod
    def _first_page(params: Any) -> bool:
        return params is None or (isinstance(params, dict) and params.get("cursor") is None)  # pyright: ignore[reportUnknownMemberType]

    def _version(self, params: Any) -> str | None:
        """The request's protocol version: its envelope's (2026-07-28), else the one negotiated."""
        if isinstance(params, dict):
            meta = params.get("_meta")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if isinstance(meta, dict) and isinstance(meta.get(VERSION_KEY), str):  # pyright: ignore[reportUnknownMemberType]
                return str(meta[VERSION_KEY])  # pyright: ignore[reportUnknownArgumentType]
        return self._negotiated

    def _pass(self, line: Line) -> None:
        with self._lock:
            if self._deliver is None:
                self._held.append(line)
            else:
                self._deliver(line)
        self._work.set()

    def wait_for_work(self, quiet: float) -> bool:
        """Block until a line waits for the relay, or the wire has been quiet for `quiet` seconds since the
        front's last answer. False when the client closed the wire with nothing left for the relay."""
        while not self._work.is_set():
            left = self._answered_at + quiet - time.monotonic()
            if left <= 0:
                break
            self._work.wait(left)
        with self._lock:
            return self._held != [None]

    def write(self, text: str) -> None:
        """Write one message line to the client (dropped when the client closed its end: nothing reads it)."""
        data = (text.rstrip("\n") + "\n").encode("utf-8")
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            self._out.write(data)
            self._out.flush()

    # -- the relay's side ----------------------------------------------------------------------

    def attach(self, deliver: Callable[[Line], None]) -> None:
        """From now on every line not answered here goes to `deliver` (those held so far first, in order)."""
        with self._lock:
            for line in self._held:
                deliver(line)
            self._held.clear()
            self._deliver = deliver

    def from_relay(self, text: str) -> None:
        """A message the relay sends the client; its answer to the replayed `initialize` is dropped, its
        answers to the list requests are kept for the next launch."""
        if REPLAY_ID in text or self._asked:
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if isinstance(message, dict) and "method" not in message:
                answer: dict[str, Any] = message  # pyright: ignore[reportUnknownVariableType]
                if answer.get("id") == REPLAY_ID:
                    return
                with self._lock:
                    asked = self._asked.pop(json.dumps(answer.get("id")), None)
                if asked is not None and isinstance(answer.get("result"), dict):
                    self.listings.put(*asked, answer["result"])
        self.write(text)


_running: Front | None = None


def running() -> Front | None:
    """The front this process started, if any (the relay takes the wire from it)."""
    return _running


def start_front() -> Front:
    """Take the process's stdin and stdout for the MCP wire and answer the handshakes from now on."""
    global _running
    from server.protocol.instructions import INSTRUCTIONS

    versions = installed_versions(("cerebellum-mcp", "mcp", "mcp-types"))
    listings = Listings(cache_folder(os.environ) / "listings" / f"{fingerprint(versions)}.json")
    sys.stdout.flush()
    wire_in = os.fdopen(os.dup(0), "rb")
    wire_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # what else writes to stdout lands on stderr, not in the MCP stream
    info = {"name": SERVER_NAME, "version": versions.get("cerebellum-mcp", "unknown")}
    _running = Front(wire_in, wire_out, info, INSTRUCTIONS, listings).start()
    return _running
