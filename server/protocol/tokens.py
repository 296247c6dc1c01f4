"""Bearer tokens for the HTTP transport: a token file holding only their hashes, each with its scopes.

`cerebellum-mcp token add NAME --scopes a,b` makes a random token (shown once), `token list` shows the
names, scopes and creation times, `token revoke NAME` removes one (server/cli/tokens.py). The file
is JSON, written whole (a temporary file, then a rename) with mode 0600:

    {"version": 1, "tokens": [{"name": "laptop", "scopes": ["shop-api"], "created": "...", "sha256": "..."}]}

A token is 32 random bytes (urlsafe base64, after a `cbm_` prefix that secret scanners can match), so a
plain SHA-256 of it is enough: nobody can guess a token back from its hash. A running server reads the
file again whenever it changes, so a revoked token is refused from its next request on; a file that
can't be read refuses every token (and says so in the log) until it is fixed: it is never rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from server.errors import ServerError
from server.filelock import exclusive
from server.rules import scopes
from server.rules.scopes import ALL_SCOPES

logger = logging.getLogger(__name__)

FILE_VERSION = 1
TOKEN_PREFIX = "cbm_"
TOKEN_BYTES = 32
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_TOKEN_SCOPES = 50
ADD_HINT = "cerebellum-mcp token add NAME --scopes SCOPE[,SCOPE...]"


class TokenError(ServerError):
    """A token command that can't be done as asked (a name taken or unknown, a bad scope); nothing changed."""


class TokenFileError(ServerError):
    """The token file can't be read or written; the message names the file and what to do."""


@dataclass(frozen=True)
class TokenRecord:
    """One token as the file keeps it: never the token itself."""

    name: str
    scopes: tuple[str, ...]
    """The scopes it may read and change; ("*",) for every scope."""
    created: str
    """When it was made (UTC, ISO 8601)."""
    sha256: str

    @property
    def every_scope(self) -> bool:
        return ALL_SCOPES in self.scopes


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(value: str | Sequence[str]) -> tuple[str, ...]:
    """`a,b` (or a list of names) into the scope names a token holds; `*` alone for every scope."""
    try:
        return scopes.parse_list(value, MAX_TOKEN_SCOPES)
    except scopes.ScopeRefused as exc:
        raise TokenError(f"--scopes: {exc}") from exc


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise TokenError(
            f"Invalid token name {name[:80]!r}: use 1-64 letters, digits or . _ - starting with a letter or digit "
            "(for example laptop or ci-runner)."
        )
    return name


def exposed(mode: int) -> bool:
    """A file mode that lets users other than the owner read or write it (never said on Windows)."""
    return bool(mode & 0o077) and sys.platform != "win32"


