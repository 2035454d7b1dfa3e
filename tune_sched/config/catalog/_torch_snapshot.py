"""Read torch's optimizer and LR-scheduler signatures into the JSON form that the catalog checks configs against.

``scripts/gen_torch_catalog.py`` writes :func:`live_signatures` to ``torch_signatures.json`` (the snapshot of the
torch the suite runs on); :mod:`tune_sched.config.catalog._installed_torch` decides which signatures the catalog uses and
reads any other torch with :func:`live_signatures`. Annotations are parsed with :mod:`ast` into the type language
of :mod:`tune_sched.config.catalog._types`; an annotation this module does not know is an error here (extend ``_NAMES``),
never a silently unchecked kwarg.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Any

__all__ = ["SNAPSHOT_PATH", "live_signatures", "parse_annotation", "read_snapshot", "render"]

SNAPSHOT_PATH = Path(__file__).with_name("torch_signatures.json")

# Arguments the builders pass themselves (never from a config).
_SKIPPED = {"self", "params", "optimizer"}

# Plain names in annotations -> type; "Tensor" alternatives are dropped (a config holds numbers, not tensors).
_NAMES = {"float": "float", "int": "int", "bool": "bool", "str": "str", "LRScheduler": "scheduler"}
_LIST_NAMES = {"list", "Iterable", "Sequence"}


def parse_annotation(text: str) -> Any:
    """``"tuple[float | torch.Tensor, float | torch.Tensor]"`` -> ``{"tuple": ["float", "float"]}``.

    Raises:
        ValueError: for an annotation outside the known forms (the generator must be extended).
    """
    return _parse(ast.parse(text, mode="eval").body, text)


def _parse(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        options = [t for t in _flatten_union(node, text) if t != "tensor"]
        optional = "none" in options
        options = [t for t in options if t != "none"]
        if "callable" in options:  # a function, or a list of them: a config cannot hold either
            options = ["callable"]
        inner = options[0] if len(options) == 1 else {"union": options}
        return {"optional": inner} if optional else inner
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node).rsplit(".", 1)[-1]
        if name == "Tensor":
            return "tensor"
        if name in _NAMES:
            return _NAMES[name]
        raise ValueError(f"unknown name {name!r} in annotation {text!r}")
    if isinstance(node, ast.Subscript):
        head = _dotted(node.value).rsplit(".", 1)[-1]
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Callable":
            return "callable"
        if head == "Literal":
            return {"choice": [a.value for a in args]}  # type: ignore[attr-defined]
        if head == "tuple":
            return {"tuple": [_parse(a, text) for a in args]}
        if head in _LIST_NAMES and len(args) == 1:
            item = _parse(args[0], text)
            if item == "scheduler":
                return "schedulers"
            return "callable" if item == "callable" else {"list": item}
    raise ValueError(f"unsupported annotation {text!r}: extend tune_sched/config/catalog/_torch_snapshot.py")


def _flatten_union(node: ast.AST, text: str) -> list[Any]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flatten_union(node.left, text) + _flatten_union(node.right, text)
    parsed = _parse(node, text)
    return ["callable"] if parsed == "callable" else [parsed]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise ValueError(f"unexpected annotation node {ast.dump(node)}")


def _signature(cls: type) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.name in _SKIPPED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        entry: dict[str, Any] = {"type": parse_annotation(text), "annotation": text}
        if param.default is not param.empty:
            entry["default"] = _jsonable(param.default)
        kwargs[param.name] = entry
    return {"module": cls.__module__, "kwargs": kwargs}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"default {value!r} is not plain data: extend tune_sched/config/catalog/_torch_snapshot.py")


def live_signatures() -> dict[str, Any]:
    """Every public optimizer of ``torch.optim`` and scheduler of ``torch.optim.lr_scheduler``, with their kwargs.

    ``LambdaLR`` and ``MultiplicativeLR`` are included (their ``lr_lambda`` type is ``"callable"``); the catalog
    decides what a config may use.
    """
    # lazy: heavy
    import torch
    from torch.optim import lr_scheduler

    optimizers = {
        name: _signature(obj) for name in sorted(torch.optim.__all__, key=str.lower)
        if inspect.isclass(obj := getattr(torch.optim, name))
        and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer
    }
    schedulers = {
        name: _signature(obj) for name in sorted(lr_scheduler.__all__, key=str.lower)
        if inspect.isclass(obj := getattr(lr_scheduler, name))
        and issubclass(obj, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau))
        and obj is not lr_scheduler.LRScheduler
    }
    return {"torch_version": torch.__version__, "optimizers": optimizers, "lr_schedulers": schedulers}


def render(snapshot: dict[str, Any]) -> str:
    """The snapshot as the committed file's text (stable key order, one trailing newline)."""
    return json.dumps(snapshot, indent=1) + "\n"


def read_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, Any]:
    """The committed snapshot (no torch import)."""
    return json.loads(path.read_text(encoding="utf-8"))
