"""The MCP Inspector (npm), a client nobody here wrote, lists our tools and calls recall over stdio."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from eval.inspector_check import check


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_the_inspector_cli_lists_the_tools_and_recalls_what_was_remembered(smollm2: Path) -> None:
    log = io.StringIO()
    report = check(smollm2, smollm2, "0.15.0", quick=True, log=log)
    assert [line.split()[1] for line in report] == ["tools/list", "cerebellum-mcp", "tools/call"]
    assert "recall, reconcile, remember" in report[0]
    assert "first hit: The release checklist lives in docs/RELEASE.md." in report[2]
