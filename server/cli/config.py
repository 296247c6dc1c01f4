"""The commands that set up a client: config (the MCP client's configuration, and Claude Code's hooks) and scope."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from server.cli.command import CliError, Command, err, out
from server.cli.flags import SETTING_FLAGS
from server.settings import PROJECT_HEADER, Settings

CLIENTS = ("claude-desktop", "cursor", "claude-code")


def config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client", choices=CLIENTS, help="the MCP client to configure")
    parser.add_argument("--write", action="store_true", help="write it into the client's config file (with a backup)")
    parser.add_argument("--path", help="the config file to write (default: the client's usual file)")
    parser.add_argument("--name", default="cerebellum", help="the server's name in the client (default cerebellum)")
    parser.add_argument(
        "--hooks",
        action="store_true",
        help="claude-code: write the session-start, user-prompt, pre-compact and session-end hooks into "
        ".claude/settings.json (or --path), merged with the hooks there, with a backup",
    )
    parser.add_argument(
        "--http",
        metavar="URL",
        help="claude-code: register a running `serve --http` at URL (e.g. http://127.0.0.1:8765/mcp) instead of a "
        f"stdio launch, with this folder as the project ({PROJECT_HEADER} header), so it gets this project's scope",
    )


def cmd_config(args: argparse.Namespace, settings: Settings) -> None:
    if args.hooks:
        if args.client != "claude-code":
            raise CliError("--hooks is for claude-code: the other clients have no hooks to write.")
        write_hooks(args)
        return
    command, launch = launch_command(args)
    entry: dict[str, Any] = {"command": command, "args": launch}
    add = ["claude", "mcp", "add", args.name, "--", command, *launch]
    if args.http:
        if args.client != "claude-code":
            raise CliError("--http is for claude-code; for another client, give it the URL as its docs say.")
        if not args.http.startswith(("http://", "https://")):
            raise CliError(f"--http {args.http!r}: give the server's URL, e.g. http://127.0.0.1:8765/mcp")
        project = Path.cwd().absolute().as_uri()  # the project whose .mcp.json this is: its scope, as a launch's
        entry = {"type": "http", "url": args.http, "headers": {PROJECT_HEADER: project}}
        add = ["claude", "mcp", "add", "--transport", "http", args.name, args.http, "--header"]
        add.append(f"{PROJECT_HEADER}: {project}")
    elif args.client == "claude-code":
        entry = {"type": "stdio", **entry, "env": {}}
    path = Path(args.path).expanduser() if args.path else client_config_path(args.client)
    console = out()
    if not args.write:
        if args.client == "claude-code":
            console.print(shlex.join(add), soft_wrap=True)
            console.print(f"\n(or, with --write, into {path} for everyone on the project:)")
        else:
            console.print(f"Add to {path}:")
        console.print_json(json.dumps({"mcpServers": {args.name: entry}}))
        return
    config = read_json_object(path, "mcpServers")
    servers: dict[str, Any] = dict(config.get("mcpServers", {}))
    if servers.get(args.name) == entry:
        console.print(f"{path} already has this '{args.name}' server; nothing written.")
        return
    servers[args.name] = entry
    config["mcpServers"] = servers
    backup = replace_json(path, config)
    kept = f" (previous file kept as {backup})." if backup else "."
    console.print(f"Wrote the '{args.name}' server into {path}{kept}")
    console.print(f"Restart {args.client} to pick it up.")


def launch_command(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The command and arguments a client should run to start this server as configured now."""
    script = Path(sys.argv[0])
    if script.name.startswith("cerebellum-mcp") and script.is_file():
        command = str(script.absolute())
    else:
        beside = Path(sys.executable).parent / ("cerebellum-mcp.exe" if os.name == "nt" else "cerebellum-mcp")
        command = str(beside) if beside.is_file() else ""
    launch: list[str] = [] if command else ["-m", "server"]
    command = command or sys.executable
    for flag in SETTING_FLAGS:
        value = getattr(args, flag, None)
        if value is None:
            continue
        option = "--" + flag.replace("_", "-")
        if flag == "offline":
            launch.append(option) if value else None
            continue
        if flag in ("db", "gate_bank") or (flag in ("model", "embedder") and Path(str(value)).expanduser().exists()):
            value = str(Path(str(value)).expanduser().absolute())  # the client starts it from another folder
        launch += [option, str(value)]
    return command, launch


def client_config_path(client: str) -> Path:
    home = Path.home()
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "claude-code":
        return Path.cwd() / ".mcp.json"  # the project's shared Claude Code configuration
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


def write_hooks(args: argparse.Namespace) -> None:
    from server.cli import hooks

    command, launch = launch_command(args)
    path = Path(args.path).expanduser() if args.path else Path.cwd() / ".claude" / "settings.json"
    config = read_json_object(path, "hooks")
    merged = hooks.merge_hooks(config, hooks.hook_entries([command, *launch]))
    if merged == config:
        out().print(f"{path} already has these hooks; nothing written.")
        return
    backup = replace_json(path, merged)
    kept = f" (previous file kept as {backup})." if backup else "."
    out().print(f"Wrote the SessionStart, UserPromptSubmit, PreCompact and SessionEnd hooks into {path}{kept}")


def read_json_object(path: Path, section: str) -> dict[str, Any]:
    """A client's JSON config file (empty if there is none), refused unless it and its `section` are objects."""
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid JSON ({exc}); fix or move it first. Nothing was written.") from exc
    if not isinstance(loaded, dict):
        raise CliError(f"{path} does not hold a JSON object. Nothing was written.")
    config = cast(dict[str, Any], loaded)
    if not isinstance(config.get(section, {}), dict):
        article = "an" if section[0] in "aeiou" else "a"
        raise CliError(f"{path} has {article} '{section}' that is not a JSON object. Nothing was written.")
    return config


def replace_json(path: Path, config: dict[str, Any]) -> Path | None:
    """Write the file whole (a temporary file renamed over it), keeping the old one as a timestamped backup."""
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.bak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}")
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return backup


def scope_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", help="the project folder (default: this one)")


def cmd_scope(args: argparse.Namespace, settings: Settings) -> None:
    from server.settings import project_folder, project_scope

    folder = args.folder or os.getcwd()
    if args.folder is not None and not Path(folder).is_dir():
        raise CliError(f"{folder} is not a folder; give a project folder, or none for this one.")
    choice = project_scope(settings, folder=project_folder(folder, env={}), folder_source="launch-folder")
    why = choice.reason
    if choice.source == "launch-folder":
        why = f"named after {project_folder(folder, env={})}, as a stdio launch or a hook started there names it"
    sys.stdout.write(choice.scope + "\n")  # whole on one line, for $(cerebellum-mcp scope)
    err().print(f"({why})", markup=False)


SCOPE = Command(
    "scope",
    "print the scope a project folder gets (as the tools and hooks name it), for --scope",
    cmd_scope,
    scope_options,
)
CONFIG = Command(
    "config",
    "print (or write) the MCP client configuration that launches this server",
    cmd_config,
    config_options,
)
