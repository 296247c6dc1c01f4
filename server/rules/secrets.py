"""Credential detection: secrets an agent pastes are found before anything is stored, embedded or shown to a model.

`find_secrets` reports where credentials sit in a text; `redact` swaps each one for a typed placeholder such as
`[REDACTED:github-token]` and leaves every other character as it was; `describe` names what was found and on which
line without repeating any secret.

The rules are general descriptions of real credential formats, not lists of known values:

* tokens whose shape is fixed by their issuer (AWS key ids, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic and
  Google keys, JWTs, PEM private key blocks), found anywhere in the text;
* passwords in places whose syntax says "this is a password": `scheme://user:password@host`, `?password=` in a
  URL, `Password=...;` in ADO/ODBC/libpq connection strings;
* values assigned to a setting whose name says it holds a secret (`DB_PASSWORD=...`, `"client_secret": "..."`,
  `Authorization: Bearer ...`, `数据库密码：...`);
* random-looking values (mixed character classes, high Shannon entropy) assigned to any other setting.

Placeholders and references are never secrets: `changeme`, `<your-token>`, `${API_KEY}`, `$API_KEY`,
`os.environ["API_KEY"]`, `xxxx`, `****`, `your_api_key_here`, masked displays like `sk-...a1B2`. Neither are hashes,
UUIDs, checksums, image data, ports or versions, and the word "password" in prose is only a word.

`screen_secrets` is the one rule every path that takes a text applies first (remember, recall, route, the hooks,
imports): in refuse mode a text with a credential raises `SecretInText`; in redact mode each credential is
replaced by its placeholder.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from server.errors import ServerError

__all__ = [
    "Finding",
    "SecretInText",
    "SecretsMode",
    "describe",
    "find_secrets",
    "redact",
    "refuse_secrets",
    "screen_secrets",
]

SecretsMode = Literal["refuse", "redact"]
"""What is done with a credential found in a text: refuse the text, or replace the credential by a placeholder."""


class SecretInText(ServerError):
    """The text holds a credential; it was not stored, embedded or shown to a model."""


@dataclass(frozen=True)
class Finding:
    """A secret value in a text: its kind, its character span `[start, end)` and the 1-based line it starts on."""

    kind: str
    start: int
    end: int
    line: int


# What describe() calls each kind, singular and plural.
_NAMES: dict[str, tuple[str, str]] = {
    "aws-access-key": ("an AWS access key ID", "AWS access key IDs"),
    "aws-secret-key": ("an AWS secret access key", "AWS secret access keys"),
    "github-token": ("a GitHub token", "GitHub tokens"),
    "gitlab-token": ("a GitLab token", "GitLab tokens"),
    "slack-token": ("a Slack token", "Slack tokens"),
    "slack-webhook": ("a Slack webhook URL", "Slack webhook URLs"),
    "stripe-key": ("a Stripe secret key", "Stripe secret keys"),
    "openai-key": ("an OpenAI API key", "OpenAI API keys"),
    "anthropic-key": ("an Anthropic API key", "Anthropic API keys"),
    "google-api-key": ("a Google API key", "Google API keys"),
    "jwt": ("a JSON Web Token", "JSON Web Tokens"),
    "private-key": ("a private key block", "private key blocks"),
    "password-in-url": ("a password in a URL", "passwords in URLs"),
    "connection-string-password": ("a password in a connection string", "passwords in connection strings"),
    "secret-assignment": ("a secret assigned to a credential setting", "secrets assigned to credential settings"),
    "high-entropy-assignment": (
        "a random-looking value that may be a credential",
        "random-looking values that may be credentials",
    ),
}

# Overlapping candidates are settled by priority (lower wins), then by length.
_PRIORITY_BLOCK = 0  # a PEM block contains everything inside it
_PRIORITY_FORMAT = 1  # issuer-defined token formats
_PRIORITY_SYNTAX = 2  # passwords whose place in a URL or connection string says what they are
_PRIORITY_NAMED = 3  # values of settings named like secrets
_PRIORITY_ENTROPY = 4  # random-looking values of other settings


@dataclass(frozen=True)
class _Candidate:
    kind: str
    start: int
    end: int
    priority: int


# -- what is not a secret ---------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "your",
    "redacted",
    "replaceme",
    "replace_me",
    "replace-me",
    "fixme",
    "foobar",
    "lorem",
    "notreal",
    "not_real",
    "not-real",
    "fake",
    "xxxx",
    "****",
    "...",
    "\u2026",  # …
    "\u2022\u2022",  # ••
    "0123456789",
    "1234567890",
    "abcdefghij",
)
# Values that only name what belongs there: "password", "my-secret", "YOUR_TOKEN", "None", "string".
_PLACEHOLDER_EXACT = re.compile(
    r"(?:my|your|the|some|a|an|test|demo|dev|default|new|old)?[-_ ]?"
    r"(?:password|passwd|pass|pwd|pw|secret|token|key|api[-_]?key|access[-_]?key|secret[-_]?key|credentials?|auth"
    r"|user(?:name)?|none|null|nil|undefined|true|false|string|str|required|optional|empty|value|env|n/?a|tbd)s?"
    r"[0-9]{0,4}!?",  # password1, secret123!
    re.IGNORECASE,
)
# Templates and references that a tool fills in later: ${X}, $X, $(cmd), {{ x }}, {% x %}, #{x}, %(x)s, %X%, <x>.
_TEMPLATE = re.compile(
    r"\$\{|\$\(|^\$[A-Za-z_{(]|\{\{|\{%|#\{|%\([A-Za-z_]|^%[A-Za-z_]+%$|<[^<>]*>|^\[[^\]]*\]$|^\{[A-Za-z_][\w.-]*\}$"
)
_REPEATED = re.compile(r"(.)\1{5,}")


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    if _PLACEHOLDER_EXACT.fullmatch(value) or _TEMPLATE.search(value) or _REPEATED.search(value):
        return True
    return len(value) >= 8 and len(set(value)) < 5


# Values that refer to a secret held elsewhere: attribute paths, calls, subscripts, names of variables or constants.
_CODE_REFERENCE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+"  # settings.SECRET_KEY, process.env.TOKEN
    r"|(?:this|self|cls)\..*"  # this._token?x:y
    r"|_*[a-z][a-z0-9]*(?:_[a-z0-9]+)+"  # db_password, _core_token
    r"|_*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"  # DB_PASSWORD
    r"|[A-Za-z_][A-Za-z0-9_.:]*[\[(].*"  # os.environ[...], get_secret(...), std::env::var(...)
    r"|[\[{(].*",  # the start of a list, object or tuple
)
_PATH = re.compile(r"(?:~|\.{1,2})?/[^\s/]+(?:/[^\s/]*)*|[A-Za-z]:\\.*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# same-origin, oauth2-client, kubernetes.io
_LOWER_WORDS = re.compile(r"[a-z]+|[a-z]{2,}[0-9]?(?:[-_.][a-z]{2,}[0-9]?)+")
_CAMEL_WORDS = re.compile(r"[A-Z]?[a-z]+(?:[A-Z][a-z]+)*")  # Unauthorized, InvalidSignature


def _char_classes(value: str) -> set[str]:
    classes: set[str] = set()
    for char in value:
        if char.islower():
            classes.add("lower")
        elif char.isupper():
            classes.add("upper")
        elif char.isdigit():
            classes.add("digit")
        else:
            classes.add("symbol")
    return classes


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _class_changes(value: str) -> float:
    """How often consecutive characters switch between lower, upper, digit and symbol (random text: about 0.6)."""

    def cls(char: str) -> int:
        return 0 if char.islower() else 1 if char.isupper() else 2 if char.isdigit() else 3

    if len(value) < 2:
        return 0.0
    changes = sum(1 for a, b in itertools.pairwise(value) if cls(a) != cls(b))
    return changes / (len(value) - 1)


_LOWER_RUN = re.compile(r"[a-z]+")


def _is_wordy(value: str) -> bool:
    """Made of words (`Llama3VisionHandler`, `X-Access-Token`): long lowercase runs. Random text averages under 2."""
    runs = _LOWER_RUN.findall(value)
    return bool(runs) and sum(len(run) for run in runs) / len(runs) >= 3.0


def _looks_like_password(value: str) -> bool:
    """A literal value for a setting named like a secret: long enough, not a word, path, URL or reference."""
    if len(value) < 8 or not value.isascii() or any(char.isspace() for char in value):
        return False
    if _is_placeholder(value) or _CODE_REFERENCE.fullmatch(value):
        return False
    if "://" in value or _PATH.fullmatch(value) or _EMAIL.fullmatch(value):
        return False
    if _LOWER_WORDS.fullmatch(value) or _CAMEL_WORDS.fullmatch(value):
        return False
    letters = any(char.isalpha() for char in value)
    digits = any(char.isdigit() for char in value)
    symbols = any(not char.isalnum() and char not in "-_." for char in value)
    if letters + digits + symbols >= 2:
        return True
    return len(value) >= 20 and not _is_wordy(value)  # a long random string of one class


# -- issuer-defined formats -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FormatRule:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None


def _has_letters_and_digits(value: str) -> bool:
    return any(c.isalpha() for c in value) and any(c.isdigit() for c in value)


def _jwt_header_ok(value: str) -> bool:
    header = value.split(".", 1)[0]
    decoded = _b64decode(header, urlsafe=True)
    return decoded is not None and decoded.lstrip().startswith(b"{") and b'"alg"' in decoded


def _b64decode(value: str, *, urlsafe: bool = False) -> bytes | None:
    padded = value + "=" * (-len(value) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


_A = re.ASCII
_FORMAT_RULES: tuple[_FormatRule, ...] = (
    _FormatRule("aws-access-key", re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")),
    _FormatRule("github-token", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])", _A)),
    _FormatRule("github-token", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{50,251}(?![A-Za-z0-9_])", _A)),
    _FormatRule(
        "gitlab-token",
        re.compile(
            r"(?<![A-Za-z0-9_-])gl(?:pat|dt|rt|ptt|soat|cbt|oas|ft|imt|agent)-[A-Za-z0-9_-]{20,}"
            r"(?:\.[A-Za-z0-9_-]+)*",
            _A,
        ),
    ),
    _FormatRule(
        "slack-token",
        re.compile(r"(?<![A-Za-z0-9_-])(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}[A-Za-z0-9]", _A),
        _has_letters_and_digits,
    ),
    _FormatRule(
        "slack-webhook",
        re.compile(r"(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}", _A),
        _has_letters_and_digits,
    ),
    _FormatRule(
        "stripe-key",
        re.compile(r"(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,})", _A),
        _has_letters_and_digits,
    ),
    _FormatRule(
        "anthropic-key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}", _A),
        _has_letters_and_digits,
    ),
    _FormatRule(
        "openai-key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", _A),
        _has_letters_and_digits,
    ),
    _FormatRule("google-api-key", re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", _A)),
    # This server's own bearer tokens (server/protocol/tokens.py): cbm_ and 32 random bytes in urlsafe base64.
    _FormatRule("cerebellum-token", re.compile(r"(?<![A-Za-z0-9_-])cbm_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", _A)),
    _FormatRule(
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(?![A-Za-z0-9_-])",
            _A,
        ),
        _jwt_header_ok,
    ),
)

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.{0,20000}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"  # the whole block
    r"|(?:(?:\r?\n|\\r?\\n)[ \t]*[A-Za-z0-9+/=]+)*)",  # a paste cut short: its base64 lines
    re.ASCII | re.DOTALL,
)
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/=]+")
_X_RUN = re.compile(r"[xX]{8}")
_PEM_BODY = re.compile(r"-----[A-Z0-9 ]+-----|\\[rn]|^[A-Za-z-]+: .*$|\s+", re.MULTILINE)


_PEM_CUT_BODY = 16  # base64 characters after a header with no END line: a paste cut short, not prose


def _pem_candidates(text: str) -> Iterator[_Candidate]:
    for match in _PEM.finditer(text):
        block = match.group()
        body = _PEM_BODY.sub("", block)
        # A whole BEGIN ... END block is a key whatever its length: the header says so, and a short body
        # is still key material (a test key, a truncated one). Only a body that is no base64 at all
        # (`...`, `<your key>`, empty) or an x-run marks a placeholder. DER and OpenSSH encodings hold
        # long runs of zero bytes (`AAAAAAAA`), so those are not taken for placeholders.
        whole = "-----END " in block
        if len(body) >= (1 if whole else _PEM_CUT_BODY) and _BASE64_BODY.fullmatch(body) and not _X_RUN.search(body):
            yield _Candidate("private-key", match.start(), match.end(), _PRIORITY_BLOCK)


def _format_candidates(text: str) -> Iterator[_Candidate]:
    for rule in _FORMAT_RULES:
        for match in rule.pattern.finditer(text):
            value = match.group()
            if _is_placeholder(value) or (rule.check is not None and not rule.check(value)):
                continue
            yield _Candidate(rule.kind, match.start(), match.end(), _PRIORITY_FORMAT)


# -- passwords by syntax ----------------------------------------------------------------------------------------

_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}://"
    r"[^\s:/?#@\"'<>]*:(?P<secret>[^\s/?#\"'<>]+)@[A-Za-z0-9\[._-]",
    re.ASCII,
)
_PORT_LIST = re.compile(r"\d+,")  # `scheme://h1:123,h2:456@...`: ports of a multi-host URL, not a password
_QUERY_PASSWORD = re.compile(
    r"://[^\s\"'<>?]{0,2048}\?(?:[^\s\"'<>#]{0,2048}?&)?(?i:password|passwd|pwd|pass)=(?P<secret>[^\s&#\"'<>;]+)",
    re.ASCII,
)
_CONN_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9_.-])(?i:password|pwd|accountkey|sharedaccesskey)[ \t]*=[ \t]*"
    r"(?:\{(?P<braced>[^}\n]*)\}|'(?P<quoted>[^'\n]*)'|(?P<plain>[^;\s\"'{}(),]+)(?P<call>[,)('\"])?)",
    re.ASCII,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# Another key of the same connection string on the same line, separated as connection strings do (not `, `).
_CONN_KEY = re.compile(
    r"(?:^|[;\"']|(?<![,\s])\s)(?:server|data source|host|hostname|address|addr|network address|user id|userid|uid|user"
    r"|username|database|dbname|initial catalog|driver|provider|port|accountname|sharedaccesskeyname|endpoint"
    r"|defaultendpointsprotocol|sslmode)[ \t]*=",
    re.IGNORECASE,
)


def _line_around(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start : end if end >= 0 else len(text)]


def _url_password_ok(value: str) -> bool:
    decoded = unquote(value)
    if _is_placeholder(decoded) or _PORT_LIST.match(value):
        return False
    # A short lower-case word (`guest`, `repo`, `pass`) is a default or the example of a format, not a credential.
    return not (len(decoded) < 8 and decoded.isalpha() and decoded.islower())


def _syntax_candidates(text: str) -> Iterator[_Candidate]:
    for pattern in (_URL_PASSWORD, _QUERY_PASSWORD):
        for match in pattern.finditer(text):
            secret = match.group("secret")
            if _url_password_ok(secret):
                yield _Candidate("password-in-url", match.start("secret"), match.end("secret"), _PRIORITY_SYNTAX)
    for match in _CONN_PASSWORD.finditer(text):
        group = next(name for name in ("braced", "quoted", "plain") if match.group(name) is not None)
        value = match.group(group)
        if len(value) < 4 or _is_placeholder(value) or not _CONN_KEY.search(_line_around(text, match.start())):
            continue
        call = match.group("call")
        if call in ("(", "'", '"') or (call and _IDENTIFIER.fullmatch(value)):
            continue  # `connect(host=host, password=password)`, `password=SecretStr(...)`, `password=b'...'`: code
        yield _Candidate("connection-string-password", match.start(group), match.end(group), _PRIORITY_SYNTAX)


# -- values of settings -----------------------------------------------------------------------------------------

_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.])"
    r"(?P<kq>[\"']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,80}|[\u4e00-\u9fff]{1,12})(?P=kq)"
    r"(?:[ \t]*:[ \t]*[A-Za-z_][A-Za-z0-9_.\[\], |]{0,60}?(?=[ \t]*=[^=]))?"  # a type annotation: `token: str = `
    r"[ \t]*(?P<sep>:=|=>|=|:|\uff1a)(?!=)[ \t]*"
    r"(?P<scheme>(?i:bearer|basic|token|bot)[ \t]+)?"
    r"(?:(?P<prefix>[rRbBuUfF]{0,2})(?P<vq>[\"'`])(?P<quoted>(?:\\.|(?!(?P=vq))[^\\\n]){0,1024})(?P=vq)"
    r"|(?P<bare>[^\x00-\x20\x7f-\U0010ffff\"'`<>]{1,1024}))",
    re.ASCII,
)
_AUTH_SCHEME = re.compile(r"(?:bearer|basic|token|bot)[ \t]+", re.IGNORECASE)
_KEY_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Setting names that hold secrets, as the words the name ends with: DB_PASSWORD, clientSecret, x-api-key.
_SECRET_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("password",),
    ("passwd",),
    ("pwd",),
    ("pass",),
    ("passphrase",),
    ("secret",),
    ("token",),
    ("apikey",),
    ("api", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("private", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
    ("account", "key"),
    ("auth", "key"),
    ("auth",),
    ("credential",),
    ("credentials",),
    ("authorization",),
    ("bearer",),
)
_SECRET_SUFFIXES_ZH = ("密码", "口令", "密钥", "秘钥", "令牌")
# publicKeyToken, next_page_token, cancellationToken: named like secrets, but public or bookkeeping.
_PUBLIC_WORDS = frozenset("public publishable pub page next cursor continuation cancellation pagination sync".split())
# Words in a setting's name that say its value is public or derived, not a credential.
_NOT_SECRET_WORDS = frozenset(
    "integrity checksum hash digest sha sha1 sha256 sha384 sha512 md5 etag commit rev revision ref version id uuid "
    "guid image url uri path file dir name tag public pub publishable fingerprint nonce signature sig cursor page "
    "state build run job trace span request correlation cache content data body payload blob icon logo thumbnail "
    "avatar font b64 base64 encoded raw sri slug repo model".split()
)
_COLON_TAIL = re.compile(r"[ \t]*(?:$|#|//)|[,;)\]}\"'`\u3000-\u303f\uff00-\uffef]", re.MULTILINE)
_BRACKET = re.compile(r"[()\[\]{}]")
_CHAINED = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]*=[^=]")
_OPERATOR_TAIL = re.compile(r"[ \t]*[+%*]")
_CODE_TAIL = re.compile(r"[ \t]*[,)=\]|\[]")
_NEXT_PAIR = re.compile(r"[;&][A-Za-z_][A-Za-z0-9_ ]*=")
_HIGH_ENTROPY_VALUE = re.compile(r"[A-Za-z0-9+/=_-]{20,128}")  # base64, base64url, base62; no dots: names, versions
_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]+|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HASH_PREFIX = re.compile(r"(?:sha1|sha224|sha256|sha384|sha512|md5)[-_]", re.IGNORECASE)
# Base64 openings of images and documents: PNG, GIF, JPEG, WebP, SVG, PDF.
_FILE_MAGIC = ("iVBOR", "R0lGOD", "/9j/", "UklGR", "PHN2Zy", "PD94bW", "JVBER")


def _key_words(key: str) -> list[str]:
    return [word.lower() for word in _KEY_WORDS.findall(key)]


def _is_secret_name(key: str) -> bool:
    if key.endswith(_SECRET_SUFFIXES_ZH):
        return True
    words = _key_words(key)
    if set(words) & _PUBLIC_WORDS:
        return False
    return any(len(words) >= len(suffix) and tuple(words[-len(suffix) :]) == suffix for suffix in _SECRET_SUFFIXES)


def _is_encoded_text(value: str) -> bool:
    """Base64 of readable text (a message, a `user:pass` pair) is data, not a random key."""
    decoded = _b64decode(value.rstrip("="), urlsafe="-" in value or "_" in value)
    if decoded is None or len(decoded) < 8:
        return False
    printable = sum(1 for byte in decoded if 32 <= byte < 127 or byte in (9, 10, 13))
    return printable / len(decoded) >= 0.95


_SEGMENT = re.compile(r"[^-_/.]+")


def _is_slug(value: str) -> bool:
    """`org/recent-models-64f9a5`, `m-a-p/anneal-en-cot`: separated words, or more separators than base64 has."""
    body = value.rstrip("=")
    symbols = sum(1 for char in body if not char.isalnum())
    words = sum(
        1 for segment in _SEGMENT.findall(body) if len(segment) >= 3 and segment.isalpha() and segment.islower()
    )
    return words >= 2 or symbols > 0.15 * len(body)


def _looks_random(value: str) -> bool:
    """A token of random characters: base64/base62 alphabet, all of lower, upper and digits, high entropy."""
    if not _HIGH_ENTROPY_VALUE.fullmatch(value) or _HEX.fullmatch(value) or _HASH_PREFIX.match(value):
        return False
    if not {"lower", "upper", "digit"} <= _char_classes(value):
        return False
    if _entropy(value) < 3.5 or _class_changes(value) < 0.3 or _is_wordy(value) or _is_slug(value):
        return False
    if value.startswith(_FILE_MAGIC) or _is_encoded_text(value) or _is_placeholder(value):
        return False
    return not _CODE_REFERENCE.fullmatch(value)


def _scan(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match, including those starting inside an earlier one (a rejected key must not hide the next)."""
    position = 0
    while (match := pattern.search(text, position)) is not None:
        yield match
        position = match.start() + 1


