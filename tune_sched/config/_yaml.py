"""Reading YAML files safely, with one-line errors for a missing file or broken syntax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tune_sched.errors import UsageError

__all__ = ["read_yaml", "dump_yaml"]


def read_yaml(path: str | Path) -> Any:
    """Load a YAML file with ``yaml.safe_load`` (never arbitrary objects)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise UsageError(f"{what}", path=str(path), fix="pass the path of a YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise UsageError(f"is not UTF-8 text ({err.reason})", path=str(path), fix="save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UsageError(f"is not valid YAML{where}: {problem}", path=str(path), fix="fix the syntax there") from None


def dump_yaml(data: Any) -> str:
    """Plain YAML (block style, keys in the given order) for configs we write."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
