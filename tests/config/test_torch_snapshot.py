"""The catalog describes the installed torch: the signatures it uses equal the live torch's, whether they come from
the committed snapshot (its own torch) or the per-release cache (any other); the snapshot is canonical text; the
generator's check fails on a stale snapshot; annotations parse as documented."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tune_sched.config.catalog._installed_torch import installed_release, release_of, torch_signatures
from tune_sched.config.catalog._torch_snapshot import SNAPSHOT_PATH, live_signatures, parse_annotation, read_snapshot, render
from tune_sched.config.catalog.registry import LR_SCHEDULERS, OPTIMIZERS


def _signatures_only(signatures):
    return {key: value for key, value in signatures.items() if key != "torch_version"}


def test_installed_release_is_the_torch_that_imports():
    import torch

    assert installed_release() == release_of(torch.__version__)


def test_catalog_uses_the_installed_torchs_signatures():
    assert _signatures_only(torch_signatures()) == _signatures_only(live_signatures())


def test_registry_holds_the_installed_torchs_classes_and_kwargs():
    live = live_signatures()
    torch_optimizers = {name: spec for name, spec in OPTIMIZERS.items() if spec.source == "torch.optim"}
    assert set(torch_optimizers) == set(live["optimizers"])
    torch_schedulers = {name: spec for name, spec in LR_SCHEDULERS.items() if spec.source != "tune_sched"}
    assert set(torch_schedulers) <= set(live["lr_schedulers"])
    for name, spec in [*torch_optimizers.items(), *torch_schedulers.items()]:
        entry = live["optimizers"].get(name) or live["lr_schedulers"][name]
        assert {k: (v.type, v.required, None if v.required else v.default) for k, v in spec.kwargs.items()} == {
            k: (v["type"], "default" not in v, v.get("default")) for k, v in entry["kwargs"].items()
        }, name


def test_committed_snapshot_is_canonical_text():
    assert SNAPSHOT_PATH.read_text(encoding="utf-8") == render(read_snapshot())


def test_rendered_signatures_read_back_unchanged():
    live = live_signatures()
    assert json.loads(render(live)) == live


def test_the_snapshots_own_release_is_read_from_the_snapshot(tmp_path):
    snapshot = read_snapshot()
    assert torch_signatures(release_of(snapshot["torch_version"]), cache=tmp_path) == snapshot
    assert list(tmp_path.iterdir()) == []


def test_another_release_is_read_from_torch_once_then_from_the_cache(tmp_path):
    first = torch_signatures("0.0.1", cache=tmp_path)
    assert _signatures_only(first) == _signatures_only(live_signatures())
    cached = tmp_path / "torch_signatures-0.0.1.json"
    assert json.loads(cached.read_text(encoding="utf-8")) == first
    edited = {**first, "optimizers": {"SGD": first["optimizers"]["SGD"]}}
    cached.write_text(json.dumps(edited), encoding="utf-8")
    assert torch_signatures("0.0.1", cache=tmp_path) == edited  # the file is read, torch is not


def test_reading_another_release_keeps_the_caller_torch_free(tmp_path):
    code = ("import sys; from tune_sched.config.catalog._installed_torch import torch_signatures; "
            "names = sorted(torch_signatures('0.0.1')['optimizers']); "
            "assert 'torch' not in sys.modules, 'torch was imported'; print(' '.join(names))")
    env = {**os.environ, "TUNE_SCHED_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == sorted(live_signatures()["optimizers"])
    assert (tmp_path / "torch_signatures-0.0.1.json").is_file()


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


def test_generator_writes_a_snapshot_and_its_check_can_fail(tmp_path, capsys):
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_torch_catalog.py"
    spec = importlib.util.spec_from_file_location("gen_torch_catalog", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "signatures.json"
    assert module.main(["--out", str(out)]) == 0
    assert module.main(["--check", "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    written = read_snapshot(out)
    out.write_text(render({**written, "optimizers": {"SGD": written["optimizers"]["SGD"]}}), encoding="utf-8")
    assert module.main(["--check", "--out", str(out)]) == 1
    assert "STALE" in capsys.readouterr().out
    out.write_text(render({**written, "torch_version": "0.0.1"}), encoding="utf-8")
    assert module.main(["--check", "--out", str(out)]) == 1
    assert "it is torch 0.0.1's" in capsys.readouterr().out
