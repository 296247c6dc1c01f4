"""The MCP reference memory server (`@modelcontextprotocol/server-memory`): its knowledge graph file.

Its `saveGraph` writes JSON Lines, one `{"type":"entity","name","entityType","observations":[...]}` or
`{"type":"relation","from","to","relationType"}` per line, joined by newlines with no final one; older
versions named the file `memory.json` (same content). Forks write key variants (`entityName` or `id` for
the name, `entity_type`, `from_id`/`to_id`, `relation_type`), extra fields, or one JSON document
`{"entities":[...],"relations":[...]}`; all are read. The graph keeps no times.

Each observation becomes a memory naming its entity ("shop-api: deploys with GitHub Actions"), each
relation one sentence ("shop-api depends on billing-lib").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from server.importers.records import ImportItem, SourceError, json_lines, parse_json, read_text

SOURCE = "import:server-memory"


def _first(record: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _entity(path: Path, where: str, line: int | None, record: dict[str, Any]) -> list[ImportItem]:
    name = _first(record, "name", "entityName", "entity_name", "id")
    if name is None:
        raise SourceError(path, "an entity without a name (name, entityName or id)", line=line)
    kind = _first(record, "entityType", "entity_type")
    observations = record.get("observations", [])
    if not isinstance(observations, list):
        raise SourceError(path, f"entity {name!r}: observations is not a list", line=line)
    items: list[ImportItem] = []
    for number, observation in enumerate(cast(list[object], observations), start=1):
        if isinstance(observation, dict):  # a fork's {"content": ...} observations
            observation = _first(cast(dict[str, Any], observation), "content", "text", "observation")
        if not isinstance(observation, str) or not observation.strip():
            continue
        text = observation.strip()
        if name.casefold() not in text.casefold():
            text = f"{name}: {text}"
        items.append(
            ImportItem(
                text=text,
                tags=(kind,) if kind else (),
                source=SOURCE,
                origin=f"{where} observation {number}",
                subject=name,
            )
        )
    return items


def _relation(path: Path, where: str, line: int | None, record: dict[str, Any]) -> ImportItem:
    source = _first(record, "from", "from_id", "fromId", "source")
    target = _first(record, "to", "to_id", "toId", "target")
    kind = _first(record, "relationType", "relation_type", "relation")
    if source is None or target is None or kind is None:
        raise SourceError(path, "a relation needs from, to and relationType", line=line)
    return ImportItem(
        text=f"{source} {kind.replace('_', ' ')} {target}", tags=("relation",), source=SOURCE, origin=where
    )


def _record(path: Path, where: str, line: int | None, record: dict[str, Any]) -> list[ImportItem]:
    kind = record.get("type")
    if kind == "entity" or (kind is None and "observations" in record):
        return _entity(path, where, line, record)
    if kind == "relation" or (kind is None and ("relationType" in record or "relation_type" in record)):
        return [_relation(path, where, line, record)]
    raise SourceError(
        path,
        f"not an entity or a relation of the reference memory server (type {kind!r}, keys "
        f"{', '.join(sorted(record)[:6])})",
        line=line,
        hint="Is this the memory.jsonl of @modelcontextprotocol/server-memory? Pick the --from that made it",
    )


def read(path: Path) -> list[ImportItem]:
    text = read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("{") and '"entities"' in stripped[:2000] and "\n{" not in stripped.rstrip():
        document = parse_json(path, text)
        if isinstance(document, dict):
            graph = cast(dict[str, Any], document)
            items: list[ImportItem] = []
            for key, kind in (("entities", "entity"), ("relations", "relation")):
                for index, record in enumerate(cast(list[object], graph.get(key) or [])):
                    if isinstance(record, dict):
                        record = {"type": kind, **cast(dict[str, Any], record)}
                        items += _record(path, f"{path.name}:{key}[{index}]", None, record)
            return items
    items = []
    for number, record in json_lines(path, text):
        items += _record(path, f"{path.name}:{number}", number, record)
    return items
