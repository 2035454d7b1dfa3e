"""Small real searches shared by the search and reliability tests (each runs once per test session).

``optuna_experiment`` is a tiny-task Optuna search; ``fault_experiment`` is a grid over the faults of
:mod:`tests.search.user_modules`, one config per fault, run one config at a time so the pruner sees them in
order. Both run ``run_search`` in this process on the session's Ray (the ``ray_cluster`` fixture) and keep what
it printed (a non-tty stream). Also: helpers to run the CLI in a subprocess and to check an experiment's tables.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FAULT_MODULE = "tests.search.user_modules:Faulty"

OPTUNA_SPACE: dict[str, Any] = {
    "task": "tiny",
    "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
    "metric": "val_loss",
    "mode": "min",
    "seeds": [0, 1],
    "search": {"algorithm": "optuna", "num_samples": 4, "max_concurrent": 2, "sampler_seed": 0,
               "pruner": {"rule": "asha", "grace_period": 1, "reduction_factor": 2}},
    "optimizer": {"lr": {"min": 1.0e-3, "max": 3.0e-2, "log": True},
                  "one_of": {"Adam": None, "SGD": {"momentum": {"values": [0.0, 0.9]}}}},
    "lr_scheduler": {"one_of": {"StepLR": {"step_size": {"values": [1, 2]}}, "constant": None}},
    "trainer": {"max_epochs": 3, "batch_size": 4},
}
"""4 configs x 2 seeds x up to 3 epochs of the tiny task (4 optimizer steps per epoch)."""

CLI_SPACE = {
    "task": "tiny",
    "task_kwargs": {"resolution": 8, "n_train": 32, "n_val": 8},
    "seeds": [0, 1],
    "search": {"algorithm": "random", "num_samples": 4, "max_concurrent": 2, "pruner": "none"},
    "optimizer": {"name": "Adam", "lr": {"min": 1.0e-3, "max": 3.0e-2, "log": True}},
    "trainer": {"max_epochs": 4, "batch_size": 4},
}
"""4 configs x 2 seeds x 4 epochs of 8 steps, no pruner: every seed must end completed after 4 epochs. Long
enough (a few seconds per config) that a signal sent when the first seed finishes lands mid-search."""
CLI_EPOCHS = 4

OUTCOMES = ("completed", "pruned", "failed", "diverged")
"""How the progress output names a finished config (the first word of its line)."""

FAULTS_IN_GRID = ("none", "worse", "crash", "nan", "oom", "kill", "die")


def fault_space(marker_dir: str | Path) -> dict[str, Any]:
    """A grid with one config per fault (in ``FAULTS_IN_GRID`` order), ASHA after 1 epoch, one retry; every epoch
    saved (``save_every_s: 0``), so a retried config resumes from a checkpoint taken mid-run."""
    return {
        "module": FAULT_MODULE,
        "module_kwargs": {"fault": {"values": list(FAULTS_IN_GRID)}, "marker_dir": str(marker_dir)},
        "metric": "val_loss",
        "mode": "min",
        "seeds": [0, 1],
        "search": {"algorithm": "grid", "max_concurrent": 1, "max_failures": 1, "save_every_s": 0,
                   "pruner": {"rule": "asha", "grace_period": 1, "reduction_factor": 2}},
        "optimizer": {"name": "Adam", "lr": 0.02},
        "trainer": {"max_epochs": 3},
    }


@dataclass(frozen=True)
class SearchRun:
    """An experiment made by a test search: its directory, what the search printed, what was injected, and
    what a reader polling the seed folders during the search saw (files read whole, files found half-written)."""

    path: Path
    output: str
    seconds: float
    kills: tuple[int, ...] = ()
    killed_parents: tuple[str, ...] = ()  # the command line of each killed process's parent
    reads: int = 0
    torn: tuple[str, ...] = ()


def run_in_process(space_data: dict[str, Any], root: Path, name: str) -> tuple[Path, str, float]:
    """``run_search`` on the initialised Ray, output captured; (experiment, output, seconds)."""
    from tune_sched.config.space import SearchSpace
    from tune_sched.search.driver import run_search

    stream = io.StringIO()
    start = time.perf_counter()
    path = run_search(SearchSpace.from_dict(copy.deepcopy(space_data)), name=name, storage=root, stream=stream)
    return path, stream.getvalue(), time.perf_counter() - start


@functools.cache
def optuna_experiment(root: str) -> SearchRun:
    """The tiny-task Optuna search (run once per session under ``root``)."""
    path, output, seconds = run_in_process(OPTUNA_SPACE, Path(root), "optuna")
    return SearchRun(path, output, seconds)


@functools.cache
def fault_experiment(root: str) -> SearchRun:
    """The fault grid (run once per session under ``root``); the ``kill`` config's worker is SIGKILLed here."""
    markers = Path(root) / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    killer = PidKiller(markers / "kill.pid")
    reader = TableReader(Path(root) / "faults")
    killer.start()
    reader.start()
    try:
        path, output, seconds = run_in_process(fault_space(markers), Path(root), "faults")
    finally:
        killer.stop()
        reader.stop()
    return SearchRun(path, output, seconds, kills=tuple(killer.killed), killed_parents=tuple(killer.parents),
                     reads=reader.reads, torn=tuple(reader.torn))