def _assignment_value(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """The span of the assigned value, or None when the match is not a literal value."""
    sep = match.group("sep")
    if match.group("quoted") is not None:
        start, end = match.span("quoted")
        if _OPERATOR_TAIL.match(text, match.end()):
            return None  # `'user:' + name`, `"%s" % x`: part of an expression
        if "f" in match.group("prefix").lower() and "{" in match.group("quoted"):
            return None  # an f-string builds the value from variables
        scheme = _AUTH_SCHEME.match(text, start, end)
        if scheme is not None:
            start = scheme.end()
        return start, end
    start, end = match.span("bare")
    if _CHAINED.match(text, start, end):
        return None  # `a.token=b.c=d`: chained assignments in code
    key_start = match.start("kq")
    if key_start > 0 and text[key_start - 1] in "?&":
        cut = text.find("&", start, end)  # a URL query parameter ends at the next one
        if cut >= 0:
            end = cut
    next_pair = _NEXT_PAIR.search(text, start, end)
    if next_pair is not None:
        end = next_pair.start()
    depth = 0
    for bracket in _BRACKET.finditer(text, start, end):  # `f(token=token).create()`: ends at the unbalanced `)`
        depth += 1 if bracket.group() in "([{" else -1
        if depth < 0:
            end = bracket.start()
            break
    comma = text.find(",", start, end)  # `a=1,b=2`, `f(x=token, y=...)`: items end at commas
    if comma >= 0:
        end = comma
    while end > start and text[end - 1] in ",;)]}.":
        end -= 1
    if sep in (":", "\uff1a") and match.group("scheme") is None:
        if sep == ":" and not match.group("kq") and match.end("sep") == start:
            return None  # `a:b` without a space is not a YAML or header line
        if not _COLON_TAIL.match(text, end):
            return None  # `token: expired yesterday` is prose
    value = text[start:end]
    spaced = sep == "=" and text[match.start("sep") - 1] in " \t" and match.end("sep") < start
    if _IDENTIFIER.fullmatch(value) and _is_wordy(value) and (spaced or _CODE_TAIL.match(text, end)):
        return None  # `token = newToken`, `private_key: PrivateKeyTypes,`: a name in code, not a literal
    return (start, end) if end > start else None


def _names_a_mechanism(key: str) -> bool:
    """A bare `auth` often names a mechanism (`AUTH=CRAM-MD5`, `auth: basic`) rather than holding a credential."""
    return _key_words(key)[-1:] == ["auth"]


def _strong(value: str) -> bool:
    return len(value) >= 16 or {"lower", "upper", "digit"} <= _char_classes(value)


def _assignment_candidates(text: str) -> Iterator[_Candidate]:
    for match in _scan(_ASSIGNMENT, text):
        span = _assignment_value(text, match)
        if span is None:
            continue
        value = text[span[0] : span[1]]
        key = match.group("key")
        if _is_secret_name(key):
            if _looks_like_password(value) and (not _names_a_mechanism(key) or _strong(value)):
                yield _Candidate("secret-assignment", span[0], span[1], _PRIORITY_NAMED)
        elif key.isascii() and not set(_key_words(key)) & _NOT_SECRET_WORDS and _looks_random(value):
            yield _Candidate("high-entropy-assignment", span[0], span[1], _PRIORITY_ENTROPY)


# An AWS secret access key is 40 base64 characters; its setting names it.
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9_])(?i:(?:aws_?)?secret_?(?:access_?)?key)[\"']?[ \t]*(?:=|:|=>)[ \t]*[\"']?"
    r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    re.ASCII,
)


