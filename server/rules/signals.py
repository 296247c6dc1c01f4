"""Exact signals: texts whose kind is certain from their shape alone, decided without the model.

Each rule matches the *whole* text, not a part of it: a commit subject alone is a commit log, but
a lesson that mentions a commit is not. A text that only partly fits a shape goes to the model.
These are general rules about how git, test runners, shells and tracebacks format their output,
written for texts nobody has seen yet; they are not fitted to any evaluation case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Decision = Literal["SAVE", "SKIP"]


@dataclass(frozen=True)
class Signal:
    decision: Decision
    category: str
    rule: str


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


# -- commit logs ------------------------------------------------------------------------------

_CONVENTIONAL = re.compile(
    r"^(feat|fix|docs|style|refactor|perf|test|tests|build|ci|chore|revert|deps|release|hotfix)"
    r"(\([^)\n]{1,40}\))?!?: \S.{0,100}$"  # lower-case types, as the convention writes them
)
_MERGE = re.compile(r"^Merge (branch|pull request|remote-tracking branch|tag|commit) \S.*$")
_REVERT = re.compile(r'^Revert ".+"$')
_ONELINE_LOG = re.compile(r"^[0-9a-f]{7,40} \S.*$")
_DIFFSTAT_TOTAL = re.compile(r"^\s*\d+ files? changed(, \d+ insertions?\(\+\))?(, \d+ deletions?\(-\))?\s*$")
_DIFFSTAT_FILE = re.compile(r"^\s*\S.*\s\|\s+(\d+ [+-]*|Bin .*)$")
# What git and its bots put in a message body besides prose.
_TRAILER = re.compile(
    r"^([A-Z][\w-]+(-[Bb]y)?: .+"  # Signed-off-by: …, Co-authored-by: …, Change-Id: …
    r"|(Closes|Fixes|Resolves|Refs|See|Part of) #\d+.*"
    r"|This reverts commit [0-9a-f]{7,40}\.?"
    r"|Bumps \S+ from \S+ to \S+\.?"
    r"|- (\[.*\]\(.*\)|Commits|Release notes|Changelog).*"
    r"|\(cherry picked from commit [0-9a-f]{7,40}\))$"
)


def _commit_log(lines: list[str]) -> str | None:
    filled = [line for line in lines if line.strip()]
    if all(_ONELINE_LOG.match(line) for line in filled) and len(filled) >= 2:
        return "git log lines"
    if all(_DIFFSTAT_FILE.match(line) or _DIFFSTAT_TOTAL.match(line) for line in filled) and any(
        _DIFFSTAT_TOTAL.match(line) for line in filled
    ):
        return "diffstat"
    subject, body = filled[0], filled[1:]
    body_is_trailers = all(_TRAILER.match(line) for line in body)
    if _MERGE.match(subject) and (not body or body_is_trailers):
        return "merge commit"
    if _REVERT.match(subject) and body_is_trailers:
        return "revert commit"
    if _CONVENTIONAL.match(subject) and body_is_trailers:
        return "conventional commit subject"
    # Any short subject followed by a blank line and nothing but trailers is a commit message.
    if body and len(lines) > 2 and not lines[1].strip() and len(subject) <= 72 and body_is_trailers:
        return "commit message with trailers"
    return None


# -- tracebacks -------------------------------------------------------------------------------

_TRACE_ANCHOR = re.compile(
    r"^(Traceback \(most recent call last\):"
    r"|panic: .+"
    r"|thread '.+' panicked at.*"
    r"|goroutine \d+ \[.+\]:"
    r"|Exception in thread \".+\" .+"
    r"|\s+at .+\(.+:\d+(:\d+)?\)( \{)?"  # Node prints an error's own fields in braces after it
    r"|\s+at \S+ \(.+\)"
    r"|\s+at .+\.java:\d+\)"
    r"|stack backtrace:"
    r"|\s*File \".+\", line \d+(, in .+)?)$"  # a Python traceback pasted without its first line
)
_TRACE_LINE = re.compile(
    r"^(\s*File \".+\", line \d+.*"
    r"|\s+at .+"
    r"|\s{2,}\S.*"  # indented source lines and frames
    r"|\t.+"
    r"|Traceback \(most recent call last\):"
    r"|During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:"
    r"|[\w.]*(Error|Exception|Warning|Interrupt|Exit)(: .*|\(.*\).*)?"
    r"|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+: .+"  # qualified exception names: decimal.InvalidOperation: …
    r"|[{}\]],?"
    r"|panic: .+|\[signal .+\]|goroutine \d+ \[.+\]:|[\w./*()-]+\(.*\)|exit status \d+"
    r"|thread '.+' panicked at.*|stack backtrace:|note: .+|\s*\d+: .+"
    r"|Exception in thread .+|Caused by: .+|\.\.\. \d+ more"
    r"|\s*\^+\s*|DETAIL: .+|HINT: .+|\[SQL: .+\]|\(Background on this error at: .+\)"
    r"|Uncaught.+|node:internal\S+|\S+\.(js|ts|mjs|cjs):\d+)$"
)
_LEAD_IN_MAX = 40


_EXCEPTION_HEAD = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): \S.*$")


def _stacktrace(lines: list[str]) -> str | None:
    filled = [line for line in lines if line.strip()]
    anchors = [i for i, line in enumerate(filled) if _TRACE_ANCHOR.match(line)]
    if not anchors:
        # An exception message with its driver's detail lines (DETAIL:, [SQL: …]) and nothing else.
        if len(filled) >= 2 and _EXCEPTION_HEAD.match(filled[0]) and all(_TRACE_LINE.match(x) for x in filled[1:]):
            return "error dump"
        return None
    body = filled
    # One short lead-in line ("Got this:", "报错了：") may stand before the trace; a longer one
    # can be a conclusion, so the model decides.
    if not _TRACE_LINE.match(filled[0]) and anchors[0] > 0:
        if len(filled[0]) > _LEAD_IN_MAX:
            return None
        body = filled[1:]
    # The first line of a trace is free text often enough (the error message of JS, Rust, Go).
    unexplained = [line for line in body[1:] if not _TRACE_LINE.match(line)]
    # A trace ends with its own lines; prose after it (an explanation, a fix) is for the model.
    if len(unexplained) > 2 or (body and not _TRACE_LINE.match(body[-1]) and len(body) > 1):
        return None
    return "stack trace"


# -- command output ---------------------------------------------------------------------------

# A shell prompt ("$ ", "PS C:\\> ", "me@host:~$ "); not "# " or "> ", which start Markdown.
_PROMPT = re.compile(r"^(\$|PS [A-Z]:\\.*>|\w+@[\w.-]+:\S*[$#]) \S.*$")
_OUTPUT_HEADER = re.compile(
    r"^(=+ test session starts =+"
    r"|platform \w+ -- Python \d.*"
    r"|Collecting \S+|Requirement already satisfied: .+|Successfully installed .+"
    r"|added \d+ packages?.*|up to date, audited \d+ packages?.*"
    r"|\s*Compiling \S+ v\d.*|\s*Finished .+ target\(s\) in .+"
    r"|(ok|FAIL|\?)\s+\t?\S+\t.*"
    r"|On branch \S+|HEAD detached at \S+|位于分支 \S+"
    r"|[A-Z][A-Z ]{2,}( {2,}[A-Z][A-Z ]+){2,})$"  # a table header: three or more CAPS columns
)


# Lines that tools print when something fails or logs: npm's, compilers' and linters' diagnostics, log
# records with a level or a timestamp. A paste made only of such lines is output, whatever it says.
_DIAGNOSTIC_LINE = re.compile(
    r"^(npm (ERR!|error|warn|WARN)( .*)?|yarn (error|warn)( .*)?|pnpm: .+|ERR_PNPM_\w+.*"
    r"|(error|warning)(\[\w+\])?: .+|\s+--> \S+:\d+(:\d+)?|(\s+\d*|\d+)\s*\|.*|\s*= (note|help): .+"
    r"|\S+\.\w+[:(]\d+[:,]\d+\)?:? (- )?(error|warning|Error|Warning)\b.*"
    r"|(E|W|F)\s{2,}.+|FAILED \S+.*|ERROR:? .+|FATAL:? .+|WARN(ING)?:? .+|INFO:? .+|DEBUG:? .+|CRITICAL:? .+"
    r"|\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?\S*\]? .+|\[(ERROR|WARN|WARNING|INFO|DEBUG)\] .+"
    r"|[\w.]*(Error|Exception): .+|exit (code|status) \d+|Process finished with exit code \d+)$"
)


def _command_output(lines: list[str]) -> str | None:
    filled = [line for line in lines if line.strip()]
    if len(filled) < 2:
        return None
    if _PROMPT.match(filled[0]):
        return "shell transcript"
    if _OUTPUT_HEADER.match(filled[0]):
        return "tool output"
    body = filled[1:] if len(filled[0]) <= _LEAD_IN_MAX and not _DIAGNOSTIC_LINE.match(filled[0]) else filled
    if len(body) >= 2 and all(_DIAGNOSTIC_LINE.match(line) for line in body):
        return "error output"
    return None


# -- explicit labels --------------------------------------------------------------------------

_LABELS: dict[str, str] = {
    "lesson": "lesson",
    "lesson learned": "lesson",
    "lessons learned": "lesson",
    "til": "lesson",
    "gotcha": "lesson",
    "note to self": "lesson",
    "教训": "lesson",
    "经验": "lesson",
    "踩坑": "lesson",
    "decision": "decision",
    "decided": "decision",
    "决定": "decision",
    "决策": "decision",
    "correction": "correction",
    "更正": "correction",
    "纠正": "correction",
    "preference": "preference",
    "偏好": "preference",
    "remember": "fact",
    "记住": "fact",
}
# "踩坑记录：…", "经验总结：…": a Chinese label may take a word for "notes" or "summary" before its colon.
_LABEL_WORDS = "|".join(sorted(map(re.escape, _LABELS), key=len, reverse=True))
_LABEL = re.compile(r"^\s*(" + _LABEL_WORDS + r")(记录|总结|笔记|分享)?\s*[:：]\s*\S")


def _explicit_label(text: str) -> str | None:
    match = _LABEL.match(text.casefold())
    return _LABELS[match.group(1)] if match else None


def classify(text: str) -> Signal | None:
    """The certain verdict for this text, or None when its shape leaves the question open."""
    label = _explicit_label(text)
    if label is not None:
        return Signal("SAVE", label, f"labelled as a {label} by its author")
    lines = _lines(text)
    if not lines:
        return None
    for category, rule in (
        ("commit-log", _commit_log(lines)),
        ("stacktrace", _stacktrace(lines)),
        ("output", _command_output(lines)),
    ):
        if rule is not None:
            return Signal("SKIP", category, rule)
    return None


# -- evidence for the arbiter's second look ------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[A-Za-z][\w.+/-]*")
_CODE = re.compile(r"`([^`]+)`")
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$|^\s*$")


def new_values(stored: str, new: str) -> list[str]:
    """Values NEW names that STORED does not: numbers, names (capitalized words inside a sentence),
    code spans and identifiers (words with / _ . or digits). A text that replaces a stored fact
    names what replaces it; one that only retracts it names nothing new."""
    known = stored.casefold()
    found: list[str] = []
    for match in _NUMBER.finditer(new):
        if match.group() not in known:
            found.append(match.group())
    for match in _CODE.finditer(new):
        if match.group(1).casefold() not in known:
            found.append(match.group(1))
    for match in _WORD.finditer(new):
        word = match.group().rstrip(".")
        starts_sentence = bool(_SENTENCE_END.search(new[: match.start()]))
        named = word[0].isupper() and not starts_sentence and word != "I"
        identifier = any(c in word for c in "/_") or (any(c.isdigit() for c in word) and not word.isdigit())
        if (named or identifier) and word.casefold() not in known:
            found.append(word)
    return list(dict.fromkeys(found))


# -- different subjects: a rule the arbiter's candidates pass through ---------------------------------

_VALUE = re.compile(
    r"`[^`]+`"  # a code span
    r"|(?<![\w/.~-])[~.]?/[\w.+/-]*\w"  # an absolute or relative path
    r"|[A-Za-z][\w.+/-]*\w"  # a word (kept only if it is an identifier, below)
    r"|\d+(?:[.,:-]\d+)*"  # a number, a version, a date, a numbered label (0-1)
)


def _values(text: str) -> tuple[set[str], set[str]]:
    """The identifiers (code spans, paths, words with a digit, `_`, `/` or an inner `.`) and the numbers
    a text names, case-folded."""
    identifiers: set[str] = set()
    numbers: set[str] = set()
    for match in _VALUE.finditer(text):
        token = match.group()
        if token[0].isdigit():
            numbers.add(token)
        elif token.startswith("`") or any(c.isdigit() or c in "_/" for c in token) or "." in token.strip("."):
            identifiers.add(token.strip("`").casefold())
    return identifiers, numbers


def distinct_subjects(stored: str, new: str) -> str | None:
    """Why NEW is about another subject than STORED, or None when it may be the same one.

    Two notes of one shape that name different identifiers (another service, path, host, id) and
    differ in at least one more value as well ("service s0x1 listens on port 10001" / "service s0x2
    listens on port 10002") state facts about two things: neither is a rewording of the other nor a
    new version of it. A small model reads such a pair by its shared words and calls it the same
    note or an update. A single changed value (a port, a moved path) is left to the model: that is
    what an update looks like.
    """
    stored_ids, stored_numbers = _values(stored)
    new_ids, new_numbers = _values(new)
    gone, added = stored_ids - new_ids, new_ids - stored_ids
    if not gone or not added:
        return None
    changed = len(gone) + len(added) + len(stored_numbers ^ new_numbers)
    if changed < 4:
        return None
    return f"it names {', '.join(sorted(added))} where the stored note names {', '.join(sorted(gone))}"
