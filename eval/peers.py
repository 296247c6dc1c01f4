"""Source files made by the other memory tools' own software, for the import tests and benchmarks.

    python -m eval.peers server-memory OUT.jsonl [--entities N]   # drives @modelcontextprotocol/server-memory
    /tmp/mms-venv/bin/python eval/peers.py mcp-memory-service OUT.db [--memories N]  # its own storage class

`server-memory` launches the reference server (npm `@modelcontextprotocol/server-memory`, through `npx`, or
the `node_modules` folder given by --node-modules) over stdio with the MCP client and calls its own tools,
create_entities, add_observations and create_relations, so the file is exactly what it writes.
`mcp-memory-service` stores memories through the package's `SqliteVecMemoryStorage` (run with a Python that
has the package; it embeds with its own model), then deletes a few through its own `delete` (a soft delete:
the rows stay, with deleted_at set).

The memories are a coding team's notes, generated from templates with a fixed seed: facts about projects,
some said twice (exact duplicates), some reworded (near duplicates), some later contradicted, and a few
with a credential in them (which must never reach our store).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

PROJECTS = ["shop-api", "billing-lib", "auth-service", "web-client", "data-pipeline", "ops-tools", "search-svc"]
COMPONENTS = ["scheduler", "cache", "importer", "REST layer", "worker pool", "CLI", "migrations", "rate limiter"]
TECH = ["PostgreSQL 16", "Redis 7", "SQLite", "Kafka", "RabbitMQ", "gRPC", "FastAPI", "Go 1.22", "Rust", "Node 20"]
CI = ["GitHub Actions", "GitLab CI", "Buildkite", "Jenkins"]
PEOPLE = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana"]
TEMPLATES = [
    "the {component} uses {tech}",
    "the {component} listens on port {port}",
    "deploys go out through {ci} on {day}",
    "{person} owns the {component}",
    "run the {component} tests with `make test-{slug}`",
    "the {component} must stay under {ms} ms per request",
    "never run the {component} migrations on a Friday",
    "the {component} reads its settings from config/{slug}.toml",
    "we chose {tech} for the {component} because of its tooling",
    "the {component} retries {n} times with exponential backoff",
]
REWORDINGS = {
    "the {component} uses {tech}": "the {component} is built on {tech}",
    "{person} owns the {component}": "the {component} is owned by {person}",
    "the {component} listens on port {port}": "port {port} is where the {component} listens",
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday"]


def fake_credential(rng: random.Random) -> str:
    """A credential shaped like a GitHub token (made at run time: no token-shaped string is committed)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "ghp" + "_" + "".join(rng.choice(alphabet) for _ in range(36))


