"""PostgreSQL only: what a shared store adds (several server processes on one database) and its clear refusals.

Every other store behaviour is tested on both engines by tests/store/test_store.py and tests/pipeline/test_memory.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from seeds import EmbedderMismatch, StoreError, StoreUnavailable, open_store
from server.pipeline.memory import Memory
from server.settings import Settings
from tests.conftest import CHILD_ENV
from tests.helpers import ROOT, script
from tests.helpers.fakes import HashEmbedder, ScriptedBrain
from tests.helpers.pg_worker import text

WORKER = script("pg_worker")
ENV = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(ROOT)}


def worker(url: str, mode: str, index: int, count: int, lease: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WORKER, url, mode, str(index), str(count), str(lease)],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def test_four_processes_decide_every_text_once(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.bind_embedder("hash-embedder", 64)
    workers = [worker(postgres_url, "remember", index, 25, 60) for index in range(4)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs
    memorized = sum(int(line.split()[1]) for line in outputs)
    assert memorized == 100, outputs  # each text was put to a cerebellum once: no text decided twice
    seeds = store.list_seeds("team")
    assert sorted(s.text for s in seeds) == sorted(text(w, i) for w in range(4) for i in range(25))
    assert store.inbox() == [] and store.integrity_check() == "ok"
    for seed in seeds[:: len(seeds) // 10]:  # recallable, by keyword and by vector
        assert seed.id in {s.id for s, _ in store.keyword_search(seed.text, "team", 100)}
        assert store.search(store.embedding(seed.id), "team", 1)[0].seed.id == seed.id
    store.close()


def test_a_text_whose_decider_was_killed_is_decided_by_another_once_the_lease_ends(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.bind_embedder("hash-embedder", 64)
    waiting = store.receive("team", "The nightly backup runs at 02:00 UTC.")
    hanging = worker(postgres_url, "hang", 0, 1, 2.0)
    assert hanging.stdout is not None and hanging.stdout.readline().strip() == "deciding"
    hanging.send_signal(signal.SIGKILL)
    hanging.wait(timeout=30)
    killed_at = time.monotonic()

    brain = ScriptedBrain()
    other = Memory(store, brain, HashEmbedder(), candidate_similarity=0.0)
    assert other.drain() == []  # the dead process's lease still holds: not taken over yet
    time.sleep(max(0.0, 2.2 - (time.monotonic() - killed_at)))
    (result,) = other.drain()
    assert result.status == "saved" and result.seed is not None and result.seed.text == waiting.text
    assert other.drain() == [] and len(brain.prompts) == 1
    assert [s.text for s in store.list_seeds()] == [waiting.text] and store.inbox() == []
    store.close()


def test_an_unreachable_server_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"postgresql://nobody@/seeds?host={tmp_path}&port=5999"
    with pytest.raises(StoreUnavailable, match=r"Could not connect to PostgreSQL.*Check the URL.*nothing was created"):
        open_store(url)
    assert list(tmp_path.iterdir()) == []


def test_a_url_is_never_taken_for_a_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings(db="postgresql://x").db == "postgresql://x"  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        open_store("postgresql://x")
    with pytest.raises(ValueError, match="neither a file path nor a postgresql:// URL"):
        Settings(db="mysql://x/y")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="neither a file path nor a postgresql:// URL"):
        open_store("mysql://x/y")
    assert list(tmp_path.iterdir()) == []  # no folder named 'postgresql:' or 'mysql:'


def test_a_store_bound_to_another_embedder_is_refused_unchanged(postgres_url: str) -> None:
    first = open_store(postgres_url)
    first.bind_embedder("minilm.gguf", 4)
    first.add("p", "kept", [1.0, 0.0, 0.0, 0.0])
    first.close()
    second = open_store(postgres_url)
    with pytest.raises(EmbedderMismatch, match=r"'minilm\.gguf' \(4 dimensions\).*Point --embedder back"):
        second.bind_embedder("qwen3-embedding.gguf", 8)
    assert second.count() == 1 and second.embedder == ("minilm.gguf", 4)
    stats = second.stats()
    assert stats.engine == "postgresql" and "pgvector 0.8" in stats.engine_version and "HNSW" in stats.vector_index
    second.close()


def test_migrate_copies_a_whole_store_both_ways_and_refuses_a_full_target(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli.main import main

    source = open_store(tmp_path / "seeds.db")
    source.bind_embedder("e.gguf", 4)
    kept = source.add("p", "The staging database listens on port 5433.", [1.0, 0.0, 0.0, 0.0], tags=["db"])
    gone = source.add("q", "We deploy with Fabric.", [0.0, 1.0, 0.0, 0.0])
    _, delete_op = source.delete(gone.id, reason="retracted")
    _, update_op = source.update(kept.id, "The staging database listens on 6543.", [1.0, 1.0, 0.0, 0.0], reason="r")
    waiting = source.receive("p", "Still to be decided.")
    source.set_meta("reconcile_cursor", "7")
    before = (
        source.list_seeds(),
        source.history(kept.id),
        source.operations(),
        source.inbox(),
        source.embedding(kept.id),
    )
    source.close()

    main(["migrate", "--db", str(tmp_path / "seeds.db"), "--to", postgres_url])
    assert "copied 1 seeds (with vectors), 2 operations, 2 history entries, 1 inbox texts" in capsys.readouterr().out
    copy = open_store(postgres_url)
    after = (copy.list_seeds(), copy.history(kept.id), copy.operations(), copy.inbox(), copy.embedding(kept.id))
    assert after == before and copy.get_meta("reconcile_cursor") == "7" and copy.inbox()[0].id == waiting.id
    copy.undo(update_op)  # history came along: the copy can undo what the original did
    copy.undo(delete_op)
    assert copy.get(gone.id) == gone and copy.get(kept.id) == kept
    assert copy.add("p", "new", [0.0, 0.0, 1.0, 0.0]).id > gone.id  # ids go on past the copied ones
    copy.close()

    with pytest.raises(SystemExit, match=r"already holds data.*--force.*Nothing was copied"):
        main(["migrate", "--db", str(tmp_path / "seeds.db"), "--to", postgres_url])
    capsys.readouterr()
    main(["migrate", "--db", postgres_url, "--to", str(tmp_path / "back.db")])  # and back to SQLite
    back = open_store(tmp_path / "back.db")
    assert back.get(gone.id) == gone and back.count() == 3 and back.integrity_check() == "ok"
    back.close()


def test_migrate_force_replaces_what_the_target_held_and_a_failed_copy_keeps_it(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli.main import main

    source = open_store(tmp_path / "seeds.db")
    source.bind_embedder("e.gguf", 4)
    copied = source.add("p", "The staging database listens on port 5433.", [1.0, 0.0, 0.0, 0.0])
    source.close()
    target = open_store(postgres_url)
    target.bind_embedder("e.gguf", 4)
    for i in range(3):
        target.add("old", f"An older note {i}.", [0.0, 1.0, 0.0, float(i)])
    target.receive("old", "An older text still waiting.")
    target.close()

    main(["migrate", "--db", str(tmp_path / "seeds.db"), "--to", postgres_url, "--force"])
    assert "the 3 seeds it held before were replaced" in capsys.readouterr().out
    target = open_store(postgres_url)
    assert target.list_seeds() == [copied] and target.inbox() == [] and target.integrity_check() == "ok"
    assert target.search([1.0, 0.0, 0.0, 0.0], "p", 5)[0].seed == copied
    target.close()

    # A target bound to another embedder is refused even with --force, and keeps everything.
    other = open_store(tmp_path / "other.db")
    other.bind_embedder("other.gguf", 8)
    other.add("x", "Kept.", [1.0] * 8)
    other.close()
    with pytest.raises(SystemExit, match=r"bound to embedder 'other\.gguf'.*Nothing was copied"):
        main(["migrate", "--db", postgres_url, "--to", str(tmp_path / "other.db"), "--force"])
    other = open_store(tmp_path / "other.db")
    assert [s.text for s in other.list_seeds()] == ["Kept."]
    other.close()
    with pytest.raises(SystemExit, match="--to is the store being copied"):
        main(["migrate", "--db", postgres_url, "--to", postgres_url, "--force"])


def test_a_dropped_connection_is_replaced_at_the_next_call(postgres_url: str, postgres_server: str) -> None:
    import psycopg

    store = open_store(postgres_url)
    store.bind_embedder("e", 4)
    kept = store.add("p", "Survives a server-side disconnect.", [1.0, 0.0, 0.0, 0.0])
    with psycopg.connect(postgres_url) as probe:
        database = probe.info.dbname
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    assert row is not None and row[0] >= 1
    # Every connection the store had is gone; the next calls get fresh ones.
    assert store.get(kept.id) == kept
    assert store.add("p", "Written after the disconnect.", [0.0, 1.0, 0.0, 0.0]).id > kept.id
    store.close()


def test_a_long_read_in_one_thread_does_not_hold_up_a_write_in_another(postgres_url: str) -> None:
    import threading

    store = open_store(postgres_url)
    store.bind_embedder("e", 4)
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def slow_reader() -> None:
        with store.snapshot():
            seen.append(store.count())
            inside.set()
            release.wait(30)
            seen.append(store.count())  # its snapshot: the write made meanwhile is not in it

    reader = threading.Thread(target=slow_reader)
    reader.start()
    assert inside.wait(30)
    started = time.monotonic()
    store.add("p", "Written while another thread reads.", [1.0, 0.0, 0.0, 0.0])
    assert time.monotonic() - started < 5  # did not wait for the reader's 30 s
    release.set()
    reader.join(30)
    assert seen == [0, 0] and store.count() == 1
    store.close()


def test_a_database_where_the_user_may_not_create_pgvector_is_refused_with_what_to_do(postgres_server: str) -> None:
    import psycopg

    from tests.conftest import postgres_database

    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS no_vector")
        admin.execute("DROP ROLE IF EXISTS plain_user")
        admin.execute("CREATE ROLE plain_user LOGIN")
        admin.execute("CREATE DATABASE no_vector")  # from template1: no extensions in it
    with psycopg.connect(postgres_database(postgres_server, "no_vector"), autocommit=True) as admin:
        admin.execute("GRANT CREATE ON SCHEMA public TO plain_user")
    url = postgres_database(postgres_server, "no_vector").replace("://postgres:@", "://plain_user:@", 1)
    assert "plain_user" in url
    try:
        with pytest.raises(StoreError, match=r"may not create the pgvector extension.*CREATE EXTENSION vector"):
            open_store(url)
        with psycopg.connect(postgres_database(postgres_server, "no_vector")) as check:
            tables = check.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)  # nothing was created
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("DROP DATABASE no_vector WITH (FORCE)")
            admin.execute("DROP ROLE plain_user")


def test_postgresql_has_every_index_sqlite_has(tmp_path: Path, postgres_url: str) -> None:
    """The engines' schemas are two dialects of one: an index SQLite's migrations make (the console's pages
    need theirs at 100k seeds) is made by PostgreSQL's too, under the same name. One was lost in a move once."""
    lite, pg = open_store(tmp_path / "seeds.db"), open_store(postgres_url)
    try:
        lite_names = {
            str(r[0])
            for r in lite._conn.execute(  # pyright: ignore[reportPrivateUsage]
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            ).fetchall()
        }
        pg_names = {
            str(r[0])
            for r in pg._conn.execute(  # pyright: ignore[reportPrivateUsage]
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            ).fetchall()
        }
    finally:
        lite.close()
        pg.close()
    assert {"seeds_created", "seeds_category_created"} <= lite_names
    assert lite_names - pg_names == set()


