"""Which similarity sends an import's item to the arbiter: chosen on labelled pairs, with the embedder alone.

    python -m eval import-threshold --cases eval/cases/arbitrate.jsonl --check eval/cases/arbitrate-heldout.jsonl \
        [--source server-memory=FILE] --embedder E.gguf [--json]

From arbitrate cases (`existing`, `new`, `expected`, `target`): a *same-subject* pair is the new text with its
target when the case expects NONE, UPDATE or DELETE (a duplicate, a refinement, a contradiction or retraction:
what the arbiter must see); a *different* pair is the new text with a stored text it is not about (every
existing text of an ADD case, the non-targets of the others: related facts, near numbers, other subjects).
Cross-script cases are left out (an English-only embedder cannot match a translation at any threshold; the
import asks the arbiter about those by script, as remember does).

The rule, fixed before looking: the highest threshold (in steps of 0.01) at which at least `--recall` (0.95)
of the selection set's same-subject pairs still reach the arbiter. The check set (written blind by another
session) then says how that threshold does on pairs it was not chosen on. With `--source`, the share of the
source's items whose nearest earlier item is at or above each threshold (what an import of it would ask).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from eval.common import Models
from server.pipeline.arbiter import script_of

STEPS = [round(0.50 + 0.01 * i, 2) for i in range(50)]


def pairs(path: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(same-subject pairs, different pairs) of a cases file, each (kind, new, stored)."""
    same: list[tuple[str, str, str]] = []
    different: list[tuple[str, str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        new = str(case["new"])
        for existing in case["existing"]:
            stored = str(existing["text"])
            if script_of(stored) != script_of(new):
                continue
            if case["expected"] != "ADD" and existing["id"] == case["target"]:
                same.append((str(case["kind"]), new, stored))
            else:
                different.append((str(case["kind"]), new, stored))
    return same, different


def similarities(models: Models, rows: list[tuple[str, str, str]]) -> list[float]:
    out: list[float] = []
    for _, new, stored in rows:
        a = np.asarray(models.embedder.embed_document(new), dtype=np.float32)
        b = np.asarray(models.embedder.embed_document(stored), dtype=np.float32)
        out.append(float(a @ b))
    return out


def _share(values: list[float], threshold: float) -> float:
    return round(sum(1 for v in values if v >= threshold) / max(len(values), 1), 3)


def source_neighbours(models: Models, format_name: str, path: Path) -> list[float]:
    """Per item of a source (after the first of its scope): the similarity of its nearest earlier item of the
    same scope whose text is not the same (exact repeats are folded without the model)."""
    from server.importers.sources import read_source

    items = read_source(format_name, path)
    texts = [item.text.strip() for item in items]
    scopes = np.asarray([hash(item.scope or "") for item in items])
    keys = np.asarray([hash(" ".join(text.casefold().split()).rstrip(".!")) for text in texts])
    vectors = np.asarray(models.embedder.embed_documents(texts), dtype=np.float32)  # pyright: ignore[reportAttributeAccessIssue]
    nearest: list[float] = []
    for start in range(0, len(texts), 512):
        block = vectors[start : start + 512] @ vectors.T
        for row in range(block.shape[0]):
            i = start + row
            earlier = (np.arange(len(texts)) < i) & (scopes == scopes[i]) & (keys != keys[i])
            if earlier.any():
                nearest.append(float(block[row][earlier].max()))
    return nearest


def run(
    models: Models, cases: Path, check: Path | None, recall: float, source: tuple[str, Path] | None
) -> dict[str, Any]:
    same, different = pairs(cases)
    same_sims, diff_sims = similarities(models, same), similarities(models, different)
    chosen = max((t for t in STEPS if _share(same_sims, t) >= recall), default=STEPS[0])
    report: dict[str, Any] = {
        "embedder": models.embedder.name,
        "cases": str(cases),
        "recall_asked": recall,
        "threshold": chosen,
        "selection": {
            "same_pairs": len(same),
            "different_pairs": len(different),
            "same_reaching_arbiter": _share(same_sims, chosen),
            "different_reaching_arbiter": _share(diff_sims, chosen),
            "same_by_kind": _by_kind(same, same_sims),
            "different_by_kind": _by_kind(different, diff_sims),
            "curve": [
                {"threshold": t, "same": _share(same_sims, t), "different": _share(diff_sims, t)}
                for t in STEPS
                if round(t * 100) % 5 == 0
            ],
        },
    }
    if check is not None:
        c_same, c_diff = pairs(check)
        c_same_sims, c_diff_sims = similarities(models, c_same), similarities(models, c_diff)
        report["check"] = {
            "cases": str(check),
            "same_pairs": len(c_same),
            "different_pairs": len(c_diff),
            "same_reaching_arbiter": _share(c_same_sims, chosen),
            "different_reaching_arbiter": _share(c_diff_sims, chosen),
            "missed": [
                {"kind": kind, "new": new, "stored": stored, "similarity": round(s, 3)}
                for (kind, new, stored), s in zip(c_same, c_same_sims, strict=True)
                if s < chosen
            ],
        }
    if source is not None:
        nearest = source_neighbours(models, *source)
        report["source"] = {
            "source": str(source[1]),
            "items_with_an_earlier_item": len(nearest),
            "share_at_or_above": {str(t): _share(nearest, t) for t in (0.75, 0.8, 0.85, 0.9, chosen, 0.97)},
        }
    return report


def _by_kind(rows: list[tuple[str, str, str]], sims: list[float]) -> dict[str, list[float]]:
    kinds: dict[str, list[float]] = {}
    for (kind, _, _), s in zip(rows, sims, strict=True):
        kinds.setdefault(kind, []).append(round(s, 3))
    return {kind: sorted(values) for kind, values in sorted(kinds.items())}


def render(report: dict[str, Any]) -> list[str]:
    sel = report["selection"]
    lines = [
        f"import threshold for {report['embedder']}: {report['threshold']} (the highest at which >= "
        f"{report['recall_asked']} of {sel['same_pairs']} same-subject pairs of {report['cases']} reach the arbiter)",
        f"  selection: same-subject reaching the arbiter {sel['same_reaching_arbiter']}, different pairs "
        f"{sel['different_reaching_arbiter']} of {sel['different_pairs']}",
    ]
    lines += [f"    at {row['threshold']}: same {row['same']}, different {row['different']}" for row in sel["curve"]]
    lines += [f"    same {kind}: {values}" for kind, values in sel["same_by_kind"].items()]
    lines += [f"    different {kind}: {values}" for kind, values in sel["different_by_kind"].items()]
    if "check" in report:
        check = report["check"]
        lines.append(
            f"  check ({check['cases']}): same-subject reaching the arbiter {check['same_reaching_arbiter']} of "
            f"{check['same_pairs']}, different {check['different_reaching_arbiter']} of {check['different_pairs']}"
        )
        lines += [
            f"    missed {m['kind']} ({m['similarity']}): {m['new']!r} / {m['stored']!r}" for m in check["missed"]
        ]
    if "source" in report:
        src = report["source"]
        lines.append(
            f"  source {src['source']}: items whose nearest earlier item is at or above: {src['share_at_or_above']}"
        )
    return lines
