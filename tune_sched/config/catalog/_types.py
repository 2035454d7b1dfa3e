"""The small type language of the torch signatures: check a YAML value against it, convert it for torch.

A type is JSON data, as written by ``scripts/gen_torch_catalog.py``:

- ``"float"``, ``"int"``, ``"bool"``, ``"str"``: a scalar (``"1e-3"`` is read as a float: YAML reads it as a string);
- ``{"optional": T}``: ``null`` or a T;
- ``{"tuple": [T1, T2]}``: a list of exactly that many items (``betas: [0.9, 0.999]``), a tuple for torch;
- ``{"list": T}``: a list of any length (``milestones: [30, 60]``);
- ``{"union": [T1, T2]}``: the first that fits (``max_lr: 0.1`` or ``max_lr: [0.1, 0.01]``);
- ``{"choice": ["min", "max"]}``: one of the strings (a ``Literal``);
- ``"schedulers"``: nested scheduler configs (SequentialLR, ChainedScheduler), checked by the catalog;
- ``"callable"``: a Python function, which a config file cannot hold.

No torch here: ``tune-sched validate`` uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tune_sched.core.checks import as_bool, as_choice, as_float, as_int, as_str, join
from tune_sched.core.errors import UsageError

__all__ = ["TypeSpec", "check_value", "describe", "to_torch"]

TypeSpec = Any  # str | Mapping[str, Any], see the module docstring

_SCALARS = ("float", "int", "bool", "str")


def describe(spec: TypeSpec) -> str:
    """A short human reading of a type: ``{"tuple": ["float", "float"]}`` -> ``"a list of 2 numbers"``."""
    if spec == "float":
        return "a number"
    if spec == "int":
        return "an integer"
    if spec == "bool":
        return "true or false"
    if spec == "str":
        return "a string"
    if spec == "schedulers":
        return "a list of scheduler configs"
    if spec == "callable":
        return "a Python callable"
    if "optional" in spec:
        return f"null or {describe(spec['optional'])}"
    if "tuple" in spec:
        items = spec["tuple"]
        if len(set(map(str, items))) == 1:
            return f"a list of {len(items)} {_plural(items[0])}"
        return f"a list of {len(items)} items ({', '.join(describe(t) for t in items)})"
    if "list" in spec:
        return f"a list of {_plural(spec['list'])}"
    if "union" in spec:
        return " or ".join(describe(t) for t in spec["union"])
    if "choice" in spec:
        return "one of " + ", ".join(repr(c) for c in spec["choice"])
    raise ValueError(f"unknown type spec {spec!r}")  # a bug in the signatures, not the user's input


def check_value(value: Any, spec: TypeSpec, path: str) -> Any:
    """Check ``value`` against ``spec`` and return it normalized (ints/floats coerced, tuples as lists).

    Raises:
        UsageError: naming ``path``, the expected type, and the value found.
    """
    if spec == "float":
        return as_float(value, path)
    if spec == "int":
        return as_int(value, path)
    if spec == "bool":
        return as_bool(value, path)
    if spec == "str":
        return as_str(value, path)
    if spec in ("schedulers", "callable"):
        raise ValueError(f"{spec!r} values are checked by the catalog")  # never reached from a config
    if "optional" in spec:
        return None if value is None else check_value(value, spec["optional"], path)
    if "tuple" in spec:
        items = spec["tuple"]
        if not _is_list(value) or len(value) != len(items):
            raise UsageError(
                f"must be {describe(spec)}, but got {value!r}", path=path,
                fix=f"write it as a YAML list, e.g. {_example(spec)}",
            )
        return [check_value(v, t, join(path, i)) for i, (v, t) in enumerate(zip(value, items))]
    if "list" in spec:
        if not _is_list(value):
            raise UsageError(f"must be {describe(spec)}, but got {value!r}", path=path,
                             fix=f"write it as a YAML list, e.g. {_example(spec)}")
        return [check_value(v, spec["list"], join(path, i)) for i, v in enumerate(value)]
    if "union" in spec:
        for option in spec["union"]:
            try:
                return check_value(value, option, path)
            except UsageError:
                continue
        raise UsageError(f"must be {describe(spec)}, but got {value!r}", path=path,
                         fix=f"write {describe(spec)} there")
    if "choice" in spec:
        return as_choice(value, spec["choice"], path)
    raise ValueError(f"unknown type spec {spec!r}")


def to_torch(value: Any, spec: TypeSpec) -> Any:
    """A checked value as torch wants it: lists for tuple types become tuples (recursively)."""
    if value is None or isinstance(spec, str):
        return value
    if "optional" in spec:
        return to_torch(value, spec["optional"])
    if "tuple" in spec:
        return tuple(to_torch(v, t) for v, t in zip(value, spec["tuple"]))
    if "list" in spec:
        return [to_torch(v, spec["list"]) for v in value]
    return value  # unions (a number or a list) and choices go as they are


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and not isinstance(value, Mapping)


def _plural(spec: TypeSpec) -> str:
    return {"float": "numbers", "int": "integers", "bool": "booleans", "str": "strings"}.get(
        spec if isinstance(spec, str) else "", f"items ({describe(spec)})"
    )


def _example(spec: TypeSpec) -> str:
    samples = {"float": "0.9", "int": "10", "bool": "true", "str": "x"}
    if spec == {"tuple": ["float", "float"]}:
        return "[0.9, 0.999]"
    if "tuple" in spec:
        return "[" + ", ".join(samples.get(t, "null") if isinstance(t, str) else "null" for t in spec["tuple"]) + "]"
    item = spec["list"]
    return f"[{samples.get(item, 'x')}, {samples.get(item, 'x')}]" if isinstance(item, str) else "[...]"