class PidKiller(threading.Thread):
    """Wait for ``pid_file`` to appear and SIGKILL the process it names (once)."""

    def __init__(self, pid_file: Path) -> None:
        super().__init__(daemon=True)
        self.pid_file = pid_file
        self.killed: list[int] = []
        self.parents: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            if self.pid_file.exists():
                pid = int(self.pid_file.read_text())
                ppid = stat_fields(pid)[1]
                self.parents.append(Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


class TableReader(threading.Thread):
    """Read every table and result file of the seed folders under ``experiment``, over and over, until stopped.

    A file that exists but cannot be read whole is recorded in ``torn`` (a file replaced or removed between
    listing and reading is not: the writers rename whole files into place, or start a seed afresh).
    """

    def __init__(self, experiment: Path) -> None:
        super().__init__(daemon=True)
        self.experiment = experiment
        self.reads = 0
        self.torn: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        import json

        import pyarrow as pa
        import pyarrow.parquet as pq

        while not self._done.wait(0.05):
            for path in sorted(self.experiment.glob("trials/*/seed=*/*")):
                try:
                    if path.suffix == ".parquet":
                        # one open, one read: pq.read_table(path) stats the path and opens it separately, so a
                        # file renamed into place between the two reads the new file with the old one's size
                        pq.read_table(pa.BufferReader(path.read_bytes()))
                    elif path.suffix == ".json":
                        json.loads(path.read_text())
                    else:
                        continue
                    self.reads += 1
                except FileNotFoundError:
                    continue
                except Exception as err:  # noqa: BLE001 - recorded for the test to report
                    self.torn.append(f"{path}: {type(err).__name__}: {err}")

    def stop(self) -> None:
        self._done.set()
        self.join()


def train_configs(ctx: Any, configs: dict[str, dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Each config trained to its end by a ``ConfigRunner`` (what a Tune trial does, without Ray): its last
    result's score and its seed aggregate's spike counts, by config id."""
    from tune_sched.search.config_runner import ConfigRunner

    final, spikes = {}, {}
    for config_id, config in configs.items():
        runner = ConfigRunner(ctx, {"run_config": config}, config_id)
        report = runner.step()
        while not report.get("done"):
            report = runner.step()
        runner.finish()
        final[config_id], spikes[config_id] = report["score"], runner.aggregate.spikes
    return final, spikes


# -- the command line in a subprocess ------------------------------------------------------------------------------
def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a ``tune-sched`` subprocess: the repository importable, one torch thread."""
    env = dict(os.environ)
    paths = [str(ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env.update({"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "OMP_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tune_sched.cli", *args]


def start_cli(args: Sequence[str], *, cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    """Start ``tune-sched ARGS`` in its own session (so it and what it starts can be killed as a group)."""
    out = open(log, "wb")  # noqa: SIM115 - closed by the caller through finish_cli
    return subprocess.Popen(cli_command(*args), cwd=cwd, env=cli_env(**env), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """In the child: Ctrl-C acts (a test run from a background job would otherwise pass on an ignored SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish_cli(proc: subprocess.Popen, *, timeout: float) -> int:
    """Wait for ``proc``; on timeout kill its process group; return its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


def kill_group(pgid: int) -> None:
    """SIGKILL every process in the group ``pgid`` (a subprocess started with ``start_new_session``)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` is still running."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...); OSError once it is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def forkserver_processes(label: str | Path) -> list[int]:
    """The live processes of the fork server started with ``label`` (a search's experiment path) and its children."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tune_sched.search.forkserver" in cmd and str(label).encode() in cmd and alive(int(pid)):
            found.append(int(pid))
    return found


def run_cli(args: Sequence[str], *, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """Run ``tune-sched ARGS`` to the end; stdout and stderr captured as text."""
    return subprocess.run(cli_command(*args), cwd=cwd, env=cli_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.05, what: str = "") -> None:
    """Poll ``predicate()`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def finished_seeds(experiment: Path) -> list[Path]:
    """The ``result.json`` files written so far (one per finished (config, seed))."""
    return sorted(experiment.glob("trials/*/seed=*/result.json"))


# -- checks on an experiment's tables ------------------------------------------------------------------------------
def check_tables(experiment: Path, *, configs: int, seeds: Sequence[int]) -> dict[str, Any]:
    """Assert the experiment's tables are complete and consistent; return them as pandas frames.

    ``configs`` x ``seeds`` rows in trials; epochs 0..epochs_run-1 and steps 0..steps_run-1 exactly once per
    (config, seed); every table readable; no temporary files left behind.
    """
    from tune_sched.results.experiment import load_experiment

    tables = {name: table.to_pandas() for name, table in load_experiment(experiment).items()}
    trials, epochs, steps = tables["trials"], tables["epochs"], tables["steps"]
    assert len(trials) == configs * len(seeds), trials[["config_id", "seed", "status"]]
    assert trials["config_id"].nunique() == configs
    assert not trials.duplicated(["config_id", "seed"]).any()
    assert set(trials["seed"]) == set(seeds)
    assert set(trials["status"]) <= {"completed", "pruned", "failed", "diverged"}
    assert not epochs.duplicated(["config_id", "seed", "epoch"]).any()
    assert not steps.duplicated(["config_id", "seed", "step"]).any()
    for row in trials.itertuples():
        mine = epochs[(epochs.config_id == row.config_id) & (epochs.seed == row.seed)]
        assert sorted(mine["epoch"]) == list(range(int(row.epochs_run))), (row.config_id, row.seed)
        mine = steps[(steps.config_id == row.config_id) & (steps.seed == row.seed)]
        assert sorted(mine["step"]) == list(range(int(row.steps_run))), (row.config_id, row.seed)
    assert not [p for p in experiment.rglob("*.tmp") if p.is_file()], "temporary files left behind"
    return tables


# -- fixtures (re-exported by the conftests of tests/search and tests/reliability) ---------------------------------
@pytest.fixture(scope="session")
def optuna_run(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> SearchRun:
    """The tiny-task Optuna search (4 configs x 2 seeds), run once per session."""
    return optuna_experiment(str(tmp_path_factory.getbasetemp() / "shared-search"))


@pytest.fixture(scope="session")
def fault_run(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> SearchRun:
    """The fault grid (one config per fault x 2 seeds), run once per session."""
    return fault_experiment(str(tmp_path_factory.getbasetemp() / "shared-search"))
