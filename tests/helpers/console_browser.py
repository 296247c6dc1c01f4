"""A real Chromium for the console's browser tests: Debian's `chromium` (installed with apt-get where the tests
run as root and it is missing, as CI does), driven by Playwright's Python package (its PyPI wheel carries the
driver; the browser is the system's, never a CDN download). Tells why when there can be none."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT = 900
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"


class NoBrowser(Exception):
    """No Chromium can be had here; the message says why."""


def chromium() -> str:
    """The path of a Chromium executable, installed first with apt-get if missing and allowed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if not shutil.which("apt-get"):
        raise NoBrowser("no Chromium on PATH and no apt-get to install Debian's `chromium` package")
    if os.geteuid() != 0:
        raise NoBrowser("no Chromium on PATH, and installing Debian's `chromium` needs root (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        if done.returncode != 0:
            raise NoBrowser(f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}")
    found = shutil.which("chromium")
    if not found:
        raise NoBrowser("apt-get installed `chromium` but no chromium is on PATH")
    return found
