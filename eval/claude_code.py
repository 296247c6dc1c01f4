"""The real Claude Code, run against a mock of the Anthropic Messages API: for tests and benchmarks.

- `install_claude_code()` installs `@anthropic-ai/claude-code` from the npm registry into a cache folder
  (`~/.cache/cerebellum-mcp/claude-code/<version>`), once, and returns the command that runs it.
- `MockAnthropic` serves the Messages API on 127.0.0.1 from a thread: `POST /v1/messages` (streamed as
  server-sent events when the request asks, as Claude Code always does, else one JSON message),
  `POST /v1/messages/count_tokens`, and a sensible answer to anything else. Every request is recorded
  (path, body, when it arrived) so a test can read what reached the model. What the "model" answers
  is scripted per test: a function of the request, or `conversation(...)`, which answers the n-th turn
  of the main conversation with the n-th reply whatever else Claude Code asks on the side.
- `ClaudeCode` runs `claude -p …` (and `claude mcp list`) with a fresh HOME, no login, no telemetry,
  no auto-update, MCP tools listed to the model up front (`ENABLE_TOOL_SEARCH=false`), and the
  cerebellum tools granted by `--allowedTools` (`--dangerously-skip-permissions` is refused as root).

`python -m eval.claude_code` (or `python -m eval bench claude-code`) measures how long Claude Code
takes from its start to its first model request with cerebellum configured, against the same with
a minimal stdlib MCP server (eval/minimal_mcp.py): see `bench()`.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PACKAGE = "@anthropic-ai/claude-code"
VERSION = os.environ.get("CEREBELLUM_CLAUDE_CODE_VERSION", "2.1.332")
"""The Claude Code release the checks run (pinned, so a new release changes nothing until chosen)."""
INSTALL_TIMEOUT_SECONDS = 600.0
CEREBELLUM_TOOLS = ("remember", "recall", "route", "forget", "reconcile", "inbox")
"""The cerebellum server's tools, as the mock model may call them (Claude Code names them mcp__<server>__<tool>)."""


class ClaudeCodeUnavailable(RuntimeError):
    """Claude Code could not be installed here (no npm, or the registry is not reachable); says why."""


def cache_folder() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cerebellum-mcp" / "claude-code"


def _platform_package() -> str:
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    musl = system == "linux" and not platform.libc_ver()[0]
    return f"{PACKAGE}-{system}-{machine}{'-musl' if musl else ''}"


def _installed_command(prefix: Path) -> list[str] | None:
    """The command that runs the Claude Code installed under `prefix`, or None when none is there."""
    modules = prefix / "node_modules"
    # Releases since 2.1.1xx ship a native binary in a per-platform package; the wrapper's postinstall
    # only copies it over a placeholder (and npm 11 does not run install scripts unless allowed).
    name = "claude.exe" if sys.platform == "win32" else "claude"
    native = modules / _platform_package() / name
    if native.is_file() and os.access(native, os.X_OK):
        return [str(native)]
    wrapper = modules / PACKAGE / "cli-wrapper.cjs"
    node = shutil.which("node")
    if wrapper.is_file() and node:
        return [node, str(wrapper)]
    script = modules / PACKAGE / "cli.js"  # the older releases: one JavaScript file
    if script.is_file() and node:
        return [node, str(script)]
    return None


def install_claude_code(version: str = VERSION, folder: Path | None = None) -> list[str]:
    """The command that runs Claude Code `version`, installed from the npm registry on first use."""
    prefix = (folder or cache_folder()) / version
    command = _installed_command(prefix)
    if command is not None:
        return command
    npm = shutil.which("npm")
    if npm is None:
        raise ClaudeCodeUnavailable("npm is not installed, so Claude Code cannot be installed from the npm registry")
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--no-save",
                # Where the registry can't be reached, say so within a minute or two rather than npm's default retries.
                "--fetch-retries=1",
                "--fetch-timeout=60000",
                f"{PACKAGE}@{version}",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClaudeCodeUnavailable(
            f"npm did not install {PACKAGE}@{version} within {INSTALL_TIMEOUT_SECONDS:g} s"
        ) from exc
    command = _installed_command(prefix)
    if done.returncode != 0 or command is None:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ClaudeCodeUnavailable(
            f"npm could not install {PACKAGE}@{version} from the registry (exit {done.returncode}): {tail}"
        )
    return command


# -- the mock Messages API --------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text block of the model's answer."""

    text: str


@dataclass(frozen=True)
class ToolUse:
    """A tool_use block: the model calls `name` (e.g. mcp__cerebellum__remember) with `input`."""

    name: str
    input: dict[str, Any]


Block = Text | ToolUse
Responder = Callable[[dict[str, Any]], Sequence[Block]]


