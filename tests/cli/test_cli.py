"""The `cerebellum-mcp` commands for people, on real SQLite files with sqlite-vec and the real SmolLM2 GGUF.

Most run in process through `main()` (the same code the console script runs) so their output can be
read; the console script itself is run for `download`, `serve` and a few exit codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seeds import SeedStore, open_store
from server.cli.main import main
from server.models.cerebellum import Cerebellum
from server.models.embedder import Embedder
from server.pipeline.memory import Memory
from server.pipeline.store_ops import receive
from server.rules.scopes import scope_from_root
from tests.conftest import CHILD_ENV


@pytest.fixture
def env(tmp_path: Path, smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings through the environment, as a user would export them; returns the store's path."""
    db = tmp_path / "seeds.db"
    for name, value in {
        "CEREBELLUM_DB": str(db),
        "CEREBELLUM_MODEL": str(smollm2),
        "CEREBELLUM_EMBEDDER": str(smollm2),
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_OFFLINE": "1",
        "COLUMNS": "250",  # wide tables: one row per line
    }.items():
        monkeypatch.setenv(name, value)
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """Run a command in process; (stdout, stderr). A failing command raises SystemExit."""
    capsys.readouterr()
    main(list(argv))
    captured = capsys.readouterr()
    return captured.out, captured.err


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail; its error message."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code not in (0, None)
    assert capsys.readouterr().out == ""  # errors never go to stdout
    return str(exit_info.value.code)


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


ROWS: list[dict[str, Any]] = [
    {"scope": "web", "text": "The release checklist lives in docs/RELEASE.md.", "tags": ["docs"]},
    {"scope": "web", "text": "Frontend builds use Vite with the React plugin.", "category": "decision"},
    {"scope": "team/api", "text": "Lesson: the integration tests hang unless REDIS_URL is set.", "category": "lesson"},
    {"scope": "team/api", "text": "我们的预发布数据库在 5433 端口。", "created_at": "2026-01-05T10:00:00+00:00"},
]


