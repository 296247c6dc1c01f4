"""Bearer-token auth for `serve --http`, on the SDK's resource-server support.

When it applies: on any address but loopback always (`--auth auto`, the default), and on loopback too with
`--auth tokens`; plain loopback stays tokenless, as before. The tokens are the token file's
(server/protocol/tokens.py). The SDK does the rest: its bearer middleware answers a request to /mcp without a
valid `Authorization: Bearer` token with HTTP 401 and a `WWW-Authenticate: Bearer ... resource_metadata=`
header pointing at the RFC 9728 protected-resource document, which it serves at
/.well-known/oauth-protected-resource/mcp; a session stays bound to the token that opened it. What a
valid token may touch is checked per call, in server/protocol/access.py.

There is no OAuth authorization server: tokens are made by `cerebellum-mcp token add` and given to the
client out of band (a header in its config). The metadata must name an authorization server, so it
names this server's origin; a client that tries the OAuth flow there finds none.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from server.errors import ServerError
from server.protocol.tokens import ADD_HINT, TokenFile, TokenFileError
from server.settings import Settings

logger = logging.getLogger(__name__)

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class AuthSetupError(ServerError):
    """serve --http can't start with the auth it needs; the message says what to do."""


class TokenFileVerifier(TokenVerifier):
    """The SDK's TokenVerifier over the token file. The AccessToken it gives carries the token's name as
    client id and its scopes; in place of the token itself, its hash (nothing downstream needs the token,
    and a logged AccessToken then holds no secret)."""

    def __init__(self, tokens: TokenFile) -> None:
        self.tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        record = self.tokens.verify(token)
        if record is None:
            logger.debug("refused a request: its bearer token is not one of %s", self.tokens.path)
            return None
        return AccessToken(token=f"sha256:{record.sha256}", client_id=record.name, scopes=list(record.scopes))


@dataclass(frozen=True)
class HttpAuth:
    """What create_server gives the SDK to serve with tokens."""

    settings: AuthSettings
    verifier: TokenVerifier


def public_url(settings: Settings, host: str, port: int, path: str) -> str:
    """The MCP endpoint's URL as clients see it: --public-url, else http://HOST:PORT/PATH (this machine's
    name for a wildcard host)."""
    if settings.public_url:
        return settings.public_url
    name = socket.gethostname() if host in WILDCARD_HOSTS else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}{path}"


def http_auth(settings: Settings, host: str, port: int, path: str, *, loopback: bool) -> HttpAuth | None:
    """The auth `serve --http HOST:PORT` runs with, or None (tokenless: loopback without --auth tokens).

    Raises AuthSetupError when tokens are needed but the token file has none or can't be read: a server that
    can be reached with no token it accepts would only answer 401, or be open if it guessed wrong.
    """
    if loopback and settings.auth == "auto":
        return None
    tokens = TokenFile(settings.tokens_file)
    why = f"--http {host}:{port} is reachable from other machines" if not loopback else "--auth tokens is set"
    try:
        records = tokens.records()
    except TokenFileError as exc:
        raise AuthSetupError(f"{why}, so it needs bearer tokens, but {exc}") from exc
    if not records:
        raise AuthSetupError(
            f"{why}, so it needs bearer tokens, and the token file {tokens.path} has none. Add one with "
            f"`{ADD_HINT}` (or give --tokens-file), then start the server again."
        )
    url = public_url(settings, host, port, path)
    parsed = urlparse(url)
    # From strings, so that the path-less issuer keeps its canonical form (no trailing slash).
    auth = AuthSettings.model_validate(
        {
            "issuer_url": f"{parsed.scheme}://{parsed.netloc}",
            "resource_server_url": url,
            # The verifier is this server's own token file: a token is for this server and no other.
            "validate_token_resource": False,
        }
    )
    logger.info("bearer tokens required: %d in %s; resource %s", len(records), tokens.path, url)
    return HttpAuth(settings=auth, verifier=TokenFileVerifier(tokens))
