"""`cerebellum-mcp purge`: forgetting for good, on SQLite and on PostgreSQL.

After the command returns, a forgotten seed's text, an earlier version's text, a skipped text and the forgotten
seed's vector are in no file of a SQLite store (the database, its WAL and shared-memory files, read as bytes; the
full-text and trigram indexes asked too) and in no table of a PostgreSQL one; the purge itself is recorded as an
operation that counts what went and quotes none of it. Without a terminal it asks for --yes, and on a terminal it
purges only when told 'yes'.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from seeds import open_store
from server.cli.main import main

WORD = "quokkafjord"
"""In every purged text, and in nothing kept."""
FORGOTTEN = f"The {WORD} deploy key rotates every Tuesday at noon."
EARLIER = f"Old note: {WORD} was the release codename."
SKIPPED = f"ok thanks, {WORD}!"
VECTOR = [0.1234567, -0.7654321, 0.3141592, 0.2718281]
"""The forgotten seed's vector: its float32 bytes are looked for in the files too."""
KEPT = "The staging database listens on port 5433."


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # a sentence on one line


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the answer the person types."""

    def isatty(self) -> bool:
        return True


def fill(location: str) -> int:
    """A store holding each kind of purged text beside a kept seed; the id of the seed to forget."""
    store = open_store(location)
    try:
        store.bind_embedder("e.gguf", 4)
        store.add("p", KEPT, [1.0, 0.0, 0.0, 0.0])
        renamed = store.add("q", EARLIER, [0.0, 1.0, 0.0, 0.0])
        store.update(renamed.id, "The release has no codename any more.", [0.0, 1.0, 1.0, 0.0], reason="renamed")
        skipped = store.receive("p", SKIPPED)
        store.skip(skipped.id, "chatter")
        return store.add("p", FORGOTTEN, VECTOR).id
    finally:
        store.close()


def sqlite_traces(location: str) -> list[str]:
    """Where the purged word or vector still is in a SQLite store: raw bytes of every file, and the indexes."""
    raw = b"".join(path.read_bytes() for path in Path(location).parent.glob(Path(location).name + "*"))
    traces = [
        what for what, needle in (("word", WORD.encode()), ("vector", struct.pack("<4f", *VECTOR))) if needle in raw
    ]
    import sqlite3

    conn = sqlite3.connect(location)
    try:
        # Terms in the full-text indexes can be prefix-compressed in their pages: ask the indexes themselves.
        for index in ("seeds_fts", "inbox_fts"):
            conn.execute(f"CREATE VIRTUAL TABLE temp.{index}_terms USING fts5vocab(main, {index}, row)")
            if conn.execute(f"SELECT 1 FROM temp.{index}_terms WHERE term LIKE '%quokka%'").fetchone():
                traces.append(index)
        for index in ("seeds_cjk", "inbox_cjk"):
            conn.execute(f"CREATE VIRTUAL TABLE temp.{index}_terms USING fts5vocab(main, {index}, row)")
            if conn.execute(f"SELECT 1 FROM temp.{index}_terms WHERE term IN ('kaf', 'afj', 'fjo')").fetchone():
                traces.append(index)
    finally:
        conn.close()
    return traces


def postgres_traces(location: str) -> list[str]:
    """The tables of a PostgreSQL store that still hold the purged word or vector, every row read as text."""
    import psycopg
    from psycopg import sql

    traces: list[str] = []
    with psycopg.connect(location) as conn:
        tables = [
            str(row[0])
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        assert {"seeds", "seed_history", "operations", "inbox"} <= set(tables)
        for table in tables:
            query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            for (row,) in conn.execute(query).fetchall():
                if WORD in str(row) or "0.1234567" in str(row):
                    traces.append(table)
                    break
    return traces


def traces(location: str) -> list[str]:
    return postgres_traces(location) if location.startswith("postgresql") else sqlite_traces(location)


def test_purge_leaves_no_trace_of_the_forgotten_texts_and_records_itself(
    engine_location: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = fill(engine_location)
    capsys.readouterr()
    main(["forget", str(gone), "--db", engine_location])
    forget_op = capsys.readouterr().out.split("Operation ", 1)[1].split(";", 1)[0]
    assert traces(engine_location)  # forgotten is not gone: the history keeps it (and the check can see it)

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, and no --yes
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(["purge", "--db", engine_location])
    message = str(refused.value.code)
    assert "stdin is not" in message and "--yes" in message and "Nothing was purged" in message
    assert "2 recorded operations with 2 earlier versions" in message and "1 skipped texts" in message
    assert WORD not in message and capsys.readouterr().out == ""

    main(["purge", "--yes", "--db", engine_location])
    out = capsys.readouterr().out
    assert (
        "Purged 2 operations with 2 earlier versions of seeds, 0 recorded decisions and 1 skipped texts in every scope"
        in out
    )
    assert WORD not in out
    assert traces(engine_location) == []

    store = open_store(engine_location)
    try:
        (purge,) = store.operations()
        assert purge.kind == "purge" and purge.scope == "*" and f"Recorded as operation {purge.id}" in out
        assert "2 operations, 2 earlier versions of seeds and 1 skipped texts" in purge.reason
        assert WORD not in purge.reason and purge.trigger_text is None
        assert [seed.text for seed in store.list_seeds()] == [KEPT, "The release has no codename any more."]
        assert store.history(gone) == [] and store.inbox("skipped") == []
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    assert "No operation with id" in run_fails(capsys, ["undo", forget_op, "--db", engine_location])
    assert "nothing to undo" in run_fails(capsys, ["undo", purge.id, "--db", engine_location])
    main(["purge", "--yes", "--db", engine_location])  # a purge's record stays: every purge remains on record
    assert "Nothing to purge in every scope" in capsys.readouterr().out
    store = open_store(engine_location)
    try:
        assert [operation.id for operation in store.operations()] == [purge.id]
    finally:
        store.close()


def run_fails(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as failed:
        main(argv)
    assert failed.value.code not in (0, None) and capsys.readouterr().out == ""
    return str(failed.value.code)


def test_purge_on_a_terminal_asks_and_goes_on_only_on_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    location = str(tmp_path / "seeds.db")
    gone = fill(location)
    main(["forget", str(gone), "--db", location])

    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    message = run_fails(capsys, ["purge", "--db", location, "--scope", "p"])
    assert "not confirmed" in message and "Nothing was purged" in message
    store = open_store(location)
    assert store.history(gone) != []
    store.close()

    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    capsys.readouterr()
    main(["purge", "--db", location, "--scope", "p", "--before", "1d"])  # none of it is a day old
    assert "Nothing to purge in scope 'p'" in capsys.readouterr().out

    main(["purge", "--db", location, "--scope", "p"])
    captured = capsys.readouterr()
    assert "for good" in captured.err and "Type 'yes'" in captured.err  # the question, on stderr
    assert (
        "Purged 1 operations with 1 earlier versions of seeds, 0 recorded decisions and 1 skipped texts in scope 'p'"
        in captured.out
    )
    store = open_store(location)
    try:
        assert store.history(gone) == [] and len(store.operations("q")) == 1  # scope q's history is kept
        (purge,) = store.operations("p")
        assert purge.kind == "purge" and "scope 'p'" in purge.reason
    finally:
        store.close()
