"""reconcile: before a resume, the experiment's trial folders are made to agree with Tune's last saved state
(states saved by real Tune runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tune_sched.core.yaml_io import dump_yaml
from tune_sched.results.io import write_json, write_table
from tune_sched.results.tables import rows_to_table
from tune_sched.search.reconcile import reconcile, record_errored, record_stopped, saved_trials


def trainable() -> Any:
    """A Tune trainable: the config ``broken`` raises while the file ``config["flag"]`` exists. (Defined in a
    function, so that it is pickled by value: the workers cannot import this test module.)"""

    def report_once(config: dict) -> None:
        from ray import tune

        if config["kind"] == "broken" and Path(config["flag"]).exists():
            raise RuntimeError("a broken config")
        tune.report({"loss": 1.0})

    return report_once


def tune_run(storage: Path, *, flag: Path, restore: bool = False) -> dict[str, str]:
    """Run a Tune experiment at ``storage/tune`` (configs ``ok`` and ``broken``; ``restore``: resume it and rerun
    the errored one); ``{kind: trial id}``."""
    from ray import tune

    from tune_sched.search.driver import trial_dirname

    if restore:
        tuner = tune.Tuner.restore(str(storage / "tune"), trainable=trainable(), resume_errored=True)
    else:
        tuner = tune.Tuner(trainable(), param_space={"kind": tune.grid_search(["ok", "broken"]), "flag": str(flag)},
                           tune_config=tune.TuneConfig(trial_dirname_creator=trial_dirname),
                           run_config=tune.RunConfig(name="tune", storage_path=str(storage), verbose=0))
    return {result.config["kind"]: Path(result.path).name for result in tuner.fit()}


def seed_folder(experiment: Path, config_id: str, seed: int, *, losses: list[float], finished: bool) -> Path:
    folder = experiment / "trials" / config_id / f"seed={seed}"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_yaml({"task": "tiny", "metric": "val_loss", "mode": "min",
                                                   "seed": seed}))
    keys = {"config_id": config_id, "seed": seed}
    write_table(folder / "epochs.parquet",
                rows_to_table([{**keys, "epoch": e, "step": 4 * (e + 1), "val_loss": v} for e, v in enumerate(losses)]))
    write_table(folder / "steps.parquet",
                rows_to_table([{**keys, "step": s, "train_loss": 1.0} for s in range(4 * len(losses))]))
    if finished:
        write_json(folder / "result.json", {"status": "completed"})
    return folder


@pytest.mark.slow
def test_newest_saved_state_wins(tmp_path, ray_cluster):
    assert saved_trials(tmp_path / "missing") is None
    assert saved_trials(tmp_path) is None  # a folder without Tune's state (killed before its first save)
    flag = tmp_path / "broken"
    flag.touch()
    ids = tune_run(tmp_path, flag=flag)
    assert saved_trials(tmp_path / "tune") == {ids["ok"]: "TERMINATED", ids["broken"]: "ERROR"}
    flag.unlink()
    assert tune_run(tmp_path, flag=flag, restore=True) == ids
    assert saved_trials(tmp_path / "tune") == {ids["ok"]: "TERMINATED", ids["broken"]: "TERMINATED"}


@pytest.mark.slow
def test_reconcile(tmp_path, ray_cluster):
    exp = tmp_path / "exp"
    flag = tmp_path / "broken"
    flag.touch()
    ids = tune_run(exp, flag=flag)  # Tune resumes the errored config ('running') and not the finished one
    running, stopped_id = ids["broken"], ids["ok"]
    seed_folder(exp, running, 0, losses=[3.0], finished=False)
    seed_folder(exp, "unknown", 0, losses=[2.0], finished=True)
    seed_folder(exp, stopped_id, 0, losses=[5.0, 4.0], finished=True)
    stopped = seed_folder(exp, stopped_id, 1, losses=[3.0, 1.0, math.nan], finished=False)
    (stopped / ".steps.parquet.abc.tmp").write_bytes(b"half a table")

    done = reconcile(exp, exp / "tune", [0, 1])
    assert done.discarded == ("unknown",) and done.pruned == ((stopped_id, 1),) and done.removed_tmp == 1
    assert sorted(p.name for p in (exp / "trials").iterdir()) == sorted([running, stopped_id])
    assert (exp / "discarded" / "unknown" / "seed=0" / "result.json").exists()
    assert not (exp / "trials" / running / "seed=0" / "result.json").exists()  # Tune resumes it
    assert not list(exp.rglob("*.tmp"))
    result = json.loads((stopped / "result.json").read_text())
    assert (result["status"], result["reason"]) == ("pruned", "stopped by the search's pruner")
    assert (result["best_metric"], result["best_epoch"], result["epochs_run"], result["steps_run"]) == (1.0, 1, 3, 12)
    assert math.isnan(result["final_metric"]) and math.isnan(result["wall_time_s"])
    lines = done.describe(exp)
    assert len(lines) == 3 and "set aside" in lines[0] and "unknown" in lines[0] and stopped_id in lines[1]

    again = reconcile(exp, exp / "tune", [0, 1])  # nothing left to do
    assert (again.discarded, again.pruned, again.removed_tmp, again.describe(exp)) == ((), (), 0, [])


def test_without_saved_state_every_folder_is_set_aside(tmp_path):
    exp = tmp_path / "exp"
    seed_folder(exp, "a", 0, losses=[1.0], finished=True)
    assert reconcile(exp, exp / "tune", [0]).discarded == ("a",)
    assert list((exp / "trials").iterdir()) == []


@pytest.mark.parametrize("mode,best", [("min", 1.0), ("max", 3.0)])
def test_best_metric_follows_the_mode(tmp_path, mode, best):
    folder = seed_folder(tmp_path, "c", 0, losses=[3.0, 1.0, 2.0], finished=False)
    (folder / "config.yaml").write_text(dump_yaml({"metric": "val_loss", "mode": mode}))
    assert record_stopped(folder, config_id="c", seed=0).best_metric == best


def test_a_config_whose_worker_died_too_often_gets_failed_rows(tmp_path):
    seed_folder(tmp_path, "c", 0, losses=[3.0], finished=True)
    seed_folder(tmp_path, "c", 1, losses=[3.0, 2.0], finished=False)
    assert record_errored(tmp_path, "c", [0, 1, 2], reason="its worker died") == [1, 2]
    one = json.loads((tmp_path / "trials" / "c" / "seed=1" / "result.json").read_text())
    assert (one["status"], one["reason"], one["epochs_run"], one["best_metric"]) == (
        "failed", "its worker died", 2, 2.0)
    two = json.loads((tmp_path / "trials" / "c" / "seed=2" / "result.json").read_text())  # never started
    assert (two["status"], two["epochs_run"], two["seed"]) == ("failed", 0, 2)
    assert json.loads((tmp_path / "trials" / "c" / "seed=0" / "result.json").read_text()) == {"status": "completed"}


@pytest.mark.parametrize("lrs,changed", [([0.1, 0.1, 0.1, 0.1], False), ([0.1, 0.1, 0.05, 0.05], True), ([], None)])
def test_a_stopped_seed_says_whether_its_lr_changed(tmp_path, lrs, changed):
    folder = seed_folder(tmp_path, "c", 0, losses=[3.0], finished=False)
    keys = {"config_id": "c", "seed": 0}
    write_table(folder / "steps.parquet", rows_to_table([{**keys, "step": s, "lr_group_0": lr, "lr": lr}
                                                         for s, lr in enumerate(lrs)]))
    assert record_stopped(folder, config_id="c", seed=0).lr_changed is changed
    assert json.loads((folder / "result.json").read_text())["lr_changed"] is changed
