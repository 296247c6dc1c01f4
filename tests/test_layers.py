"""The layers of server/ and seeds/, read from their imports (ARCHITECTURE.md says why each rule holds).

Every `import` and `from … import` is read with ast, at module level, under `if TYPE_CHECKING:` and inside
functions (lazy imports), and so is every `importlib.import_module("…")` with a literal name. The rules:

1. seeds/ (the store) never imports server/.
2. server/'s packages import only downwards, in this order (a package may import its own modules and any
   lower package): seeds → server.errors → rules → models → settings → pipeline → importers → protocol →
   transport → cli → the entry points (launch, mcp_dev, __main__). Lazy and TYPE_CHECKING imports count:
   a lazy import defers loading, it does not make an upward dependency right.
3. Below the MCP layer (seeds, errors, rules, models, settings, pipeline, importers) nothing imports
   `mcp`, `starlette` or `uvicorn`.
4. `sqlite3`, `sqlean` and `sqlite_vec` are imported only by the SQLite engine (seeds/sqlite.py, seeds/db.py);
   `psycopg`, `psycopg_pool` and `pgvector` only by the PostgreSQL engine (seeds/postgres.py).
5. The SDK's `ToolError` is named only under server/protocol/ (the MCP layer turns ServerErrors into it).
6. No import cycles among modules. Every import that runs counts, lazy ones included: a lazy import is
   allowed to defer a heavy or optional module (llama_cpp, uvicorn, the MCP stack at the stdio front's start),
   never to hide a cycle. Only `if TYPE_CHECKING:` imports, which never run, are left out of this rule.
   Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`: those edges count too.

What today's code breaks is listed in KNOWN, each with why and who removes it. When a fix lands, its entry
must go: `test_known_violations_still_happen` fails on an entry that no longer matches anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "seeds")

# The layer of each part, lowest first. A module's part is the longest prefix listed here.
LAYERS: dict[str, int] = {
    "seeds": 0,
    "server.errors": 1,
    "server.filelock": 1,
    "server.system": 1,
    "server.rules": 2,
    "server.models": 3,
    "server.settings": 4,
    "server.pipeline": 5,
    "server.importers": 6,
    "server.protocol": 7,
    "server.console": 8,
    "server.transport": 9,
    "server.cli": 10,
    "server.launch": 11,
    "server.mcp_dev": 11,
    "server.__main__": 11,
    "server": 11,  # server/__init__.py: sets an environment variable, imports nothing of ours
}
BELOW_PROTOCOL = LAYERS["server.protocol"]
MCP_STACK = ("mcp", "starlette", "uvicorn")
# Our store's engines keep their libraries to themselves. The one exception is not our store: the importers of
# claude-mem and mcp-memory-service open those tools' own SQLite files, read-only, with the standard library.
PEER_FILE_READERS = ("server.importers.claude_mem", "server.importers.mcp_memory_service")
ENGINE_LIBRARIES: dict[str, tuple[str, ...]] = {
    "sqlite3": ("seeds.sqlite", "seeds.sqlite_db", *PEER_FILE_READERS),
    "sqlean": ("seeds.sqlite", "seeds.sqlite_db"),
    "sqlite_vec": ("seeds.sqlite", "seeds.sqlite_db"),
    "psycopg": ("seeds.postgres",),
    "psycopg_pool": ("seeds.postgres",),
    "pgvector": ("seeds.postgres",),
}

# Today's violations, as the messages below print them: (rule, importer, imported). Empty this as the fixes land.
KNOWN: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str  # the module doing the import, e.g. "server.pipeline.write"
    imported: str  # the module imported, e.g. "mcp.server.mcpserver.exceptions" (a submodule named in `from`)
    names: tuple[str, ...]  # the names a `from` import takes
    line: int
    kind: str  # "module" (runs at import), "lazy" (inside a function) or "typing" (under `if TYPE_CHECKING:`)

    @property
    def where(self) -> str:
        return f"{self.importer.replace('.', '/')}.py:{self.line}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _target(importer: str, node: ast.ImportFrom, name: str) -> str:
    """The module a `from` import loads for `name`: the submodule when there is one, else the module itself."""
    if node.level:
        package = importer.split(".")
        if MODULES[importer].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def imports_of(module: str, source: str | None = None) -> Iterator[Import]:
    """The imports of one of our modules (of `source` instead of its file, when given)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8") if source is None else source)

    def walk(node: ast.AST, kind: str) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                child_kind = "lazy"
            elif isinstance(child, ast.If) and _is_type_checking(child.test) and kind == "module":
                yield from (i for body in child.body for i in walk_one(body, "typing"))
                yield from (i for other in child.orelse for i in walk_one(other, kind))
                continue
            yield from walk_one(child, child_kind)

    def walk_one(node: ast.AST, kind: str) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno, kind)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                yield Import(module, _target(module, node, alias.name), (alias.name,), node.lineno, kind)
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(module, node.args[0].value, (), node.lineno, kind)
        yield from walk(node, kind)

    yield from walk(tree, "module")


