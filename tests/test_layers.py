"""The import contract: each package imports only the layers below it (docs/architecture.md draws the map), no two
packages import each other, and a function-local import exists only to keep a heavy package out of a light path.

Every import statement of every module is read with ``ast``: module level, ``if TYPE_CHECKING:`` blocks and inside
functions alike. Every function-local import carries one of two markers, on its line or on the line above its run of
imports, and the marker must be true:

- ``# lazy: heavy``: the import brings in a ``HEAVY`` package that the importing module does not load already (its
  module-level imports and theirs, ``TYPE_CHECKING`` blocks left out, as at run time);
- ``# lazy: entry``: in an ``ENTRY_POINTS`` module only, a tune_sched module that brings in nothing heavy but that
  ``import tune_sched`` and ``tune-sched --help`` need not load (a verb's modules load when the verb runs).

Anything else (the standard library, a light tune_sched module) belongs at the top of the module.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tune_sched"
HEAVY_MARKER = "# lazy: heavy"
ENTRY_MARKER = "# lazy: entry"

# What each package may import: the layers below it. "" is the tune_sched package itself (its version), which any
# module may import. Keep docs/architecture.md's map in step.
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "results": {"core"},
    "optim": {"core", "config"},
    "losses": {"core", "config"},
    "train": {"core", "config", "results", "optim", "losses"},
    "analysis": {"core", "config", "results"},
    "search": {"core", "config", "results", "optim", "losses", "train", "analysis"},
    "rerun": {"core", "config", "results", "train", "analysis"},
    "api": {"core", "config", "results", "analysis", "search"},
    "cli": {"core", "config", "results", "optim", "losses", "train", "analysis", "search", "rerun", "api"},
    "errors": {"core"},
}

# Imports against the layer order that remain, each with its reason: (importing module, package it imports from).
# Remove an entry when its imports go (the test fails on an entry that no longer matches).
EXCEPTIONS: dict[tuple[str, str], str] = {}


# Third-party packages whose import costs a fast command (--help, validate, import tune_sched) real time. yaml is
# the lightest: about 15-20 ms (python -X importtime -c "import yaml"), more than --help spends on all of tune_sched.
HEAVY = {"torch", "lightning", "pytorch_lightning", "ray", "optuna", "pandas", "pyarrow", "matplotlib", "scipy",
         "numpy", "fsspec", "sklearn", "yaml"}

# Modules whose own import must stay light (``import tune_sched``, ``tune-sched --help``): every verb's or name's
# imports wait until it is used, whatever their weight.
ENTRY_POINTS = {"tune_sched", "tune_sched.cli", "tune_sched.api", "tune_sched.search", "tune_sched.analysis",
                "tune_sched.rerun", "tune_sched.losses", "tune_sched.optim"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module; for "from X import name", X.name too when that is a module)
    line: int
    local: bool  # inside a function
    marker: str | None  # the marker of a function-local import
    checking: bool = False  # inside ``if TYPE_CHECKING:``: never imported at run time


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts[: len(parts) - node.level + (1 if is_package else 0)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)]


def _marker(lines: list[str], node: ast.stmt, siblings: list[ast.stmt]) -> str | None:
    """The marker on the statement's first line, or above the run of import statements it belongs to."""
    i = siblings.index(node)
    while i > 0 and isinstance(siblings[i - 1], (ast.Import, ast.ImportFrom)):
        i -= 1
    for marker in (HEAVY_MARKER, ENTRY_MARKER):  # its own line's marker first: it may differ from its run's
        if marker in lines[node.lineno - 1]:
            return marker
    for marker in (HEAVY_MARKER, ENTRY_MARKER):
        if lines[siblings[i].lineno - 2].strip().startswith(marker):
            return marker
    return None


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return test is not None and ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


@functools.cache
def imports_of(module: str) -> tuple[Import, ...]:
    path = MODULES[module]
    text = path.read_text()
    lines = text.splitlines()
    found: list[Import] = []

    def visit(node: ast.AST, local: bool, checking: bool) -> None:
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            here = checking or (field == "body" and _type_checking(node))
            for child in block:
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    marker = _marker(lines, child, block) if local else None
                    found.extend(Import(module, target, child.lineno, local, marker, here)
                                 for target in _targets(module, child, path.name == "__init__.py"))
                inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                visit(child, inner, here)

    visit(ast.parse(text), False, False)
    return tuple(found)


@functools.cache
def loads(module: str) -> frozenset[str]:
    """Every module importing ``module`` loads: its module-level imports, theirs, and so on (not those under
    ``if TYPE_CHECKING:``, which never run)."""
    seen: set[str] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        stack += [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in MODULES]
        if name in MODULES:
            stack += [i.target for i in imports_of(name) if not i.local and not i.checking]
    return frozenset(seen)


def _heavy(modules: frozenset[str]) -> set[str]:
    return {m.split(".")[0] for m in modules} & HEAVY


def _inside(imp: Import) -> bool:
    return imp.target == "tune_sched" or imp.target.startswith("tune_sched.")


