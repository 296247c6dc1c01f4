"""The memory console in a real Chromium, against a real server (`serve --http` with SmolLM2) on a SQLite file
and on PostgreSQL, and the shared service opened by `cerebellum-mcp ui`: open the pages, search, edit and
undo, review an inbox entry, and check the store changed as the page said; stored markup does not execute;
a cross-origin POST is refused. Screenshots of each page go to build/console-screenshots/.

Skipped, saying why, only where no Chromium can be had (tests/console_browser.py installs Debian's where it
runs as root, as CI does)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seeds import SeedStore, open_store
from tests.conftest import CHILD_ENV
from tests.helpers.console_browser import SCREENSHOTS, NoBrowser, chromium
from tests.protocol.test_mcp import cerebellum_command
from tests.transport.test_http import free_port, wait_for_port

XSS = [
    "<script>document.title='pwned'</script>the deploy key rotates monthly",
    "<img src=x onerror=\"document.title='pwned'\">staging runs on port 8081",
    "<a href=\"javascript:document.title='pwned'\">the runbook</a> is in docs/runbook.md",
]
FACTS = [
    "The deploy script lives in scripts/deploy.sh and needs the VPN.",
    "We use PostgreSQL 16 for the main database.",
    "Integration tests need Docker running locally.",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: `make setup` installs it (the dev extras)")
    try:
        executable = chromium()
    except NoBrowser as exc:
        pytest.skip(f"no Chromium for the browser tests: {exc}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {SCREENSHOTS}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        **CHILD_ENV,
        "CEREBELLUM_THREADS": "2",
        "CEREBELLUM_CONTEXT_SIZE": "2048",
        "CEREBELLUM_DEADLINE_SECONDS": "300",
    }


def fill(store: SeedStore, embedder: Any) -> dict[str, int]:
    """The store a person opens the console on: facts, markup, a text the gate skipped, a duplicate kept.
    Written as the pipeline writes a decided text (embedded by the real embedder, ADDed, or kept in the
    inbox with the gate's or the arbiter's reason), without asking the model: this test is about the console."""
    store.bind_embedder(embedder.name, embedder.dimension)
    ids: dict[str, int] = {}
    for text in [*FACTS, *XSS]:
        ids[text] = store.add("shop", text, embedder.embed_document(text), category="fact", source="agent").id
    billing = "billing invoices are generated on the 1st"
    store.add("billing", billing, embedder.embed_document(billing), source="agent")
    skipped = store.receive("shop", "ok thanks, that fixed it", source="agent")
    store.skip(skipped.id, "chatter: a thank-you, nothing to keep")
    duplicate = store.receive("shop", "Docker must run for the integration tests", source="agent")
    store.skip(duplicate.id, f"duplicate of seed {ids[FACTS[2]]}: the same requirement")
    ids["skipped"], ids["duplicate"] = skipped.id, duplicate.id
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, smollm2: Path, embedder: Any
) -> Iterator[tuple[str, str, dict[str, int]]]:
    """(console URL, store location, ids) of a `serve --http` server on a filled store."""
    location = str(tmp_path / "seeds.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = open_store(location)
    ids = fill(store, embedder)
    store.close()
    port = free_port()
    args = ["--db", location, "--model", str(smollm2), "--embedder", str(smollm2), "--offline"]
    process = subprocess.Popen(
        [cerebellum_command(), *args, "serve", "--http", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("wb"),
        env=server_env(),
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/console", location, ids
    finally:
        process.terminate()
        process.wait(30)


PAGE_TIMEOUT_MS = 240_000
"""An action that needs the models waits for the warm-up's step in progress: minutes on a busy 2-core machine."""