def _aws_secret_candidates(text: str) -> Iterator[_Candidate]:
    for match in _AWS_SECRET.finditer(text):
        value = match.group("secret")
        if {"lower", "upper", "digit"} <= _char_classes(value) and not _is_placeholder(value):
            yield _Candidate("aws-secret-key", match.start("secret"), match.end("secret"), _PRIORITY_FORMAT)


# -- public API -------------------------------------------------------------------------------------------------


_REDACTED = re.compile(r"\[REDACTED:[a-z-]+\]")


def find_secrets(text: str) -> list[Finding]:
    """The credentials in `text`, non-overlapping and ordered by start offset."""
    candidates: list[_Candidate] = [
        *_pem_candidates(text),
        *_format_candidates(text),
        *_aws_secret_candidates(text),
        *_syntax_candidates(text),
        *_assignment_candidates(text),
    ]
    # A placeholder that redact() left is not a secret, even where its syntax reads like one
    # (`https://[REDACTED:github-token]@host` looks like user:password@host), so redacting is stable.
    # Only what lies wholly inside a placeholder is let go: a value that goes on past one is still found.
    placeholders = [(m.start(), m.end()) for m in _REDACTED.finditer(text)]
    if placeholders:
        candidates = [
            c for c in candidates if not any(start <= c.start and c.end <= end for start, end in placeholders)
        ]
    chosen: list[_Candidate] = []  # non-overlapping, so ordered by start and by end alike
    starts: list[int] = []
    for candidate in sorted(candidates, key=lambda c: (c.priority, c.start - c.end, c.start)):
        index = bisect.bisect_right(starts, candidate.start)
        if index > 0 and chosen[index - 1].end > candidate.start:
            continue
        if index < len(chosen) and chosen[index].start < candidate.end:
            continue
        chosen.insert(index, candidate)
        starts.insert(index, candidate.start)
    findings: list[Finding] = []
    line, position = 1, 0
    for candidate in chosen:
        line += text.count("\n", position, candidate.start)
        position = candidate.start
        findings.append(Finding(candidate.kind, candidate.start, candidate.end, line))
    return findings