@dataclass(frozen=True)
class Request:
    """One request that reached the mock: its method, path (with the query), JSON body and arrival time."""

    method: str
    path: str
    body: dict[str, Any]
    at: float  # time.monotonic()

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0] == "/v1/messages"

    @property
    def is_main(self) -> bool:
        """A turn of the main conversation: a Messages request that offers the model tools."""
        return self.is_messages and bool(self.body.get("tools"))

    @property
    def tool_names(self) -> list[str]:
        return [str(tool.get("name")) for tool in self.body.get("tools", []) if isinstance(tool, dict)]

    def text(self) -> str:
        """The whole body as JSON text, for searching what reached the model."""
        return json.dumps(self.body, ensure_ascii=False)


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a Messages request, oldest first."""
    found: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            found += [block for block in content if isinstance(block, dict) and block.get("type") == "tool_result"]
    return found


def conversation(*turns: Sequence[Block], side: str = "OK") -> Responder:
    """A script: the n-th turn of the main conversation (n = assistant messages already in the request)
    is answered with `turns[n]` (the last one again past the end); side requests (no tools: titles,
    summaries, checks) get the text `side`."""

    def respond(body: dict[str, Any]) -> Sequence[Block]:
        if not body.get("tools"):
            return [Text(side)]
        n = sum(1 for message in body.get("messages", []) if message.get("role") == "assistant")
        return turns[min(n, len(turns) - 1)]

    return respond


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _message_events(blocks: Sequence[Block], model: str) -> tuple[dict[str, Any], bytes]:
    """The message as one JSON object, and the same as the Messages streaming events."""
    message_id = f"msg_mock_{uuid.uuid4().hex[:20]}"
    content: list[dict[str, Any]] = []
    stream = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if isinstance(block, Text):
            content.append({"type": "text", "text": block.text})
            start: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.text}
        else:
            tool_id = f"toolu_mock_{uuid.uuid4().hex[:20]}"
            content.append({"type": "tool_use", "id": tool_id, "name": block.name, "input": block.input})
            start = {"type": "tool_use", "id": tool_id, "name": block.name, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        stream.append(
            _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        stream.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        stream.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop_reason = "tool_use" if any(isinstance(block, ToolUse) for block in blocks) else "end_turn"
    stream.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        )
    )
    stream.append(_sse("message_stop", {"type": "message_stop"}))
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }
    return message, b"".join(stream)


class MockAnthropic:
    """The Anthropic Messages API on 127.0.0.1, answering as `responder` says; every request recorded.

    Use as a context manager; `url` is what ANTHROPIC_BASE_URL takes."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or conversation([Text("OK")])
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the mock is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def main_requests(self) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.is_main]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.errors.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> MockAnthropic:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
                pass

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    loaded = json.loads(raw or b"{}")
                except ValueError:
                    return {"_raw": raw.decode(errors="replace")}
                return loaded if isinstance(loaded, dict) else {"_json": loaded}

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.send_header("request-id", f"req_mock_{uuid.uuid4().hex[:12]}")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: dict[str, Any]) -> None:
                self._send(status, json.dumps(data).encode())

            def do_POST(self) -> None:
                body = self._body()
                request = Request("POST", self.path, body, time.monotonic())
                mock._record(request)
                route = self.path.split("?")[0]
                if route == "/v1/messages/count_tokens":
                    self._json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
                    return
                if route != "/v1/messages":
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": route}})
                    return
                try:
                    blocks = mock.responder(body)
                except Exception as exc:  # a script's mistake: answered as an API error, and kept for the test
                    mock.errors.append(f"{type(exc).__name__}: {exc}")
                    self._json(500, {"type": "error", "error": {"type": "api_error", "message": str(exc)}})
                    return
                message, stream = _message_events(blocks, str(body.get("model") or "claude-mock"))
                if body.get("stream"):
                    self._send(200, stream, "text/event-stream; charset=utf-8")
                else:
                    self._json(200, message)

            def do_GET(self) -> None:
                mock._record(Request("GET", self.path, {}, time.monotonic()))
                route = self.path.split("?")[0]
                if route.startswith("/v1/models"):
                    self._json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
                else:
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": route}})

            def do_HEAD(self) -> None:
                mock._record(Request("HEAD", self.path, {}, time.monotonic()))
                self._send(200, b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MockAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- running Claude Code ----------------------------------------------------------------------------


@dataclass
class ClaudeRun:
    """One `claude` process: its exit status, output, and when it started (time.monotonic())."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    started: float
    seconds: float


def quiet_environment(home: Path, base_url: str) -> dict[str, str]:
    """The environment Claude Code runs in: a fresh HOME, the mock's URL and a dummy key, nothing sent
    elsewhere. CEREBELLUM_* (and HF_HUB_OFFLINE) pass through to the MCP servers and hooks it starts; the
    settings whose default depends on HOME (the store, the cache and service folders) must be among them
    for those to find the same store and service as the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("CEREBELLUM_") or key in ("PATH", "LANG", "LC_ALL", "TMPDIR", "HF_HUB_OFFLINE", "VIRTUAL_ENV")
    }
    env.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY="dummy",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        # MCP tools are otherwise deferred behind the ToolSearch tool; up front, the model's first
        # request lists them.
        ENABLE_TOOL_SEARCH="false",
    )
    return env