def notes(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(entity, observation) pairs: mostly distinct facts, ~5% exact repeats, ~5% rewordings, ~2% later
    contradictions (the same slot with another value), ~1% holding a credential."""
    rng = random.Random(seed)
    made: list[tuple[str, str]] = []
    slots: list[tuple[str, str, dict[str, Any]]] = []
    while len(made) < count:
        roll = rng.random()
        if made and roll < 0.05:
            made.append(rng.choice(made))
            continue
        if slots and roll < 0.10:
            entity, template, values = rng.choice(slots)
            made.append((entity, REWORDINGS.get(template, template).format(**values)))
            continue
        if slots and roll < 0.12:
            entity, template, values = rng.choice(slots)
            changed = {**values, "tech": rng.choice(TECH), "port": rng.randint(3000, 9999), "ci": rng.choice(CI)}
            made.append((entity, "as of this quarter, " + template.format(**changed)))
            continue
        if roll < 0.13:
            made.append((rng.choice(PROJECTS), f"the deploy token is {fake_credential(rng)}"))
            continue
        entity = f"{rng.choice(PROJECTS)}"
        component = rng.choice(COMPONENTS)
        values: dict[str, Any] = {
            "component": f"{component} {rng.randint(1, 400)}" if count > 200 else component,
            "tech": rng.choice(TECH),
            "port": rng.randint(3000, 9999),
            "ci": rng.choice(CI),
            "day": rng.choice(DAYS),
            "person": rng.choice(PEOPLE),
            "ms": rng.choice([50, 100, 200, 500]),
            "n": rng.randint(2, 6),
        }
        values["slug"] = str(values["component"]).replace(" ", "-").lower()
        template = rng.choice(TEMPLATES)
        slots.append((entity, template, values))
        made.append((entity, template.format(**values)))
    return made


async def drive_server_memory(out: Path, count: int, relations: int, node_modules: Path | None) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "MEMORY_FILE_PATH": str(out.absolute())}
    if node_modules is not None:
        script = node_modules / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
        params = StdioServerParameters(command="node", args=[str(script)], env=env)
    else:
        params = StdioServerParameters(command="npx", args=["-y", "@modelcontextprotocol/server-memory"], env=env)
    pairs = notes(count)
    async with Client(params, read_timeout_seconds=600) as client:
        entities = sorted({entity for entity, _ in pairs})
        await client.call_tool(
            "create_entities",
            {"entities": [{"name": e, "entityType": "project", "observations": []} for e in entities]},
        )
        # add_observations refuses an observation its entity already has: the repeats are sent once.
        batch: dict[str, list[str]] = {}
        for entity, observation in pairs:
            batch.setdefault(entity, []).append(observation)
        await client.call_tool(
            "add_observations",
            {"observations": [{"entityName": e, "contents": list(dict.fromkeys(o))} for e, o in batch.items()]},
        )
        rng = random.Random(11)
        links = [
            {"from": a, "to": b, "relationType": rng.choice(["depends_on", "calls", "publishes_to"])}
            for a, b in (rng.sample(entities, 2) for _ in range(relations))
        ]
        await client.call_tool("create_relations", {"relations": links})


def make_mcp_memory_service(out: Path, count: int) -> None:  # pragma: no cover - runs in the peer's own venv
    import sqlite3

    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        # This Python's sqlite3 can't load extensions (sqlite-vec): the same SQLite, bundled with loading
        # allowed (pip install sqlean.py), stands in for the module. The peer's code runs unchanged.
        import sqlean  # pyright: ignore[reportMissingImports]

        sys.modules["sqlite3"] = sqlean
    from mcp_memory_service.models.memory import Memory  # pyright: ignore[reportMissingImports]
    from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage  # pyright: ignore[reportMissingImports]
    from mcp_memory_service.sync.exporter import MemoryExporter  # pyright: ignore[reportMissingImports]
    from mcp_memory_service.utils.hashing import generate_content_hash  # pyright: ignore[reportMissingImports]

    async def run() -> None:
        storage = SqliteVecMemoryStorage(str(out))
        await storage.initialize()
        stored: list[str] = []
        for index, (entity, observation) in enumerate(notes(count, seed=9)):
            text = f"{entity}: {observation}"
            memory = Memory(
                content=text,
                content_hash=generate_content_hash(text),
                tags=[entity, "import-test"],
                memory_type="decision" if "chose" in observation else "note",
                metadata={"n": index},
            )
            ok, _ = await storage.store(memory)
            if ok:
                stored.append(memory.content_hash)
        for content_hash in stored[:: max(len(stored) // 5, 1)][:5]:
            await storage.delete(content_hash)
        # Its own exporter (`memory export`) writes the JSON export beside the database.
        await MemoryExporter(storage).export_to_json(out.with_suffix(".json"))
        await storage.close()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tool", choices=["server-memory", "mcp-memory-service"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=300, help="memories to make")
    parser.add_argument("--relations", type=int, default=20)
    parser.add_argument("--node-modules", type=Path, help="a node_modules holding @modelcontextprotocol/server-memory")
    args = parser.parse_args(argv)
    if args.tool == "server-memory":
        asyncio.run(drive_server_memory(args.out, args.count, args.relations, args.node_modules))
    else:
        make_mcp_memory_service(args.out, args.count)
    print(json.dumps({"made": str(args.out), "tool": args.tool, "count": args.count}), file=sys.stderr)


if __name__ == "__main__":
    main()
