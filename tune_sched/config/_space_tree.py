"""A search space's run-config template as a tree, and the walks over it.

Nodes: ``Fixed`` (a plain value), ``Searched`` (a distribution), ``MappingNode`` and ``ListNode`` (walked key by
key and element by element) and ``OneOf`` (a conditional family: ``optimizer``, ``lr_scheduler`` or
``loss_scheduler`` given as ``{one_of: {Family: {kwargs...}, ...}, shared_key: ...}``).

Every concrete config comes from ``materialise`` driven by a chooser, which decides each distribution's value and
each family: ``TrialChooser`` asks an Optuna trial (define-by-run), ``EndsChooser`` takes the ends of every
distribution (the load-time checks) and ``GridChooser`` walks every combination in turn (``algorithm: grid``).
Three names are kept apart: the Optuna parameter name (``lr_scheduler.ReduceLROnPlateau.factor``), the key path in
the concrete run config (``lr_scheduler.factor``) and the key path in the space as written
(``lr_scheduler.one_of.ReduceLROnPlateau.factor``), which is what errors name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tune_sched.core.checks import as_mapping, join
from tune_sched.config.distributions import Categorical, Constant, Range, is_distribution, parse_distribution
from tune_sched.core.errors import UsageError

__all__ = [
    "FAMILIES",
    "Dimension",
    "EndsChooser",
    "Family",
    "Fixed",
    "GridChooser",
    "ListNode",
    "MappingNode",
    "OneOf",
    "Searched",
    "TrialChooser",
    "contains_search",
    "not_enumerable",
    "parse_template",
    "space_path",
]

MAX_DEPTH = 40  # deeper nesting is a mistake (or a YAML alias that contains itself)


@dataclass(frozen=True)
class Family:
    """A run-config block whose family may be searched with ``one_of``."""

    block: str
    key: str  # the block's key that names the family
    none_names: tuple[str, ...] = ()  # family names meaning "no block at all" (block: null)


FAMILIES: dict[str, Family] = {
    f.block: f
    for f in (
        Family("optimizer", "name"),
        Family("lr_scheduler", "name", ("constant", "none")),
        Family("loss_scheduler", "mode", ("none",)),
    )
}


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its Optuna name, kind, range or values, and when it is sampled.

    ``condition`` is ``""`` for a parameter sampled in every config, else e.g. ``lr_scheduler=StepLR``;
    ``path`` is its key path in the space as written.
    """

    name: str
    kind: str  # "categorical", "int" or "float"
    detail: str
    condition: str = ""
    path: str = ""


class Chooser(Protocol):
    def value(self, dist: Categorical | Range, name: str, path: str) -> tuple[Any, str]: ...

    def branch(self, node: OneOf, name: str) -> str: ...


Records = list[tuple[str, str]]  # (key path in the concrete config, key path in the space)


@dataclass(frozen=True)
class Fixed:
    value: Any
    path: str

    def materialise(self, chooser: Chooser, name: str, cpath: str, records: Records | None) -> Any:
        _record(records, cpath, self.path)
        return copy.deepcopy(self.value)

    def dimensions(self, name: str, condition: str) -> Iterator[Dimension]:
        return iter(())

    def count(self) -> int:
        return 1

    def walk(self) -> Iterator[Node]:
        yield self


@dataclass(frozen=True)
class Searched:
    dist: Categorical | Range
    path: str

    def materialise(self, chooser: Chooser, name: str, cpath: str, records: Records | None) -> Any:
        value, suffix = chooser.value(self.dist, name, self.path)
        _record(records, cpath, self.path + suffix)
        return value

    def dimensions(self, name: str, condition: str) -> Iterator[Dimension]:
        yield Dimension(name, self.dist.kind, self.dist.describe(), condition, self.path)

    def count(self) -> int:
        return self.dist.size or 1

    def walk(self) -> Iterator[Node]:
        yield self