class TokenFile:
    """The token file: read (again whenever it changes), added to and revoked from, never half written."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self._cache: tuple[tuple[int, int, int], tuple[TokenRecord, ...]] | None = None
        self._cache_lock = threading.Lock()
        self._reported: tuple[int, int, int] | None = None

    # -- reading ---------------------------------------------------------------------------------

    def _unreadable(self, why: str) -> TokenFileError:
        return TokenFileError(
            f"The token file {self.path} can't be used: {why}. Nothing was changed; no token is accepted until it "
            f"is fixed. Repair it by hand, or move it aside and add the tokens again ({ADD_HINT})."
        )

    def _parse(self, raw: bytes) -> tuple[TokenRecord, ...]:
        try:
            data: object = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._unreadable(f"it is not valid JSON ({exc})") from exc
        document = cast(dict[str, object], data) if isinstance(data, dict) else {}
        entries = document.get("tokens")
        if document.get("version") != FILE_VERSION or not isinstance(entries, list):
            raise self._unreadable(f'it is not a version-{FILE_VERSION} token file ({{"version": 1, "tokens": [...]}})')
        records: list[TokenRecord] = []
        for number, item in enumerate(cast(list[object], entries), start=1):
            if not isinstance(item, dict):
                raise self._unreadable(f"token {number} is not an object")
            entry = cast(dict[str, object], item)
            name, scopes, created, digest = (entry.get(key) for key in ("name", "scopes", "created", "sha256"))
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                raise self._unreadable(f"token {number} has no valid name")
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise self._unreadable(f"token {name!r} has no valid sha256")
            if not isinstance(created, str):
                raise self._unreadable(f"token {name!r} has no creation time")
            names = cast(list[object], scopes) if isinstance(scopes, list) else None
            if names is None or not all(isinstance(scope, str) for scope in names):
                raise self._unreadable(f"token {name!r} has no list of scopes")
            try:
                held = parse_scopes([str(scope) for scope in names])
            except TokenError as exc:
                raise self._unreadable(f"token {name!r}: {exc}") from exc
            if any(record.name == name for record in records):
                raise self._unreadable(f"the name {name!r} is there twice")
            records.append(TokenRecord(name=name, scopes=held, created=created, sha256=digest))
        return tuple(records)

    def records(self) -> tuple[TokenRecord, ...]:
        """Every token in the file (none when there is no file yet). Raises TokenFileError for a file that
        can't be read or parsed."""
        try:
            with self.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                with self._cache_lock:
                    if self._cache is not None and self._cache[0] == key:
                        return self._cache[1]
                raw = handle.read()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise self._unreadable(f"it can't be read ({exc.strerror or exc})") from exc
        if exposed(stat.st_mode):
            logger.warning(
                "the token file %s can be read by other users (mode %o): chmod 600 it", self.path, stat.st_mode & 0o777
            )
        records = self._parse(raw)
        with self._cache_lock:
            self._cache = (key, records)
        return records

    def verify(self, token: str) -> TokenRecord | None:
        """The token's record, or None: unknown, revoked, or the file can't be read (logged, once per change
        of the file). Every stored hash is compared, in constant time."""
        try:
            records = self.records()
        except TokenFileError as exc:
            if self._reported != self._stat_key():
                self._reported = self._stat_key()
                logger.error("%s", exc)
            return None
        digest = token_hash(token)
        found: TokenRecord | None = None
        for record in records:
            if hmac.compare_digest(digest, record.sha256):
                found = record
        return found

    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    # -- changing --------------------------------------------------------------------------------

    def add(self, name: str, scopes: str | Sequence[str]) -> tuple[TokenRecord, str]:
        """A new token under a new name: its record, and the token itself (the only time it exists outside
        the client that is given it)."""
        _check_name(name)
        held = parse_scopes(scopes)
        with self._changing() as records:
            if any(record.name == name for record in records):
                raise TokenError(
                    f"There is already a token named {name!r}: choose another name, or `cerebellum-mcp token revoke "
                    f"{name}` first to replace it."
                )
            token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
            record = TokenRecord(
                name=name,
                scopes=held,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                sha256=token_hash(token),
            )
            records.append(record)
        return record, token

    def revoke(self, name: str) -> TokenRecord:
        """Remove a token: a server refuses it from its next request on."""
        with self._changing() as records:
            for index, record in enumerate(records):
                if record.name == name:
                    del records[index]
                    return record
            known = ", ".join(record.name for record in records) or "none"
            raise TokenError(
                f"There is no token named {name[:80]!r} in {self.path} (tokens: {known}); `cerebellum-mcp token list` "
                "shows them."
            )

    @contextlib.contextmanager
    def _changing(self) -> Generator[list[TokenRecord]]:
        """The records to change, under a lock against another token command; written back whole when the
        block ends without an exception. A file that can't be parsed is left as it is."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TokenFileError(
                f"The folder of the token file {self.path} can't be made: {exc.strerror or exc}."
            ) from exc
        with exclusive(self.path.with_name(self.path.name + ".lock")):
            records = list(self.records())
            yield records
            self._write(records)

    def _write(self, records: Sequence[TokenRecord]) -> None:
        data = {
            "version": FILE_VERSION,
            "tokens": [
                {"name": r.name, "scopes": list(r.scopes), "created": r.created, "sha256": r.sha256} for r in records
            ],
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)  # O_CREAT's mode is masked by the umask; an old temporary kept its own
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise TokenFileError(
                f"The token file {self.path} can't be written: {exc.strerror or exc}. Nothing was changed."
            ) from exc
        with self._cache_lock:
            self._cache = None
