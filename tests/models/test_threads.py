"""Threads by load: the cerebellum runs on every core the machine leaves free, and on one when it is busy."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.models import threads
from server.models.cerebellum import Cerebellum
from server.settings import Settings

BURN = "import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass\n"


def write_proc(root: Path, *, total_busy: int, idle: int, own: int) -> None:
    """A /proc with the two files ByLoad reads: the machine's tick counters and this process's own."""
    (root / "self").mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(f"cpu  {total_busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")
    # pid (comm with a space) state ppid ... field 14 utime, 15 stime
    fields = ["S", *["0"] * 10, str(own), "0", *["0"] * 10]
    (root / "self" / "stat").write_text(f"123 (python x) {' '.join(fields)}\n")


def test_other_programs_load_is_left_to_them_and_our_own_is_not_counted(tmp_path: Path) -> None:
    write_proc(tmp_path, total_busy=0, idle=0, own=0)
    choose = threads.ByLoad(proc=tmp_path)
    choose.close()  # samples are taken by hand below
    cores = choose.cores
    if cores < 2:
        pytest.skip("this machine has one core: there is nothing to choose")
    # One second of every core: 100 ticks a core. Other programs used one core's worth of it.
    write_proc(tmp_path, total_busy=100, idle=100 * cores - 100, own=0)
    choose._sample()  # pyright: ignore[reportPrivateUsage]
    assert choose.others_busy() == pytest.approx(1.0)
    assert choose() == cores - 1
    # The same busy ticks, but they were this process's own (its decision): every core is free.
    write_proc(tmp_path, total_busy=200, idle=200 * cores - 200, own=200)
    choose._samples.popleft()  # pyright: ignore[reportPrivateUsage]
    choose._sample()  # pyright: ignore[reportPrivateUsage]
    assert choose.others_busy() == pytest.approx(0.0)
    assert choose() == cores
    # Others at a fifth of a core (an idle desktop) still leave every core; never fewer than one thread.
    write_proc(tmp_path, total_busy=220, idle=300 * cores - 220, own=200)
    choose._samples.popleft()  # pyright: ignore[reportPrivateUsage]
    choose._sample()  # pyright: ignore[reportPrivateUsage]
    assert choose() == cores
    write_proc(tmp_path, total_busy=220 + 100 * cores, idle=300 * cores - 220, own=200)
    choose._samples.popleft()  # pyright: ignore[reportPrivateUsage]
    choose._sample()  # pyright: ignore[reportPrivateUsage]
    assert choose() == 1


def test_without_proc_the_load_average_decides(tmp_path: Path) -> None:
    choose = threads.ByLoad(proc=tmp_path / "missing")
    assert not choose.readable
    assert 1 <= choose() <= choose.cores


def test_a_fixed_setting_is_used_as_it_is() -> None:
    assert threads.chooser(3)() == 3
    assert isinstance(threads.chooser(None), threads.ByLoad)
    assert Settings().threads is None
    assert Settings(threads=2).threads == 2


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@pytest.mark.slow
def test_with_every_core_busy_the_cerebellum_runs_on_one_thread() -> None:
    choose = threads.ByLoad()
    try:
        if not choose.readable:
            pytest.skip("no /proc/stat here: the load average stands in, and it lags by design")
        if choose.cores < 2:
            pytest.skip("this machine has one core: there is nothing to choose")
        with busy_cores(choose.cores):
            time.sleep(threads.SAMPLE_SECONDS * (threads.WINDOW_SAMPLES + 2))
            assert choose.others_busy() > choose.cores - 1
            assert choose() == 1
    finally:
        choose.close()


def test_changing_threads_between_calls_changes_the_cost_not_the_answer(smollm2: Path) -> None:
    counts = iter([1, 2] * 50)
    switching = Cerebellum(smollm2, threads=lambda: next(counts), context_size=2048, arbiter="pairwise")
    steady = Cerebellum(smollm2, threads=2, context_size=2048, arbiter="pairwise")
    try:
        texts = ["Lesson: run migrations before deploying.", "thanks!", "I prefer tabs over spaces in Go files."]
        seen: set[int] = set()
        for text in texts:
            assert switching.memorize(text).category == steady.memorize(text).category
            seen.add(switching.threads)
        assert seen == {1, 2}
    finally:
        switching.close()
        steady.close()
