"""Where model files come from: a local path, or a Hugging Face `repo_id:filename` in the hub's own cache."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# owner/name:file.gguf (Hugging Face repo ids are owner/name; the filename may sit in a subfolder).
_HUB_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+):(?P<file>[\w./-]+\.gguf)$")


class ModelUnavailable(Exception):
    """A model file could not be found or fetched; the message says what was tried and how to fix it."""


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str


def parse_spec(spec: str) -> Path | HubFile:
    """A local path when one exists (or looks like one), else a hub reference `repo_id:filename`."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    match = _HUB_SPEC.match(spec)
    if match:
        return HubFile(match["repo"], match["file"])
    return path


def resolve_model(spec: str, *, role: str, setting: str, offline: bool = False, hub_cache: Path | None = None) -> Path:
    """Turn a model spec into a readable local GGUF file, downloading it into the hub cache if needed.

    `role` ("cerebellum", "embedder") and `setting` (the flag and env var that set it) only make
    the error messages say what to change. `hub_cache` overrides the hub's cache folder (HF_HUB_CACHE).
    """
    target = parse_spec(spec)
    fix = f"Pass {setting} with the path of a local .gguf file, or 'repo_id:filename' for a Hugging Face file."
    if isinstance(target, Path):
        if not target.is_file():
            raise ModelUnavailable(f"The {role} model file '{target}' does not exist. {fix}")
        _check_gguf(target, role, fix)
        return target

    cached = _from_cache(target, hub_cache)
    if cached is not None:
        return cached
    if offline:
        raise ModelUnavailable(
            f"The {role} model {target.repo_id}:{target.filename} is not in the Hugging Face cache and offline "
            f"mode is on. Run 'cerebellum-mcp download' where the network reaches huggingface.co, or: {fix}"
        )
    logger.info("downloading the %s model %s:%s (progress below)", role, target.repo_id, target.filename)
    try:
        from huggingface_hub import hf_hub_download  # pyright: ignore[reportUnknownVariableType]

        # huggingface_hub draws its progress bar on stderr; stdout stays the MCP stream.
        path = Path(hf_hub_download(repo_id=target.repo_id, filename=target.filename, cache_dir=hub_cache))
    except Exception as exc:
        raise ModelUnavailable(
            f"Could not download the {role} model {target.repo_id}:{target.filename} from Hugging Face "
            f"({type(exc).__name__}: {exc}). It is not in the local cache either. Check the network (or "
            f"HF_ENDPOINT / HF_TOKEN), run 'cerebellum-mcp download' later, or: {fix}"
        ) from exc
    _check_gguf(path, role, fix)
    return path


def _from_cache(target: HubFile, hub_cache: Path | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id=target.repo_id, filename=target.filename, cache_dir=hub_cache)
    return Path(found) if isinstance(found, str) else None


def _check_gguf(path: Path, role: str, fix: str) -> None:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelUnavailable(f"The {role} model file '{path}' is not a GGUF file. {fix}")
