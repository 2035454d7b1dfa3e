"""The committed torch signature snapshot matches the installed torch, and annotations parse as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tune_sched.optim._torch_snapshot import live_signatures, parse_annotation, read_snapshot, render


def test_committed_snapshot_matches_live_torch():
    committed = read_snapshot()
    live = live_signatures()
    committed.pop("torch_version")
    live.pop("torch_version")
    assert committed == live, "torch_signatures.json is stale: run `python scripts/gen_torch_catalog.py`"


def test_render_is_stable_text():
    snapshot = read_snapshot()
    assert render(snapshot).endswith("}\n")
    assert render(snapshot) == render(read_snapshot())


@pytest.mark.parametrize(("annotation", "expected"), [
    ("float", "float"),
    ("float | torch.Tensor", "float"),
    ("bool | None", {"optional": "bool"}),
    ("int | None", {"optional": "int"}),
    ("tuple[float | torch.Tensor, float | torch.Tensor]", {"tuple": ["float", "float"]}),
    ("tuple[float | None, float]", {"tuple": [{"optional": "float"}, "float"]}),
    ("float | list[float]", {"union": ["float", {"list": "float"}]}),
    ("Iterable[int]", {"list": "int"}),
    ("Literal['cos', 'linear']", {"choice": ["cos", "linear"]}),
    ("Sequence[LRScheduler]", "schedulers"),
    ("list[LRScheduler]", "schedulers"),
    ("Callable[[int], float] | list[Callable[[int], float]]", "callable"),
    ("Callable[[float], float] | None", {"optional": "callable"}),
])
def test_parse_annotation(annotation, expected):
    assert parse_annotation(annotation) == expected


@pytest.mark.parametrize("annotation", ["dict[str, typing.Any]", "Optimizer", "complex", "set[int]"])
def test_unknown_annotations_are_errors_not_silently_unchecked(annotation):
    with pytest.raises(ValueError, match="annotation"):
        parse_annotation(annotation)


def test_generator_script_check_mode(capsys):
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_torch_catalog.py"
    spec = importlib.util.spec_from_file_location("gen_torch_catalog", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
