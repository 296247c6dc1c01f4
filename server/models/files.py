"""Where model files come from: a local path, or a Hugging Face `repo_id:filename` in the hub's own cache."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from server.errors import ServerError

logger = logging.getLogger(__name__)

# owner/name:file.gguf (Hugging Face repo ids are owner/name; the filename may sit in a subfolder).
_HUB_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+):(?P<file>[\w./-]+\.gguf)$")


class ModelUnavailable(ServerError):
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


@dataclass(frozen=True)
class ModelLocation:
    """Where a configured model is now: a local file, a file in the hub cache, or not here yet."""

    spec: str
    path: Path | None
    hub: HubFile | None

    @property
    def size(self) -> int | None:
        return self.path.stat().st_size if self.path is not None and self.path.is_file() else None


def locate_model(spec: str, hub_cache: Path | None = None) -> ModelLocation:
    """Find a model without downloading anything (for `doctor` and `download`)."""
    target = parse_spec(spec)
    if isinstance(target, Path):
        return ModelLocation(spec, target if target.is_file() else None, None)
    return ModelLocation(spec, _from_cache(target, hub_cache), target)


def download_model(spec: str, *, role: str, setting: str, hub_cache: Path | None = None) -> Path:
    """Fetch a hub model into the hub cache now (progress on stderr); a cached or local file is returned as is."""
    found = locate_model(spec, hub_cache)
    if found.path is not None:
        return found.path
    if found.hub is None:
        raise ModelUnavailable(
            f"The {role} model file '{spec}' does not exist, and it is not a Hugging Face 'repo_id:filename' "
            f"reference to download. Pass {setting} with a local .gguf file or a hub reference."
        )
    try:
        from huggingface_hub import hf_hub_download  # pyright: ignore[reportUnknownVariableType]

        path = Path(hf_hub_download(repo_id=found.hub.repo_id, filename=found.hub.filename, cache_dir=hub_cache))
    except Exception as exc:
        raise ModelUnavailable(
            f"Could not download the {role} model {found.hub.repo_id}:{found.hub.filename} from Hugging Face: "
            f"{type(exc).__name__}: {exc}. Check that this machine reaches huggingface.co (or set HF_ENDPOINT to "
            f"a mirror, HF_TOKEN for a gated repo), or download the .gguf file another way and pass its path "
            f"with {setting}."
        ) from exc
    _check_gguf(path, role, f"Pass {setting} with the path of a local .gguf file.")
    return path


def probe_hub_file(hub: HubFile, *, role: str, setting: str) -> int | None:
    """Ask the hub for the file (one quick request, no retries); its size in bytes when the hub says.

    A download of an unreachable hub retries for half a minute before it fails; asking first makes
    `cerebellum-mcp download` fail at once, with the reason.
    """
    try:
        from huggingface_hub import HfApi

        infos = HfApi().get_paths_info(hub.repo_id, [hub.filename])
    except Exception as exc:
        raise ModelUnavailable(
            f"Could not reach Hugging Face for the {role} model {hub.repo_id}:{hub.filename} "
            f"({type(exc).__name__}: {exc}). Check that this machine reaches huggingface.co (or set HF_ENDPOINT "
            f"to a mirror, HF_TOKEN for a gated repo, and unset HF_HUB_OFFLINE), or download the .gguf file "
            f"another way and pass its path with {setting}."
        ) from exc
    if not infos:
        raise ModelUnavailable(
            f"Hugging Face has no file {hub.filename} in {hub.repo_id} (the {role} model). Check the name given "
            f"with {setting}."
        )
    size = getattr(infos[0], "size", None)
    return int(size) if isinstance(size, int) else None


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
