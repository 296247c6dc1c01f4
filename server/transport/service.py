"""The shared local service: one process per store and settings that holds the only copy of the models.

Every stdio launch (`cerebellum-mcp` as MCP clients start it) attaches to it through server/transport/relay.py
instead of loading the models itself. The service serves the MCP server of server/protocol/app.py over
Streamable HTTP on a unix socket in `service_dir` (0700: the user's own), so nothing else on the
machine reaches it. Its place is keyed by the store, the package's version and every setting that
changes a decision (models, thresholds, secrets mode …; not the scope, which each client sends with
its calls), so two clients with different models never share a process by mistake.

- The service holds an exclusive lock (`<key>.lock`) for as long as it lives; a crashed one
  releases it with its process, so a stale socket or record is simply taken over.
- Launches that find no service start one (detached, its log in `<key>.log`) under a second lock
  (`<key>.start`), so two clients starting at once start one service.
- `GET /service` on the socket answers its status (pid, uptime, clients, memory): `doctor` and
  `stats` show it.
- It exits after `service_idle_seconds` with no client attached, no request running and nothing
  it can decide waiting in the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from server.errors import ServerError
from server.filelock import exclusive, try_exclusive
from server.settings import Settings
from server.system import process_memory

# The socket's paths (GET status, the MCP endpoint, POST wake: decide what waits in the inbox now), defined
# once, in the hooks' lean client.
from server.transport.lean_client import MCP_PATH, STATUS_PATH, WAKE_PATH

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
"""How long a launch waits for a service it started to listen (it listens before loading the models)."""
IDLE_CHECK_SECONDS = 1.0
MAX_LOG_BYTES = 10 * 2**20
# Settings that are the client's own, not the service's: they are not part of its key. The HTTP auth settings
# (server/protocol/auth.py) are for `serve --http`; the service listens on its private unix socket only.
CLIENT_SETTINGS = frozenset({"scope", "log_level", "standalone", "auth", "tokens_file", "public_url"})
# A unix socket path is limited to about 104-108 bytes.
MAX_SOCKET_PATH = 100


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cerebellum-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


SHARED_SERVICE = sys.platform != "win32"
"""Where a shared service can run (unix sockets and flock); elsewhere a stdio launch serves alone."""


class ServiceError(ServerError):
    """The shared service could not be started or reached; the message says what to do."""


class ServiceStatus(BaseModel):
    """What `GET /service` answers, and what `doctor` and `stats` show."""

    key: Annotated[str, Field(description="The service's key: a hash of the store and the deciding settings.")]
    pid: int
    version: str
    started_at: str
    uptime_seconds: float
    clients: Annotated[int, Field(description="Clients attached now (open MCP sessions with their event stream).")]
    requests: Annotated[int, Field(description="HTTP requests being answered now, the clients' streams included.")]
    store: str
    model: str
    embedder: str
    models: Annotated[str, Field(description="loading, loaded, or the load error.")]
    pending: Annotated[int | None, Field(description="Texts waiting in the inbox (None: store not open).")]
    rss_bytes: int | None
    pss_bytes: Annotated[int | None, Field(description="Proportional set size (Linux): its share of shared pages.")]


@dataclass(frozen=True)
class ServicePlace:
    """Where the service for one store and one set of settings lives."""

    key: str
    directory: Path
    socket: Path
    lock: Path
    start_lock: Path
    log: Path

    @property
    def url(self) -> str:
        # Over the unix socket the host is only a name; 127.0.0.1 keeps the SDK's DNS-rebinding check content.
        return f"http://127.0.0.1{MCP_PATH}"


def service_key(settings: Settings) -> str:
    """A hash of the store and every setting that changes a decision."""
    deciding = settings.model_dump(mode="json", exclude=set(CLIENT_SETTINGS))
    store = settings.db if isinstance(settings.db, str) else str(Path(settings.db).expanduser().resolve())
    deciding["db"] = store
    deciding.pop("service_dir", None)
    # A new version of the package gets a service of its own (the old one, idle, exits by itself).
    deciding["version"] = package_version()
    return hashlib.sha256(json.dumps(deciding, sort_keys=True).encode()).hexdigest()[:16]


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def service_place(settings: Settings) -> ServicePlace:
    key = service_key(settings)
    directory = settings.service_dir.expanduser()
    socket = directory / f"{key}.sock"
    if len(str(socket)) > MAX_SOCKET_PATH:
        # Too long for a unix socket: a private folder under the temp dir instead (the lock stays in place).
        socket = Path(tempfile.gettempdir()) / f"cerebellum-mcp-{os.getuid()}" / f"{key}.sock"
    return ServicePlace(
        key=key,
        directory=directory,
        socket=socket,
        lock=directory / f"{key}.lock",
        start_lock=directory / f"{key}.start",
        log=directory / f"{key}.log",
    )


# -- the launcher's side -------------------------------------------------------------------------


def service_status(place: ServicePlace, timeout: float = 2.0) -> ServiceStatus | None:
    """The running service's status, or None when none answers on its socket."""
    import httpx2

    if not place.socket.exists():
        return None
    try:
        with httpx2.Client(transport=httpx2.HTTPTransport(uds=str(place.socket)), timeout=timeout) as client:
            response = client.get(f"http://127.0.0.1{STATUS_PATH}")
    except (httpx2.TransportError, OSError):
        return None
    if response.status_code != 200:
        return None
    try:
        status = ServiceStatus.model_validate_json(response.content)
    except ValueError:
        return None
    return status if status.key == place.key else None


