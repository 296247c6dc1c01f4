"""The commands about the set-up: download (the models), calibrate (the gate), doctor (everything, checked)."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from server.cli.command import CliError, Command, err, out, version
from server.cli.serve import service_line
from server.cli.stores import store
from server.settings import Settings
from server.system import byte_size

DOCTOR_SAMPLE = "Lesson: run the database migrations before the integration tests, or they fail on a missing table."

Check = tuple[str, bool | None, str]
"""(what, ok / failed / None = a note, detail): one row of doctor's table."""


def cmd_download(args: argparse.Namespace, settings: Settings) -> None:
    from server.models.files import ModelUnavailable, download_model, locate_model, probe_hub_file

    console = out()
    failures: list[str] = []
    for role, spec, setting in (
        ("cerebellum", settings.model, "--model / CEREBELLUM_MODEL"),
        ("embedder", settings.embedder, "--embedder / CEREBELLUM_EMBEDDER"),
    ):
        found = locate_model(spec)
        if found.path is not None:
            where = "local file" if found.hub is None else "already in the Hugging Face cache"
            console.print(f"{role}: {spec} - {where}, {byte_size(found.size)}: {found.path}")
            continue
        if found.hub is None:
            failures.append(f"{role}: '{spec}' is neither a file nor a 'repo_id:filename' reference ({setting})")
            continue
        if settings.offline:
            failures.append(f"{role}: {spec} is not in the Hugging Face cache and --offline forbids downloading")
            continue
        started = time.monotonic()
        try:
            expected = probe_hub_file(found.hub, role=role, setting=setting)
            console.print(f"{role}: downloading {spec} ({byte_size(expected)}); progress on stderr")
            path = download_model(spec, role=role, setting=setting)
        except ModelUnavailable as exc:
            failures.append(str(exc))
            continue
        console.print(f"{role}: {byte_size(path.stat().st_size)} in {time.monotonic() - started:.0f} s: {path}")
    if failures:
        raise CliError("\n".join(failures))