@pytest.fixture
def filled(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store with ROWS imported as they are, and one seed updated so that it has history."""
    out, _ = run(capsys, "import", "--raw", str(write_lines(tmp_path / "rows.jsonl", ROWS)))
    assert "4 imported" in out
    return env


@pytest.fixture
def opened(filled: Path, embedder: Embedder) -> Iterator[SeedStore]:
    store = open_store(filled)
    store.bind_embedder(embedder.name, embedder.dimension)
    yield store
    store.close()


def test_list_filters_by_scope_category_and_time(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(capsys, "list")
    lines = [line for line in out.splitlines() if "│" in line]
    assert len(lines) == 4  # one row per seed (the header is drawn with ┃)
    assert "4 of 4 memories shown" in out
    # Newest first: the January seed is last.
    assert "5433" in lines[-1]

    out, _ = run(capsys, "list", "--scope", "team/api")
    assert "REDIS_URL" in out and "Vite" not in out and "2 of 2" in out
    out, _ = run(capsys, "list", "--category", "decision")
    assert "Vite" in out and "1 of 1" in out
    out, _ = run(capsys, "list", "--since", "2026-02-01")
    assert "5433" not in out and "3 of 3" in out
    out, _ = run(capsys, "list", "--since", "1d", "--limit", "1")
    assert "1 of 3 memories shown" in out
    out, _ = run(capsys, "list", "--scope", "nothing-here")
    assert out.strip() == "No memories match."

    assert "is not a date or time" in fails(capsys, "list", "--since", "last tuesday")
    assert "invalid setting: scope" in fails(capsys, "list", "--scope", "bad scope")


def test_commands_on_a_missing_store_say_so_and_create_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["list"], ["show", "1"], ["stats"], ["export"], ["recall", "x"], ["reconcile"]):
        assert "There is no seed store at" in fails(capsys, *command)
    assert not env.exists()


def test_show_gives_the_seed_and_its_history(
    filled: Path, opened: SeedStore, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = opened.list_seeds("web")[0]
    updated, operation_id = opened.update(
        seed.id,
        "The release checklist moved to docs/release/CHECKLIST.md.",
        embedder.embed_document("The release checklist moved to docs/release/CHECKLIST.md."),
        reason="the file moved",
        trigger_text="We moved the checklist to docs/release/.",
    )
    out, _ = run(capsys, "show", str(seed.id))
    assert f"seeds://web/{seed.id}" in out and "docs/release/CHECKLIST.md" in out
    assert "history" in out and operation_id in out and "UPDATE" in out and "the file moved" in out
    assert "The release checklist lives in docs/RELEASE.md." in out  # the text before

    removed, delete_op = opened.delete(updated.id, reason="obsolete")
    out, _ = run(capsys, "show", str(seed.id))
    assert f"removed by operation {delete_op}" in out and removed.text in out

    assert "No seed with id 999" in fails(capsys, "show", "999")


def test_show_says_who_decided_and_how(
    opened: SeedStore, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    import math

    from server.pipeline.memory import Memory
    from tests.helpers.fakes import ScriptedBrain

    brain = ScriptedBrain(scores={"lesson": math.log(0.7), "chatter": math.log(0.3)})
    memory = Memory(opened, brain, embedder, candidate_similarity=2.0)  # nothing is similar enough: ADD
    saved = memory.remember("Lesson: tag the release before publishing the wheel.", "web").seed
    assert saved is not None
    out, _ = run(capsys, "show", str(saved.id))
    assert "decisions (oldest first)" in out
    assert "  text: Lesson: tag the release before publishing the wheel.\n" in out
    assert "  gate: rule, SAVE as lesson\n" in out  # an explicit "Lesson:" label: the rule decides
    assert "  arbiter: no-candidates, ADD: nothing similar is stored\n" in out
    brain.action, brain.target, brain.relation_shares = "NONE", "first", {"SAME": 0.8, "UPDATE": 0.2}
    memory.arbiter.candidate_similarity = -1.0
    memory.remember("We use uv to manage Python versions.", "web")
    twice = memory.remember("Python versions are managed with uv.", "web")
    assert twice.status == "duplicate" and twice.seed is not None
    out, _ = run(capsys, "show", str(twice.seed.id))
    assert "  gate: model, SAVE as lesson (lesson 70% · chatter 30%)\n" in out
    assert f"  compared with seed {twice.seed.id} (similarity " in out and ": SAME (SAME 80% · UPDATE 20%)" in out


def test_stats_counts_scopes_categories_and_operations(
    filled: Path, opened: SeedStore, capsys: pytest.CaptureFixture[str]
) -> None:
    opened.delete(opened.list_seeds("web")[0].id, reason="obsolete")
    receive(opened, "Lesson: a text the server has not decided yet.", "web")  # as a remember past its deadline
    out, _ = run(capsys, "stats")
    assert "memories    3" in out or "memories  3" in " ".join(out.split("│"))
    rows = {tuple(cell.strip() for cell in line.split("│")[1:3]) for line in out.splitlines() if "│" in line}
    assert ("team/api", "2") in rows and ("web", "1") in rows
    assert ("lesson", "1") in rows and ("decision", "1") in rows
    assert "1 (with 1 earlier versions kept)" in out
    assert "1 texts waiting for a decision" in out
    assert "SmolLM2-135M-Instruct.Q4_1.gguf (576 dimensions)" in out


def test_inbox_lists_waiting_texts_and_skipped_ones_with_their_reason(
    filled: Path, opened: SeedStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "No texts are waiting for a decision." in run(capsys, "inbox")[0]
    waiting = receive(opened, "Lesson: a text the server has not decided yet.", "web").received
    first = receive(opened, "ok thanks!", "web").received
    opened.skip(first.id, "chatter: the cerebellum read it as chatter")
    second = receive(opened, "Deploys run on Tuesdays, after the review.", "team/api").received
    opened.skip(second.id, "duplicate of seed 2: it says the same as seed 2")

    out, _ = run(capsys, "inbox")
    assert "Lesson: a text the server has not decided yet." in out and "ok thanks!" not in out
    assert f"{waiting.id}" in out and "1 of 1 waiting texts shown" in out

    out, _ = run(capsys, "inbox", "--skipped")
    rows = [line for line in out.splitlines() if "│" in line]
    assert "duplicate of seed 2" in rows[0] and "chatter" in rows[1]  # newest first
    assert "2 of 2 skipped texts shown" in out and "force=true" in out
    out, _ = run(capsys, "--scope", "web", "inbox", "--skipped")
    assert "ok thanks!" in out and "Deploys run" not in out and "1 of 1 skipped" in out
    assert "ok thanks!" in run(capsys, "--scope", "*", "inbox", "--skipped")[0]
    assert "1 texts waiting for a decision" in run(capsys, "stats")[0]
    assert "2 skipped" in run(capsys, "stats")[0]
    assert "--limit must be at least 1" in fails(capsys, "inbox", "--limit", "0")


@pytest.mark.slow
def test_export_then_raw_import_into_an_empty_store_reproduces_it(
    env: Path,
    tmp_path: Path,
    store: SeedStore,
    cerebellum: Cerebellum,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A store made by the pipeline (no arbitration, for speed), with an update in its history,
    # tags, two scopes and a scope with '/'.
    memory = Memory(store, cerebellum, embedder, candidate_similarity=1.01)
    source = memory.store.path
    for text, scope in (
        ("Use Postgres 16 in CI.", "proj"),
        ("The deploy script lives in scripts/deploy.sh.", "proj"),
        ("部署脚本在 scripts/deploy.sh。", "zh"),  # alone in its scope: nothing for the arbiter
        ("Lunch is at noon on Fridays.", "team/office"),
    ):
        memory.remember(text, scope, tags=["t1"], force=True)
    first = memory.store.list_seeds()[0]
    memory.store.update(
        first.id, "Use Postgres 17 in CI.", embedder.embed_document("Use Postgres 17 in CI."), reason="x"
    )
    exported, _ = run(capsys, "--db", source, "export")
    lines = exported.splitlines()
    assert len(lines) == memory.store.count() >= 2
    assert all(json.loads(line)["tags"] == ["t1"] for line in lines)
    dump = write_lines(tmp_path / "dump.jsonl", [json.loads(line) for line in lines])

    target = tmp_path / "copy.db"
    out, _ = run(capsys, "--db", str(target), "import", "--raw", str(dump))
    assert f"{len(lines)} imported" in out
    _, err = run(capsys, "--db", str(target), "export", "-o", str(tmp_path / "again.jsonl"))
    assert f"exported {len(lines)} memories to" in err
    assert (tmp_path / "again.jsonl").read_text(encoding="utf-8") == exported

    # The same store, vectors included: the embedder gives the same vector for the same text.
    copy = open_store(target)
    try:
        assert copy.list_seeds() == memory.store.list_seeds()
        for seed in copy.list_seeds():
            assert copy.embedding(seed.id) == pytest.approx(memory.store.embedding(seed.id), abs=1e-6)
        # And it answers the same recall.
        assert copy.search(embedder.embed_query("Postgres"), "proj", 1)[0].seed.text == "Use Postgres 17 in CI."
    finally:
        copy.close()

    # Importing the same file again changes nothing.
    out, _ = run(capsys, "--db", str(target), "import", "--raw", str(dump))
    assert f"{len(lines)} duplicate" in out and "imported" not in out.split(":")[-1]
    check = open_store(target)
    assert check.count() == len(lines)
    check.close()


def test_a_bad_import_file_is_refused_whole_and_stores_nothing(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                json.dumps({"scope": "web", "text": "A fine line."}),
                json.dumps({"scope": "no spaces!", "text": "Bad scope."}),
                "{not json",
                json.dumps({"scope": "web", "text": "token ghp_" + "Ab3dE" * 7 + "x"}),
                json.dumps({"scope": "web"}),
                json.dumps({"scope": "web", "text": "x", "created_at": "2026-01-01T00:00:00"}),
                json.dumps({"scope": "web", "text": "x", "colour": "red"}),
            ]
        ),
        encoding="utf-8",
    )
    for raw in ([], ["--raw"]):
        message = fails(capsys, "import", *raw, str(bad))
        assert "6 line(s) can't be imported, so nothing was stored" in message
        for expected in ("line 2: scope", "line 3:", "line 4: text", "GitHub token", "line 5: text", "time zone"):
            assert expected in message
        assert "ghp_" not in message  # the secret itself is never echoed
        assert "line 1:" not in message
    assert not env.exists()
    assert "Could not read" in fails(capsys, "import", str(tmp_path / "missing.jsonl"))


def test_import_without_raw_goes_through_the_gate_and_the_arbiter(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"scope": "proj", "text": "Lesson: pytest-xdist workers each need their own SQLite file."},
        {"scope": "proj", "text": "fix: handle None in the config parser (#123)"},  # a commit subject: skipped
        {"scope": "proj", "text": "Lesson: pytest-xdist workers each need their own SQLite file."},  # repeat
    ]
    out, _ = run(capsys, "import", str(write_lines(tmp_path / "rows.jsonl", rows)))
    assert "through the gate and the arbiter" in out
    assert "1 skipped" in out and "1 duplicate" in out and "1 saved" in out
    # One row per line of the file: what the gate and the arbiter did with it.
    assert "SKIP commit-log (rule)" in out and "NONE (exact-match)" in out and "ADD (no-candidates)" in out
    store = open_store(env)
    try:
        (seed,) = store.list_seeds()
        assert seed.text == rows[0]["text"] and seed.source == "import"
    finally:
        store.close()


def test_recall_prints_the_best_hits(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(capsys, "--scope", "web", "recall", "Frontend builds use Vite with the React plugin.", "-k", "1")
    rows = [line for line in out.splitlines() if "│" in line]
    assert len(rows) == 1 and "Vite with the React plugin" in rows[0]
    assert "recall in 'web'" in out
    out, _ = run(capsys, "recall", "anything", "--scope", "empty")
    assert "No memories in scope 'empty' match." in out
    # The recall tool's own rules (server/rules/limits.py), with its sentences.
    assert "k must be between 1 and 50; got 0" in fails(capsys, "recall", "x", "-k", "0")
    assert "The query is empty" in fails(capsys, "recall", "  ")
    assert "over the limit of 2000" in fails(capsys, "recall", "x" * 2001)
    assert "nothing was stored" in fails(capsys, "recall", "postgres://app:Zq8vR2mK9tLp@db.internal/app")


def test_recall_lists_queued_texts_apart_marked_as_not_decided(
    filled: Path, opened: SeedStore, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = receive(opened, "Lesson: the web app's staging server listens on port 8443.", "web").received
    skipped = opened.receive("web", "ok, the staging server is up again")
    opened.skip(skipped.id, "status: a passing remark")
    out, _ = run(capsys, "--scope", "web", "recall", "staging server port")
    assert "recall in 'web'" in out and "queued, not decided yet" in out
    (row,) = [line for line in out.splitlines() if "8443" in line]
    assert row.split("│")[1].strip() == "queued" and str(waiting.id) in row
    assert "is up again" not in out  # skipped: never listed
    out, _ = run(capsys, "--scope", "team/api", "recall", "staging server port")
    assert "8443" not in out and "queued" not in out
    # Decided (here by hand, as the server would): a memory like the others, no longer queued.
    opened.add("web", waiting.text, embedder.embed_document(waiting.text), settles=waiting.id)
    out, _ = run(capsys, "--scope", "web", "recall", "staging server port")
    assert "queued" not in out and out.count("8443") == 1


def test_reconcile_dry_run_shows_the_plan_and_the_real_run_applies_it(
    env: Path, opened: SeedStore, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two spellings of one text: the sweep folds them without asking the model (its answers on
    # chosen pairs are tested in test_memory.py); a seed of another scope is never touched.
    for scope, text in (("proj", "Use ruff for linting."), ("proj", "use RUFF for linting"), ("other", "x")):
        opened.add(scope, text, embedder.embed_document(text))
    planned, err = run(capsys, "--scope", "proj", "reconcile", "--dry-run")
    assert "plan for scope 'proj': 2 memories examined, 0 asked about, 1 changes would be made." in planned
    assert "2/2" in err  # the progress bar, on stderr
    assert "merge-duplicate" in planned and "the same text is stored twice" in planned and "(dry run)" in planned
    assert opened.count("proj") == 2  # a dry run changes nothing

    done, _ = run(capsys, "--scope", "proj", "reconcile")
    assert "1 changes were made" in done
    (operation,) = [word for word in done.split() if word.startswith("op_")]
    assert [s.text for s in opened.list_seeds("proj")] == ["Use ruff for linting."]
    assert opened.count("other") == 1
    out, _ = run(capsys, "show", str(opened.list_seeds("proj")[0].id + 1))
    assert operation in out and "removed by operation" in out


def test_every_scope_with_a_star_for_recall_list_and_forget(
    filled: Path, opened: SeedStore, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = receive(opened, "Lesson: the api's release checklist is in the wiki.", "team/api").received
    out, _ = run(capsys, "recall", "--scope", "*", "release checklist", "-k", "4")
    assert "recall in every scope: release checklist" in out
    hit_scopes = {
        line.split("│")[3].strip() for line in out.splitlines() if line.startswith("│ ") and "queued" not in line
    }
    assert hit_scopes == {"web", "team/api"}  # each hit names its scope
    (queued_row,) = [line for line in out.splitlines() if "in the wiki" in line]
    assert "queued" in queued_row and "team/api" in queued_row and str(waiting.id) in queued_row
    out, _ = run(capsys, "--scope", "web", "recall", "release checklist", "-k", "4")
    assert "team/api" not in out and "in the wiki" not in out

    out, _ = run(capsys, "list", "--scope", "*")
    assert "4 of 4 memories shown" in out and "web" in out and "team/api" in out
    out, _ = run(capsys, "export", "--scope", "*")
    assert {json.loads(line)["scope"] for line in out.splitlines()} == {"web", "team/api"}
    seed = opened.list_seeds("team/api")[0]
    out, _ = run(capsys, "--scope", "*", "forget", str(seed.id))
    assert f"Forgot seed {seed.id} in 'team/api'" in out

    # A command that works in one scope says so.
    message = fails(capsys, "--scope", "*", "config", "cursor")
    assert "invalid setting: scope" in message and "config needs one scope" in message


def test_reconcile_of_every_scope_with_a_star_folds_each_scope_on_its_own(
    env: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same text twice in two scopes: each scope's pair is folded (by exact match, no model
    # question), never one scope's seed into the other's.
    store = open_store(env)
    store.bind_embedder(embedder.name, embedder.dimension)
    ids: dict[str, list[int]] = {}
    try:
        for scope in ("web", "team/api", "web", "team/api"):
            text = "use RUFF for linting" if scope in ids else "Use ruff for linting."
            ids.setdefault(scope, []).append(store.add(scope, text, embedder.embed_document(text)).id)
        planned, _ = run(capsys, "--scope", "*", "reconcile", "--dry-run")
        assert "plan for every scope: 4 memories examined, 0 asked about, 2 changes would be made." in planned
        rows = [line.split("│") for line in planned.splitlines() if "merge-duplicate" in line]
        assert {(row[2].strip(), int(row[3]), int(row[4])) for row in rows} == {
            (scope, later, first) for scope, (first, later) in ids.items()
        }
        assert store.count() == 4
        done, _ = run(capsys, "reconcile", "--scope", "*")
        assert "reconcile for every scope: 4 memories examined" in done and "2 changes were made" in done
        assert [(s.id, s.scope) for s in store.list_seeds()] == [
            (ids["web"][0], "web"),
            (ids["team/api"][0], "team/api"),
        ]
    finally:
        store.close()


@pytest.mark.slow
def test_doctor_reports_versions_checksums_the_store_and_a_decision(
    filled: Path, smollm2: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = run(capsys, "doctor")
    digest = hashlib.sha256(smollm2.read_bytes()).hexdigest()
    assert out.count(f"sha256 {digest}") == 2  # cerebellum and embedder (the same file here)
    for expected in ("Python", "SQLite", "sqlite-vec", "v0.1.", "llama-cpp-python", str(filled), "team/api 2"):
        assert expected in out
    decision = next(line for line in out.splitlines() if "test decision" in line)
    assert "ok" in decision and ("SAVE" in decision or "SKIP" in decision)
    assert "FAIL" not in out


def test_doctor_fails_on_a_missing_model_and_names_it(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(tmp_path / "gone.gguf"), "doctor"])
    assert "check(s) failed: cerebellum model" in str(exit_info.value.code)
    out = capsys.readouterr().out
    assert "gone.gguf: not found" in out and "skipped: a model file is missing" in out
    assert not env.exists()  # doctor does not create a store


def cli() -> str:
    command = shutil.which("cerebellum-mcp", path=str(Path(sys.executable).parent))
    assert command, "the cerebellum-mcp console script is not installed: run `make setup`"
    return command


@pytest.mark.slow
def test_download_fails_with_a_clear_message_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CEREBELLUM_"))}
    # Nothing listens on port 9: the hub is unreachable, as it is from this machine.
    environment |= {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "hub")}
    run = subprocess.run([cli(), "download"], capture_output=True, text=True, env=environment, timeout=120)
    assert run.returncode == 1
    assert "Could not reach Hugging Face for the cerebellum model doncxy/BIJA-cerebellum-Qwen3-1.7B-v1" in run.stderr
    assert "Could not reach Hugging Face for the embedder model Qwen/Qwen3-Embedding-0.6B-GGUF" in run.stderr
    assert "--model / CEREBELLUM_MODEL" in run.stderr and "HF_ENDPOINT" in run.stderr
    assert not (tmp_path / "hub").exists() or not any((tmp_path / "hub").rglob("*.gguf"))


def test_download_reports_local_files_and_their_sizes(smollm2: Path) -> None:
    run = subprocess.run(
        [cli(), "--model", str(smollm2), "--embedder", str(smollm2), "download"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("local file") == 2 and "MB" in run.stdout


def config_json(out: str) -> dict[str, Any]:
    return json.loads(out[out.index("{") : out.rindex("}") + 1])


def test_config_prints_the_snippet_for_each_client(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    out, _ = run(capsys, "--scope", "my-project", "config", "claude-desktop")
    entry = config_json(out)["mcpServers"]["cerebellum"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    assert entry["args"] == ["--scope", "my-project"]
    out, _ = run(capsys, "config", "cursor", "--db", "rel/seeds.db", "--name", "memory")
    entry = config_json(out)["mcpServers"]["memory"]
    assert entry["args"] == ["--db", str(tmp_path / "rel" / "seeds.db")]  # made absolute for the client
    out, _ = run(capsys, "config", "claude-code", "--scope", "p")
    first = out.splitlines()[0]
    assert first.startswith("claude mcp add cerebellum -- /") and first.endswith("--scope p")
    assert config_json(out)["mcpServers"]["cerebellum"]["type"] == "stdio"
    # Over HTTP the project folder travels in a header, so the server names this project's scope.
    out, _ = run(capsys, "config", "claude-code", "--http", "http://127.0.0.1:8765/mcp")
    entry = config_json(out)["mcpServers"]["cerebellum"]
    assert entry == {
        "type": "http",
        "url": "http://127.0.0.1:8765/mcp",
        "headers": {"X-Cerebellum-Project": tmp_path.as_uri()},
    }
    assert out.splitlines()[0] == (
        "claude mcp add --transport http cerebellum http://127.0.0.1:8765/mcp --header "
        f"'X-Cerebellum-Project: {tmp_path.as_uri()}'"
    )
    out, _ = run(capsys, "scope", str(tmp_path))
    assert out.strip() == scope_from_root(tmp_path.as_uri())  # the scope the tools and hooks name for this folder
    out, _ = run(capsys, "--scope", "pinned", "scope")
    assert out.strip() == "pinned"
    assert "--http is for claude-code" in fails(capsys, "config", "cursor", "--http", "http://127.0.0.1:8765/mcp")
    assert "give the server's URL" in fails(capsys, "config", "claude-code", "--http", "8765")


def test_config_write_merges_into_the_existing_file_and_keeps_a_backup(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "claude_desktop_config.json"
    original = {"mcpServers": {"other": {"command": "other-server", "args": []}}, "theme": "dark"}
    path.write_text(json.dumps(original), encoding="utf-8")
    out, _ = run(capsys, "--scope", "p", "config", "claude-desktop", "--write", "--path", str(path))
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["theme"] == "dark" and written["mcpServers"]["other"] == original["mcpServers"]["other"]
    assert written["mcpServers"]["cerebellum"]["args"] == ["--scope", "p"]
    (backup,) = tmp_path.glob("claude_desktop_config.json.bak-*")
    assert json.loads(backup.read_text(encoding="utf-8")) == original and str(backup) in out

    out, _ = run(capsys, "--scope", "p", "config", "claude-desktop", "--write", "--path", str(path))
    assert "nothing written" in out and len(list(tmp_path.glob("*.bak-*"))) == 1

    path.write_text("{broken", encoding="utf-8")
    assert "is not valid JSON" in fails(capsys, "config", "cursor", "--write", "--path", str(path))
    assert path.read_text(encoding="utf-8") == "{broken"

    fresh = tmp_path / "new" / "mcp.json"
    run(capsys, "config", "cursor", "--write", "--path", str(fresh))
    assert "cerebellum" in json.loads(fresh.read_text(encoding="utf-8"))["mcpServers"]


@pytest.mark.slow
def test_version_and_a_bad_command() -> None:
    version = subprocess.run([cli(), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("cerebellum-mcp 0.")
    bad = subprocess.run([cli(), "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and bad.stdout == ""


def test_serve_and_python_m_server_speak_mcp_on_stdio(tmp_path: Path, smollm2: Path) -> None:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    # Flags before and after the subcommand both count, as for every command.
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "server", "--db", str(tmp_path / "s.db"), "serve", "--scope", "served", "--offline"],
        env={**CHILD_ENV, "CEREBELLUM_MODEL": str(smollm2), "CEREBELLUM_EMBEDDER": str(smollm2)},
        cwd=str(Path(__file__).resolve().parents[2]),
    )

    async def session() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=120) as client:
            assert {"remember", "recall", "reconcile"} <= {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("recall", {"query": "anything"})
            assert not result.is_error, result.content
            assert isinstance(result.structured_content, dict)
            return result.structured_content

    answer = anyio.run(session)
    assert (answer["query"], answer["scope"], answer["hits"]) == ("anything", "served", [])
    assert (tmp_path / "s.db").exists()


def test_forget_then_undo_brings_the_memory_back_as_it_was(
    filled: Path, opened: SeedStore, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = opened.list_seeds("web")[0]
    out, _ = run(capsys, "forget", str(seed.id))
    (operation,) = {word.strip(";'.") for word in out.split() if word.startswith(("op_", "'op_"))} or {""}
    assert f"Forgot seed {seed.id} in 'web'" in out and operation.startswith("op_")
    assert opened.get(seed.id) is None

    out, _ = run(capsys, "undo", operation)
    assert f"Undid forget {operation}" in out and "restored" in out
    assert opened.get(seed.id) == seed  # the same id, text, tags and timestamps

    assert "No seed with id 999" in fails(capsys, "forget", "999")
    assert f"No seed with id {seed.id} in scope 'team/api'" in fails(
        capsys, "--scope", "team/api", "forget", str(seed.id)
    )
    assert "op_nothing" in fails(capsys, "undo", "op_nothing")


@pytest.fixture
def calibrating(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The calibrated gate on, over part of the shipped bank (both sides, so SmolLM2 fits it in seconds);
    returns the cache folder."""
    from server.models import calibration

    rows = [json.loads(line) for line in calibration.BANK_FILE.read_text(encoding="utf-8").splitlines()]
    small = [r for r in rows if r["decision"] == "SAVE"][:6] + [r for r in rows if r["decision"] == "SKIP"][:6]
    bank = tmp_path / "bank.jsonl"
    bank.write_text("".join(json.dumps(r) + "\n" for r in small), encoding="utf-8")
    monkeypatch.setattr(calibration, "BANK_FILE", bank)
    monkeypatch.setenv("CEREBELLUM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CEREBELLUM_CALIBRATE_GATE", "true")
    return tmp_path / "cache"


def fitted(cache: Path) -> list[Path]:
    return list((cache / "calibration").glob("gate-*.json"))


@pytest.mark.slow
def test_calibrate_fits_the_gate_once_and_doctor_sees_it(calibrating: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, _ = run(capsys, "doctor", "--no-decision")
    assert "not fitted for these models yet" in before and "bank of 12 labelled texts" in before
    out, _ = run(capsys, "calibrate")
    assert "12 labelled texts" in out and "out of fold:" in out
    assert len(fitted(calibrating)) == 1
    after, _ = run(capsys, "doctor", "--no-decision")
    line = next(line for line in after.splitlines() if "gate calibration" in line)
    assert "ok" in line and "fitted for these models" in line


@pytest.mark.slow
def test_import_fits_the_gate_when_the_model_is_first_asked(
    calibrating: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A commit subject is skipped by rule: the model is not asked, so nothing is fitted.
    ruled = [{"scope": "proj", "text": "fix: handle None in the config parser (#123)"}]
    run(capsys, "import", str(write_lines(tmp_path / "ruled.jsonl", ruled)))
    assert fitted(calibrating) == []
    asked = [{"scope": "proj", "text": "The billing service reads its rates from config/rates.yaml."}]
    out, _ = run(capsys, "import", str(write_lines(tmp_path / "asked.jsonl", asked)))
    assert "(model)" in out  # the gate asked the cerebellum, through the calibrated rule
    assert len(fitted(calibrating)) == 1


def test_http_only_flags_on_a_stdio_launch_are_refused_not_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    # A user who asks for tokens and gets a server that checks none would believe it is protected.
    message = fails(capsys, "serve", "--auth", "tokens")
    assert "--auth apply to serve --http only" in message and "add --http" in message
    assert "--auth and --public-url" in fails(
        capsys, "serve", "--auth", "tokens", "--public-url", "https://m.example/mcp"
    )


def test_doctor_reports_the_bearer_token_file_and_fails_on_a_broken_one(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.json"
    monkeypatch.setenv("CEREBELLUM_TOKENS_FILE", str(tokens))
    out, _ = run(capsys, "doctor", "--no-decision")
    row = next(line for line in out.splitlines() if "bearer tokens" in line)
    assert "none in" in row and "token add" in row and "FAIL" not in row
    run(capsys, "token", "add", "laptop", "--scopes", "shop-api")
    row = next(line for line in run(capsys, "doctor", "--no-decision")[0].splitlines() if "bearer tokens" in line)
    assert "ok" in row and "1 in" in row and "laptop (shop-api)" in row and "cbm_" not in row  # never a token
    tokens.write_text("{not json", encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--no-decision"])
    assert "bearer tokens" in str(exit_info.value.code)
    row = next(line for line in capsys.readouterr().out.splitlines() if "bearer tokens" in line)
    assert "FAIL" in row and "not valid JSON" in row
