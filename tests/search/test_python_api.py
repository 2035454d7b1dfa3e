"""The Python API: ``tune_sched.search`` and ``tune_sched.analyze`` as a notebook uses them, in a child Python.

Interrupting a notebook's kernel sends SIGINT to the kernel's process alone (not to a process group, as a terminal
does): the search must stop Ray and its fork server itself, raise a KeyboardInterrupt that says how to resume, and
leave the same Python able to resume it with ``resume=True``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.search.experiments import CLI_EPOCHS, CLI_SPACE, check_tables, cli_env, finished_seeds, wait_for

CHILD = """
import json, os, sys, threading, time
import tune_sched
from tune_sched.search.watchdog import descendants
from tests.search.experiments import forkserver_processes

space, store = json.loads(sys.argv[1]), sys.argv[2]
seen = {}
def watch():  # every process the search starts, Ray's agents (in sessions of their own) included
    while True:
        seen.update(descendants(os.getpid()))
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()
try:
    tune_sched.search(space, name="nb", storage=store)
    sys.exit(3)
except KeyboardInterrupt as err:
    print("INTERRUPTED", type(err).__name__, flush=True)
    print(err, flush=True)
    experiment = err.experiment
seen_now = dict(seen)
def left():  # those still running (not zombies; a recycled pid has another start time)
    running = []
    for pid, start in seen_now.items():
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and fields[19] == start:
            running.append(pid)
    return sorted(running)
deadline = time.monotonic() + 30
while (left() or forkserver_processes(experiment)) and time.monotonic() < deadline:
    time.sleep(0.2)
import ray
print("LEFT", left(), forkserver_processes(experiment), ray.is_initialized(), len(seen_now), flush=True)
result = tune_sched.search(space, name="nb", storage=store, resume=True)
analysis = result.analyze()
print("RESUMED", result.path, len(analysis.ranking), analysis.best_config().optimizer["name"], flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_interrupting_the_python_api_stops_ray_and_the_same_python_resumes(tmp_path: Path):
    import json

    store = tmp_path / "store"
    experiment = store / "nb"
    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(CLI_SPACE), str(store)], cwd=tmp_path,
                                env=cli_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            wait_for(lambda: finished_seeds(experiment) or proc.poll() is not None, timeout=300,
                     what="a first finished seed")
            assert proc.poll() is None, log.read_text()
            os.kill(proc.pid, signal.SIGINT)  # a notebook's "interrupt kernel": the kernel's process alone
            code = proc.wait(timeout=500)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    output = log.read_text()
    assert code == 0, output
    lines = output.splitlines()
    assert "INTERRUPTED SearchInterrupted" in lines, output
    assert (f"search interrupted; finished trials are kept. Resume with: tune-sched search --space "
            f"{experiment / 'space.yaml'} --storage {store} --name nb --resume") in lines
    assert (f"In Python: tune_sched.search({str(experiment / 'space.yaml')!r}, name='nb', storage={str(store)!r}, "
            f"resume=True)") in lines
    (left,) = [line for line in lines if line.startswith("LEFT ")]
    assert left.startswith("LEFT [] [] False "), output  # no Ray or fork-server process, Ray not initialised
    assert int(left.split()[-1]) >= 3, "the watch saw the search's processes"
    assert f"RESUMED {experiment} 4 Adam" in lines, output
    trials = check_tables(experiment, configs=4, seeds=[0, 1])["trials"]
    assert (trials["status"] == "completed").all() and (trials["epochs_run"] == CLI_EPOCHS).all()
    assert "Traceback" not in output


def test_the_api_is_light_and_search_stays_callable_once_its_package_is_imported():
    code = ("import sys, tune_sched; print(callable(tune_sched.search), tune_sched.analyze.__module__, "
            "[m for m in ('torch', 'ray', 'pandas', 'optuna') if m in sys.modules]); "
            "import tune_sched.search.driver; print(callable(tune_sched.search))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True)
    assert out.stdout.splitlines() == ["True tune_sched.api []", "True"]


def test_a_bad_space_or_override_is_a_usage_error_before_anything_starts(tmp_path: Path):
    import tune_sched
    from tune_sched.core.errors import UsageError

    with pytest.raises(UsageError, match=r"space: must be a path, a dict or a SearchSpace, but got int"):
        tune_sched.search(3, storage=tmp_path)
    with pytest.raises(UsageError, match=r"--num-samples: must be at least 1"):
        tune_sched.search(CLI_SPACE, storage=tmp_path, num_samples=0)
    with pytest.raises(UsageError, match=r"there is no experiment to resume"):
        tune_sched.search(CLI_SPACE, name="missing", storage=tmp_path, resume=True)
    assert list(tmp_path.iterdir()) == []


def _examples() -> list[tuple[str, str]]:
    """The Python examples that run a search: docs/python_api.md's and the README's."""
    import re

    root = Path(__file__).resolve().parents[2]
    found = []
    for name in ("docs/python_api.md", "README.md"):
        found += [(name, block) for block in re.findall(r"```python\n(.*?)```", (root / name).read_text(), flags=re.S)
                  if "tune_sched.search(" in block]
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("name", "code"), _examples(), ids=lambda v: v if v.endswith(".md") else "")
def test_the_documented_notebook_example_runs(name, code, tmp_path: Path):
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                         timeout=500)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "best.yaml").exists() or (tmp_path / "best-notebook.yaml").exists()
    assert list(tmp_path.glob("experiments/*/report.md"))