IMPORTS: list[Import] = [i for module in MODULES for i in imports_of(module)]


def part_of(module: str) -> str | None:
    """The entry of LAYERS a module of ours belongs to, or None for a module not ours."""
    if module.split(".")[0] not in PACKAGES:
        return None
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return module


def top(module: str) -> str:
    return module.split(".")[0]


def violations() -> dict[tuple[str, str, str], list[str]]:
    """Every rule broken, keyed as KNOWN is, with where each happens."""
    found: dict[tuple[str, str, str], list[str]] = {}

    def add(rule: str, importer: str, imported: str, where: str) -> None:
        found.setdefault((rule, importer, imported), []).append(where)

    for i in IMPORTS:
        own, theirs = part_of(i.importer), part_of(i.imported)
        assert own is not None
        if top(i.importer) == "seeds" and top(i.imported) == "server":
            add("seeds imports server", i.importer, i.imported, i.where)
        elif theirs is not None and LAYERS[theirs] > LAYERS[own]:
            add("upward", i.importer, i.imported, i.where)
        if LAYERS[own] < BELOW_PROTOCOL and top(i.imported) in MCP_STACK:
            add("mcp below protocol", i.importer, i.imported, i.where)
        allowed = ENGINE_LIBRARIES.get(top(i.imported))
        if allowed is not None and i.importer not in allowed:
            add("engine library", i.importer, top(i.imported), i.where)
        if "ToolError" in i.names and not i.importer.startswith("server.protocol"):
            add("ToolError outside protocol", i.importer, "ToolError", i.where)
    for module, path in MODULES.items():  # ToolError reached as an attribute (exceptions.ToolError)
        if module.startswith("server.protocol"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "ToolError":
                add("ToolError outside protocol", module, "ToolError", f"{module.replace('.', '/')}.py:{node.lineno}")
    for importer, imported, where in cycle_edges():
        add("cycle", importer, imported, where)
    return found


def graph() -> dict[str, dict[str, str]]:
    """Module → {module it runs on import or call: where}; ours only, TYPE_CHECKING left out, parents' __init__ in."""
    edges: dict[str, dict[str, str]] = {module: {} for module in MODULES}
    for i in IMPORTS:
        if i.kind == "typing" or part_of(i.imported) is None:
            continue
        parts = i.imported.split(".")
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            if target in MODULES and target != i.importer and not i.importer.startswith(target + "."):
                edges[i.importer].setdefault(target, i.where)
    return edges


def cycle_edges() -> list[tuple[str, str, str]]:
    """The edges inside strongly connected components of more than one module (Tarjan): each one is in a cycle."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in edges:
        if node not in index:
            visit(node)
    found: list[tuple[str, str, str]] = []
    for component in (c for c in components if len(c) > 1):
        for importer in sorted(component):
            # Every edge between two modules of the cycle, lazy or not: any one of them may be the one to move.
            found.extend((importer, to, where) for to, where in edges[importer].items() if to in component)
    return found


def report(entries: dict[tuple[str, str, str], list[str]]) -> str:
    return "\n".join(
        f"  {rule}: {importer} -> {imported}  ({', '.join(wheres)})"
        for (rule, importer, imported), wheres in sorted(entries.items())
    )


SAMPLE = """
import json
from typing import TYPE_CHECKING

from . import write
from .memory import Memory

if TYPE_CHECKING:
    from server.models.cerebellum import Cerebellum


def load() -> None:
    import importlib

    import uvicorn
    from mcp.server.mcpserver.exceptions import ToolError

    importlib.import_module("sqlean")
"""


def test_the_parser_sees_every_kind_of_import() -> None:
    found = {(i.imported, i.kind) for i in imports_of("server.pipeline.decider", SAMPLE)}
    assert found == {
        ("json", "module"),
        ("typing", "module"),
        ("server.pipeline.write", "module"),  # a submodule named in `from . import`
        ("server.pipeline.memory", "module"),
        ("server.models.cerebellum", "typing"),
        ("importlib", "lazy"),
        ("uvicorn", "lazy"),
        ("mcp.server.mcpserver.exceptions", "lazy"),
        ("sqlean", "lazy"),  # importlib.import_module("sqlean")
    }
    assert len(MODULES) > 60 and all(part_of(m) for m in MODULES)


def test_the_layers_hold_apart_from_the_known_violations() -> None:
    new = {key: wheres for key, wheres in violations().items() if key not in KNOWN}
    assert not new, (
        "Imports that break the layers (ARCHITECTURE.md, 'What may import what'). Move the import, or the thing\n"
        "imported, to the right layer; only add to KNOWN in tests/test_layers.py with a comment saying who fixes it:\n"
        + report(new)
    )


def test_known_violations_still_happen() -> None:
    found = violations()
    gone = sorted(KNOWN - found.keys())
    assert not gone, "Fixed: remove these from KNOWN in tests/test_layers.py:\n" + "\n".join(f"  {g}" for g in gone)
