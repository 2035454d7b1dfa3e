"""Ctrl-C during ``tune-sched search`` (SIGINT to its process group, as a terminal sends it): the search stops
cleanly with exit code 130 and a message telling how to resume, and ``--resume`` completes it without training
any finished seed again or losing a row."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.search.experiments import (
    CLI_EPOCHS,
    CLI_SPACE,
    check_tables,
    finish_cli,
    finished_seeds,
    forkserver_processes,
    group_alive,
    run_cli,
    start_cli,
    wait_for,
    write_yaml,
)
from tune_sched.search.study import open_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_ctrl_c_stops_cleanly_and_resume_completes(tmp_path: Path):
    space = write_yaml(tmp_path / "space.yaml", CLI_SPACE)
    store, name = tmp_path / "store", "interrupted"
    experiment = store / name
    args = ["search", "--space", str(space), "--storage", str(store), "--name", name]

    proc = start_cli(args, cwd=tmp_path, log=tmp_path / "run1.log")
    try:
        wait_for(lambda: finished_seeds(experiment) or proc.poll() is not None, timeout=300,
                 what="a first finished seed")
        assert proc.poll() is None, (tmp_path / "run1.log").read_text()
        assert len(forkserver_processes(experiment)) >= 2, "the fork server and its training processes"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        code = finish_cli(proc, timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = (tmp_path / "run1.log").read_text()
    assert code == 130, output
    assert "Traceback" not in output
    assert (f"search interrupted; finished trials are kept. Resume with: tune-sched search --space "
            f"{experiment / 'space.yaml'} --storage {store} --name {name} --resume") in output.splitlines()
    wait_for(lambda: not group_alive(proc.pid), timeout=30, what="the search's Ray processes to exit")
    wait_for(lambda: not forkserver_processes(experiment), timeout=30,
             what="the fork server and its training processes to exit")

    # what the interrupted search recorded is final: no config was recorded as pruned because of Ctrl-C
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished_seeds(experiment)}
    assert kept
    # the Optuna study: the configs still training are unfinished trials, which the resume continues
    before = {t.number: (t.user_attrs["config_id"], t.state.name) for t in open_study(experiment).get_trials()}
    assert "RUNNING" in {state for _, state in before.values()}, before
    assert all(b'"status": "completed"' in data for _, data in kept.values())

    refused = run_cli(args, cwd=tmp_path)
    assert refused.returncode == 2 and "already exists; pass --resume" in refused.stderr

    # the printed command, as a user would paste it
    done = run_cli(["search", "--space", str(experiment / "space.yaml"), "--storage", str(store), "--name", name,
                    "--resume"], cwd=tmp_path, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = check_tables(experiment, configs=4, seeds=[0, 1])["trials"]
    assert (trials["status"] == "completed").all(), trials[["config_id", "seed", "status", "reason"]]
    assert (trials["epochs_run"] == CLI_EPOCHS).all()
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in kept} == kept, "a finished seed was trained again"
    assert "configs done 4/4: 4 completed" in done.stdout
    study = open_study(experiment).get_trials()
    after = {t.number: (t.user_attrs["config_id"], t.state.name) for t in study}
    assert {n: c for n, (c, _) in after.items() if n in before} == {n: c for n, (c, _) in before.items()}
    # a config Tune asked for after its last save of the searcher (a race with Ctrl-C) never runs: its trial is
    # failed as lost and it has no rows; every other trial is one config of the experiment, completed
    lost = {t.number for t in study if t.user_attrs.get("outcome") == "lost"}
    assert all(after[n][1] == "FAIL" and after[n][0] not in set(trials["config_id"]) for n in lost), after
    kept_trials = {n: v for n, v in after.items() if n not in lost}
    outcomes = {t.number: (t.user_attrs["config_id"], t.state.name, t.user_attrs.get("outcome")) for t in study}
    assert sorted(c for c, _ in kept_trials.values()) == sorted(set(trials["config_id"])), outcomes
    assert {state for _, state in kept_trials.values()} == {"COMPLETE"}, outcomes
