"""The limits on what may be stored or asked, and the checks that enforce them, defined once.

The MCP tools' arguments, the export lines `import` reads, the importers and the CLI all check texts and
tags here, so one text is refused or taken the same way wherever it comes from. A refusal is a
`TextRefused` whose sentence says what to send instead; the MCP layer passes it on as a tool error.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.errors import ServerError
from server.rules.secrets import redact

MAX_TEXT_CHARS = 20_000
"""The longest text remember accepts by default (the max_text_chars setting may change it)."""
MAX_QUERY_CHARS = 2_000
"""The longest query recall takes; a hook searches with a prompt's start."""
MAX_RECALL_K = 50
MAX_TAGS = 20
MAX_TAG_CHARS = 64
INVALID_TEXT = "\uffff"
"""How the stdio wire delivers a lone surrogate escape it could not decode (server/transport/wire.py)."""


class TextRefused(ServerError, ValueError):
    """A text, tag or count that can't be used; the message says what to send instead.

    A ValueError too, so that pydantic validators (the export lines) report it as a field's error."""


def echo(value: str) -> str:
    """A value quoted back in an error, with any credential taken out first: errors are logged too."""
    shown = redact(value)
    return repr(shown if len(shown) <= 60 else shown[:60] + "...")


def check_text(value: str, what: str, limit: int) -> str:
    """Refuse text the store should never hold: empty, too long, NUL, not valid Unicode."""
    if not value.strip():
        raise TextRefused(f"The {what} is empty: send the words themselves.")
    if len(value) > limit:
        raise TextRefused(
            f"The {what} is {len(value)} characters, over the limit of {limit}: send the part worth keeping "
            "(a summary, the conclusion), not the whole document or log."
        )
    if "\x00" in value:
        raise TextRefused(f"The {what} contains a NUL character: send plain text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextRefused(
            f"The {what} is not valid Unicode (a lone surrogate at {exc.start}): send plain text."
        ) from exc
    if INVALID_TEXT in value:
        raise TextRefused(
            f"The {what} is not valid Unicode (a lone surrogate or U+FFFF at {value.index(INVALID_TEXT)}): "
            "send plain text."
        )
    return value


def check_query(value: str) -> str:
    return check_text(value, "query", MAX_QUERY_CHARS)


def check_tags(values: Sequence[str] | None) -> list[str]:
    """The tags, stripped and without repeats."""
    values = values or []
    if len(values) > MAX_TAGS:
        raise TextRefused(f"{len(values)} tags is too many: give at most {MAX_TAGS}.")
    cleaned: list[str] = []
    for tag in values:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_CHARS or any(ord(c) < 32 for c in tag):
            raise TextRefused(
                f"Invalid tag {echo(tag)}: a tag is 1-{MAX_TAG_CHARS} characters on one line, "
                "without control characters."
            )
        check_text(tag, "tag", MAX_TAG_CHARS)
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def check_k(k: int) -> int:
    """How many results a recall returns."""
    if not 1 <= k <= MAX_RECALL_K:
        raise TextRefused(f"k must be between 1 and {MAX_RECALL_K}; got {k}.")
    return k