def shot(page: Any, engine: str, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{engine}-{name}.png"), full_page=True)


def no_script_ran(page: Any, dialogs: list[str]) -> None:
    assert page.title() != "pwned" and dialogs == []
    assert (
        page.evaluate("document.querySelectorAll('main script, main img, main a[href^=\"javascript:\"]').length") == 0
    )


def test_a_person_browses_searches_edits_undoes_and_reviews(
    browser: Any, served: tuple[str, str, dict[str, int]]
) -> None:
    url, location, ids = served
    engine = "postgresql" if location.startswith("postgresql") else "sqlite"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(f"{url}/")
    assert page.locator("tr.memory-row").count() == len(FACTS) + len(XSS) + 1
    for text in FACTS:
        assert page.get_by_text(text).count() == 1
    # Markup in memories shows as text and runs nothing.
    assert page.get_by_text(XSS[0]).count() == 1
    no_script_ran(page, dialogs)
    shot(page, engine, "memories")

    # Search: the recall tool's hybrid recall.
    page.fill("#q", "deploy.sh VPN")
    page.click("#search")
    assert "best match" in page.locator("p.count").inner_text()
    assert "scripts/deploy.sh" in page.locator("table.memories").inner_text()
    shot(page, engine, "search")

    # One memory: edit it, then undo the edit from its history.
    seed_id = ids[FACTS[1]]
    page.goto(f"{url}/memories/{seed_id}")
    page.fill("#edit-text", "We use PostgreSQL 18 for the main database.")
    page.click("#edit")
    assert "edited" in page.locator("#flash").inner_text()
    assert "PostgreSQL 18" in page.locator("#memory-text").inner_text()
    store = open_store(location)
    try:
        assert store.require(seed_id).text == "We use PostgreSQL 18 for the main database."
        shot(page, engine, "memory")
        page.locator("ol.history button.undo").last.click()
        assert "undone" in page.locator("#flash").inner_text()
        assert store.require(seed_id).text == FACTS[1]
        assert "PostgreSQL 16" in page.locator("#memory-text").inner_text()

        # Inbox review: the skipped text saved anyway; the duplicate shown beside the memory it repeats.
        page.click("#nav-inbox")
        assert "a thank-you" in page.locator("#skipped").inner_text()
        duplicate = page.locator("#duplicates").inner_text()
        assert "Docker must run" in duplicate and FACTS[2] in duplicate
        shot(page, engine, "inbox")
        page.click(f"#save-{ids['skipped']}")
        # The gate is overruled; the arbiter (SmolLM2) still compares the text with what is stored, and the page
        # says what it decided: saved as new, folded into a memory, or kept as a duplicate for review.
        flash = page.locator("#flash").inner_text()
        status = flash.removeprefix("Saved (").removesuffix(").")
        assert status in ("saved", "updated", "deleted", "duplicate"), flash
        assert store.inbox_entry(ids["skipped"]) is None
        if status == "saved":
            assert any(s.text == "ok thanks, that fixed it" for s in store.list_seeds("shop"))

        # Activity: the review is there with its undo, and how SmolLM2 decided the text (the gate overruled, the
        # arbiter's answer about each memory it was shown, with its shares and the similarity); undoing the
        # review puts the text back for review.
        page.click("#nav-activity")
        no_script_ran(page, dialogs)
        rows = page.locator("tr.activity-row", has_text="ok thanks, that fixed it")
        decided = rows.filter(has_text="arbiter:").first.inner_text()
        assert "gate: force" in decided and "arbiter: model" in decided, decided
        assert re.search(r"compared with memory \d+ \(similarity -?\d\.\d\d\): [A-Z]+ — [A-Z]+ \d+%", decided), decided
        assert re.search(r"decided in \d+ ms", decided), decided
        shot(page, engine, "activity")
        if status == "saved":  # the new memory's own page tells the same story
            saved = next(s for s in store.list_seeds("shop") if s.text == "ok thanks, that fixed it")
            page.goto(f"{url}/memories/{saved.id}")
            assert "arbiter: model, said ADD" in page.locator("#history").inner_text()
            shot(page, engine, "memory-decided")
            page.click("#nav-activity")
        review = store.page_operations(None, ["review-save"], 1)[0]
        page.click(f"#undo-{review.id}")
        assert "back for review" in page.locator("#flash").inner_text()
        assert not any(s.text == "ok thanks, that fixed it" for s in store.list_seeds("shop"))
        kept = [e for e in store.review_inbox("skipped", None, 10) if e.text == "ok thanks, that fixed it"]
        assert [e.reason for e in kept if e.source == "console"] == ["chatter: a thank-you, nothing to keep"]
        page.select_option("#kind", "forget")
        page.click("#filter")
        assert page.locator("tr.activity-row").count() == 0
        page.select_option("#kind", "edit")
        page.click("#filter")
        assert page.locator("tr.activity-row").count() == page.locator("tr.activity-row[data-kind='edit']").count() == 1

        page.click("#nav-overview")
        assert page.locator("svg.chart").count() == 4
        assert engine in page.locator("main").inner_text()
        shot(page, engine, "overview")
        no_script_ran(page, dialogs)
    finally:
        store.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


class _Attacker(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}"><input name="csrf" value="guess"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_cross_origin_post_from_another_site_is_refused(
    browser: Any, served: tuple[str, str, dict[str, int]]
) -> None:
    url, location, ids = served
    seed_id = ids[FACTS[0]]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/memories")  # the person has a console session in this browser
    _Attacker.target = f"{url}/memories/{seed_id}/forget"
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda response: response.request.method == "POST") as answer:
            page.goto(f"http://localhost:{attacker.server_address[1]}/")
        assert answer.value.status == 403
    finally:
        attacker.shutdown()
        context.close()
    store = open_store(location)
    try:
        assert store.get(seed_id) is not None
    finally:
        store.close()


def test_cerebellum_mcp_ui_opens_the_shared_services_console(
    browser: Any, tmp_path: Path, smollm2: Path, embedder: Any
) -> None:
    """What a new user does: `cerebellum-mcp ui` prints an address; the browser shows their memories."""
    location = str(tmp_path / "seeds.db")
    store = open_store(location)
    fill(store, embedder)
    store.close()
    args = ["--db", location, "--model", str(smollm2), "--embedder", str(smollm2), "--offline"]
    env = {**server_env(), "CEREBELLUM_SERVICE_DIR": str(tmp_path / "service")}
    done = subprocess.run(
        [cerebellum_command(), *args, "ui", "--no-browser"], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert done.returncode == 0, done.stderr
        address = done.stdout.split("The memory console: ", 1)[1].split()[0]
        assert address.startswith("http://127.0.0.1:") and "/console/enter?key=" in address
        page = browser.new_page()
        page.goto(address)
        assert page.locator("tr.memory-row").count() == len(FACTS) + len(XSS) + 1
        other = browser.new_context().new_page()  # the address signs one browser in, once
        other.goto(address)
        assert "run `cerebellum-mcp ui` again" in other.locator("main").inner_text()
    finally:
        subprocess.run([cerebellum_command(), *args, "service", "stop"], env=env, capture_output=True, timeout=60)
