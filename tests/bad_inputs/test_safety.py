"""Safety: YAML is loaded safely only, exports are plain YAML/JSON/Parquet (never pickles), a local Ray listens on
loopback only with no dashboard, and written results are never overwritten without a flag."""

from __future__ import annotations

import ast
import hashlib
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tune_sched.core.yaml_io import read_yaml
from tune_sched.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tune_sched"
PICKLE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_YAML = {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all", "Loader",
               "FullLoader", "UnsafeLoader"}
EXPORT_SUFFIXES = {".yaml", ".json", ".parquet", ".md", ".png", ".svg", ".csv", ".txt"}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tune_sched.cli", *args], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=600, check=False)


def _files(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ---- YAML is loaded safely ------------------------------------------------------------------------------------
def _unsafe_uses(source: str) -> list[str]:
    """Calls of an unsafe YAML loader and imports of a pickle-like module in Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml" \
                and node.attr in UNSAFE_YAML:
            found.append(f"yaml.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name} (line {node.lineno})" for a in node.names
                      if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLE_MODULES:
            found.append(f"from {node.module} import ... (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module == "yaml":
            found += [f"from yaml import {a.name} (line {node.lineno})" for a in node.names if a.name in UNSAFE_YAML]
    return found


def test_the_checker_finds_unsafe_loading():
    source = "import yaml\nimport pickle\nfrom yaml import FullLoader\nyaml.load(s, Loader=yaml.Loader)\n"
    assert len(_unsafe_uses(source)) == 4
    assert _unsafe_uses("import yaml\nyaml.safe_load(s)\nyaml.safe_dump(d)\n") == []


PICKLES_BETWEEN_OWN_PROCESSES = {"tune_sched/search/forkserver.py": ["import pickle"],
                                 "tune_sched/search/study.py": ["import pickle"]}
"""The two modules allowed pickles. The fork server: a Ray worker and the training process forked for it exchange
calls over a socket in a directory only the user can enter (tests/search/test_forkserver.py checks it), as Ray's own
channels do. The Optuna searcher: Tune's ``Searcher.save``/``restore`` contract, a file the search itself writes
into the experiment's ``tune/`` folder, beside the pickled state Tune keeps there and loads on every resume
(``tuner.pkl``); a resume trusts that folder either way. No file from outside an experiment is read as a pickle."""


def test_the_package_never_loads_yaml_unsafely_or_pickles():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 50
    found = {str(p.relative_to(ROOT)): _unsafe_uses(p.read_text(encoding="utf-8")) for p in sources}
    found = {path: [use.split(" (line")[0] for use in uses] for path, uses in found.items() if uses}
    assert found == PICKLES_BETWEEN_OWN_PROCESSES


@pytest.mark.parametrize("tagged", [
    "!!python/object/apply:os.system [\"touch pwned\"]",
    "!!python/object/new:os.system [\"touch pwned\"]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!custom {a: 1}",
])
def test_tags_are_refused_and_never_run(tagged, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(f"task: tiny\noptimizer: {tagged}\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"^.*config\.yaml: has a tag that tune-sched does not load at line 2.*; "
                                         r"remove the tag"):
        read_yaml(config)
    assert not (tmp_path / "pwned").exists()


# ---- exports are plain data -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A finished two-config, two-seed experiment of the tiny task, trained here (no Ray)."""
    import torch

    from tune_sched.results.experiment import create_experiment, seed_dir
    from tune_sched.train.trial import run_trial

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("exports") / "exp"
    base = {"task": "tiny", "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
            "trainer": {"max_epochs": 2, "batch_size": 8}}
    create_experiment(path, space_source={**base, "seeds": [0, 1], "optimizer": {"name": "Adam",
                                                                                 "lr": {"values": [1e-3, 3e-3]}}},
                      metric="val_loss", mode="min", seeds=[0, 1])
    for config_id, lr in (("c1", 1e-3), ("c2", 3e-3)):
        for seed in (0, 1):
            result = run_trial({**base, "optimizer": {"name": "Adam", "lr": lr}}, seed, seed_dir(path, config_id, seed),
                               config_id=config_id, checkpoint=False)
            assert result.status == "completed", result.reason
    return path


@pytest.mark.slow
def test_export_and_analyze_write_plain_files_and_never_overwrite(experiment, tmp_path):
    from tune_sched.config.run_config import load_run_config

    before = _files(experiment)
    exported = _cli(tmp_path, "export", str(experiment), "--out", "best.yaml")
    assert exported.returncode == 0, exported.stderr
    analyzed = _cli(tmp_path, "analyze", str(experiment))
    assert analyzed.returncode == 0, analyzed.stderr

    written = [tmp_path / "best.yaml"] + [experiment / name for name, digest in _files(experiment).items()
                                          if before.get(name) != digest]
    assert len(written) > 2  # the export, and analyze's table and report at least
    for path in written:
        assert path.suffix in EXPORT_SUFFIXES, path
        assert not path.read_bytes().startswith(b"\x80"), f"{path} is a pickle"
    text = (tmp_path / "best.yaml").read_text(encoding="utf-8")
    assert "!!" not in text
    assert isinstance(yaml.safe_load(text), dict)
    assert load_run_config(tmp_path / "best.yaml").optimizer["name"] == "Adam"
    for name in ("experiment.json",):
        json.loads((experiment / name).read_text())

    kept = (tmp_path / "best.yaml").read_bytes()
    again = _cli(tmp_path, "export", str(experiment), "--out", "best.yaml", "--rank", "2")
    assert again.returncode == 2
    assert again.stderr.startswith("error: --out: best.yaml already exists; pass --force")
    assert (tmp_path / "best.yaml").read_bytes() == kept


# ---- Ray stays on this machine --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux's /proc")
def test_a_private_ray_listens_on_loopback_only_and_has_no_dashboard(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in [k for k in env if k.startswith("RAY_")]:
        del env[key]  # the defaults tune-sched sets must do it alone
    result = subprocess.run([sys.executable, "-m", "tests.bad_inputs.ray_listeners"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"gcs_server", "raylet"} <= set(report["processes"]), report["processes"]  # the list is real
    # Ray's dashboard process runs as its API server only (the state and job APIs, on loopback): no web frontend
    assert all("--disable-frontend" in argv for argv in report["dashboards"]), report["dashboards"]
    assert report["nodes"] and all(ipaddress.ip_address(n).is_loopback for n in report["nodes"]), report
    assert report["listening"], "found no listening socket: the check itself is broken"
    for address in report["listening"]:
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)
        assert (mapped or ip).is_loopback, f"Ray listens on {address}: {report}"