def _excepted(imp: Import) -> bool:
    return _inside(imp) and (imp.module, _package(imp.target)) in EXCEPTIONS


def _all_imports() -> list[Import]:
    return [imp for module in MODULES for imp in imports_of(module)]


def test_the_layer_map_names_every_package_and_has_no_cycle() -> None:
    packages = {_package(m) for m in MODULES} - {""}
    assert packages == set(LAYERS), "add the package to LAYERS and docs/architecture.md"
    order: list[str] = []
    while len(order) < len(LAYERS):  # peel off the layers whose imports are all placed already
        ready = sorted(p for p in LAYERS if p not in order and LAYERS[p] <= set(order))
        assert ready, f"the layer map has a cycle among {sorted(set(LAYERS) - set(order))}"
        order += ready


def test_docs_architecture_draws_the_same_map() -> None:
    table = (PACKAGE.parent / "docs" / "architecture.md").read_text().split("## The map", 1)[1].split("\n## ", 1)[0]
    drawn = {}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            name = cells[0].strip("`").removesuffix("/").removesuffix(".py")
            drawn[name] = cells[2]
    assert set(drawn) == set(LAYERS)
    for name, allowed in LAYERS.items():
        if name == "cli":
            assert drawn[name] == "everything above"
            continue
        listed = set() if drawn[name] == "nothing of tune_sched" else {p.strip() for p in drawn[name].split(",")}
        assert listed == allowed, name


def test_each_package_imports_only_the_layers_below_it() -> None:
    # the tune_sched package itself sits above every layer: it loads each of its names on first use
    wrong = [f"{i.module}:{i.line} imports {i.target}" for i in _all_imports() if _inside(i) and i.module != "tune_sched"
             and _package(i.target) not in LAYERS[_package(i.module)] | {_package(i.module), ""}
             and not _excepted(i)]
    assert wrong == []


def test_every_exception_is_still_needed() -> None:
    found = {(i.module, _package(i.target)) for i in _all_imports() if _inside(i)}
    assert [pair for pair in EXCEPTIONS if pair not in found] == []


def test_no_cycle_between_packages() -> None:
    """The packages' import graph (function-local imports included, the exceptions left out) has no cycle."""
    edges: dict[str, set[str]] = {}
    for i in _all_imports():
        if _inside(i) and not _excepted(i) and _package(i.target) not in ("", _package(i.module)):
            edges.setdefault(_package(i.module), set()).add(_package(i.target))
    placed: set[str] = set()
    while len(placed) < len(edges):
        ready = {p for p in edges if p not in placed and edges[p] - set(LAYERS).difference(edges) <= placed}
        assert ready, f"a cycle among {sorted(set(edges) - placed)}: {edges}"
        placed |= ready


def _adds_heavy(imp: Import) -> set[str]:
    """The heavy packages ``imp`` brings in that its module does not load already."""
    return _heavy(loads(imp.target)) - _heavy(loads(imp.module))


def test_every_function_local_import_is_marked() -> None:
    unmarked = [f"{i.module}:{i.line} {i.target}" for i in _all_imports()
                if i.local and i.marker is None and not _excepted(i)]
    assert unmarked == [], f"mark each with '{HEAVY_MARKER}' or '{ENTRY_MARKER}', or import it at the top"


def test_a_heavy_marker_brings_in_something_heavy() -> None:
    light = [f"{i.module}:{i.line} {i.target}" for i in _all_imports()
             if i.marker == HEAVY_MARKER and not _adds_heavy(i)]
    assert light == [], "these bring in nothing heavy: import them at the top of the module"


def test_an_entry_marker_defers_a_light_module_of_an_entry_point() -> None:
    wrong = [f"{i.module}:{i.line} {i.target}" for i in _all_imports() if i.marker == ENTRY_MARKER
             and (i.module not in ENTRY_POINTS or not _inside(i) or _adds_heavy(i))]
    assert wrong == [], f"outside an entry point, or heavy (mark it '{HEAVY_MARKER}'), or not tune_sched's"


@pytest.mark.parametrize("source,expected", [
    ("def f():\n    # lazy: heavy\n    import torch\n    import numpy\n", [True, True]),
    ("def f():\n    import torch  # lazy: heavy\n    import numpy\n", [True, False]),
    ("def f():\n    x = 1\n    import torch\n", [False]),
    ("def f():\n    # lazy: heavy\n    import torch\n    import tune_sched.api  # lazy: entry\n", [True, True]),
])
def test_the_marker_covers_its_run_of_imports(source: str, expected: list[bool]) -> None:
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    runs = [s for s in function.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    assert [_marker(source.splitlines(), s, function.body) is not None for s in runs] == expected


def test_type_checking_imports_do_not_count_as_loaded() -> None:
    assert not any(i.checking for i in imports_of("tune_sched.cli"))
    checking = [i for i in imports_of("tune_sched.api") if i.checking]
    assert checking and all(i.target not in loads("tune_sched.api") for i in checking if i.target != "tune_sched")
