"""One place for every setting: defaults, then CEREBELLUM_* environment variables, then CLI flags."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.rules import scopes
from server.rules.limits import MAX_TEXT_CHARS
from server.rules.scopes import DEFAULT_SCOPE, scope_from_root

APP_NAME = "cerebellum-mcp"
DEFAULT_MODEL = "doncxy/BIJA-cerebellum-Qwen3-1.7B-v1:Qwen3-1.7B-BIJA-cerebellum-Q8_0.gguf"
DEFAULT_EMBEDDER = "Qwen/Qwen3-Embedding-0.6B-GGUF:Qwen3-Embedding-0.6B-Q8_0.gguf"


ScopeSource = Literal[
    "argument", "setting", "roots", "launch-folder", "hook-folder", "project-header", "token", "default"
]
"""Where a call's scope came from: named in the call; the --scope / CEREBELLUM_SCOPE setting; the client's first
MCP root; the folder the client started the stdio launch in; the folder a hook's payload names; the project
header an HTTP client sends (PROJECT_HEADER); the caller's bearer token, which holds one scope and not the
default; or none of these."""
FolderSource = Literal["launch-folder", "hook-folder", "project-header"]
PROJECT_DIR_VARIABLE = "CLAUDE_PROJECT_DIR"
"""Claude Code sets it for its MCP servers and hooks: the folder it was started in, which stays the project
even when the agent changes into a subfolder (a hook payload's `cwd` follows the agent)."""
PROJECT_HEADER = "X-Cerebellum-Project"
"""The HTTP header naming a client's project folder, as a file:// URI (`config claude-code --http` writes it)."""


@dataclass(frozen=True)
class ScopeChoice:
    """A call's default scope and why it is that one."""

    scope: str
    source: ScopeSource
    reason: str


def project_folder(folder: str | Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The project folder a client names: CLAUDE_PROJECT_DIR when set, else `folder` (a stdio launch's working
    folder, a hook payload's cwd). None when that is no project: the filesystem root or the home folder, where
    clients with no project of their own start their servers."""
    env = os.environ if env is None else env
    named = env.get(PROJECT_DIR_VARIABLE) or folder
    if not named:
        return None
    path = Path(named).expanduser().absolute()
    if path == Path(path.anchor) or path == Path.home().absolute():
        return None
    return path


_FOLDER_LABEL: dict[FolderSource, str] = {
    "launch-folder": "the folder the client started this server in",
    "hook-folder": "the project folder of the hook's session",
    "project-header": f"the project folder the client's {PROJECT_HEADER} header names",
}


def project_scope(
    settings: Settings,
    *,
    root: str | None = None,
    folder: Path | None = None,
    folder_source: FolderSource = "launch-folder",
) -> ScopeChoice:
    """The one rule for a call that names no scope, for the tools, the hooks and the CLI alike:
    --scope / CEREBELLUM_SCOPE when set (an explicit choice wins); else the client's first MCP root; else the
    project folder the client gave otherwise (a stdio launch's folder, a hook's cwd, an HTTP project header),
    each named by `scope_from_root`; else the default. `root` is a URI, `folder` a path (see project_folder)."""
    if "scope" in settings.model_fields_set:
        return ScopeChoice(settings.scope, "setting", "set with --scope / CEREBELLUM_SCOPE")
    if root:
        return ScopeChoice(scope_from_root(root), "roots", f"the client's first root, {root}")
    if folder is not None:
        return ScopeChoice(scope_from_root(folder.as_uri()), folder_source, f"{_FOLDER_LABEL[folder_source]}, {folder}")
    return ScopeChoice(
        settings.scope, "default", "no --scope, no root from the client and no project folder: the default scope"
    )


def default_db_path() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "seeds.db"


def default_tokens_path() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "tokens.json"


def default_cache_dir() -> Path:
    return Path(user_cache_dir(APP_NAME, appauthor=False))


def default_service_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "service"


class Settings(BaseSettings):
    """Settings of the server, the CLI and eval. Environment: CEREBELLUM_<NAME>, e.g. CEREBELLUM_DB."""

    model_config = SettingsConfigDict(env_prefix="CEREBELLUM_", extra="ignore")

    db: Annotated[
        Path | str,
        Field(
            description="Where the seeds are: a SQLite file (a path), or a shared PostgreSQL database "
            "(postgresql://user:password@host:port/dbname, with the pgvector extension)."
        ),
    ] = Field(default_factory=default_db_path)
    model: Annotated[
        str, Field(description="The cerebellum GGUF: a local path, or 'repo_id:filename' on Hugging Face.")
    ] = DEFAULT_MODEL
    embedder: Annotated[
        str, Field(description="The embedding GGUF: a local path, or 'repo_id:filename' on Hugging Face.")
    ] = DEFAULT_EMBEDDER
    scope: Annotated[str, Field(description="The scope used when a call names none.")] = DEFAULT_SCOPE
    threads: Annotated[
        int | None,
        Field(
            ge=1,
            description="CPU threads for the cerebellum. Unset (the default): chosen before each model call from the "
            "machine's load, every core that other programs leave free and at least one (llama.cpp's threads wait "
            "for each other at every step, so a thread that shares its core with another busy program stalls them "
            "all). A number fixes the count.",
        ),
    ] = None
    embedder_threads: Annotated[
        int,
        Field(
            ge=1,
            description="CPU threads for the embedder. One is as fast for a query or a memory, and never stalls "
            "when other programs keep the cores busy.",
        ),
    ] = 1
    context_size: Annotated[int, Field(ge=512, description="The cerebellum's context window in tokens.")] = 4096
    embedder_context_size: Annotated[
        int, Field(ge=64, description="Tokens of a text the embedder reads (longer texts are cut for embedding only).")
    ] = 512
    secrets: Annotated[
        Literal["refuse", "redact"],
        Field(
            description="What remember does with a text holding a credential: refuse it, or store it with each "
            "secret replaced by a [REDACTED:kind] placeholder. Either way the secret itself is never stored."
        ),
    ] = "refuse"
    max_text_chars: Annotated[int, Field(ge=100, description="Longest text remember accepts, in characters.")] = (
        MAX_TEXT_CHARS
    )
    arbiter: Annotated[
        Literal["joint", "pairwise"],
        Field(description="joint: one question over all candidates; pairwise: one question per candidate."),
    ] = "pairwise"
    group_vote: Annotated[
        bool,
        Field(
            description="Memorize: decide SAVE or SKIP by the summed probability of each side's categories, "
            "then name the likeliest category on the winning side."
        ),
    ] = True
    calibrate_gate: Annotated[
        bool,
        Field(
            description="Memorize: decide SAVE or SKIP with a rule fitted to this cerebellum and embedder on a "
            "shipped bank of labelled texts (once per model pair, a few minutes, then cached in cache_dir)."
        ),
    ] = True
    gate_bank: Annotated[
        Path | None,
        Field(
            description="Your own bank of labelled texts for the calibrated gate (JSONL: text, decision SAVE or "
            "SKIP, category), in place of the shipped one; the fit is keyed on it."
        ),
    ] = None
    cache_dir: Annotated[Path, Field(description="Where fitted gate calibrations are cached.")] = Field(
        default_factory=default_cache_dir
    )
    second_look: Annotated[
        bool,
        Field(
            description="Pairwise arbiter: check an UPDATE (is it only reworded?) and a RETRACT (does it name a "
            "replacement?) with one yes/no question each."
        ),
    ] = True
    cross_script: Annotated[
        Literal["auto", "always", "never"],
        Field(
            description="Show the arbiter the nearest seeds written in the other script (English / Chinese) "
            "whatever their similarity: auto does so when the embedder can't match a text with its translation."
        ),
    ] = "auto"
    candidates: Annotated[int, Field(ge=1, le=20, description="Similar seeds shown to the arbiter.")] = 5
    candidate_similarity: Annotated[
        float,
        Field(ge=-1, le=1, description="Cosine similarity a stored seed needs to be shown to the arbiter at all."),
    ] = 0.5
    reconcile_similarity: Annotated[
        float, Field(ge=-1, le=1, description="Cosine similarity that makes two seeds a pair for reconcile.")
    ] = 0.75
    keyword_weight: Annotated[
        float, Field(ge=0, description="Weight of BM25 keyword ranks against vector ranks in recall (0: vectors only).")
    ] = 1.0
    neighbour_weight: Annotated[
        float,
        Field(
            ge=0,
            description="Share of a recalled seed's score given to the seeds stored just before and after it "
            "in the same session (within an hour).",
        ),
    ] = 0.5
    deadline_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="How long remember waits for the cerebellum before answering 'queued' (the text is kept "
            "and decided in the background).",
        ),
    ] = 10.0
    model_retry_seconds: Annotated[
        float, Field(gt=0, description="How often loading the models is retried after it failed.")
    ] = 30.0
    offline: Annotated[
        bool, Field(description="Never download models; use local paths or the Hugging Face cache only.")
    ] = False
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], Field(description="stderr log level.")] = "INFO"
    standalone: Annotated[
        bool,
        Field(
            description="Serve stdio from this process, with its own copy of the models, instead of attaching to "
            "the shared local service that every client of this store and these settings uses."
        ),
    ] = False
    service_idle_seconds: Annotated[
        float,
        Field(ge=0, description="The shared local service exits after this long with no client and nothing to decide."),
    ] = 600.0
    service_dir: Annotated[
        Path,
        Field(description="Where the shared local service keeps its socket, lock and log (private to the user: 0700)."),
    ] = Field(default_factory=default_service_dir)
    auth: Annotated[
        Literal["auto", "tokens"],
        Field(
            description="serve --http: 'auto' asks for bearer tokens on any address but loopback (where none are "
            "needed); 'tokens' asks for them on loopback too. Tokens come from tokens_file (`cerebellum-mcp token`)."
        ),
    ] = "auto"
    tokens_file: Annotated[
        Path, Field(description="The bearer tokens serve --http accepts (only their hashes), with their scopes.")
    ] = Field(default_factory=default_tokens_path)
    public_url: Annotated[
        str | None,
        Field(
            description="serve --http with tokens: the URL clients reach the MCP endpoint at (behind a proxy, or "
            "with a wildcard host); names the resource in the protected-resource metadata. Default "
            "http://HOST:PORT/mcp."
        ),
    ] = None

    @field_validator("gate_bank")
    @classmethod
    def _usable_bank(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from server.models.calibration import CalibrationError, load_bank

        value = value.expanduser()
        try:
            load_bank(value)
        except OSError as exc:
            raise ValueError(f"the gate bank {value} can't be read ({exc.strerror or exc})") from exc
        except CalibrationError as exc:
            raise ValueError(
                f'{exc}; each line is {{"text": "...", "decision": "SAVE" or "SKIP", "category": "..."}}'
            ) from exc
        return value

    @field_validator("db", mode="before")
    @classmethod
    def _db_path_or_url(cls, value: object) -> object:
        # A postgresql:// URL stays a string (a Path would fold its '//'); anything else is a file path.
        # Another scheme is refused here: as a path it would silently become a folder named 'scheme:'.
        text = str(value)
        if text.startswith(("postgresql://", "postgres://")):
            return text
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
            raise ValueError(
                f"{text!r} is neither a file path nor a postgresql:// URL; give a path to a SQLite file "
                "or postgresql://user@host/dbname"
            )
        return Path(text)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"{value!r} is not an http:// or https:// URL; give the URL clients use, e.g. https://host/mcp"
            )
        return value

    @field_validator("scope")
    @classmethod
    def _valid_scope(cls, value: str) -> str:
        return scopes.check_name(value)