def test_a_session_9_database_gains_the_console_indexes_and_the_decisions_log(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 9's code made PostgreSQL stores at schema 1 (its migration 2 was lost): they come up to date."""
    from seeds import postgres_schema
    from seeds.records import Decided

    monkeypatch.setattr("seeds.postgres.MIGRATIONS", postgres_schema.MIGRATIONS[:1])
    old = open_store(postgres_url)
    old.bind_embedder("e.gguf", 3)
    kept = old.add("p", "The API listens on port 8080.", [1.0, 0.0, 0.0])
    old.close()
    monkeypatch.setattr("seeds.postgres.MIGRATIONS", postgres_schema.MIGRATIONS)
    upgraded = open_store(postgres_url)
    try:
        names = {
            str(r[0])
            for r in upgraded._conn.execute(  # pyright: ignore[reportPrivateUsage]
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            ).fetchall()
        }
        assert {"seeds_created", "seeds_category_created", "decisions_seed"} <= names
        assert upgraded.list_seeds("p") == [kept]
        added = upgraded.add("p", "The worker listens on 9090.", [0.0, 1.0, 0.0], decided=Decided("ADD", "worker", 3.0))
        assert [d.seed_id for d in upgraded.decisions_about(added.id)] == [added.id]
    finally:
        upgraded.close()
