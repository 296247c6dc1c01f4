"""What stands between a browser and the memories: Host and Origin allow-lists, sessions, CSRF tokens,
bearer-token sign-in with scope limits, and the security headers of every answer.

- Host: only the names the console is served under (DNS rebinding: a page on evil.example resolving to
  127.0.0.1 sends `Host: evil.example`, and is refused).
- Origin: a request that carries one must come from the console's own origin; a state-changing request
  (POST only) must carry it (or a Referer) and the session's CSRF token.
- Sign-in: with bearer tokens in force (`serve --http` off loopback, or --auth tokens) a person pastes a
  token into the sign-in form; the session then sees only that token's scopes, and ends when the token is
  revoked. On the shared service's loopback port, the session starts from the one-time address `ui` prints
  (other local users can reach a loopback port; they can't read the service's private socket). Plain
  loopback `serve --http` without tokens is open, as its MCP endpoint is.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from server.protocol.tokens import TokenFile, TokenFileError

SESSION_COOKIE = "cbm_console"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 1000

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

SignIn = str
"""How a console is entered: "open" (tokenless loopback), "key" (the service's port), "token" (bearer tokens)."""


@dataclass
class Session:
    id: str
    csrf: str
    who: str
    scopes: tuple[str, ...] | None
    """The scopes this session sees and changes; None: every scope."""
    token_sha256: str | None = None
    flash: str | None = None
    """What the last action did, shown once on the next page."""
    expires: float = field(default_factory=lambda: time.time() + SESSION_SECONDS)


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The Host header values the console answers: host:port, the loopback names for a loopback host, and
    `extra` (the public URL's host:port)."""
    names = {f"{host}:{port}", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    if host in ("0.0.0.0", "::", ""):
        import socket

        names |= {f"{socket.gethostname()}:{port}", f"{socket.getfqdn()}:{port}"}
    return frozenset(name.lower() for name in (*names, *extra))


class Guard:
    """The checks of one console site (one host and port)."""

    def __init__(self, hosts: frozenset[str], sign_in: SignIn, tokens: TokenFile | None = None) -> None:
        self.hosts = hosts
        self.sign_in = sign_in
        self.tokens = tokens
        self.key = secrets.token_urlsafe(24)
        """The one-time key of the `ui` address (sign_in "key"); a new one after each use."""
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # -- host and origin -------------------------------------------------------------------------

    def host_ok(self, host: str | None) -> bool:
        return host is not None and host.lower() in self.hosts

    def origin_ok(self, origin: str | None) -> bool:
        if origin is None or origin == "null":
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() in self.hosts and not parts.path.strip("/")

    def source_ok(self, origin: str | None, referer: str | None) -> bool:
        """A state-changing request's origin: the Origin header, else the Referer's origin; one must be ours."""
        if origin is not None:
            return self.origin_ok(origin)
        if referer:
            parts = urlsplit(referer)
            return self.origin_ok(f"{parts.scheme}://{parts.netloc}")
        return False

    # -- sessions ----------------------------------------------------------------------------------

    def _new(self, who: str, scopes: tuple[str, ...] | None, token_sha256: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), who, scopes, token_sha256)
        with self._lock:
            now = time.time()
            for sid in [sid for sid, s in self._sessions.items() if s.expires < now]:
                del self._sessions[sid]
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session.id] = session
        return session

    def session(self, cookie: str | None) -> Session | None:
        """The live session of a cookie; None when there is none (or it expired, or its token was revoked)."""
        if not cookie:
            return None
        with self._lock:
            session = self._sessions.get(cookie)
        if session is None or session.expires < time.time():
            return None
        if session.token_sha256 is not None and not self._token_live(session.token_sha256):
            self.end(session.id)
            return None
        return session

    def open_session(self) -> Session:
        """A session for the tokenless loopback console (sign_in "open")."""
        return self._new("local", None)

    def enter_with_key(self, key: str) -> Session | None:
        """A session for the holder of the `ui` address's key; the key is then replaced (used once)."""
        if self.sign_in != "key" or not hmac.compare_digest(key.encode(), self.key.encode()):
            return None
        self.key = secrets.token_urlsafe(24)
        return self._new("local", None)

    def enter_with_token(self, token: str) -> Session | None:
        """A session for a valid bearer token, limited to its scopes."""
        if self.tokens is None:
            return None
        try:
            record = self.tokens.verify(token.strip())
        except TokenFileError:
            return None
        if record is None:
            return None
        scopes = None if record.every_scope else tuple(record.scopes)
        return self._new(record.name, scopes, record.sha256)

    def _token_live(self, sha256: str) -> bool:
        if self.tokens is None:
            return False
        try:
            return any(record.sha256 == sha256 for record in self.tokens.records())
        except TokenFileError:
            return False

    def end(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def csrf_ok(self, session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
