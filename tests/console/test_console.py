"""The memory console over HTTP (Starlette's test client, no browser): every page on both engines, the review
actions and their undo against the store, and the protections, each of which fails if it is removed.

The pipeline is real (SeedStore on SQLite or PostgreSQL, the Memory core); its models are the scripted
stand-ins of tests/fakes.py, so a test chooses what the gate and the arbiter say. The real browser with
SmolLM2 is tests/test_console_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from seeds import SeedStore
from server.console.app import Console
from server.console.backend import MemoryBackend
from server.console.guard import CSP, Guard, allowed_hosts
from server.pipeline.memory import Memory
from server.protocol.tokens import TokenFile
from tests.helpers.fakes import HashEmbedder, ScriptedBrain

BASE = "http://127.0.0.1:8765"
ORIGIN = {"origin": BASE}
XSS = [
    "<script>document.title='pwned'</script> the deploy key rotates monthly",
    "<img src=x onerror=\"document.title='pwned'\"> staging runs on port 8081",
    '[click](javascript:alert(1)) and <a href="javascript:alert(1)">this link</a> are docs',
]


def make_memory(store: SeedStore, brain: ScriptedBrain | None = None) -> Memory:
    return Memory(store, brain or ScriptedBrain(), HashEmbedder(), candidate_similarity=0.0)


def client_for(memory: Memory, guard: Guard | None = None) -> TestClient:
    guard = guard or Guard(allowed_hosts("127.0.0.1", 8765), "open")
    return TestClient(Console(MemoryBackend(memory), guard).app(), base_url=BASE, follow_redirects=False)


@pytest.fixture
def brain() -> ScriptedBrain:
    return ScriptedBrain()


@pytest.fixture
def mem(engine_store: SeedStore, brain: ScriptedBrain) -> Memory:
    return make_memory(engine_store, brain)


@pytest.fixture
def client(mem: Memory) -> Iterator[TestClient]:
    with client_for(mem) as c:
        yield c


def csrf_of(client: TestClient) -> str:
    page = client.get("/console/memories").text
    marker = 'name="csrf" value="'
    return page[page.index(marker) + len(marker) :].split('"', 1)[0]


def post(client: TestClient, path: str, data: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(path, data={"csrf": csrf_of(client), **(data or {})}, headers={**ORIGIN, **headers})


def test_every_page_renders_on_both_engines(mem: Memory, client: TestClient, brain: ScriptedBrain) -> None:
    saved = [mem.remember(f"service {i} listens on port {8000 + i}", "shop", tags=["ports"]) for i in range(3)]
    mem.remember("the billing job runs at 02:00 UTC", "billing")
    brain.gate = "SKIP"
    mem.remember("thanks, that worked", "shop")
    for path in ("/console/memories", "/console/inbox", "/console/activity", "/console/overview"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
    page = client.get("/console/memories?scope=shop").text
    # Newest first, this scope only.
    assert page.index("port 8002") < page.index("port 8001") < page.index("port 8000")
    assert "billing job" not in page
    assert "billing job" in client.get("/console/memories?scope=&tag=").text
    assert "port 8001" in client.get("/console/memories?tag=ports").text
    assert "billing job" not in client.get("/console/memories?tag=ports").text
    seed_id = saved[0].seed.id if saved[0].seed else 0
    assert "port 8000" in client.get(f"/console/memories/{seed_id}").text
    assert "thanks, that worked" in client.get("/console/inbox").text
    overview = client.get("/console/overview").text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in overview and "Decisions per day" in overview
    assert mem.store.engine in overview


def test_search_uses_the_hybrid_recall(mem: Memory, client: TestClient) -> None:
    for text in ("the deploy script lives in scripts/deploy.sh", "we use PostgreSQL for the main database"):
        mem.remember(text, "shop")
    page = client.get("/console/memories", params={"q": "deploy.sh"}).text
    assert "best match" in page
    assert page.index("scripts/deploy.sh") < page.index("PostgreSQL") if "PostgreSQL" in page else True


def test_keyset_pages_walk_every_memory_once(mem: Memory, client: TestClient) -> None:
    mem.store.add_many("bulk", [(f"bulk memory {i}", HashEmbedder().embed_document(f"bulk {i}")) for i in range(120)])
    seen: list[str] = []
    path: str | None = "/console/memories?scope=bulk"
    while path:
        page = client.get(path).text
        seen += [line for line in page.split('data-id="')[1:]]
        path = None
        if 'id="next-page" href="' in page:
            path = page.split('id="next-page" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    ids = [chunk.split('"', 1)[0] for chunk in seen]
    assert len(ids) == 120 and len(set(ids)) == 120


def test_review_save_discard_merge_and_their_undo(mem: Memory, client: TestClient, brain: ScriptedBrain) -> None:
    store = mem.store
    brain.gate = "SKIP"
    skipped = mem.remember("the staging database is reset every night", "shop")
    assert skipped.status == "skipped" and skipped.inbox_id is not None
    brain.gate, brain.action = "SAVE", "ADD"
    # Save anyway: the text is remembered with the gate overruled, and leaves the review list.
    answer = post(client, f"/console/inbox/{skipped.inbox_id}/save", {"back": "/console/inbox"})
    assert answer.status_code == 303, answer.text
    assert [s.text for s in store.list_seeds("shop")] == ["the staging database is reset every night"]
    assert store.inbox_count("skipped") == 0
    review = store.page_operations(None, ["review-save"], 5)[0]
    # Undo: the memory is gone again and the text is back for review, with its reason.
    assert post(client, "/console/undo", {"operation_id": review.id}).status_code == 303
    assert store.list_seeds("shop") == []
    back = store.review_inbox("skipped", None, 5)
    assert [e.text for e in back] == ["the staging database is reset every night"]
    # Discard, then undo the discard.
    assert post(client, f"/console/inbox/{back[0].id}/discard").status_code == 303
    assert store.inbox_count("skipped") == 0
    discard = store.page_operations(None, ["review-discard"], 5)[0]
    assert post(client, "/console/undo", {"operation_id": discard.id}).status_code == 303
    assert store.inbox_count("skipped") == 1
    # A duplicate kept for review, merged into the memory it duplicates; then the merge undone.
    target = mem.remember("the API gateway times out after 30 s", "shop").seed
    assert target is not None
    brain.action, brain.target = "NONE", "first"
    duplicate = mem.remember("the gateway's timeout is 30 seconds, configurable in gateway.yaml", "shop")
    assert duplicate.status == "duplicate" and duplicate.inbox_id is not None
    page = client.get("/console/inbox").text
    assert "Duplicates kept for review (1)" in page and "configurable in gateway.yaml" in page
    merged = "the API gateway times out after 30 s (gateway.yaml)"
    answer = post(client, f"/console/inbox/{duplicate.inbox_id}/merge", {"target_id": target.id, "text": merged})
    assert answer.status_code == 303, answer.text
    assert store.require(target.id).text == merged
    merge = store.page_operations(None, ["review-merge"], 5)[0]
    assert post(client, "/console/undo", {"operation_id": merge.id}).status_code == 303
    assert store.require(target.id).text == "the API gateway times out after 30 s"
    assert any("gateway.yaml" in e.text for e in store.review_inbox("skipped", None, 5))


def test_edit_forget_purge_and_history(mem: Memory, client: TestClient) -> None:
    store = mem.store
    seed = mem.remember("deploys go out on Tuesdays", "shop").seed
    assert seed is not None
    assert post(client, f"/console/memories/{seed.id}/edit", {"text": "deploys go out on Thursdays"}).status_code == 303
    assert store.require(seed.id).text == "deploys go out on Thursdays"
    page = client.get(f"/console/memories/{seed.id}").text
    assert "a person, in the console" in page and "deploys go out on Tuesdays" in page  # the text before
    edit = store.operations_about(seed.id)[-1]
    assert post(client, "/console/undo", {"operation_id": edit.id}).status_code == 303
    assert store.require(seed.id).text == "deploys go out on Tuesdays"
    assert post(client, f"/console/memories/{seed.id}/forget").status_code == 303
    assert store.get(seed.id) is None
    assert "not stored now" in client.get(f"/console/memories/{seed.id}").text
    assert post(client, f"/console/memories/{seed.id}/purge").status_code == 303
    assert store.history(seed.id) == [] and client.get(f"/console/memories/{seed.id}").status_code == 404


def test_an_edit_holding_a_secret_is_refused(mem: Memory, client: TestClient) -> None:
    seed = mem.remember("the CI token lives in the vault", "shop").seed
    assert seed is not None
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    answer = post(client, f"/console/memories/{seed.id}/edit", {"text": f"the CI token is {secret}"})
    assert answer.status_code == 400 and secret not in answer.text
    assert mem.store.require(seed.id).text == "the CI token lives in the vault"


def test_activity_lists_decisions_by_kind_with_undo(mem: Memory, client: TestClient, brain: ScriptedBrain) -> None:
    first = mem.remember("the cache TTL is 60 s", "shop").seed
    mem.remember("logs are kept for 14 days", "shop")
    assert first is not None
    brain.action, brain.target, brain.merged = "UPDATE", "first", "the cache TTL is 120 s"
    updated = mem.remember("the cache TTL is now 120 s", "shop")
    assert updated.status == "updated" and updated.operation_id
    mem.forget(first.id)
    page = client.get("/console/activity").text
    for label in ("ADD", "UPDATE", "forget"):
        assert f"label-{label}" in page
    only_updates = client.get("/console/activity?kind=UPDATE").text
    assert "label-UPDATE" in only_updates and "label-forget" not in only_updates
    forget_op = mem.store.page_operations(None, ["forget"], 1)[0]
    assert post(client, "/console/undo", {"operation_id": forget_op.id}).status_code == 303
    assert mem.store.require(first.id).text == "the cache TTL is 120 s"


def test_a_memory_shows_who_decided_with_the_models_shares_and_the_seed_compared(
    mem: Memory, client: TestClient, brain: ScriptedBrain
) -> None:
    import math

    brain.scores = {"lesson": math.log(0.72), "chatter": math.log(0.2), "fact": math.log(0.08)}
    first = mem.remember("the cache TTL is 60 s", "shop").seed
    assert first is not None
    brain.action, brain.target, brain.merged = "UPDATE", "first", "the cache TTL is 120 s"
    brain.relation_shares = {"UPDATE": 0.64, "SAME": 0.3, "DIFFERENT": 0.06}
    updated = mem.remember("the cache TTL is now 120 s", "shop")
    assert updated.status == "updated"
    brain.action, brain.relation_shares = "NONE", {"SAME": 0.9, "UPDATE": 0.1}
    assert mem.remember("cache TTL: 120 seconds", "shop").status == "duplicate"
    # The second look overruled the first answer: both are shown.
    brain.relation_shares, brain.second_look = {"UPDATE": 0.67, "SAME": 0.33}, {"YES": 0.71, "NO": 0.29}
    assert mem.remember("the TTL of the cache: 120 s", "shop").status == "duplicate"
    brain.gate, brain.scores = "SKIP", {"chatter": math.log(0.81), "lesson": math.log(0.19)}
    assert mem.remember("thanks, that did it", "shop").status == "skipped"

    def read(path: str) -> str:
        """The page as a person reads it: its text, tags taken out, spaces collapsed."""
        return " ".join(re.sub(r"<[^>]+>", " ", client.get(path).text).split())

    history = read(f"/console/memories/{first.id}")
    # Stored: the gate read it as a lesson, with the model's shares.
    assert "gate: model, read as lesson — the model's shares: lesson 72% · chatter 20% · fact 8%" in history
    # Updated: the arbiter (the model) compared it with this very memory and said UPDATE, 64%.
    assert "the arbiter (the model)" in history
    assert re.search(
        rf"compared with memory {first.id} \(similarity -?[01]\.\d\d\): UPDATE — UPDATE 64% · SAME 30% · DIFFERENT 6%",
        history,
    )
    # Repeated: the text judged a duplicate is in the memory's history, with the model's shares.
    assert "cache TTL: 120 seconds" in history and "SAME — SAME 90% · UPDATE 10%" in history
    assert "SAME — first answer UPDATE: UPDATE 67% · SAME 33% ; second look, only reworded? YES 71% · NO 29%" in history
    assert re.search(r"decided in \d+ ms", history)

    inbox = read("/console/inbox")
    assert "read as chatter — the model's shares: chatter 81% · lesson 19%" in inbox and "SAME 90%" in inbox
    skips = read("/console/activity?kind=SKIP")
    assert "SKIP" in skips and "thanks, that did it" in skips and "the gate (the model)" in skips
    assert "label-ADD" not in client.get("/console/activity?kind=SKIP").text
    adds = read("/console/activity?kind=ADD")
    assert "the cache TTL is 60 s" in adds and "lesson 72%" in adds
    overview = client.get("/console/overview").text
    latency = overview[overview.index('id="latency"') :].split("</figcaption>", 1)[0]
    assert ": the last 5 decisions, p50" in latency


def test_an_imports_decision_about_a_stored_memory_shows_in_its_history(
    mem: Memory, client: TestClient, brain: ScriptedBrain
) -> None:
    from server.importers.pipeline import ImportOptions, import_items
    from server.importers.records import ImportItem

    first = mem.remember("the cache TTL is 60 s", "shop").seed
    other = mem.remember("logs are kept for 14 days in the cache cluster", "shop").seed
    assert first is not None and other is not None
    brain.action, brain.target, brain.merged = "UPDATE", "first", ""
    brain.relation_shares = {"UPDATE": 0.61, "DIFFERENT": 0.39}
    items = [ImportItem(text="the cache TTL is now 90 s", origin="line 1", source="import:test")]
    summary = import_items(mem, items, ImportOptions(default_scope="shop"), format_name="test", source="test.jsonl")
    assert summary.operation_id is not None
    (target,) = [o.seed_id for o in summary.outcomes if o.status == "updated"]
    page = " ".join(re.sub(r"<[^>]+>", " ", client.get(f"/console/memories/{target}").text).split())
    assert "an import: the arbiter (the model)" in page and "UPDATE 61% · DIFFERENT 39%" in page
    assert "because of: the cache TTL is now 90 s" in page


# -- the protections: each of these fails when its check is taken out --------------------------------------


def test_stored_markup_renders_as_text(mem: Memory, client: TestClient) -> None:
    ids = [r.seed.id for r in (mem.remember(text, "shop", force=True) for text in XSS) if r.seed]
    pages = [client.get("/console/memories").text, client.get("/console/activity").text]
    pages += [client.get(f"/console/memories/{seed_id}").text for seed_id in ids]
    for page in pages:
        assert "<script>document.title" not in page and "<img src=x" not in page
        assert 'href="javascript:' not in page
    assert "&lt;script&gt;document.title" in pages[0]


def test_every_answer_carries_a_strict_csp(client: TestClient) -> None:
    for path in ("/console/memories", "/console/overview", "/console/static/console.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in CSP and "default-src 'none'" in CSP


def test_a_foreign_host_header_is_refused(client: TestClient) -> None:
    # DNS rebinding: evil.example resolved to 127.0.0.1 still says Host: evil.example.
    assert client.get("/console/memories", headers={"host": "evil.example:8765"}).status_code == 421
    assert client.get("/console/memories", headers={"host": "127.0.0.1:8765"}).status_code == 200


def test_a_cross_origin_post_changes_nothing(mem: Memory, client: TestClient) -> None:
    seed = mem.remember("the release branch is cut on Mondays", "shop").seed
    assert seed is not None
    csrf = csrf_of(client)
    path = f"/console/memories/{seed.id}/forget"
    assert client.post(path, data={"csrf": csrf}, headers={"origin": "http://evil.example"}).status_code == 403
    assert client.post(path, data={"csrf": csrf}, headers={"origin": "null"}).status_code == 403
    assert client.post(path, data={"csrf": csrf}).status_code == 403  # no Origin, no Referer
    assert client.post(path, data={"csrf": "forged"}, headers=ORIGIN).status_code == 403
    assert client.post(path, data={}, headers=ORIGIN).status_code == 403
    assert client.get(path).status_code == 405  # a GET never changes anything
    assert mem.store.get(seed.id) is not None
    assert client.post(path, data={"csrf": csrf}, headers=ORIGIN).status_code == 303
    assert mem.store.get(seed.id) is None


def test_an_open_redirect_is_not_possible(mem: Memory, client: TestClient) -> None:
    seed = mem.remember("the docs site is built by mkdocs", "shop").seed
    assert seed is not None
    answer = post(client, f"/console/memories/{seed.id}/edit", {"text": "docs: mkdocs", "back": "//evil.example/x"})
    assert answer.headers["location"] == f"/console/memories/{seed.id}"


def test_a_token_sees_and_changes_only_its_scopes(tmp_path: Path, mem: Memory) -> None:
    tokens = TokenFile(tmp_path / "tokens.json")
    _, limited = tokens.add("laptop", "shop")
    _, every = tokens.add("admin", "*")
    mine = mem.remember("shop: the cart service is in Go", "shop").seed
    theirs = mem.remember("billing: invoices are PDFs", "billing").seed
    assert mine is not None and theirs is not None
    guard = Guard(allowed_hosts("0.0.0.0", 8765, ("127.0.0.1:8765",)), "token", tokens)
    with client_for(mem, guard) as client:
        assert client.get("/console/memories").headers["location"] == "/console/login"
        assert client.post("/console/login", data={"token": "cbm_wrong"}, headers=ORIGIN).status_code == 401
        # Sign-in from another origin is refused even with a good token.
        refused = client.post("/console/login", data={"token": limited}, headers={"origin": "http://evil.example"})
        assert refused.status_code == 403
        assert client.post("/console/login", data={"token": limited}, headers=ORIGIN).status_code == 303
        page = client.get("/console/memories").text
        assert "cart service" in page and "invoices" not in page
        assert client.get(f"/console/memories/{theirs.id}").status_code == 404
        assert "invoices" not in client.get("/console/activity").text
        assert "billing" not in client.get("/console/overview").text
        assert post(client, f"/console/memories/{theirs.id}/forget").status_code == 404
        assert mem.store.get(theirs.id) is not None
        assert post(client, f"/console/memories/{mine.id}/forget").status_code == 303
        # Its forget of a billing memory's operation can't be undone through it either.
        billing_forget = mem.forget(theirs.id)
        assert post(client, "/console/undo", {"operation_id": billing_forget.operation_id}).status_code == 404
        tokens.revoke("laptop")  # a revoked token's session ends at its next request
        assert client.get("/console/memories").headers["location"] == "/console/login"
        assert client.post("/console/login", data={"token": every}, headers=ORIGIN).status_code == 303
        assert "invoices" in client.get(f"/console/memories/{theirs.id}").text


def test_the_service_port_needs_the_one_time_address(mem: Memory) -> None:
    guard = Guard(allowed_hosts("127.0.0.1", 8765), "key")
    with client_for(mem, guard) as client:
        assert client.get("/console/memories").status_code == 401
        assert client.get("/console/enter?key=guess").status_code == 401
        key = guard.key
        assert client.get(f"/console/enter?key={key}").status_code == 303
        assert client.get("/console/memories").status_code == 200
    with client_for(mem, guard) as other:  # another browser with the used address
        assert other.get(f"/console/enter?key={key}").status_code == 401
        assert other.get("/console/memories").status_code == 401
