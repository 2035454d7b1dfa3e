"""tune_sched/ and scripts/ use the public interfaces of Ray, Tune, Optuna, Lightning and torch only: no private
module, no private attribute of another library's object (pyproject admits a range of releases, and any of them may
change what is private).

A private attribute may be read only off the project's own objects, which the scan knows without guessing at types:
``self`` and ``cls``, and a name that every binding in the file ties to the project: an import from tune_sched (or,
for a script, from a module beside it), a function or class the file defines, or ``name = f(...)`` where ``f`` is
itself such a name. A name bound any other way anywhere in the file (a parameter, a loop variable, the result of a
library call) is not the project's, wherever it is read.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = (ROOT / "tune_sched", ROOT / "scripts")
LIBRARIES = {"ray", "optuna", "lightning", "pytorch_lightning", "torch", "torchvision"}
NAMED = re.compile(r"(?<![A-Za-z0-9_])_(private|internal|local_tuner|experiment_analysis|run_config)\b"
                   r"|experiment_state")
"""Private names and files of Ray and Tune that the search once reached for, anywhere in the text (strings
included)."""
ALLOWED = {"os._exit"}
"""Documented functions of the standard library whose names begin with an underscore."""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_names(tree: ast.Module, siblings: frozenset[str] = frozenset()) -> set[str]:
    """The names that every binding in ``tree`` ties to the project's own objects (see the module docstring);
    ``siblings`` are the modules beside the file that it may import as its own."""
    def own_module(module: str) -> bool:
        return module.split(".")[0] in {"tune_sched", *siblings}

    calls: dict[str, set[str]] = {}  # name -> the functions it is bound to the result of ({} for a def or import)
    foreign: set[str] = set()  # names with a binding that is not the project's
    counted: set[int] = set()  # the Name nodes of the ``name = f(...)`` bindings in ``calls``
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            calls.setdefault(node.name, set())
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            from_own = isinstance(node, ast.ImportFrom) and (node.level > 0 or own_module(node.module or ""))
            for a in node.names:
                if isinstance(node, ast.Import):
                    bound, mine = a.asname or a.name.split(".")[0], own_module(a.name)
                else:
                    bound, mine = a.asname or a.name, from_own
                if mine:
                    calls.setdefault(bound, set())
                else:
                    foreign.add(bound)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
            calls.setdefault(node.targets[0].id, set()).add(node.value.func.id)
            counted.add(id(node.targets[0]))
        elif isinstance(node, ast.arguments):
            foreign.update(a.arg for a in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg,
                                           node.kwarg] if a is not None)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            foreign.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            foreign.add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            foreign.update(node.names)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and id(node) not in counted:
            foreign.add(node.id)
    own = {name for name in calls if name not in foreign}
    while True:  # a name bound to a call's result is the project's only while the function called is
        kept = {name for name in own if calls[name] <= own | {"self", "cls"}}
        if kept == own:
            return own | {"self", "cls"}
        own = kept


def private_uses(source: str, siblings: frozenset[str] = frozenset()) -> list[str]:
    """Where ``source`` imports a private module or name of a library, or reads a private attribute of anything
    but the project's own objects (``own_names``)."""
    found = [f"{m.group(0)} (line {source.count(chr(10), 0, m.start()) + 1})" for m in NAMED.finditer(source)]
    own = own_names(ast.parse(source), siblings)

    def own_object(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in own

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name} (line {node.lineno})" for a in node.names
                      if a.name.split(".")[0] in LIBRARIES and any(map(_private, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in LIBRARIES:
            if any(map(_private, node.module.split("."))) or any(_private(a.name) for a in node.names):
                found.append(f"from {node.module} import {', '.join(a.name for a in node.names)} "
                             f"(line {node.lineno})")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and not own_object(node.value):
            text = f"{ast.unparse(node.value)}.{node.attr}"
            if text not in ALLOWED:
                found.append(f"{text} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and _private(node.args[1].value) and not own_object(node.args[0]):
            found.append(f"{node.func.id}({ast.unparse(node.args[0])}, {node.args[1].value!r}) "
                         f"(line {node.lineno})")
    return found


# Each case runs the whole scan on its source, own names worked out as for a real module: the source's imports
# from tune_sched and its own definitions (private ones included) do not hide a library's private attribute.
OWN_CONTEXT = ("from tune_sched.search.driver import run_search\nfrom tune_sched.results import store as _store\n"
               "def _trials(): ...\nclass _Status: ...\n")


@pytest.mark.parametrize("source,expected", [
    ("from ray._private.node import Node\n", "from ray._private.node import Node"),
    ("import ray._private.worker\n", "import ray._private.worker"),
    ("from ray.tune.impl import _internal_helper\n", "from ray.tune.impl import _internal_helper"),
    ("import torch\ntorch._dynamo.reset()\n", "torch._dynamo"),
    ("tuner._local_tuner.fit()\n", "_local_tuner"),
    ("trials = grid._experiment_analysis.trials\n", "_experiment_analysis"),
    ("run = tuner.get_internal()._run_config\n", "_run_config"),
    ("node = ray.worker._global_node\n", "ray.worker._global_node"),
    ("state = path / 'experiment_state-2024.json'\n", "experiment_state"),
    ("study = optuna.load_study(name)\nstudy._storage.get_all_trials()\n", "study._storage"),
    ("def f(trial):\n    return getattr(trial, '_status', None)\n", "getattr(trial, '_status')"),
    ("grid = tuner.fit()\nrows = grid._results\n", "grid._results"),
    ("name = 'ray._private.node'\n", "_private"),
    # a name of the project's in one place is not the project's where it is bound to something else
    ("def f(_store):\n    return _store._config\n", "_store._config"),
    ("space = run_search()\nspace = optuna.create_study()\nspace._storage\n", "space._storage"),
    ("for _trials in grid:\n    _trials._trial\n", "_trials._trial"),
])
def test_the_scan_finds_private_uses(source, expected):
    found = private_uses(OWN_CONTEXT + source)
    assert found and any(expected in use for use in found), found


def test_the_scan_leaves_public_and_own_names_alone():
    source = ("from __future__ import annotations\nimport os\nfrom ray import tune\n"
              "from tune_sched.core.checks import join\nimport tune_sched.config.space as spaces\n"
              "from .store import _Store\n"
              "class A:\n    def __init__(self):\n        self._stream = None\n    def f(self):\n"
              "        return self._stream, load_run_config, coerce_run_config, _check_run_configs\n"
              "    @classmethod\n    def make(cls):\n        space = cls()\n        space._check_grid()\n"
              "        return cls._default, getattr(cls, '_cache', None)\n"
              "def _helper(): ...\n_helper._calls = 0\nstore = _Store()\nstore._rows\nspaces._in_space\n"
              "tune.Tuner.restore(path, trainable=t).get_results().num_errors\nos._exit(0)\nx.__dict__\n")
    assert private_uses(source) == []
    assert private_uses("import bench_overhead as overhead\noverhead._env()\n",
                        siblings=frozenset({"bench_overhead"})) == []  # a script's sibling is the project's
    assert private_uses("import bench_overhead as overhead\noverhead._env()\n") != []


@pytest.mark.parametrize("folder", SCANNED, ids=lambda p: p.name)
def test_the_project_uses_public_interfaces_only(folder):
    sources = sorted(folder.rglob("*.py"))
    assert len(sources) > 5
    # a script imports the scripts beside it by their bare names; tune_sched's modules import tune_sched only
    siblings = frozenset(p.stem for p in sources) if folder.name == "scripts" else frozenset()
    found = {str(p.relative_to(ROOT)): private_uses(p.read_text(encoding="utf-8"), siblings) for p in sources}
    assert {path: uses for path, uses in found.items() if uses} == {}
