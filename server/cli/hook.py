"""`cerebellum-mcp hook claude-code EVENT`: the command Claude Code's hooks run; the hooks' work is in hooks.py.

Kept apart from hooks.py so that building the parser does not import the hooks' rules (every command builds it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, cast

from server.cli.command import Command
from server.settings import Settings

logger = logging.getLogger(__name__)

HOOK_EVENTS = ("session-start", "user-prompt", "pre-compact", "session-end")


def hook_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client", choices=["claude-code"], help="the client that runs the hook")
    parser.add_argument(
        "event",
        choices=list(HOOK_EVENTS),
        help="session-start (SessionStart): print a digest of the project's standing memories; user-prompt "
        "(UserPromptSubmit): print the memories that bear on the prompt; pre-compact (PreCompact) and "
        "session-end (SessionEnd): send the session's new turns to the shared service's gate",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds to answer within, or say nothing (default 5 for session-start, 3 for user-prompt, 45 for "
        "pre-compact and session-end)",
    )
    parser.add_argument(
        "--models",
        action="store_true",
        help="user-prompt: with no warm shared service, load the models (hybrid recall) instead of reading the "
        "store alone; the keyword answer stands if they are not done within the budget",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="pre-compact, session-end: wait (within the budget) until the shared service decided the turns",
    )


def cmd_hook(args: argparse.Namespace, settings: Settings) -> None:
    from server.cli import hooks

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        logger.warning("hook: stdin is not the hook's JSON (%s); nothing done", exc)
        return
    if not isinstance(payload, dict):
        logger.warning("hook: stdin is not a JSON object; nothing done")
        return
    payload = cast(dict[str, Any], payload)
    output: str | None = None
    if args.event == "user-prompt":
        budget = args.budget if args.budget is not None else hooks.USER_PROMPT_BUDGET_SECONDS
        output = hooks.user_prompt_output(payload, settings, budget=budget, models=args.models)
    elif args.event == "session-start":
        budget = args.budget if args.budget is not None else hooks.SESSION_START_BUDGET_SECONDS
        output = hooks.session_start_output(payload, settings, budget=budget)
    else:
        budget = args.budget if args.budget is not None else hooks.HARVEST_BUDGET_SECONDS
        harvest = hooks.harvest(payload, settings, event=args.event, budget=budget, wait=args.wait)
        sys.stderr.write(hooks.harvest_report(harvest, args.event) + "\n")
    if output is not None:
        sys.stdout.write(output + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # work still running past the budget is dropped, not waited for


HOOK = Command("hook", "run as a client hook: read the hook's JSON on stdin, answer on stdout", cmd_hook, hook_options)
