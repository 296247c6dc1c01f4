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


# -- a curated memory: many entities, each with a few varied observations ---------------------------------------

_SYLLABLES = ["or", "ka", "lin", "ve", "dor", "mi", "tas", "quo", "ren", "zu", "bel", "fio", "nak", "sel", "ty", "gar"]
_NOUNS = [
    "ledger",
    "gateway",
    "relay",
    "atlas",
    "harbor",
    "beacon",
    "quill",
    "forge",
    "orbit",
    "prism",
    "vault",
    "spindle",
    "lantern",
    "compass",
    "meadow",
    "anvil",
    "kestrel",
    "juniper",
    "tundra",
    "cobalt",
]
_ROLES = ["api", "worker", "sync", "ui", "cli", "etl", "auth", "billing", "search", "notify", "export", "report"]
_FIRST = [
    "Ana",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Femi",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kemi",
    "Lars",
    "Mei",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Ravi",
    "Sana",
    "Tomas",
    "Uma",
    "Vik",
    "Wen",
    "Yara",
    "Zoe",
]
_LAST = [
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Park",
    "Brennan",
    "Ivanova",
    "Mensah",
    "Ortega",
    "Rossi",
    "Weber",
    "Sato",
    "Costa",
    "Nguyen",
    "Fischer",
    "Abbott",
]
_LIBS = [
    "SQLAlchemy 2",
    "Pydantic v2",
    "httpx",
    "Celery",
    "Alembic",
    "pytest-xdist",
    "React 18",
    "Vite",
    "Zod",
    "Prisma",
    "tokio",
    "serde",
    "Axum",
    "gRPC",
    "Protobuf",
    "OpenTelemetry",
    "Sentry",
    "structlog",
    "uv",
    "Poetry",
    "Terraform",
    "Helm",
    "Kustomize",
    "Argo CD",
    "Redis 7",
    "Kafka",
    "NATS",
    "ClickHouse",
    "DuckDB",
    "PostgreSQL 16",
    "SQLite",
    "MinIO",
    "Vault",
    "Keycloak",
    "Playwright",
    "Storybook",
]
_VERBS_BUG = [
    "leaks file handles",
    "double-counts refunds",
    "drops the last page of results",
    "times out on large uploads",
    "deadlocks under parallel writes",
    "mis-parses ISO week dates",
    "loses the locale on redirect",
    "retries non-idempotent POSTs",
    "caches 404 responses for an hour",
    "breaks on emoji in filenames",
]
_REASONS = [
    "the vendor SDK only supports it",
    "it halved our p95 latency",
    "the team already knew it",
    "licensing of the alternative was unclear",
    "it runs on the old ARM boxes",
    "it has first-class async",
    "the migration tooling is better",
    "security review approved it",
    "it was the cheapest option we tested",
]
_PLACES = ["eu-west-1", "us-east-2", "the Frankfurt rack", "the on-prem cluster", "ap-southeast-1", "the staging VPC"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

# Observation frames per kind of entity. {x} slots are filled per observation; a frame with {value} has a slot a
# later note can contradict (the same frame with another value).
_SERVICE_FRAMES = [
    "written in {lang} and deployed with {deploy}|the code is {lang}; {deploy} ships it"
    "|built with {lang}, released through {deploy}",
    "listens on port {port} behind the internal load balancer|serves HTTP on {port}"
    "|port {port}, only reachable from the VPN",
    "stores its state in {lib}|keeps everything in {lib}, no local disk|persists sessions and jobs to {lib}",
    "owned by {person} since the {quarter} reorg|{person} is the owner; ask them before changing the schema"
    "|maintainer: {person}",
    "its health check is GET /{slug}/healthz and must answer within {ms} ms|readiness probe times out after {ms} ms",
    "nightly job {job} runs at {hour}:00 UTC and takes about {mins} minutes|cron {job} fires at {hour}:00 UTC",
    "known bug: {bug} when more than {n} requests arrive at once|it {bug} (ticket {ticket}); workaround in the runbook",
    "runs in {place} with {n} replicas|deployed to {place}, {n} pods at peak|{n} instances, all in {place}",
    "feature flags live in config/{slug}-flags.yaml, reviewed weekly|toggle {flag} in LaunchDarkly before a release",
    "its on-call rotation is PagerDuty schedule {slug}-primary|pages go to the #{slug}-oncall Slack channel",
    "rate limited to {rps} requests per second per tenant|a tenant gets {rps} req/s before it is throttled with 429",
    "logs go to the {slug} index in OpenSearch, kept {days} days|we keep its traces {days} days in Tempo",
    "depends on {other} for {purpose}|calls {other} to get {purpose}; a timeout there cascades",
    "integration tests need the {lib} container from docker-compose.test.yml|run `make it-{slug}` for the slow tests",
    "the public API is versioned under /v{major}/ and v{old} is frozen|clients must send the X-Api-Version header",
    "the {ticket} incident was caused by a missing index on {column}"
    "|p99 spiked after {ticket}; the fix was a {lib} upgrade",
    "its Grafana dashboard is {slug}-overview; the SLO panel is the one that matters|error budget is {pct}% a month",
    "build takes {mins} minutes on CI; cache the {lang} toolchain to keep it under that|the Docker image is {mb} MB",
]
_PERSON_FRAMES = [
    "prefers reviews as small PRs under {loc} lines|wants PRs split so each stays under {loc} lines",
    "is the expert on {lib} upgrades|knows the {lib} internals better than anyone|ask them about {lib}",
    "works from {tz} and is offline after {hour}:00 local time|based in {tz}; no meetings before {hour}:00",
    "leads the {project} project|tech lead for {project} this half|runs the weekly {project} sync",
    "asked that release notes mention {topic}|insists the changelog lists {topic}",
    "is on parental leave until {month}|out until {month}; {person} covers their reviews",
    "wants flaky tests quarantined, not retried|dislikes mocks in integration tests",
    "reviews every change to the {project} database schema|must approve changes to {column}",
    "is learning {lang} and likes pairing on it|gives the onboarding talk on {topic}",
]
_DECISION_FRAMES = [
    "we chose {lib} over {lib2} because {reason}|{lib} won against {lib2}; {reason}",
    "we decided to drop support for {old_thing} in {month}|{old_thing} is unsupported from {month}",
    "we agreed never to run migrations on {day} afternoons|no deploys after 15:00 on {day}",
    "we keep secrets in {vault_path}, never in .env files|credentials are read from {vault_path} at start",
    "we squash-merge into main and tag releases as v{major}.{minor}.0|release branches are cut every {n} weeks",
    "we pin {lib} to {major}.{minor} until the {project} rewrite lands|{lib} stays at {major}.{minor} for now",
    "we moved the {purpose} code out of {project} into its own package|{purpose} is handled by {other} from now on",
]
_TOPICS = ["breaking API changes", "database migrations", "new environment variables", "dropped endpoints"]
_PURPOSES = ["authentication", "invoice numbers", "search indexing", "email delivery", "currency rates", "audit logs"]
_OLD_THINGS = ["Python 3.9", "Internet Explorer 11", "the v1 webhooks", "CentOS 7 hosts", "the legacy CSV export"]
_TZS = ["Lisbon", "Nairobi", "Tokyo", "Toronto", "Berlin", "Sao Paulo", "Seoul", "Denver"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
_LANGS = ["Go 1.22", "Rust", "Python 3.12", "TypeScript on Node 20", "Kotlin", "Elixir"]
_DEPLOYS = ["Argo CD", "a Helm chart", "Nomad", "plain systemd units", "Fly.io", "GitHub Actions to ECS"]
_REWORD = {
    "listens on port {port} behind the internal load balancer": (
        "port {port} is where it listens, behind the internal LB"
    ),
    "serves HTTP on {port}": "its HTTP port is {port}",
    "owned by {person} since the {quarter} reorg": "{person} has owned it since the {quarter} reorg",
    "stores its state in {lib}": "its state is stored in {lib}",
    "runs in {place} with {n} replicas": "{n} replicas of it run in {place}",
    "leads the {project} project": "is the lead of the {project} project",
    "is the expert on {lib} upgrades": "knows the most about upgrading {lib}",
    "we chose {lib} over {lib2} because {reason}": "{lib} was picked over {lib2}: {reason}",
}


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return f"{rng.choice(_NOUNS)}-{word}" if rng.random() < 0.5 else f"{word}-{rng.choice(_ROLES)}"


def _fill(frame: str, rng: random.Random, entity: str, services: list[str]) -> tuple[str, dict[str, Any]]:
    slug = entity.split(" ")[0].lower()
    values: dict[str, Any] = {
        "lang": rng.choice(_LANGS),
        "deploy": rng.choice(_DEPLOYS),
        "port": rng.randint(3000, 9999),
        "lib": rng.choice(_LIBS),
        "lib2": rng.choice(_LIBS),
        "person": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "quarter": f"Q{rng.randint(1, 4)} {rng.choice([2023, 2024, 2025])}",
        "slug": slug,
        "ms": rng.choice([50, 100, 200, 250, 500, 800]),
        "job": f"{slug}-{rng.choice(['compact', 'reindex', 'backfill', 'prune', 'rollup'])}",
        "hour": rng.randint(0, 23),
        "mins": rng.randint(3, 90),
        "bug": rng.choice(_VERBS_BUG),
        "n": rng.randint(2, 64),
        "place": rng.choice(_PLACES),
        "rps": rng.choice([10, 25, 50, 100, 200, 1000]),
        "days": rng.choice([7, 14, 30, 90]),
        "other": rng.choice(services) if services else "the auth-api",
        "purpose": rng.choice(_PURPOSES),
        "major": rng.randint(1, 9),
        "minor": rng.randint(0, 20),
        "old": rng.randint(0, 3),
        "loc": rng.choice([200, 300, 400, 500]),
        "tz": rng.choice(_TZS),
        "project": rng.choice(services) if services else "atlas",
        "topic": rng.choice(_TOPICS),
        "month": rng.choice(_MONTHS),
        "reason": rng.choice(_REASONS),
        "old_thing": rng.choice(_OLD_THINGS),
        "day": rng.choice(_DAYS),
        "vault_path": f"secret/{slug}/{rng.choice(['prod', 'shared', 'ci'])}",
        "ticket": f"{rng.choice(['OPS', 'INC', 'BUG', 'PLAT'])}-{rng.randint(100, 9999)}",
        "pct": rng.choice([0.1, 0.5, 1, 2]),
        "column": rng.choice(["orders", "users", "events", "invoices"])
        + "."
        + rng.choice(["tenant_id", "created_at", "status"]),
        "flag": f"{slug}_{rng.choice(['new_checkout', 'fast_path', 'v2_parser', 'bulk_mode'])}",
        "mb": rng.randint(40, 900),
    }
    if values["other"] == entity and len(services) > 1:
        values["other"] = services[-2] if services[-1] == entity else services[-1]
    return frame.format(**values), values


def curated(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(entity, observation) pairs as a team's curated memory looks: many entities (services, people,
    decisions), each with a few varied observations (about 6); about 2% exact repeats (which server-memory
    itself drops), 2% rewordings of an earlier observation, 1.5% later contradictions (the same fact with
    another value, said as a change), 0.5% holding a credential. No two facts are made alike by construction
    beyond those."""
    rng = random.Random(seed)
    made: list[tuple[str, str]] = []
    said: list[tuple[str, str, dict[str, Any]]] = []  # (entity, frame, values)
    services: list[str] = []
    open_entities: list[tuple[str, list[str]]] = []
    while len(made) < count:
        roll = rng.random()
        if made and roll < 0.02:
            made.append(rng.choice(made))
            continue
        if said and roll < 0.04:
            entity, frame, values = rng.choice(said)
            reworded = _REWORD.get(frame)
            made.append((entity, reworded.format(**values) if reworded else f"note: {frame.format(**values)}"))
            continue
        if said and roll < 0.055:
            entity, frame, values = rng.choice(said)
            changed = {
                **values,
                "port": rng.randint(3000, 9999),
                "person": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "lib": rng.choice(_LIBS),
                "n": rng.randint(2, 64),
                "place": rng.choice(_PLACES),
                "rps": rng.choice([10, 25, 50, 100, 200, 1000]),
                "ms": rng.choice([50, 100, 200, 250, 500, 800]),
            }
            made.append((entity, "update: " + frame.format(**changed) + " now"))
            continue
        if roll < 0.06:
            made.append((rng.choice(services) if services else "ops", f"the deploy token is {fake_credential(rng)}"))
            continue
        if not open_entities or rng.random() < 0.17:
            kind = rng.random()
            if kind < 0.6:
                entity, frames = _name(rng), _SERVICE_FRAMES
                services.append(entity)
            elif kind < 0.85:
                entity, frames = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", _PERSON_FRAMES
            else:
                entity, frames = f"decisions {rng.choice(services) if services else 'platform'}", _DECISION_FRAMES
            chosen = [rng.choice(frame.split("|")) for frame in frames]
            open_entities.append((entity, rng.sample(chosen, min(len(chosen), rng.randint(3, 10)))))
            if len(open_entities) > 8:
                open_entities.pop(0)
        index = rng.randrange(len(open_entities))
        entity, frames = open_entities[index]
        if not frames:
            open_entities.pop(index)
            continue
        frame = frames.pop()
        text, values = _fill(frame, rng, entity, services)
        said.append((entity, frame, values))
        made.append((entity, text))
    return made


async def drive_server_memory(
    out: Path, count: int, relations: int, node_modules: Path | None, *, templates: bool = False
) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "MEMORY_FILE_PATH": str(out.absolute())}
    if node_modules is not None:
        script = node_modules / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
        params = StdioServerParameters(command="node", args=[str(script)], env=env)
    else:
        params = StdioServerParameters(command="npx", args=["-y", "@modelcontextprotocol/server-memory"], env=env)
    pairs = notes(count) if templates else curated(count)
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
    parser.add_argument(
        "--templates",
        action="store_true",
        help="server-memory: the ten-template notes of a few projects (near neighbours by construction) instead of "
        "a curated memory of many entities",
    )
    parser.add_argument("--node-modules", type=Path, help="a node_modules holding @modelcontextprotocol/server-memory")
    args = parser.parse_args(argv)
    if args.tool == "server-memory":
        asyncio.run(
            drive_server_memory(args.out, args.count, args.relations, args.node_modules, templates=args.templates)
        )
    else:
        make_mcp_memory_service(args.out, args.count)
    print(json.dumps({"made": str(args.out), "tool": args.tool, "count": args.count}), file=sys.stderr)


if __name__ == "__main__":
    main()
