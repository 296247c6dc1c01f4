"""The default stdio launch: every client attaches to one shared local service that holds the models.

Real processes throughout: `cerebellum-mcp` launched over stdio by the SDK's client (as Claude
Desktop or Cursor launch it), the service it starts on its unix socket, SmolLM2 as both models.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import ListRootsResult, Root

from eval.clients import processes_marked
from seeds import open_store
from server.pipeline.results import RecallResult, RememberResult
from server.rules.scopes import scope_from_root
from server.settings import Settings
from server.transport.service import (
    ServicePlace,
    ServiceStatus,
    ensure_service,
    process_alive,
    service_place,
    service_status,
    stop_service,
)
from tests.conftest import CHILD_ENV
from tests.protocol.test_mcp import cerebellum_command, structured

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def service_places(directory: Path) -> list[ServicePlace]:
    return [
        ServicePlace(
            key=sock.stem,
            directory=directory,
            socket=sock,
            lock=directory / f"{sock.stem}.lock",
            start_lock=directory / f"{sock.stem}.start",
            log=directory / f"{sock.stem}.log",
        )
        for sock in sorted(directory.glob("*.sock"))
    ]


def running(directory: Path) -> list[ServiceStatus]:
    return [status for place in service_places(directory) if (status := service_status(place)) is not None]


def maps_file(pid: int, path: Path) -> bool:
    try:
        return str(path.resolve()) in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.fixture
def service_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "svc"
    yield directory
    # No service outlives its test, whatever the test did.
    for status in running(directory) if directory.exists() else []:
        os.kill(status.pid, signal.SIGKILL)
    for pid in processes_marked("CEREBELLUM_SERVICE_DIR", str(directory)):
        os.kill(pid, signal.SIGKILL)


def attached_env(tmp_path: Path, smollm2: Path, service_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **CHILD_ENV,
        "CEREBELLUM_STANDALONE": "false",
        "CEREBELLUM_SERVICE_DIR": str(service_dir),
        "CEREBELLUM_DB": str(tmp_path / "seeds.db"),
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_OFFLINE": "true",
        "CEREBELLUM_DEADLINE_SECONDS": "120",
        **extra,
    }


def launch(env: dict[str, str], *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=cerebellum_command(), args=list(args), env=env)


def roots(uri: str) -> Any:
    async def callback(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri, name="project")])  # pyright: ignore[reportArgumentType]

    return callback


async def remember(client: Client, text: str, **args: Any) -> RememberResult:
    return RememberResult.model_validate(structured(await client.call_tool("remember", {"text": text, **args})))


async def recall(client: Client, query: str, **args: Any) -> RecallResult:
    return RecallResult.model_validate(structured(await client.call_tool("recall", {"query": query, **args})))


async def test_two_stdio_clients_share_one_service_and_keep_their_own_scopes(
    tmp_path: Path, smollm2: Path, service_dir: Path
) -> None:
    env = attached_env(tmp_path, smollm2, service_dir)
    alpha = "file:///home/me/src/alpha"
    beta = tmp_path / "beta"  # a client with no roots (Claude Code on 2026-07-28) starts its launch here
    beta.mkdir()
    in_beta = StdioServerParameters(command=cerebellum_command(), args=[], env=env, cwd=beta)
    with anyio.fail_after(240):
        async with (
            Client(launch(env), mode="legacy", list_roots_callback=roots(alpha), read_timeout_seconds=180) as first,
            Client(launch(env, "--scope", "pinned"), mode="legacy", read_timeout_seconds=180) as second,
            Client(in_beta, read_timeout_seconds=180) as third,
        ):
            one = await remember(first, "Lesson: the alpha API listens on port 5433, not 5432.")
            two = await remember(second, "Lesson: the pinned project deploys with make release.")
            assert one.status == "saved" and one.seed is not None and one.seed.scope == scope_from_root(alpha)
            assert two.status == "saved" and two.seed is not None and two.seed.scope == "pinned"
            # The launch's own folder names the scope, not the service's (started from another folder).
            three = await remember(third, "Lesson: the beta project keeps its fixtures in tests/data.")
            assert three.seed is not None and three.seed.scope == scope_from_root(beta.as_uri())
            here = await recall(third, "where are the beta fixtures")
            assert here.scope == three.seed.scope and here.scope_source == "launch-folder"
            assert [hit.id for hit in here.hits] == [three.seed.id]

            # Each reads what the other wrote, through the one service.
            found = await recall(second, "which port does the alpha API listen on", scope=scope_from_root(alpha))
            assert [hit.id for hit in found.hits][:1] == [one.seed.id]
            again = await remember(first, "Lesson: the pinned project deploys with make release.", scope="pinned")
            assert again.status == "duplicate" and again.seed is not None and again.seed.id == two.seed.id

            services = running(service_dir)
            assert len(services) == 1, services
            status = services[0]
            assert status.clients == 3 and status.models == "loaded"
            # Four processes (three relays, one service); only the service holds the model file.
            pids = processes_marked("CEREBELLUM_SERVICE_DIR", str(service_dir))
            assert status.pid in pids and len(pids) == 4, pids
            assert [pid for pid in pids if maps_file(pid, smollm2)] == [status.pid]


async def test_a_killed_service_is_started_again_and_nothing_acknowledged_is_lost(
    tmp_path: Path, smollm2: Path, service_dir: Path
) -> None:
    env = attached_env(tmp_path, smollm2, service_dir)
    with anyio.fail_after(240):
        async with Client(launch(env, "--scope", "crash"), read_timeout_seconds=180) as client:
            saved = await remember(client, "Lesson: run the migrations before the integration tests.")
            assert saved.status == "saved" and saved.seed is not None
            (before,) = running(service_dir)
            os.kill(before.pid, signal.SIGKILL)
            while process_alive(before.pid):
                await anyio.sleep(0.05)

            # The next call starts a new service and is answered; what was saved is there.
            found = await recall(client, "migrations before the integration tests")
            assert saved.seed.id in [hit.id for hit in found.hits]
            more = await remember(client, "Lesson: the staging database is reset every Sunday night.")
            assert more.status in ("saved", "updated", "duplicate")  # decided (SmolLM2's arbiter may call it a repeat)
            (after,) = running(service_dir)
            assert after.pid != before.pid


async def test_the_service_stays_while_a_client_is_attached_and_exits_when_idle(
    tmp_path: Path, smollm2: Path, service_dir: Path
) -> None:
    env = attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_SERVICE_IDLE_SECONDS="1")
    with anyio.fail_after(240):
        async with Client(launch(env, "--scope", "idle"), read_timeout_seconds=180) as client:
            assert (await remember(client, "Lesson: the cache is warmed at 6am.")).status == "saved"
            (status,) = running(service_dir)
            await anyio.sleep(3)  # longer than the idle time: an attached client keeps it
            assert process_alive(status.pid)
        deadline = time.monotonic() + 60
        while process_alive(status.pid) and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        assert not process_alive(status.pid), "the service did not exit once idle"
        assert running(service_dir) == [] and not list(service_dir.glob("*.sock"))

        # The next launch starts a new one over the same store.
        async with Client(launch(env, "--scope", "idle"), read_timeout_seconds=180) as client:
            found = await recall(client, "when is the cache warmed")
            assert found.hits and found.hits[0].text == "Lesson: the cache is warmed at 6am."


async def test_standalone_serves_from_its_own_process(tmp_path: Path, smollm2: Path, service_dir: Path) -> None:
    env = attached_env(tmp_path, smollm2, service_dir)
    with anyio.fail_after(240):
        async with Client(launch(env, "--standalone", "--scope", "solo"), read_timeout_seconds=180) as client:
            assert (await remember(client, "Lesson: the solo tool runs alone.")).status == "saved"
            assert not service_dir.exists() or not list(service_dir.glob("*.sock"))


def test_launches_at_the_same_moment_start_one_service(
    tmp_path: Path, smollm2: Path, service_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in attached_env(tmp_path, smollm2, service_dir).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    statuses: list[ServiceStatus] = []
    threads = [threading.Thread(target=lambda: statuses.append(ensure_service(settings))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(statuses) == 3 and len({status.pid for status in statuses}) == 1
    assert len(running(service_dir)) == 1
    # Other models are another service: a client never gets decisions from models it did not ask for.
    assert service_place(settings.model_copy(update={"candidates": 3})).key != service_place(settings).key
    assert service_place(settings.model_copy(update={"scope": "other"})).key == service_place(settings).key
    # What a user asks: is it running, and stop it.
    env = attached_env(tmp_path, smollm2, service_dir, COLUMNS="250")
    shown = subprocess.run([cerebellum_command(), "service"], env=env, capture_output=True, text=True, check=True)
    assert f"running: pid {statuses[0].pid}" in shown.stdout and "0 client(s) attached" in shown.stdout
    stats = subprocess.run([cerebellum_command(), "stats"], env=env, capture_output=True, text=True)
    assert f"pid {statuses[0].pid}" in stats.stdout or "There is no seed store" in stats.stderr
    stopped = subprocess.run([cerebellum_command(), "service", "stop"], env=env, capture_output=True, text=True)
    assert stopped.returncode == 0 and f"stopped the shared service (pid {statuses[0].pid})" in stopped.stdout
    assert not process_alive(statuses[0].pid) and running(service_dir) == []
    assert stop_service(settings) is None
    shown = subprocess.run([cerebellum_command(), "service"], env=env, capture_output=True, text=True, check=True)
    assert "not running" in shown.stdout


def test_the_prompt_hook_answers_from_a_warm_service_and_stores_nothing(
    tmp_path: Path, smollm2: Path, service_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from server.cli import hooks
    from server.transport.service import call_service

    project = tmp_path / "shop-api"
    project.mkdir()
    env = attached_env(tmp_path, smollm2, service_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    scope = hooks.hook_scope(settings, str(project))
    assert call_service(settings, "recall", {"query": "x"}) is None  # no service: the hook answers alone
    ensure_service(settings)
    deadline = time.monotonic() + 120
    while (status := running(service_dir)[0]).models != "loaded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.models == "loaded"
    text = "We decided to keep the job queue in Redis, because retries are simpler."
    saved = call_service(settings, "remember", {"text": text, "scope": scope, "force": True})
    assert saved is not None and saved["status"] == "saved"

    # route with write=False classifies and recalls, and stores nothing.
    routed = call_service(settings, "route", {"message": "We deploy on Fridays only.", "scope": scope, "write": False})
    assert routed is not None and routed["write"] is None
    found = call_service(settings, "recall", {"query": "Fridays", "scope": scope})
    assert found is not None and [hit["text"] for hit in found["hits"]] == [text]

    log = next(service_dir.glob("*.log"))
    calls_before = log.read_text().count('"POST /mcp')
    payload = {
        "session_id": "s1",
        "transcript_path": str(project / "t.jsonl"),
        "cwd": str(project),
        "hook_event_name": "UserPromptSubmit",
        "prompt": "What did we decide about the job queue?",
    }
    run = subprocess.run(
        [cerebellum_command(), "hook", "claude-code", "user-prompt", "--budget", "60"],
        input=json.dumps(payload),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "InvalidStateError" not in run.stderr  # the lean client: no asyncio
    context = json.loads(run.stdout)["hookSpecificOutput"]["additionalContext"]
    assert f"seeds://{scope}/1" in context and "Redis" in context
    assert log.read_text().count('"POST /mcp') > calls_before  # it was the service that answered


def test_the_session_end_hook_hands_the_turns_to_the_service_and_loads_no_model(
    tmp_path: Path, smollm2: Path, service_dir: Path
) -> None:
    import json

    from server.cli import hooks
    from tests.cli.test_hooks import GITHUB_TOKEN, SESSION, session_payload, transcript

    project = tmp_path / "proj"
    project.mkdir()
    # SmolLM2's vectors are all alike: its arbiter would merge any two notes. The arbiter is not this test's subject.
    env = attached_env(tmp_path, smollm2, service_dir, CEREBELLUM_CANDIDATE_SIMILARITY="1.0")
    path = transcript(tmp_path / "s1.jsonl", SESSION)
    # No service runs yet: the hook starts one, commits the turns, wakes it, and (--wait) waits for its decisions.
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "server",
            "hook",
            "claude-code",
            "session-end",
            "--wait",
            "--budget",
            "240",
        ],
        input=json.dumps(session_payload(path, project)),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and run.stdout == ""
    assert "2 sent to the shared service: 2 decided, 0 pending" in run.stderr, run.stderr[-2000:]
    assert "llama_cpp" not in run.stderr  # the hook imported no model runtime: the service decided
    (status,) = running(service_dir)
    assert status.models == "loaded"
    scope = hooks.hook_scope(Settings(db=tmp_path / "seeds.db"), str(project))
    store = open_store(tmp_path / "seeds.db")
    try:
        texts = {seed.text for seed in store.list_seeds(scope)}
        left = store.inbox("pending", None, None) + store.inbox("skipped", None, None)
        everything = texts | {received.text for received in left}
    finally:
        store.close()
    # Labelled lessons and decisions pass the gate by rule, whatever SmolLM2 thinks; questions never get in.
    assert texts == {"Lesson: the e2e tests hang unless REDIS_URL is set.", "Decision: the worker retries three times."}
    assert not any("staging database" in t or "What did we decide" in t or GITHUB_TOKEN in t for t in everything)