@dataclass(frozen=True)
class MappingNode:
    items: tuple[tuple[Any, Node], ...]
    path: str

    def materialise(self, chooser: Chooser, name: str, cpath: str, records: Records | None) -> dict[Any, Any]:
        _record(records, cpath, self.path)
        return {
            key: node.materialise(chooser, _key(name, key), _key(cpath, key), records) for key, node in self.items
        }

    def dimensions(self, name: str, condition: str) -> Iterator[Dimension]:
        for key, node in self.items:
            yield from node.dimensions(_key(name, key), condition)

    def count(self) -> int:
        return _product(node.count() for _, node in self.items)

    def walk(self) -> Iterator[Node]:
        yield self
        for _, node in self.items:
            yield from node.walk()


@dataclass(frozen=True)
class ListNode:
    items: tuple[Node, ...]
    path: str

    def materialise(self, chooser: Chooser, name: str, cpath: str, records: Records | None) -> list[Any]:
        _record(records, cpath, self.path)
        return [node.materialise(chooser, join(name, i), join(cpath, i), records) for i, node in enumerate(self.items)]

    def dimensions(self, name: str, condition: str) -> Iterator[Dimension]:
        for i, node in enumerate(self.items):
            yield from node.dimensions(join(name, i), condition)

    def count(self) -> int:
        return _product(node.count() for node in self.items)

    def walk(self) -> Iterator[Node]:
        yield self
        for node in self.items:
            yield from node.walk()


@dataclass(frozen=True)
class OneOf:
    """A conditional family: the family is chosen first, then only its own kwargs (and the shared ones)."""

    family: Family
    shared: tuple[tuple[str, Node], ...]
    branches: tuple[tuple[str, tuple[tuple[str, Node], ...] | None], ...]  # None: a "no block" family
    path: str

    @property
    def branch_names(self) -> list[str]:
        return [name for name, _ in self.branches]

    def branch_path(self, branch: str) -> str:
        return f"{join(self.path, 'one_of')}.{branch}"

    def materialise(self, chooser: Chooser, name: str, cpath: str, records: Records | None) -> dict[str, Any] | None:
        branch = chooser.branch(self, name)
        body = dict(self.branches)[branch]
        _record(records, cpath, self.branch_path(branch))
        if body is None:
            return None
        _record(records, join(cpath, self.family.key), self.branch_path(branch))
        out: dict[str, Any] = {self.family.key: branch}
        for key, node in self.shared:
            out[key] = node.materialise(chooser, _key(name, key), _key(cpath, key), records)
        for key, node in body:
            out[key] = node.materialise(chooser, _key(join(name, branch), key), _key(cpath, key), records)
        return out

    def dimensions(self, name: str, condition: str) -> Iterator[Dimension]:
        names = self.branch_names
        yield Dimension(name, "categorical", "{" + ", ".join(names) + "}", condition, join(self.path, "one_of"))
        real = [b for b, body in self.branches if body is not None]
        shared_when = "" if len(real) == len(names) else (
            f"{name}={real[0]}" if len(real) == 1 else f"{name} in {{{', '.join(real)}}}"
        )
        for key, node in self.shared:
            yield from node.dimensions(_key(name, key), _and(condition, shared_when))
        for branch, body in self.branches:
            for key, node in body or ():
                yield from node.dimensions(_key(join(name, branch), key), _and(condition, f"{name}={branch}"))

    def count(self) -> int:
        shared = _product(node.count() for _, node in self.shared)
        return sum(1 if body is None else shared * _product(n.count() for _, n in body) for _, body in self.branches)

    def walk(self) -> Iterator[Node]:
        yield self
        for _, node in self.shared:
            yield from node.walk()
        for _, body in self.branches:
            for _, node in body or ():
                yield from node.walk()


Node = Fixed | Searched | MappingNode | ListNode | OneOf


def parse_template(data: Mapping[Any, Any]) -> MappingNode:
    """Parse a space's run-config part (every key but the search settings) into a tree; UsageError if broken."""
    items = tuple(
        (key, _parse(value, _key(None, key), FAMILIES.get(key) if isinstance(key, str) else None, 1))
        for key, value in data.items()
    )
    return MappingNode(items, "")


