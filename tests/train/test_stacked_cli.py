"""`tune-sched run --seeds`: every seed into its own folder, stacked or in lockstep, without Ray or Optuna; and
scripts/gpu_check.sh end to end on the CPU (its GPU-less mode), as the GPU machine will run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.train.test_trial_cli import assert_usage_error, tune_sched, write
from tests.train.trial_configs import ROOT

RUN = {"task": "tiny", "optimizer": {"name": "Adam", "lr": 3e-3}, "trainer": {"max_epochs": 2}}


def test_run_seeds_trains_them_stacked_into_their_folders_without_ray(tmp_path: Path) -> None:
    write(tmp_path / "run.yaml", RUN)
    probe = ("import sys; from tune_sched.cli import main; code = main(['run', 'run.yaml', '--seeds', '1,2', "
             "'--out', 'out']); print('HEAVY', sorted(m for m in ('ray', 'optuna') if m in sys.modules)); "
             "sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training tiny on seeds 1,2: Adam lr 0.003, constant LR, 2 epochs -> out (stacked as one model)" \
        in proc.stdout
    assert "seed 2: epoch 2/2" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "HEAVY []"
    for seed in (1, 2):
        result = json.loads((tmp_path / "out" / f"seed{seed}" / "result.json").read_text())
        assert (result["seed"], result["status"], result["seed_mode"], result["epochs_run"]) == (seed, "completed",
                                                                                                 "stacked", 2)
        assert yaml.safe_load((tmp_path / "out" / f"seed{seed}" / "config.yaml").read_text())["seed"] == seed
    again = tune_sched("run", "run.yaml", "--seeds", "1,2", "--out", "out", cwd=tmp_path)
    assert_usage_error(again, f"{Path('out') / 'seed1'}: already holds a finished run (status completed); pass "
                              "--resume to continue it, --overwrite to replace it, or another --out")


def test_run_seeds_separately_says_so(tmp_path: Path) -> None:
    write(tmp_path / "run.yaml", {**RUN, "trainer": {"max_epochs": 1, "seed_mode": "separate"}})
    proc = tune_sched("run", "run.yaml", "--seeds", "3,4", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(separately, in lockstep)" in proc.stdout
    assert json.loads((tmp_path / "out" / "seed4" / "result.json").read_text())["seed_mode"] == "separate"


def test_seed_and_seeds_exclude_each_other(tmp_path: Path) -> None:
    write(tmp_path / "run.yaml", RUN)
    assert_usage_error(tune_sched("run", "run.yaml", "--seed", "1", "--seeds", "1,2", cwd=tmp_path),
                       "tune-sched run: --seed and --seeds exclude each other; pass --seeds 1,2,3 for several seeds, "
                       "or --seed N for one")


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "GPU_CHECK_CPU": "1", "GPU_CHECK_SKIP_INSTALL": "1", "PYTHON": sys.executable,
           "GPU_CHECK_SEEDS": "2", "GPU_CHECK_EPOCHS": "1", "GPU_CHECK_SHARED": "2", "OUT": str(tmp_path / "out"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    runs = {r["run"]: r for r in data["runs"]}
    assert {"one", "stacked", "lockstep", "shared-2x2", "shared-2x1"} <= set(runs)
    assert runs["stacked"]["seed_mode"] == ["stacked"] and runs["lockstep"]["seed_mode"] == ["separate"]
    assert runs["stacked"]["seed_steps"] == 2 * runs["one"]["seed_steps"] > 0
    assert data["summary"]["ray_or_optuna_imported"] == []
    assert "stacked_2_seeds_over_one_seed_training" in data["summary"]
    assert (tmp_path / "out" / "gpu_check.txt").read_text().splitlines()[-1].startswith("summary:")