def service_environment(settings: Settings) -> dict[str, str]:
    """The environment a service is started with: this launch's deciding settings, as CEREBELLUM_* variables."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json", exclude=set(CLIENT_SETTINGS)).items():
        variable = f"CEREBELLUM_{name.upper()}"
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value if isinstance(value, str) else json.dumps(value)
    env.pop("CEREBELLUM_SCOPE", None)
    env["CEREBELLUM_STANDALONE"] = "true"  # the service itself never looks for a service
    return env


def start_service(settings: Settings, place: ServicePlace) -> subprocess.Popen[bytes]:
    """Start a detached service for these settings; its stderr goes to its log file."""
    _private_dir(place.directory)
    _private_dir(place.socket.parent)
    with contextlib.suppress(OSError):
        if place.log.stat().st_size > MAX_LOG_BYTES:
            place.log.replace(place.log.with_suffix(".log.1"))  # one older log is kept
    with open(place.log, "ab") as log:
        os.chmod(place.log, 0o600)
        return subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--service", "--log-level", settings.log_level],
            env=service_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # it outlives the client that started it, and its terminal's Ctrl-C
            close_fds=True,
        )


def _log_tail(place: ServicePlace, lines: int = 5) -> str:
    try:
        return " | ".join(place.log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def ensure_service(settings: Settings, timeout: float = START_TIMEOUT_SECONDS) -> ServiceStatus:
    """The running service for these settings, started first if there is none (or only a stale one)."""
    place = service_place(settings)
    status = service_status(place)
    if status is not None:
        return status
    _private_dir(place.directory)
    with exclusive(place.start_lock):
        status = service_status(place)  # another launch may have started it while we waited for the lock
        if status is not None:
            return status
        process = start_service(settings, place)
        logger.info("started the shared service (pid %d, log %s)", process.pid, place.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = service_status(place)
            if status is not None:
                return status
            if process.poll() is not None:
                status = service_status(place)  # it may have found another service holding the lock
                if status is not None:
                    return status
                raise ServiceError(
                    f"the shared service exited at start (status {process.returncode}): {_log_tail(place)} "
                    f"(its log: {place.log}). Fix the setting it names, or pass --standalone to serve from "
                    "this process."
                )
            time.sleep(0.05)
    raise ServiceError(
        f"the shared service did not answer within {timeout:g} s (its log: {place.log}); pass --standalone to "
        "serve from this process."
    )


def stop_service(settings: Settings, timeout: float = 30.0) -> ServiceStatus | None:
    """Stop the running service gracefully (SIGTERM: it finishes the decision in progress); None if none ran."""
    place = service_place(settings)
    status = service_status(place)
    if status is None:
        return None
    os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(status.pid):
        time.sleep(0.1)
    return status


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not reaped yet, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this process, not reaped) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


# -- the service's side ------------------------------------------------------------------------


class Attendance:
    """ASGI middleware that counts requests and attached clients, and answers `GET /service` and
    `POST /inbox/wake` (202 when the inbox worker was woken, 503 while the service is starting)."""

    def __init__(self, app: Any, status: Callable[[], ServiceStatus], wake: Callable[[], bool] = lambda: False) -> None:
        self.app = app
        self.status = status
        self.wake = wake
        self.requests = 0
        self.clients = 0
        self.last_activity = time.monotonic()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATUS_PATH and scope["method"] == "GET":
            body = self.status().model_dump_json().encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["path"] == WAKE_PATH and scope["method"] == "POST":
            self.last_activity = time.monotonic()
            code = 202 if self.wake() else 503
            await send({"type": "http.response.start", "status": code, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        # A client's GET on /mcp is its event stream, open for as long as the client is attached.
        stream = scope["method"] == "GET" and scope["path"] == MCP_PATH
        self.requests += 1
        self.clients += stream
        self.last_activity = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.requests -= 1
            self.clients -= stream
            self.last_activity = time.monotonic()


@dataclass
class _Running:
    app_context: Any = None


def run_service(settings: Settings) -> int:
    """The service process: serve MCP on the socket until SIGTERM/SIGINT or idle; 0 when another holds the place.
    The caller ends the process with os._exit afterwards (server/cli/serve.py): background work may still run."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from server.protocol.app import create_server
    from server.transport.http import GRACEFUL_SHUTDOWN_SECONDS

    place = service_place(settings)
    _private_dir(place.directory)
    _private_dir(place.socket.parent)
    lock = try_exclusive(place.lock)
    if lock is None:
        logger.info("another shared service holds %s; leaving it to that one", place.lock)
        return 0
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    running = _Running()

    def models_state() -> str:
        decider = getattr(running.app_context, "decider", None)
        if decider is None or not decider.loaded.is_set():
            return "loading"
        return "loaded" if decider.memory is not None else f"not loaded: {decider.load_error}"

    def pending() -> int | None:
        decider = getattr(running.app_context, "decider", None)
        store = getattr(decider, "store", None)
        if store is None:
            return None
        try:
            return store.inbox_count("pending")
        except Exception:  # the status must answer whatever the store does
            return None

    def status() -> ServiceStatus:
        rss, pss = process_memory()
        return ServiceStatus(
            key=place.key,
            pid=os.getpid(),
            version=package_version(),
            started_at=started_at,
            uptime_seconds=round(time.monotonic() - started, 1),
            clients=attendance.clients,
            requests=attendance.requests,
            store=str(settings.db),
            model=settings.model,
            embedder=settings.embedder,
            models=models_state(),
            pending=pending(),
            rss_bytes=rss,
            pss_bytes=pss,
        )

    def on_ready(app_context: Any) -> None:
        running.app_context = app_context

    def wake() -> bool:
        decider = getattr(running.app_context, "decider", None)
        if decider is None:
            return False
        decider.wake_worker.set()
        return True

    server = create_server(settings, on_ready=on_ready, abandon_background=True)
    # Only this user's processes reach the socket (its folder is 0700), and no browser can: the Host
    # header check against DNS rebinding, meant for TCP ports, has nothing to guard here.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
    attendance = Attendance(app, status, wake)
    from server.console.site import ServiceConsole, touch_after

    # `cerebellum-mcp ui` asks here for the memory console, served on a loopback port (server/console/).
    site = ServiceConsole(
        attendance, settings, lambda: running.app_context, lambda: attendance.clients, touch_after(attendance)
    )
    place.socket.unlink(missing_ok=True)  # a dead service's socket: we hold the lock, so it is ours to take
    config = uvicorn.Config(
        site,
        uds=str(place.socket),
        log_level=settings.log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    uv = uvicorn.Server(config)

    def idle() -> bool:
        if attendance.requests or time.monotonic() - attendance.last_activity < settings.service_idle_seconds:
            return False
        decider = getattr(running.app_context, "decider", None)
        if decider is not None and decider.in_flight:
            return False
        # Texts it can decide keep it alive; with no model loaded they wait for the next start.
        waiting = pending()
        return not (waiting and decider is not None and decider.memory is not None)

    async def watch_idle() -> None:
        while not uv.should_exit:
            await asyncio.sleep(IDLE_CHECK_SECONDS)
            if idle():
                logger.info("idle for %g s with nothing to decide: the service exits", settings.service_idle_seconds)
                uv.should_exit = True

    async def main() -> None:
        watcher = asyncio.ensure_future(watch_idle())
        try:
            await uv.serve()
        finally:
            watcher.cancel()

    logger.info("shared service %s serving on %s (pid %d)", place.key, place.socket, os.getpid())
    try:
        asyncio.run(main())
    finally:
        with contextlib.suppress(OSError):
            place.socket.unlink()
        lock.close()
    return 0


def describe(settings: Settings) -> str:
    """One line on the shared service for these settings, for `doctor`, `stats` and `service status`."""
    if not SHARED_SERVICE:
        return "not available on this system: each stdio launch serves alone"
    place = service_place(settings)
    status = service_status(place)
    if status is None:
        how = "stdio launches serve alone (--standalone)" if settings.standalone else "the next stdio launch starts it"
        return f"not running ({how}); its place: {place.socket}"
    memory = ", ".join(
        f"{name} {value / 2**20:.0f} MiB"
        for name, value in (("RSS", status.rss_bytes), ("PSS", status.pss_bytes))
        if value is not None
    )
    return (
        f"running: pid {status.pid}, up {_duration(status.uptime_seconds)}, {status.clients} client(s) attached, "
        f"models {status.models}, {status.pending if status.pending is not None else '?'} text(s) waiting"
        f"{', ' + memory if memory else ''}; socket {place.socket}"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@contextlib.asynccontextmanager
async def session_with(place: ServicePlace) -> AsyncGenerator[Any]:
    """An MCP client session with the service over its socket (an `mcp.Client`): the relay's and the hooks'."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    transport = httpx2.AsyncHTTPTransport(uds=str(place.socket))
    # No read timeout: a decision may take long, and the event stream stays open while attached.
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30.0, read=None)) as http,
        Client(streamable_http_client(place.url, http_client=http), mode="legacy", cache=None) as client,
    ):
        yield client


def call_service(
    settings: Settings, tool: str, arguments: dict[str, Any], timeout: float = 60.0
) -> dict[str, Any] | None:
    """One tool call on the running service with its models loaded, through the lean client (for hooks and
    checks): its structured result, or None when no service is warm (none is started for it) or the call
    failed."""
    from server.transport import lean_client

    if not SHARED_SERVICE:
        return None
    place = service_place(settings)
    if not lean_client.warm(place.socket, place.key):
        return None
    return lean_client.call_tool(place.socket, tool, arguments, timeout)
