"""SIGTERM and SIGKILL of a ``tune-sched search`` driver (a real search on its own private Ray): after SIGTERM it
stops cleanly like Ctrl-C (exit 143, the resume command); after SIGKILL of the driver alone no process it started
— Ray's GCS, raylet, agents and workers, the fork server and its training processes — survives 30 s."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.search.experiments import CLI_SPACE, finish_cli, finished_seeds, start_cli, wait_for, write_yaml
from tune_sched.search.watchdog import descendants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _start_and_wait(tmp_path: Path, name: str):
    space = write_yaml(tmp_path / "space.yaml", {**CLI_SPACE, "trainer": {**CLI_SPACE["trainer"], "max_epochs": 40}})
    store = tmp_path / "store"
    proc = start_cli(["search", "--space", str(space), "--storage", str(store), "--name", name], cwd=tmp_path,
                     log=tmp_path / "run.log")
    wait_for(lambda: finished_seeds(store / name) or any("configs done" in line and "running" in line
                                                          for line in (tmp_path / "run.log").read_text().splitlines()
                                                          [1:]) or proc.poll() is not None,
             timeout=300, what="the search to train")
    assert proc.poll() is None, (tmp_path / "run.log").read_text()
    time.sleep(2)  # let the trials get going (workers, their training processes)
    return proc, store / name


def _still_running(processes: dict[int, str]) -> dict[int, str]:
    """Those of ``processes`` (pid -> start time) that still run as the same process (not a recycled pid)."""
    from tune_sched.search.watchdog import _stat

    return {pid: start for pid, start in processes.items() if (stat := _stat(pid)) is not None and stat[1] == start
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def _kill_all(processes: dict[int, str]) -> None:
    for pid in _still_running(processes):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_sigterm_stops_the_search_cleanly_with_exit_143(tmp_path):
    proc, experiment = _start_and_wait(tmp_path, "terminated")
    started = descendants(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGTERM)  # `kill PID`: the driver alone
        code = finish_cli(proc, timeout=120)
        output = (tmp_path / "run.log").read_text()
        assert code == 143, output
        assert "Traceback" not in output
        assert (f"search interrupted; finished trials are kept. Resume with: tune-sched search --space "
                f"{experiment / 'space.yaml'} --storage {experiment.parent} --name terminated --resume"
                ) in output.splitlines()
        wait_for(lambda: not _still_running(started), timeout=30, interval=0.5,
                 what=f"the search's processes to exit: {_still_running(started)}")
    finally:
        _kill_all(started)


def test_nothing_survives_a_sigkilled_driver(tmp_path):
    proc, _ = _start_and_wait(tmp_path, "killed")
    started = descendants(proc.pid)
    kinds = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in started)
    assert "raylet" in kinds and "gcs_server" in kinds and "tune_sched.search.forkserver" in kinds, kinds
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not _still_running(started), timeout=30, interval=0.5,
                 what=f"the killed search's processes to exit: {_still_running(started)}")
    finally:
        _kill_all(started)


def test_the_watchdog_ends_what_a_killed_process_started_and_nothing_older(tmp_path):
    """A Python (as a notebook kernel would be) with a child of its own, then a watched block that starts another,
    is SIGKILLed: the watchdog ends the child started in the block and leaves the older one running."""
    import subprocess
    import sys

    code = ("import os, signal, subprocess, sys, time\n"
            "from tune_sched.search.watchdog import watchdog\n"
            "quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "old = subprocess.Popen(['sleep', '60'], **quiet)\n"
            "with watchdog():\n"
            "    new = subprocess.Popen(['sleep', '60'], **quiet)\n"
            "    print(old.pid, new.pid, flush=True)\n"
            "    time.sleep(1.5)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    old, new = (int(p) for p in proc.stdout.split())
    started = {pid: _stat_start(pid) for pid in (old, new)}
    try:
        wait_for(lambda: new not in _still_running(started), timeout=20, interval=0.2, what="the watched child to end")
        assert old in _still_running(started), "the older child was ended too"
    finally:
        _kill_all(started)


def _stat_start(pid: int) -> str:
    from tune_sched.search.watchdog import _stat

    stat = _stat(pid)
    return stat[1] if stat else ""
