"""A server stops within 2 s of SIGTERM while its background work runs (the prompt heads' warm-up, then the
gate's fit): the shared service and `serve --http`, real processes, SmolLM2. What is abandoned goes on
at the next start: the fit from its partial file (tests/models/test_calibration.py), the heads not cached yet
evaluated again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CHILD_ENV

pytestmark = pytest.mark.slow

STOP_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(kind: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    args = ["serve", "--service"] if kind == "service" else ["serve", "--http", str(free_port())]
    with open(log, "ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "server", *args], env=env, stdin=subprocess.DEVNULL, stderr=stderr
        )


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM; seconds to the exit."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return time.monotonic() - sent


def wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 240
    while not ready():
        assert process.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"{what} did not happen: {log.read_text()[-2000:]}"
        time.sleep(0.05)


def server_env(tmp_path: Path, smollm2: Path) -> dict[str, str]:
    return {
        **os.environ,
        **CHILD_ENV,
        "CEREBELLUM_SERVICE_DIR": str(tmp_path / "svc"),
        "CEREBELLUM_DB": str(tmp_path / "seeds.db"),
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_OFFLINE": "true",
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CACHE_DIR": str(tmp_path / "cache"),
        "CEREBELLUM_CALIBRATE_GATE": "true",  # no fit for SmolLM2 is cached or shipped: it runs in the background
        "CEREBELLUM_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:  # none outlives its test, whatever the test did
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("kind", ["service", "http"])
def test_a_server_stops_within_2_s_of_sigterm_while_warming_up(
    kind: str, tmp_path: Path, smollm2: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "server.log"
    process = start(kind, server_env(tmp_path, smollm2), log)
    started.append(process)
    # The prompt heads are evaluated in the background from the moment the models are loaded, then the gate
    # is fitted (a minute or more of SmolLM2's time).
    wait_for(lambda: "memory ready" in log.read_text(), process, log, "the models' load")
    seconds = stop(process)
    text = log.read_text()
    assert seconds < STOP_SECONDS, text[-2000:]
    assert "gate calibrated" not in text, "the background work was over before the server was stopped"
    assert "Traceback" not in text