def calibrate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ship",
        action="store_true",
        help="for maintainers: also write the fit into the package (server/gate_fits/), so that installs with "
        "these exact model files start with the calibrated gate",
    )


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> None:
    from server.models.calibration import CalibrationError
    from server.models.cerebellum import CerebellumError
    from server.models.files import ModelUnavailable
    from server.pipeline.loading import calibrate_gate, load_cerebellum, load_embedder, model_path

    started = time.monotonic()
    try:
        with err().status("loading the models and fitting the gate (one question per bank text)..."):
            embedder = load_embedder(model_path(settings, "embedder"), settings)
            try:
                cerebellum = load_cerebellum(model_path(settings, "cerebellum"), settings)
                try:
                    fitted = calibrate_gate(settings, cerebellum, embedder)
                finally:
                    cerebellum.close()
            finally:
                embedder.close()
    except (ModelUnavailable, CerebellumError, CalibrationError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if getattr(args, "ship", False):
        from server.models.calibration import shipped_file

        target = shipped_file(fitted.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fitted.to_json(), encoding="utf-8")
        out().print(f"shipped in the package: {target}")
    errors = fitted.out_of_fold
    out().print(
        f"gate calibration {fitted.key} for {Path(settings.model).name} and {Path(settings.embedder).name} "
        f"({len(fitted.saves)} labelled texts, {time.monotonic() - started:.0f} s)\n"
        f"out of fold: {errors['skipped_saves']:.1%} of the texts to keep skipped, "
        f"{errors['saved_skips']:.1%} of the texts to skip kept"
    )


# -- doctor ---------------------------------------------------------------------------------------


def doctor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-decision", action="store_true", help="skip loading the models for a test decision")


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from rich.table import Table

    checks: list[Check] = []
    checks.append(("cerebellum-mcp", None, version()))
    checks.append(("Python", None, f"{platform.python_version()} ({sys.executable})"))
    checks.extend(sqlite_checks())
    try:
        checks.append(("llama-cpp-python", None, installed("llama-cpp-python")))
    except PackageNotFoundError:
        checks.append(("llama-cpp-python", False, "not installed: reinstall cerebellum-mcp"))
    paths = model_checks(settings, checks)
    checks.extend(store_checks(settings))
    checks.append(calibration_check(settings, paths))
    checks.append(("shared service", None, service_line(settings)))
    checks.append(token_check(settings))
    if not args.no_decision:
        checks.extend(decision_check(settings, paths))
    table = Table(title="cerebellum-mcp doctor", title_justify="left")
    table.add_column("check")
    table.add_column("", justify="center")
    table.add_column("detail", overflow="fold")
    for what, ok, detail in checks:
        table.add_row(what, {True: "ok", False: "FAIL", None: ""}[ok], detail)
    out().print(table)
    failed = [what for what, ok, _ in checks if ok is False]
    if failed:
        raise CliError(f"{len(failed)} check(s) failed: {', '.join(failed)}.")


def token_check(settings: Settings) -> Check:
    """The bearer token file that serve --http reads: how many tokens, and whether it can be used."""
    from server.protocol.tokens import ADD_HINT, TokenFile, TokenFileError, exposed

    tokens = TokenFile(settings.tokens_file)
    try:
        records = tokens.records()
    except TokenFileError as exc:
        return ("bearer tokens", False, str(exc))
    if not records:
        return (
            "bearer tokens",
            None,
            f"none in {tokens.path}: serve --http on loopback needs none; on any other host, or with --auth tokens, "
            f"add one: {ADD_HINT}",
        )
    names = ", ".join(f"{r.name} ({','.join(r.scopes)})" for r in records)
    detail = f"{len(records)} in {tokens.path}: {names}"
    mode = tokens.path.stat().st_mode
    if exposed(mode):
        detail += f"; other users can read it (mode {mode & 0o777:o}): chmod 600 {tokens.path}"
    return ("bearer tokens", True, detail)


def sqlite_checks() -> list[Check]:
    from seeds import connect, sqlite_library, stdlib_sqlite_version

    binding, sqlite_version = sqlite_library()
    how = (
        "the standard library's sqlite3 loads extensions"
        if binding == "sqlite3"
        else f"{binding} (this Python's sqlite3 cannot load extensions; stdlib SQLite {stdlib_sqlite_version()})"
    )
    checks: list[Check] = [("SQLite", None, f"{sqlite_version} via {how}")]
    try:
        conn = connect(":memory:")
        vec = str(conn.execute("SELECT vec_version()").fetchone()[0])
        fts5 = conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()[0]
        conn.close()
        checks.append(("sqlite-vec", True, f"{vec}, loaded into {binding}"))
        checks.append(("FTS5", bool(fts5), "compiled in" if fts5 else "missing: keyword recall will fail"))
    except Exception as exc:
        checks.append(("sqlite-vec", False, f"could not load: {exc}"))
    return checks


def model_checks(settings: Settings, checks: list[Check]) -> dict[str, Path]:
    from server.models.files import locate_model, sha256_of

    paths: dict[str, Path] = {}
    for role, spec, flag in (("cerebellum", settings.model, "--model"), ("embedder", settings.embedder, "--embedder")):
        found = locate_model(spec)
        if found.path is None:
            hint = "run 'cerebellum-mcp download'" if found.hub is not None else f"check {flag}"
            checks.append((f"{role} model", False, f"{spec}: not found ({hint})"))
            continue
        paths[role] = found.path
        checks.append(
            (f"{role} model", True, f"{found.path} ({byte_size(found.size)})\nsha256 {sha256_of(found.path)}")
        )
    return paths


def store_checks(settings: Settings) -> list[Check]:
    from seeds import StoreError, redacted

    path = settings.db
    if isinstance(path, Path) and not path.exists():
        return [("store", None, f"{path}: not created yet (created on first use)")]
    try:
        with store(settings) as opened:
            stats = opened.stats()
            integrity = opened.integrity_check()
    except (CliError, StoreError) as exc:
        return [("store", False, f"{redacted(path)}: {exc}")]
    scopes = ", ".join(f"{scope} {count}" for scope, count in stats.seeds_by_scope.items()) or "none"
    embedder = f"{stats.embedder[0]} ({stats.embedder[1]} dims)" if stats.embedder else "none yet"
    return [
        (
            "store",
            integrity == "ok",
            f"{stats.path} ({byte_size(stats.size_bytes)}, schema {stats.schema_version}, integrity {integrity})",
        ),
        ("store engine", None, f"{stats.engine}: {stats.engine_version}; vector search: {stats.vector_index}"),
        ("memories", None, f"{stats.seeds} ({scopes}); vectors from {embedder}"),
    ]


def calibration_check(settings: Settings, paths: dict[str, Path]) -> Check:
    from server.models.calibration import CalibrationError, cache_file, calibration_key, load_bank, shipped_file

    which = "shipped" if settings.gate_bank is None else f"your ({settings.gate_bank})"
    try:
        bank = load_bank(settings.gate_bank)
    except (CalibrationError, OSError) as exc:
        return ("gate calibration", False, f"the {which} bank is unusable: {exc}")
    shipped = f"{which} bank of {len(bank)} labelled texts"
    if not settings.calibrate_gate:
        return ("gate calibration", None, f"off (CEREBELLUM_CALIBRATE_GATE=false); {shipped}")
    if set(paths) != {"cerebellum", "embedder"}:
        return ("gate calibration", None, f"{shipped}; fitted once the models are found")
    key = calibration_key(paths["cerebellum"], paths["embedder"], bank)
    for where in (cache_file(settings.cache_dir, key), shipped_file(key)):
        if where.is_file():
            return ("gate calibration", True, f"fitted for these models and the {which} bank: {where}")
    cached = cache_file(settings.cache_dir, key)
    return (
        "gate calibration",
        None,
        f"{shipped}; not fitted for these models yet: the server fits it in the background on first load "
        f"(deciding with the plain gate meanwhile), or 'cerebellum-mcp calibrate' now, into {cached.parent}",
    )


def decision_check(settings: Settings, paths: dict[str, Path]) -> list[Check]:
    from server.pipeline.loading import load_cerebellum, load_embedder

    if set(paths) != {"cerebellum", "embedder"}:
        return [("test decision", False, "skipped: a model file is missing")]
    checks: list[Check] = []
    try:
        with err().status("loading the models for a test decision..."):
            started = time.perf_counter()
            embedder = load_embedder(paths["embedder"], settings)
            cerebellum = load_cerebellum(paths["cerebellum"], settings)
            loaded = time.perf_counter() - started
        try:
            vector = embedder.embed_document(DOCTOR_SAMPLE)
            verdict = cerebellum.memorize(DOCTOR_SAMPLE)
        finally:
            embedder.close()
            cerebellum.close()
    except Exception as exc:  # the point of doctor is to show whatever goes wrong, named
        return [("test decision", False, f"{type(exc).__name__}: {exc}")]
    checks.append(("embedding", True, f"{len(vector)} dimensions (models loaded in {loaded:.1f} s)"))
    checks.append(
        (
            "test decision",
            True,
            f"{verdict.decision} ({verdict.category}: {verdict.reason}) in {verdict.elapsed_ms:.0f} ms\n"
            f"for: {DOCTOR_SAMPLE}",
        )
    )
    return checks


DOWNLOAD = Command("download", "fetch the configured models into the Hugging Face cache now", cmd_download)
CALIBRATE = Command(
    "calibrate",
    "fit the gate to the configured models now (once per model pair; the server otherwise fits it in the "
    "background on first load, deciding with the plain gate meanwhile)",
    cmd_calibrate,
    calibrate_options,
)
DOCTOR = Command(
    "doctor",
    "check Python, SQLite, sqlite-vec, the models and the store; make a test decision",
    cmd_doctor,
    doctor_options,
)
