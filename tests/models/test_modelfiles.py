"""Model resolution: local files, the Hugging Face cache (offline-safe), and the errors a user sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.models.files import HubFile, ModelUnavailable, parse_spec, resolve_model

REPO, FILE = "doncxy/BIJA-cerebellum-Qwen3-1.7B-v1", "Qwen3-1.7B-BIJA-cerebellum-Q8_0.gguf"


def test_specs_are_paths_or_hub_references(tmp_path: Path) -> None:
    assert parse_spec(f"{REPO}:{FILE}") == HubFile(REPO, FILE)
    assert parse_spec("Qwen/Qwen3-Embedding-0.6B-GGUF:sub/dir/m.gguf") == HubFile(
        "Qwen/Qwen3-Embedding-0.6B-GGUF", "sub/dir/m.gguf"
    )
    assert parse_spec(r"C:\models\x.gguf") == Path(r"C:\models\x.gguf")
    # An existing file wins even when its name looks like a hub reference.
    odd = tmp_path / "a" / "b:c.gguf"
    odd.parent.mkdir()
    odd.write_bytes(b"GGUF")
    assert parse_spec(str(odd)) == odd


def test_a_local_gguf_resolves_to_itself(smollm2: Path) -> None:
    assert resolve_model(str(smollm2), role="cerebellum", setting="--model") == smollm2


def test_a_missing_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as error:
        resolve_model(str(tmp_path / "gone.gguf"), role="embedder", setting="--embedder / CEREBELLUM_EMBEDDER")
    message = str(error.value)
    assert "gone.gguf" in message and "does not exist" in message and "--embedder / CEREBELLUM_EMBEDDER" in message


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>rate limited</html>")
    with pytest.raises(ModelUnavailable, match="is not a GGUF file"):
        resolve_model(str(fake), role="cerebellum", setting="--model")


def _fake_hub_cache(root: Path, source: Path) -> None:
    """The layout huggingface_hub itself writes: refs/main names a snapshot holding the file."""
    repo_dir = root / f"models--{REPO.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    snapshot = repo_dir / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    shutil.copyfile(source, snapshot / FILE)


def test_a_cached_hub_file_is_used_offline_without_the_network(tmp_path: Path, smollm2: Path) -> None:
    _fake_hub_cache(tmp_path / "hub", smollm2)
    path = resolve_model(
        f"{REPO}:{FILE}", role="cerebellum", setting="--model", offline=True, hub_cache=tmp_path / "hub"
    )
    assert path.name == FILE and path.read_bytes()[:4] == b"GGUF"


def test_an_uncached_hub_file_offline_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as error:
        resolve_model(f"{REPO}:{FILE}", role="cerebellum", setting="--model", offline=True, hub_cache=tmp_path)
    message = str(error.value)
    assert REPO in message and FILE in message and "offline" in message and "--model" in message


def test_a_failed_download_says_what_was_tried(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE=1 (set for every test) makes the real download call fail at once.
    with pytest.raises(ModelUnavailable) as error:
        resolve_model(f"{REPO}:{FILE}", role="cerebellum", setting="--model", hub_cache=tmp_path)
    message = str(error.value)
    assert f"Could not download the cerebellum model {REPO}:{FILE}" in message
    assert "not in the local cache either" in message and "--model" in message