def redact(text: str, findings: Sequence[Finding] | None = None) -> str:
    """`text` with each secret replaced by `[REDACTED:<kind>]`; every other character is kept as it was."""
    if findings is None:
        findings = find_secrets(text)
    parts: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: (f.start, f.end)):
        if finding.start < position or finding.end <= finding.start:
            continue  # overlapping or empty: the earlier finding already covers it
        parts.append(text[position : finding.start])
        parts.append(f"[REDACTED:{finding.kind}]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


_COUNTS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(findings: Sequence[Finding]) -> str:
    """One sentence naming what was found and where, e.g. "a GitHub token on line 3 and a password in a URL on
    line 5". It never contains a secret: it is built from kinds and line numbers only."""
    if not findings:
        return "no secrets"
    lines_by_kind: dict[str, list[int]] = {}
    for finding in sorted(findings, key=lambda f: f.start):
        lines_by_kind.setdefault(finding.kind, []).append(finding.line)
    phrases: list[str] = []
    for kind, lines in lines_by_kind.items():
        singular, plural = _NAMES.get(kind, (f"a secret ({kind})", f"secrets ({kind})"))
        count = len(lines)
        what = singular if count == 1 else f"{_COUNTS[count] if count < len(_COUNTS) else count} {plural}"
        distinct = sorted(set(lines))
        where = f"on line {distinct[0]}" if len(distinct) == 1 else f"on lines {_join([str(n) for n in distinct])}"
        phrases.append(f"{what} {where}")
    return _join(phrases)


def refuse_secrets(text: str, what: str) -> None:
    """Raise SecretInText if the text holds a credential. Checked before anything else touches the text: a
    credential must never reach the database, its WAL, the logs or a model prompt."""
    findings = find_secrets(text)
    if findings:
        raise SecretInText(
            f"The {what} contains {describe(findings)}; nothing was stored. Remove the secret "
            "(or replace it with a placeholder such as <API_KEY>) and send it again."
        )


def screen_secrets(text: str, what: str, mode: SecretsMode) -> tuple[str, list[str]]:
    """The text as it may be stored, embedded and shown to a model, and the kinds of secret taken out.

    refuse: a text with a credential raises SecretInText. redact: each credential is replaced by a
    typed placeholder such as `[REDACTED:github-token]`, before anything else sees the text.
    """
    if mode == "refuse":
        refuse_secrets(text, what)
        return text, []
    findings = find_secrets(text)
    return (redact(text, findings), sorted({f.kind for f in findings})) if findings else (text, [])
