"""`tune-sched run` through a subprocess: exit codes, one-line errors, the files written, refusing to overwrite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.train.trial_configs import ROOT, TINY

CHAMPION = ROOT / "run_configs" / "champion_trial69.yaml"


def tune_sched(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tune_sched.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def assert_usage_error(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"error: {message}"]


def test_a_missing_config_file(tmp_path):
    assert_usage_error(tune_sched("run", "nope.yaml", cwd=tmp_path),
                       "nope.yaml: does not exist; pass the path of a YAML file")


def test_broken_yaml(tmp_path):
    write(tmp_path / "broken.yaml", "task: tiny\noptimizer: {name: Adam\n")
    proc = tune_sched("run", "broken.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("error: broken.yaml: is not valid YAML at line 3, column 1")


def test_an_unknown_optimizer(tmp_path):
    write(tmp_path / "run.yaml", {**TINY, "optimizer": {"name": "Adamm", "lr": 0.01}})
    proc = tune_sched("run", "run.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("error: optimizer.name: unknown optimizer 'Adamm' (did you mean 'Adam'?)")


def test_a_finished_run_is_not_overwritten(tmp_path):
    write(tmp_path / "run.yaml", TINY)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "result.json").write_text(json.dumps({"status": "completed"}))
    assert_usage_error(tune_sched("run", "run.yaml", "--out", "out", cwd=tmp_path),
                       "out: already holds a finished run (status completed); pass --resume to continue it, "
                       "--overwrite to replace it, or another --out")


def test_an_unfinished_run_is_not_restarted(tmp_path):
    write(tmp_path / "run.yaml", TINY)
    (tmp_path / "runs" / "run-seed5").mkdir(parents=True)
    (tmp_path / "runs" / "run-seed5" / "last.ckpt").write_bytes(b"")
    assert_usage_error(tune_sched("run", "run.yaml", "--seed", "5", cwd=tmp_path),
                       "runs/run-seed5: holds an unfinished run (a last.ckpt but no result.json); pass --resume to "
                       "continue it, --overwrite to start afresh, or another --out")


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    write(tmp_path / "run.yaml", TINY)
    assert_usage_error(tune_sched("run", "run.yaml", "--resume", "--overwrite", cwd=tmp_path),
                       "tune-sched run: --resume and --overwrite exclude each other; pass --resume to continue the "
                       "run in --out, or --overwrite to replace it")


@pytest.mark.slow
def test_run_trains_prints_and_writes_then_resumes(tmp_path):
    write(tmp_path / "run.yaml", {**TINY, "seed": 3, "trainer": {**TINY["trainer"], "max_epochs": 2}})
    proc = tune_sched("run", "run.yaml", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "training tiny on seed 3: Adam lr 0.01, constant LR, 2 epochs -> out"
    assert lines[1].startswith("epoch 1/2  train_loss ") and " val_loss " in lines[1]
    assert lines[3].startswith("completed: 2 epochs (8 steps) in ")
    assert lines[4] == "results in out (epochs.parquet, steps.parquet, result.json)"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "config.yaml", "steps.parquet", "epochs.parquet", "result.json", "last.ckpt"}
    assert json.loads((tmp_path / "out" / "result.json").read_text())["seed"] == 3

    again = tune_sched("run", "run.yaml", "--out", "out", "--resume", "--max-epochs", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "completed: 3 epochs (12 steps)" in again.stdout and "epoch 3/3" in again.stdout
    assert "epoch 1/3" not in again.stdout  # continued, not retrained


@pytest.mark.slow
def test_a_usage_error_found_while_training_exits_2(tmp_path):
    write(tmp_path / "run.yaml", {**TINY, "module": "no_such_package.models:Net", "task": None})
    proc = tune_sched("run", "run.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("error: module: cannot import module 'no_such_package.models'")


@pytest.mark.slow
def test_a_failed_run_exits_1_with_its_reason(tmp_path):
    config = {"module": "tests.train.user_modules:CrashAt", "module_kwargs": {"epoch": 0, "n_train": 8},
              "trainer": {"max_epochs": 1}}
    write(tmp_path / "run.yaml", config)
    proc = tune_sched("run", "run.yaml", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert "failed in epoch 1: 0 epochs (0 steps)" in proc.stdout
    assert "reason: RuntimeError: boom in training_step" in proc.stdout


@pytest.mark.slow
def test_the_champion_config_runs_two_epochs_with_the_precision_note(tmp_path):
    proc = tune_sched("run", CHAMPION, "--max-epochs", "2", "--out", "champion", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == ("training fno2d on seed 307: Adam lr 0.00184988, "
                                           "CosineAnnealingWarmRestarts, 2 epochs -> champion")
    if not _has_cuda():
        assert ("note: precision 16-mixed needs a CUDA GPU; training in 32-true on the CPU instead (use "
                "trainer.precision: bf16-mixed for CPU autocast)") in proc.stdout.splitlines()
    assert "completed: 2 epochs" in proc.stdout
    result = json.loads((tmp_path / "champion" / "result.json").read_text())
    assert result["seed"] == 307 and result["epochs_run"] == 2


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_printed_epochs_count_from_1_and_agree_with_result_json_and_one_clock(tmp_path):
    """The terminal counts epochs from 1; result.json's ``best_epoch`` from 0 (docs/results.md): they agree."""
    import re

    write(tmp_path / "run.yaml", {**TINY, "seed": 1, "trainer": {**TINY["trainer"], "max_epochs": 3}})
    proc = tune_sched("run", "run.yaml", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    starred = [int(line.split()[1].split("/")[0]) for line in epochs if re.search(r" val_loss \S+\*", line)]
    summary = re.search(r"in ([\d.]+) s; best val_loss \S+ at epoch (\d+)", proc.stdout)
    assert int(summary.group(2)) == starred[-1] == result["best_epoch"] + 1
    # the epoch lines and the summary measure the same clock, the trial's training time (result.json's)
    last = float(re.search(r"\(([\d.]+) s\)$", epochs[-1]).group(1))
    assert last <= float(summary.group(1)) == pytest.approx(result["wall_time_s"], abs=0.06)
    assert float(summary.group(1)) - last < 2.0
