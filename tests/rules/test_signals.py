"""Exact signals: whole-text shapes that settle SAVE/SKIP without the model. Examples written for these tests."""

from __future__ import annotations

import pytest

from seeds import SeedStore
from server.models.embedder import Embedder
from server.pipeline.memory import Memory
from server.rules import signals
from server.rules.signals import classify

SKIPPED = {
    "commit-log": [
        "perf(cache): avoid double lookup in get_or_set (#2211)",
        "docs: fix typo in CONTRIBUTING",
        "Merge pull request #77 from octo/fix-login-redirect",
        "Merge branch 'release/2.3' of github.com:octo/app",
        'Revert "feat: enable new checkout flow"\n\nThis reverts commit 4b8e1f0c2d.',
        "e3b0c44 tweak logging\n98fa1c2 bump version\n5d41402 initial import",
        " src/api.py  | 14 +++++++-------\n README.md   |  2 +-\n 2 files changed, 8 insertions(+), 8 deletions(-)",
        "chore(deps): bump lodash from 4.17.20 to 4.17.21\n\nBumps lodash from 4.17.20 to 4.17.21.\n\n"
        "Signed-off-by: dependabot[bot] <support@github.com>",
        "更新依赖版本\n\nFixes #1402\nCo-authored-by: Wang Lei <wl@example.com>",
    ],
    "stacktrace": [
        'Traceback (most recent call last):\n  File "cli.py", line 9, in <module>\n    run()\n'
        "ZeroDivisionError: division by zero",
        "Error: ENOENT: no such file or directory, open 'config.yml'\n    at Object.openSync (node:fs:596:3)\n"
        "    at readConfig (/srv/app/config.js:12:18)",
        "got this:\nthread 'main' panicked at src/main.rs:12:5:\nattempt to subtract with overflow\n"
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        "panic: assignment to entry in nil map\n\ngoroutine 7 [running]:\nmain.(*Cache).Put(...)\n"
        "\t/src/cache.go:41 +0x3c",
        'Traceback (most recent call last):\n  File "io.py", line 4, in <module>\n    json.loads(raw)\n'
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        "Error: getaddrinfo ENOTFOUND db.internal\n"
        "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26) {\n"
        "  errno: -3008,\n  code: 'ENOTFOUND'\n}",
        'django.db.utils.IntegrityError: null value in column "owner_id" violates not-null constraint\n'
        "DETAIL:  Failing row contains (7, null, 2024-01-02).",
        # A Python traceback pasted without its first line.
        '  File "jobs/export.py", line 40, in run\n    rows = fetch(day)\nValueError: day must be a date',
    ],
    "output": [
        "$ git branch -a\n* main\n  remotes/origin/HEAD -> origin/main",
        "me@devbox:~/shop$ make test\ngo test ./...\nok  \tshop/cart\t0.12s",
        "Collecting numpy<2\n  Using cached numpy-1.26.4-cp311-manylinux.whl\nSuccessfully installed numpy-1.26.4",
        "NAME      STATUS   ROLES    AGE   VERSION\nnode-1    Ready    worker   12d   v1.29.2",
        "   Compiling anyhow v1.0.80\n    Finished release [optimized] target(s) in 12.03s",
        # Error and log output: npm's, rustc's, tsc's diagnostics, log records.
        "npm ERR! code ELIFECYCLE\nnpm ERR! errno 1\nnpm ERR! web@1.0.0 build: `vite build`",
        "getting this:\nerror[E0425]: cannot find value `cfg` in this scope\n  --> src/lib.rs:9:5\n   |\n"
        "9  |     cfg.load()\n   |     ^^^ not found in this scope",
        "src/api.ts(3,10): error TS2305: Module './db' has no exported member 'pool'.\n"
        "src/api.ts(8,1): error TS2304: Cannot find name 'log'.",
        "2026-11-30 08:00:01 ERROR sync failed: timeout\n2026-11-30 08:00:31 INFO retrying",
    ],
}

LEFT_TO_THE_MODEL = [
    # Lessons and decisions that mention commits, traces or commands are not logs.
    "We reverted the checkout flow (commit 4b8e1f0) because Safari broke; re-enable it only behind a flag.",
    "The ZeroDivisionError in cli.py came from an empty batch; guard len(batch) == 0 before averaging.",
    'Traceback (most recent call last):\n  File "cli.py", line 9, in <module>\nZeroDivisionError: division by zero\n'
    "Root cause: the batch was empty. Always guard len(batch) before averaging.",
    "$ make deploy needs AWS_PROFILE=prod exported first",
    "# Deploy notes\nWe deploy from the release branch only, never from main.",
    "Fix: set TZ=UTC in CI, or the date tests fail after 5pm.",
    "ModuleNotFoundError: No module named 'yaml' means the dev extras are missing; run make setup.",
    "IntegrityError: duplicate key on users_email_key\nWe fixed it by normalising emails to lower case first.",
    "ok thanks!",
    "Running the migration now.",
    "The staging database listens on port 5433.",
    # Output followed by what to keep, and a Markdown table of decisions, are not bare output.
    "ERROR: could not connect to the broker\nFrom now on the client retries three times before failing.",
    "| service | port |\n|---|---|\n| api | 8081 |\n| web | 3000 |",
]


