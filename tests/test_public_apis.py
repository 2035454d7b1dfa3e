"""tune_sched/ uses the public interfaces of Ray, Tune, Optuna, Lightning and torch only: no private module, no
private attribute of another library's object (pyproject admits a range of releases, and any of them may change
what is private)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tune_sched"
LIBRARIES = {"ray", "optuna", "lightning", "pytorch_lightning", "torch", "torchvision"}
NAMED = re.compile(r"(?<![A-Za-z0-9_])_(private|internal|local_tuner|experiment_analysis|run_config)\b")
"""Private names of Ray and Tune that the search once reached for, anywhere in the text (strings included)."""
ALLOWED = {"os._exit"}
"""Documented functions of the standard library whose names begin with an underscore."""


def _own_private_names() -> set[str]:
    """Private names tune_sched itself defines: its functions, classes, module globals and attributes it assigns."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
    return {name for name in names if name.startswith("_")}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, own: set[str] = frozenset()) -> list[str]:
    """Where ``source`` imports a private module or name of a library, or reads a private attribute of anything
    but itself (``self``, ``cls``) that tune_sched does not define (``own``)."""
    found = [f"{m.group(0)} (line {source.count(chr(10), 0, m.start()) + 1})" for m in NAMED.finditer(source)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name} (line {node.lineno})" for a in node.names
                      if a.name.split(".")[0] in LIBRARIES and any(map(_private, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in LIBRARIES:
            if any(map(_private, node.module.split("."))) or any(_private(a.name) for a in node.names):
                found.append(f"from {node.module} import {', '.join(a.name for a in node.names)} "
                             f"(line {node.lineno})")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            text = f"{ast.unparse(node.value)}.{node.attr}"
            if text not in ALLOWED and ast.unparse(node.value) not in ("self", "cls"):
                found.append(f"{text} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and _private(node.args[1].value) and node.args[1].value not in own:
            found.append(f"{node.func.id}(..., {node.args[1].value!r}) (line {node.lineno})")
    return found


@pytest.mark.parametrize("source,expected", [
    ("from ray._private.node import Node\n", "from ray._private.node import Node"),
    ("import ray._private.worker\n", "import ray._private.worker"),
    ("from ray.tune.impl import _internal_helper\n", "from ray.tune.impl import _internal_helper"),
    ("import torch\ntorch._dynamo.reset()\n", "torch._dynamo"),
    ("tuner._local_tuner.fit()\n", "_local_tuner"),
    ("trials = grid._experiment_analysis.trials\n", "_experiment_analysis"),
    ("run = tuner.get_internal()._run_config\n", "_run_config"),
    ("node = ray.worker._global_node\n", "ray.worker._global_node"),
    ("study = optuna.load_study(name)\nstudy._storage.get_all_trials()\n", "study._storage"),
    ("status = getattr(trial, '_status', None)\n", "getattr(..., '_status')"),
    ("name = 'ray._private.node'\n", "_private"),
])
def test_the_scan_finds_private_uses(source, expected):
    found = private_uses(source)
    assert found and any(expected in use for use in found), found


def test_the_scan_leaves_public_and_own_names_alone():
    source = ("from __future__ import annotations\nimport os\nfrom ray import tune\n"
              "from tune_sched.core.checks import join\n"
              "class A:\n    def __init__(self):\n        self._stream = None\n    def f(self):\n"
              "        return self._stream, load_run_config, coerce_run_config, _check_run_configs\n"
              "tune.Tuner.restore(path, trainable=t).get_results().num_errors\nos._exit(0)\nx.__dict__\n"
              "space._check_grid()\n")
    assert private_uses(source, own={"_check_grid"}) == []
    assert private_uses("progress._stream\n", own={"_stream"}) == []  # tune_sched's own attribute


def test_tune_sched_uses_public_interfaces_only():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 50
    own = _own_private_names()
    assert {"_stream", "_check_grid"} <= own  # the scan knows the package's own private names
    found = {str(p.relative_to(ROOT)): private_uses(p.read_text(encoding="utf-8"), own) for p in sources}
    assert {path: uses for path, uses in found.items() if uses} == {}
