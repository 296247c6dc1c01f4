"""The memory console's web app: server-rendered pages (Jinja2, autoescaped) and POST-only actions.

Pages: Memories (list, search, filters; one memory with its history), Inbox review, Activity, Overview.
Every request passes the guard (server/console/guard.py): Host, Origin, a session, the CSRF token of a
POST; every answer carries a strict Content-Security-Policy. Store and model calls run on worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seeds import OperationNotFound, SeedNotFound, StoreError, UndoRefused
from server.console import actions, charts, reads
from server.console.backend import Backend, in_thread
from server.console.errors import ConsoleError, NotAllowed, NotSignedIn
from server.console.guard import SECURITY_HEADERS, SESSION_COOKIE, Guard, Session
from server.pipeline.errors import DecisionFailed
from server.pipeline.lock import ModelsClosed
from server.pipeline.results import percent
from server.rules.secrets import SecretInText
from server.system import byte_size

logger = logging.getLogger(__name__)

PREFIX = "/console"
HERE = Path(__file__).parent
NAV = [("memories", "Memories"), ("inbox", "Inbox review"), ("activity", "Activity"), ("overview", "Overview")]

Handler = Callable[[Request, Session], Awaitable[Response]]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    )
    env.globals.update(prefix=PREFIX)  # pyright: ignore[reportUnknownMemberType]
    env.filters.update(when=_when, bytes=_bytes, percent=percent)  # pyright: ignore[reportUnknownMemberType]
    return env


def _when(value: object) -> str:
    """A stored timestamp as people read it: 2026-01-31 12:00:05 (UTC)."""
    return str(value or "")[:19].replace("T", " ")


def _bytes(value: int | None) -> str:
    return byte_size(value, unknown="?")


class Guarded:
    """ASGI middleware: Host and Origin checks before anything else, security headers on every answer."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        if not self.guard.host_ok(headers.get("host")):
            # DNS rebinding: a page of another site, resolved to this address, names its own host.
            await PlainTextResponse("Unknown Host header: this console answers only its own address.", 421)(
                scope, receive, secured
            )
            return
        origin = headers.get("origin")
        if origin is not None and not self.guard.origin_ok(origin):
            await PlainTextResponse("Cross-origin request refused.", 403)(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


class Console:
    """The console over one backend and one guard."""

    def __init__(self, backend: Backend, guard: Guard) -> None:
        self.backend = backend
        self.guard = guard
        self.env = _environment()

    # -- the app ---------------------------------------------------------------------------------

    def app(self) -> ASGIApp:
        p = PREFIX
        routes = [
            Route(p, self._home),
            Route(p + "/", self._home),
            Route(p + "/static/console.css", self._css),
            Route(p + "/enter", self._enter),
            Route(p + "/login", self._login, methods=["GET", "POST"]),
            Route(p + "/logout", self._signed(self._logout), methods=["POST"]),
            Route(p + "/memories", self._signed(self._memories)),
            Route(p + "/memories/{seed_id:int}", self._signed(self._memory)),
            Route(p + "/memories/{seed_id:int}/{action:str}", self._signed(self._memory_action), methods=["POST"]),
            Route(p + "/undo", self._signed(self._undo), methods=["POST"]),
            Route(p + "/inbox", self._signed(self._inbox)),
            Route(p + "/inbox/{inbox_id:int}/{action:str}", self._signed(self._inbox_action), methods=["POST"]),
            Route(p + "/activity", self._signed(self._activity)),
            Route(p + "/overview", self._signed(self._overview)),
        ]
        return Guarded(Starlette(routes=routes), self.guard)

    # -- sessions --------------------------------------------------------------------------------

    def _signed(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.guard.session(request.cookies.get(SESSION_COOKIE))
            fresh = False
            if session is None:
                if self.guard.sign_in == "open":
                    session, fresh = self.guard.open_session(), True
                elif self.guard.sign_in == "token":
                    return RedirectResponse(f"{PREFIX}/login", 303)
                else:
                    return self._error(
                        request,
                        None,
                        NotSignedIn(
                            "Open the address `cerebellum-mcp ui` printed: it signs this browser in (once). "
                            "Run it again for a new address."
                        ),
                    )
            try:
                if request.method == "POST":
                    await self._check_post(request, session)
                response = await handler(request, session)
            except (ConsoleError, StoreError, SecretInText, ValueError, DecisionFailed, ModelsClosed) as exc:
                response = self._error(request, session, exc)
            if fresh:
                self._set_cookie(response, session)
            return response

        return endpoint

    async def _check_post(self, request: Request, session: Session) -> None:
        if not self.guard.source_ok(request.headers.get("origin"), request.headers.get("referer")):
            raise NotAllowed("This form did not come from the console's own page; nothing was changed.")
        form = await request.form()
        sent = form.get("csrf")
        if not self.guard.csrf_ok(session, sent if isinstance(sent, str) else None):
            raise NotAllowed("The form's CSRF token is missing or stale: reload the page and try again.")

    def _set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="strict", path=PREFIX)

    # -- rendering -------------------------------------------------------------------------------

    def _page(self, name: str, session: Session | None, status: int = 200, **context: Any) -> HTMLResponse:
        flash = None
        if session is not None:
            flash, session.flash = session.flash, None
        html = self.env.get_template(name).render(session=session, nav=NAV, flash=flash, urlencode=urlencode, **context)
        return HTMLResponse(html, status)

    def _error(self, request: Request, session: Session | None, exc: Exception) -> HTMLResponse:
        status = 400
        if isinstance(exc, ConsoleError):
            status = exc.status
        elif isinstance(exc, SeedNotFound | OperationNotFound):
            status = 404
        elif isinstance(exc, UndoRefused):
            status = 409
        elif isinstance(exc, DecisionFailed | ModelsClosed | StoreError):
            status = 503
        logger.info("console: %s %s answered %d: %s", request.method, request.url.path, status, type(exc).__name__)
        return self._page("error.html", session, status, message=str(exc), page="")

    def _back(self, request: Request, value: object, fallback: str) -> str:
        """Where a form goes back to: one of the console's own paths, never another site."""
        back = value if isinstance(value, str) else ""
        ok = back.startswith(PREFIX + "/") and "//" not in back and "\\" not in back and "\n" not in back
        return back if ok else fallback

    def _done(self, session: Session, back: str, done: actions.Done) -> Response:
        session.flash = done.message
        return RedirectResponse(back, 303)

    # -- pages -----------------------------------------------------------------------------------

    async def _home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/memories", 303)

    async def _css(self, request: Request) -> Response:
        return Response((HERE / "static" / "console.css").read_bytes(), media_type="text/css")

    async def _enter(self, request: Request) -> Response:
        session = self.guard.enter_with_key(request.query_params.get("key", ""))
        if session is None:
            return self._error(
                request,
                None,
                NotSignedIn(
                    "This address was used already, or is not the console's: "
                    "run `cerebellum-mcp ui` again for a new one."
                ),
            )
        response = RedirectResponse(f"{PREFIX}/memories", 303)
        self._set_cookie(response, session)
        return response

    async def _login(self, request: Request) -> Response:
        if self.guard.sign_in != "token":
            return RedirectResponse(f"{PREFIX}/memories", 303)
        if request.method == "GET":
            return self._page("login.html", None, page="login", message=None)
        if not self.guard.source_ok(request.headers.get("origin"), request.headers.get("referer")):
            return self._error(request, None, NotAllowed("Sign-in refused: the form did not come from this console."))
        form = await request.form()
        token = form.get("token")
        session = self.guard.enter_with_token(token if isinstance(token, str) else "")
        if session is None:
            return self._page("login.html", None, 401, page="login", message="That token is not valid here.")
        response = RedirectResponse(f"{PREFIX}/memories", 303)
        self._set_cookie(response, session)
        return response

    async def _logout(self, request: Request, session: Session) -> Response:
        self.guard.end(session.id)
        response = RedirectResponse(f"{PREFIX}/login" if self.guard.sign_in == "token" else f"{PREFIX}/memories", 303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    async def _memories(self, request: Request, session: Session) -> Response:
        fields = set(reads.MemoryFilters.model_fields)
        filters = reads.MemoryFilters(**{k: v for k, v in request.query_params.items() if k in fields})
        store = await self.backend.store()
        memory = await self.backend.memory() if filters.q.strip() else None
        page = await in_thread(reads.memories, store, filters, session.scopes, memory)
        return self._page("memories.html", session, page="memories", data=page)

    async def _memory(self, request: Request, session: Session) -> Response:
        store = await self.backend.store()
        detail = await in_thread(reads.memory_detail, store, request.path_params["seed_id"], session.scopes)
        return self._page("memory.html", session, page="memories", data=detail)

    async def _memory_action(self, request: Request, session: Session) -> Response:
        seed_id: int = request.path_params["seed_id"]
        action: str = request.path_params["action"]
        form = await request.form()
        here = f"{PREFIX}/memories/{seed_id}"
        memory = await self.backend.memory()
        if action == "edit":
            text = form.get("text")
            done = await in_thread(actions.edit, memory, seed_id, text if isinstance(text, str) else "", session.scopes)
        elif action == "forget":
            done = await in_thread(actions.forget, memory, seed_id, session.scopes)
        elif action == "purge":
            done = await in_thread(actions.purge, memory, seed_id, session.scopes)
            return self._done(session, f"{PREFIX}/memories", done)
        else:
            raise ConsoleError(f"Unknown action {action!r}.")
        return self._done(session, self._back(request, form.get("back"), here), done)

    async def _undo(self, request: Request, session: Session) -> Response:
        form = await request.form()
        operation_id = form.get("operation_id")
        memory = await self.backend.memory()
        done = await in_thread(actions.undo, memory, str(operation_id or ""), session.scopes)
        return self._done(session, self._back(request, form.get("back"), f"{PREFIX}/activity"), done)

    async def _inbox(self, request: Request, session: Session) -> Response:
        store = await self.backend.store()
        scope = request.query_params.get("scope", "")
        page = await in_thread(reads.inbox, store, scope, session.scopes)
        return self._page("inbox.html", session, page="inbox", data=page, scope=scope)

    async def _inbox_action(self, request: Request, session: Session) -> Response:
        inbox_id: int = request.path_params["inbox_id"]
        action: str = request.path_params["action"]
        form = await request.form()
        memory = await self.backend.memory()
        if action == "save":
            done = await in_thread(actions.save_anyway, memory, inbox_id, session.scopes)
        elif action == "discard":
            done = await in_thread(actions.discard, memory, inbox_id, session.scopes)
        elif action == "merge":
            target, text = form.get("target_id"), form.get("text")
            if not isinstance(target, str) or not target.isdigit():
                raise ConsoleError("Merge into which memory? The form names none.")
            done = await in_thread(
                actions.merge, memory, inbox_id, int(target), text if isinstance(text, str) else "", session.scopes
            )
        else:
            raise ConsoleError(f"Unknown action {action!r}.")
        return self._done(session, self._back(request, form.get("back"), f"{PREFIX}/inbox"), done)

    async def _activity(self, request: Request, session: Session) -> Response:
        store = await self.backend.store()
        q = request.query_params
        page = await in_thread(
            reads.activity, store, q.get("kind", ""), q.get("scope", ""), q.get("after", ""), session.scopes
        )
        return self._page("activity.html", session, page="activity", data=page)

    async def _overview(self, request: Request, session: Session) -> Response:
        store = await self.backend.store()
        data = await in_thread(reads.overview, store, session.scopes)
        pictures = {
            "growth": Markup(charts.line("Memories stored over time", [(d, float(n)) for d, n in data.growth])),
            "decisions": Markup(charts.stacked("Decisions per day, by label", data.decisions)),
            "skips": Markup(
                charts.line("The gate's skip rate per day (%)", [(d, 100 * r) for d, r in data.skip_rate], "%")
            ),
            "latency": Markup(charts.histogram("Decision latency, last 30 days", data.latencies)),
        }
        latency = sorted(data.latencies)
        p50 = latency[len(latency) // 2] if latency else None
        p95 = latency[min(len(latency) - 1, int(0.95 * len(latency)))] if latency else None
        return self._page(
            "overview.html",
            session,
            page="overview",
            data=data,
            pictures=pictures,
            service=self.backend.service(),
            latency=(len(latency), p50, p95),
        )