@dataclass
class ClaudeCode:
    """Claude Code with a HOME of its own, talking to `api`. `mcp_config` is passed with --mcp-config."""

    command: list[str]
    home: Path
    api: MockAnthropic
    allowed_tools: Sequence[str] = tuple(f"mcp__cerebellum__{tool}" for tool in CEREBELLUM_TOOLS)
    extra_env: dict[str, str] = field(default_factory=dict[str, str])

    def environment(self) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        return {**quiet_environment(self.home, self.api.url), **self.extra_env}

    def run(self, args: Sequence[str], *, cwd: Path, timeout: float = 120.0) -> ClaudeRun:
        full = [*self.command, *args]
        started = time.monotonic()
        try:
            done = subprocess.run(
                full,
                cwd=cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return ClaudeRun(full, -9, out, err + f"\n[timed out after {timeout:g} s]", started, timeout)
        return ClaudeRun(full, done.returncode, done.stdout, done.stderr, started, time.monotonic() - started)

    def prompt(
        self,
        text: str,
        *,
        cwd: Path,
        mcp_config: Path | None = None,
        settings: Path | None = None,
        extra: Sequence[str] = (),
        timeout: float = 120.0,
    ) -> ClaudeRun:
        """`claude -p text` in `cwd`: one session, the model's answers scripted by the mock."""
        args = ["-p", text, "--allowedTools", ",".join(self.allowed_tools)]
        if mcp_config is not None:
            args += ["--mcp-config", str(mcp_config)]
        if settings is not None:
            args += ["--settings", str(settings)]
        return self.run([*args, *extra], cwd=cwd, timeout=timeout)

    def mcp_list(self, *, cwd: Path, timeout: float = 60.0) -> ClaudeRun:
        return self.run(["mcp", "list"], cwd=cwd, timeout=timeout)


def mcp_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    """Write an --mcp-config (or project .mcp.json) file naming these stdio servers."""
    path.write_text(json.dumps({"mcpServers": servers}, indent=2))
    return path


def cerebellum_server(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The stdio entry that launches this checkout's server, as `config claude-code` writes it."""
    return {"type": "stdio", "command": sys.executable, "args": ["-m", "server", *args], "env": env or {}}


def minimal_server() -> dict[str, Any]:
    """The stdio entry of eval/minimal_mcp.py: the fastest an MCP server can answer, for comparison."""
    script = Path(__file__).with_name("minimal_mcp.py")
    return {"type": "stdio", "command": sys.executable, "args": [str(script)], "env": {}}


# -- the benchmark -------------------------------------------------------------------------------------


@dataclass
class Launch:
    """One `claude -p` start: seconds from its start to its first main-conversation model request, and
    whether that request named the server's tools or said it was still connecting."""

    seconds: float | None
    tools_named: bool
    connecting: bool


def first_request(
    command: list[str], server: dict[str, Any], work: Path, name: str, run: int, script: Responder | None = None
) -> Launch:
    home = work / f"home-{name}-{run}"
    project = work / f"project-{name}"
    project.mkdir(parents=True, exist_ok=True)
    config = mcp_config(work / f"mcp-{name}.json", {name: server})
    with MockAnthropic(script or conversation([Text("OK")])) as api:
        claude = ClaudeCode(command, home, api, allowed_tools=[f"mcp__{name}__{tool}" for tool in CEREBELLUM_TOOLS])
        done = claude.prompt("Say OK.", cwd=project, mcp_config=config)
        main = api.main_requests()
    if not main:
        print(f"{name} run {run}: no model request (exit {done.returncode}): {done.stderr[-400:]}", file=sys.stderr)
        return Launch(None, False, False)
    first = main[0]
    named = any(tool.startswith(f"mcp__{name}__") for tool in first.tool_names)
    return Launch(first.at - done.started, named, "still connecting" in first.text())


def _summary(results: Sequence[Launch]) -> dict[str, Any]:
    import statistics

    seconds = [launch.seconds for launch in results if launch.seconds is not None]
    return {
        "median_s": round(statistics.median(seconds), 3) if seconds else None,
        "each_s": [round(s, 3) for s in seconds],
        "tools_named": sum(launch.tools_named for launch in results),
        "still_connecting": sum(launch.connecting for launch in results),
        "failed": len(results) - len(seconds),
    }


def bench(model: str, embedder: str, runs: int = 5, cold_runs: int = 2, launch: str | None = None) -> dict[str, Any]:
    """Start -> first model request of `claude -p`, with cerebellum configured (its stdio launch, the shared
    service warm with these models) against the same with a minimal stdlib MCP server; medians of `runs`
    starts each, interleaved. `cold_runs` more cerebellum starts with the launch's lists not kept yet (the
    first session after an install or upgrade). A store and service folder of the bench's own. `launch`: another
    `cerebellum-mcp` command to measure in place of this checkout's (another checkout's, for a before/after)."""
    import tempfile

    from server.settings import Settings
    from server.transport.front import cache_folder, fingerprint, installed_versions
    from server.transport.service import ensure_service, service_place, service_status, stop_service

    command = install_claude_code()
    work = Path(tempfile.mkdtemp(prefix="cerebellum-cc-bench-"))
    os.environ.update(
        # Each `claude` runs with a HOME of its own: every folder the launch's settings take from HOME is given.
        CEREBELLUM_CACHE_DIR=str(cache_folder(os.environ)),
        CEREBELLUM_DB=str(work / "seeds.db"),
        CEREBELLUM_SERVICE_DIR=str(work / "svc"),
        CEREBELLUM_MODEL=model,
        CEREBELLUM_EMBEDDER=embedder,
        CEREBELLUM_STANDALONE="false",
    )
    settings = Settings()
    status = ensure_service(settings)
    place = service_place(settings)
    while status.models == "loading":
        time.sleep(0.2)
        status = service_status(place) or status
    cerebellum = cerebellum_server() if launch is None else {"type": "stdio", "command": launch, "args": [], "env": {}}
    servers = {"cerebellum": cerebellum, "minimal": minimal_server()}
    kept = (
        cache_folder(os.environ)
        / "listings"
        / f"{fingerprint(installed_versions(('cerebellum-mcp', 'mcp', 'mcp-types')))}.json"
    )
    try:
        cold: list[Launch] = []
        for run in range(cold_runs):
            kept.unlink(missing_ok=True)
            cold.append(first_request(command, servers["cerebellum"], work, "cerebellum", -1 - run))
        # Unmeasured starts: the lists kept (a tool call holds the session open until the relay is up), the
        # files in the page cache.
        recall = conversation([ToolUse("mcp__cerebellum__recall", {"query": "anything?"})], [Text("OK")])
        first_request(command, servers["cerebellum"], work, "cerebellum", 0, recall)
        first_request(command, servers["minimal"], work, "minimal", 0)
        launches: dict[str, list[Launch]] = {name: [] for name in servers}
        for run, name in itertools.product(range(1, runs + 1), servers):
            launches[name].append(first_request(command, servers[name], work, name, run))
    finally:
        from eval.clients import processes_marked

        services = len(processes_marked("CEREBELLUM_SERVICE_DIR", str(work / "svc")))  # the launches' relays are gone
        stop_service(settings, timeout=10)
        for pid in processes_marked("CEREBELLUM_SERVICE_DIR", str(work / "svc")):  # any other the launches started
            os.kill(pid, signal.SIGTERM)
    report: dict[str, Any] = {
        "claude_code": VERSION,
        "launch": launch or f"{sys.executable} -m server",
        "runs": runs,
        "model": Path(model).name,
        "embedder": Path(embedder).name,
        "service_models": status.models,
        "services": services,
        "cerebellum_lists_not_kept": _summary(cold),
    }
    for name, results in launches.items():
        report[name] = _summary(results)
    return report


def render(report: dict[str, Any]) -> list[str]:
    lines = [
        f"Claude Code {report['claude_code']}: start -> first model request ({report['runs']} runs each; service "
        f"{report['service_models']} with {report['model']} / {report['embedder']}; {report['services']} service "
        "process(es) at the end)"
    ]
    for name in ("cerebellum", "minimal", "cerebellum_lists_not_kept"):
        row = report[name]
        lines.append(
            f"  {name:<26} median {row['median_s']} s  each {row['each_s']}  tools named {row['tools_named']}, "
            f"'still connecting' {row['still_connecting']}, failed {row['failed']}"
        )
    if report["cerebellum"]["median_s"] is not None and report["minimal"]["median_s"] is not None:
        difference = report["cerebellum"]["median_s"] - report["minimal"]["median_s"]
        lines.append(f"  cerebellum - minimal, medians: {difference:+.3f} s")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from eval.common import emit
    from server.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m eval.claude_code", description=bench.__doc__)
    parser.add_argument("--model", help="cerebellum GGUF (default: the server's)")
    parser.add_argument("--embedder", help="embedding GGUF (default: the server's)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--launch", help="another cerebellum-mcp command to measure (default: this checkout's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    defaults = Settings()
    report = bench(args.model or defaults.model, args.embedder or defaults.embedder, args.runs, launch=args.launch)
    emit(report, render(report), args.json)


if __name__ == "__main__":
    main()
