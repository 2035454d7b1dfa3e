"""Reading YAML files safely, with one-line errors for a missing file, broken syntax or a runaway structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tune_sched.core.errors import UsageError

__all__ = ["dump_yaml", "read_yaml", "safe_load_text"]

MAX_DEPTH = 100  # levels of nesting a config may have
MAX_VALUES = 1_000_000  # values a config may hold once its aliases (*name) are expanded


def read_yaml(path: str | Path) -> Any:
    """Load a YAML file with ``yaml.safe_load`` (never arbitrary objects).

    Raises:
        UsageError: a missing file or a directory, text that is not UTF-8, broken syntax, a tag that plain YAML
            does not load (``!!python/object``), or data nested more than ``MAX_DEPTH`` levels deep (an alias that
            contains itself included) or holding more than ``MAX_VALUES`` values once its aliases are expanded.
    """
    import yaml  # lazy: heavy

    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise UsageError(f"{what}", path=str(path), fix="pass the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except RecursionError:  # the parser itself recurses per level
        raise _too_deep(path) from None
    except UnicodeDecodeError as err:
        raise UsageError(f"is not UTF-8 text ({err.reason})", path=str(path), fix="save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        if isinstance(err, yaml.constructor.ConstructorError):  # a tag such as !!python/object: never loaded
            problem = problem.replace("tag:yaml.org,2002:", "!!")
            raise UsageError(f"has a tag that tune-sched does not load{where} ({problem})", path=str(path),
                             fix="remove the tag: configs hold plain values only, never Python objects") from None
        raise UsageError(f"is not valid YAML{where}: {problem}", path=str(path), fix="fix the syntax there") from None
    depth, size = _extent(data, {}, set())
    if depth > MAX_DEPTH:
        raise _too_deep(path)
    if size > MAX_VALUES:
        raise UsageError(f"holds more than {MAX_VALUES:,} values once its aliases (*name) are expanded",
                         path=str(path), fix="write the config without nesting aliases in aliases")
    return data


def safe_load_text(text: str) -> Any:
    """``yaml.safe_load(text)`` through libyaml's safe loader when PyYAML has it (about 10x faster; the same plain
    data), for YAML tune-sched wrote itself, such as each seed's ``config.yaml`` read when gathering a search."""
    import yaml  # lazy: heavy

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _extent(value: Any, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """(nesting depth, number of values) of loaded YAML, each shared (aliased) part walked once.

    Stops at ``MAX_DEPTH + 1`` levels, which an alias that contains itself reaches at once.
    """
    if not isinstance(value, (dict, list)):
        return 0, 1
    key = id(value)
    if key in memo:
        return memo[key]
    if key in active or len(active) >= MAX_DEPTH:
        return MAX_DEPTH + 1, 1
    active.add(key)
    depth, size = 0, 1
    for child in value.values() if isinstance(value, dict) else value:
        child_depth, child_size = _extent(child, memo, active)
        depth, size = max(depth, child_depth), size + child_size
    active.discard(key)
    memo[key] = (depth + 1, size)
    return memo[key]


def _too_deep(path: Path) -> UsageError:
    return UsageError(f"is nested more than {MAX_DEPTH} levels deep", path=str(path),
                      fix="flatten it, and check that no alias (*name) refers to a block that contains it")


def dump_yaml(data: Any) -> str:
    """Plain YAML (block style, keys in the given order) for configs we write."""
    import yaml  # lazy: heavy

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