def contains_search(value: Any, depth: int = 0) -> bool:
    """Whether a distribution or a ``one_of`` appears anywhere in ``value`` (never raises)."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, Mapping):
        if "one_of" in value or is_distribution(value):
            return True
        return any(contains_search(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(contains_search(v, depth + 1) for v in value)
    return False


def space_path(path: str | None, records: Records) -> str | None:
    """Translate a key path in a concrete config into the space's key path (longest recorded prefix wins)."""
    if path is None:
        return None
    best: tuple[str, str] | None = None
    for concrete, spath in records:
        if concrete and _is_prefix(concrete, path) and (best is None or len(concrete) > len(best[0])):
            best = (concrete, spath)
    return path if best is None else best[1] + path[len(best[0]):]


def not_enumerable(dist: Categorical | Range, path: str) -> UsageError:
    """The error for a continuous range in a grid, naming it and the fix."""
    return UsageError(
        f"{dist.describe()} is a continuous range, which a grid cannot list", path=path,
        fix="give it a step, e.g. {min: 0.1, max: 0.5, step: 0.1}, or values: [...], "
        "or use search.algorithm: optuna or random",
    )


class TrialChooser:
    """Samples with an Optuna trial, define-by-run: a family's kwargs are suggested only when it is chosen."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def value(self, dist: Categorical | Range, name: str, path: str) -> tuple[Any, str]:
        return dist.suggest(self.trial, name), ""

    def branch(self, node: OneOf, name: str) -> str:
        return self.trial.suggest_categorical(name, node.branch_names)


class EndsChooser:
    """The ``position``-th of the load-time check configs: the ``branch``-th family of every one_of (or its last).

    Ranges sit at ``min`` except in the last position (``max``); categoricals take their ``position``-th value
    (or their last), so the positions ``0..last`` cover both ends of everything and every categorical value.
    """

    def __init__(self, position: int, last: int, branch: int) -> None:
        self.position, self.last, self.branch_index = position, last, branch
        self.chosen: dict[str, str] = {}

    def value(self, dist: Categorical | Range, name: str, path: str) -> tuple[Any, str]:
        if isinstance(dist, Categorical):
            return dist.point(min(self.position, dist.size - 1))
        return (dist.high, ".max") if self.position >= self.last else (dist.low, ".min")

    def branch(self, node: OneOf, name: str) -> str:
        names = node.branch_names
        self.chosen[name] = names[min(self.branch_index, len(names) - 1)]
        return self.chosen[name]


class GridChooser:
    """Replays a list of decisions (index per choice point, 0 past its end) and records what it met.

    ``following()`` gives the decisions of the next combination (the last choice point that can advance does,
    everything after it restarts at 0), or None after the last one; this enumerates conditional spaces exactly.
    """

    def __init__(self, decisions: list[int]) -> None:
        self.decisions = decisions
        self.trace: list[tuple[int, int]] = []  # (index taken, number of options)

    def value(self, dist: Categorical | Range, name: str, path: str) -> tuple[Any, str]:
        size = dist.size
        if size is None:
            raise not_enumerable(dist, path)
        return dist.point(self._decide(size))

    def branch(self, node: OneOf, name: str) -> str:
        return node.branch_names[self._decide(len(node.branches))]

    def following(self) -> list[int] | None:
        trace = list(self.trace)
        while trace and trace[-1][0] + 1 >= trace[-1][1]:
            trace.pop()
        if not trace:
            return None
        return [index for index, _ in trace[:-1]] + [trace[-1][0] + 1]

    def _decide(self, options: int) -> int:
        i = len(self.trace)
        index = self.decisions[i] if i < len(self.decisions) else 0
        self.trace.append((index, options))
        return index


def _parse(value: Any, path: str, family: Family | None, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise UsageError(f"is nested more than {MAX_DEPTH} levels deep", path=path, fix="flatten it")
    if isinstance(value, Mapping):
        if "one_of" in value:
            if family is None:
                raise UsageError(
                    "one_of is only allowed directly under optimizer, lr_scheduler or loss_scheduler",
                    path=join(path, "one_of"), fix="list the whole alternatives with {values: [...]} instead",
                )
            return _parse_one_of(value, path, family, depth)
        if is_distribution(value):
            dist = parse_distribution(value, path)
            return Fixed(dist.value, path) if isinstance(dist, Constant) else Searched(dist, path)
        return MappingNode(_parse_items(value, path, depth), path)
    if isinstance(value, list):
        return ListNode(tuple(_parse(v, join(path, i), None, depth + 1) for i, v in enumerate(value)), path)
    return Fixed(value, path)


def _parse_items(data: Mapping[Any, Any], path: str, depth: int) -> tuple[tuple[Any, Node], ...]:
    return tuple((key, _parse(value, _key(path, key), None, depth + 1)) for key, value in data.items())


def _parse_one_of(data: Mapping[Any, Any], path: str, family: Family, depth: int) -> OneOf:
    where = join(path, "one_of")
    choices = data["one_of"]
    if not isinstance(choices, Mapping) or not choices:
        raise UsageError(
            f"must be a non-empty mapping of {family.block} families to their settings, but got {choices!r}"[:160],
            path=where, fix=f"e.g. one_of: {{{_example(family)}: {{...}}, ...}}",
        )
    shared = {key: value for key, value in data.items() if key != "one_of"}
    if family.key in shared:
        raise UsageError(
            f"'{family.key}' is set by one_of (the family chosen)", path=join(path, family.key),
            fix=f"remove '{family.key}' here; list the families under one_of",
        )
    branches = tuple(_parse_branch(name, body, where, shared, family, depth) for name, body in choices.items())
    names = [name for name, _ in branches]
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise UsageError(f"lists the family '{twice}' twice", path=where, fix="list each family once")
    return OneOf(family, _parse_items(shared, path, depth), branches, path)


def _parse_branch(
    name: Any, body: Any, where: str, shared: Mapping[Any, Any], family: Family, depth: int
) -> tuple[str, tuple[tuple[str, Node], ...] | None]:
    if name is None and family.none_names:
        name = "none"
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"family names must be non-empty strings, but got {name!r}", path=where,
            fix=f"name the {family.block} family, e.g. {_example(family)}",
        )
    bpath = f"{where}.{name}"
    if name.lower() in family.none_names:
        if body not in (None, {}):
            raise UsageError(
                f"'{name}' means no {family.block}, so it takes no settings", path=bpath, fix=f"write {name}: null"
            )
        return name, None
    body = as_mapping(body, bpath)
    for key in body:
        if key == family.key or key == "one_of":
            raise UsageError(
                f"'{key}' cannot be set inside a one_of family", path=_key(bpath, key),
                fix=f"the family's {family.key} is '{name}'; remove '{key}'",
            )
        if key in shared:
            raise UsageError(
                f"'{key}' is also given outside one_of ({_key(family.block, key)})", path=_key(bpath, key),
                fix="give it in one place: outside one_of for every family, or inside each family",
            )
    return name, _parse_items(body, bpath, depth)


def _example(family: Family) -> str:
    return {"optimizer": "Adam", "lr_scheduler": "StepLR", "loss_scheduler": "adaptive"}.get(family.block, "name")


def _key(path: str | None, key: Any) -> str:
    """Mapping keys always join with a dot (an integer key is not a list index)."""
    return join(path, key if isinstance(key, str) else str(key))


def _record(records: Records | None, cpath: str, spath: str) -> None:
    if records is not None and cpath:
        records.append((cpath, spath))


def _is_prefix(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _and(a: str, b: str) -> str:
    return f"{a} and {b}" if a and b else a or b


def _product(counts: Iterator[int]) -> int:
    out = 1
    for c in counts:
        out *= c
    return out