@pytest.mark.parametrize(("category", "text"), [(c, t) for c, texts in SKIPPED.items() for t in texts])
def test_shapes_that_are_certainly_not_memories(category: str, text: str) -> None:
    signal = classify(text)
    assert signal is not None, text
    assert (signal.decision, signal.category) == ("SKIP", category)


@pytest.mark.parametrize("text", LEFT_TO_THE_MODEL)
def test_texts_whose_shape_does_not_settle_it_go_to_the_model(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Lesson: never run the seed script against prod.", "lesson"),
        ("note to self: the VPN drops SSH after 30 min idle", "lesson"),
        ("Decision: we use Alembic, not hand-written SQL migrations.", "decision"),
        ("教训：迁移脚本一定要先在预发布环境跑一遍。", "lesson"),
        ("记住：周五不发版。", "fact"),
        ("踩坑记录：Node 18 的 fetch 不走系统代理。", "lesson"),  # a label with 记录 (notes) before its colon
    ],
)
def test_an_explicit_label_is_a_save(text: str, category: str) -> None:
    signal = classify(text)
    assert signal is not None and (signal.decision, signal.category) == ("SAVE", category)


def test_the_pipeline_applies_a_signal_without_asking_the_model(store: SeedStore, embedder: Embedder) -> None:
    class NoModel:
        name = "none"

        def memorize(self, text: str) -> object:
            raise AssertionError("the model must not be asked")

        def arbitrate(self, text: str, candidates: object) -> object:
            raise AssertionError("the model must not be asked")

    memory = Memory(store, NoModel(), embedder)  # type: ignore[arg-type]
    skipped = memory.remember("fix(auth): refresh token before expiry (#88)", "p")
    assert skipped.status == "skipped"
    assert skipped.gate is not None and skipped.gate.decided_by == "rule" and skipped.gate.category == "commit-log"
    saved = memory.remember("Lesson: the CI cache key must include the lockfile hash.", "p")
    assert saved.status == "saved" and saved.gate is not None and saved.gate.decided_by == "rule"
    assert saved.seed is not None and saved.seed.category == "lesson"


@pytest.mark.parametrize(
    ("stored", "new", "expected"),
    [
        ("We deploy with Node 18.", "Deploys now use Node 22.", ["22"]),
        ("Carol owns the auth service.", "The auth service belongs to Dmitri now.", ["Dmitri"]),
        ("Config lives in settings.toml.", "Config moved to `conf/app.yaml`.", ["conf/app.yaml"]),
        ("Sam reviews the schema changes.", "Sam left; Anika reviews schema changes.", ["Anika"]),
        ("We use Sentry for errors.", "We dropped Sentry, it was too noisy.", []),
        ("The cron runs at 02:00.", "Forget what I said about the 02:00 cron. It was wrong.", []),
    ],
)
def test_new_values_are_what_a_replacement_names_and_a_retraction_does_not(
    stored: str, new: str, expected: list[str]
) -> None:
    assert signals.new_values(stored, new) == expected


@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("Fact 0-1: service s0x1 listens on port 10001.", "Fact 0-2: service s0x2 listens on port 10002."),
        ("Host web-03 serves /srv/web03 with nginx 1.24.", "Host web-07 serves /srv/web07 with nginx 1.26."),
        ("The `orders_v2` table keeps 90 days of rows.", "The `users_v3` table keeps 30 days of rows."),
        ("队列 jobs_high 的并发是 8。", "队列 jobs_low 的并发是 2。"),
    ],
)
def test_notes_naming_other_identifiers_and_values_are_about_different_subjects(stored: str, new: str) -> None:
    why = signals.distinct_subjects(stored, new)
    assert why is not None and "names" in why


@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("The API listens on port 8080.", "The API listens on port 8081 now."),  # one value changed: an update
        ("The deploy script lives in scripts/deploy.sh.", "The deploy script moved to tools/deploy.sh."),
        ("We use PostgreSQL 16 for the main database.", "Main DB: Postgres 16."),  # a paraphrase
        ("部署脚本在 scripts/deploy.sh。", "The deploy script is scripts/deploy.sh."),  # a translation
        ("Run `make test` before pushing.", "Before you push, run `make test`."),
        ("Node is pinned to 20.11 via .nvmrc.", "Node is pinned to 22.1 via .nvmrc, and pnpm to 9.4."),
    ],
)
def test_rewordings_and_single_value_updates_may_be_the_same_subject(stored: str, new: str) -> None:
    assert signals.distinct_subjects(stored, new) is None
