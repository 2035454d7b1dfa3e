"""``tune-sched search`` in a subprocess: refusals before anything starts, and a search attached to a Ray head node
started here (``--address``) whose driver is killed and then resumed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.search.experiments import (
    CLI_EPOCHS,
    CLI_SPACE,
    check_tables,
    finish_cli,
    finished_seeds,
    group_alive,
    kill_group,
    run_cli,
    start_cli,
    wait_for,
    write_yaml,
)


@pytest.fixture
def space(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "space.yaml", CLI_SPACE)


# -- refused before anything starts ------------------------------------------------------------------------------
def test_existing_name_without_resume_is_refused(tmp_path, space):
    from tune_sched.results.experiment import create_experiment

    experiment = create_experiment(tmp_path / "store" / "exp", space_source=CLI_SPACE, metric="val_loss",
                                   mode="min", seeds=[0, 1])
    before = sorted(p.name for p in experiment.iterdir())
    done = run_cli(["search", "--space", str(space), "--storage", str(tmp_path / "store"), "--name", "exp"],
                   cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {experiment}: already exists; pass --resume to continue it, or choose another --name"]
    assert sorted(p.name for p in experiment.iterdir()) == before


def test_resume_of_a_missing_experiment_is_refused(tmp_path, space):
    done = run_cli(["search", "--space", str(space), "--storage", str(tmp_path / "store"), "--name", "nope",
                    "--resume"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path / 'store' / 'nope'}: there is no experiment to resume; ")
    assert not (tmp_path / "store" / "nope").exists()


@pytest.mark.parametrize("change,changed", [(["--max-epochs", "5"], "trainer"), (["--num-samples", "9"], "search"),
                                            (["--seeds", "0,1", "--max-concurrent", "1"], "search")])
def test_resume_with_another_space_is_refused(tmp_path, space, change, changed):
    from tune_sched.config.space import SearchSpace
    from tune_sched.results.experiment import create_experiment

    source = SearchSpace.from_dict(CLI_SPACE).source
    experiment = create_experiment(tmp_path / "store" / "exp", space_source=source, metric="val_loss", mode="min",
                                   seeds=[0, 1])
    done = run_cli(["search", "--space", str(space), "--storage", str(tmp_path / "store"), "--name", "exp",
                    "--resume", *change], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: --space: differs from the space the experiment was started with (changed: {changed}); "
        f"resume with --space {experiment / 'space.yaml'}"]


@pytest.mark.parametrize("storage", ["a_file/store", "new/" + "x" * 300], ids=["under-a-file", "name-too-long"])
def test_unwritable_storage_exits_2_before_ray_starts_and_creates_nothing(tmp_path, space, storage):
    (tmp_path / "a_file").write_text("not a directory")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = ("import sys; from tune_sched.cli import main; "
            f"rc = main(['search', '--space', {str(space)!r}, '--storage', {str(tmp_path / storage)!r}]); "
            "print(rc, 'ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.stdout.split() == ["2", "False"], done.stderr  # exit 2, Ray never imported
    assert done.stderr.startswith(f"error: {tmp_path / storage}: cannot write there (")
    assert done.stderr.rstrip().endswith("; choose a writable --storage directory with free space")
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- a head node started here, the driver killed and resumed -------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def head_node():
    """A Ray head node on 127.0.0.1 in its own temp dir; torn down by killing its process group (never `ray stop`,
    which kills every Ray process on the machine)."""
    tmp = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))  # short: Ray's socket paths live under it
    port = _free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": str(tmp),
           "RAY_USAGE_STATS_ENABLED": "0"}
    ray = Path(sys.executable).with_name("ray")
    start = subprocess.Popen([str(ray), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                              "--include-dashboard", "false", "--num-cpus", "2", "--disable-usage-stats"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    try:
        out, _ = start.communicate(timeout=120)
        assert start.returncode == 0, out
        yield {"address": f"127.0.0.1:{port}", "RAY_TMPDIR": str(tmp), "pgid": start.pid}
    finally:
        kill_group(start.pid)  # the head's daemons keep `ray start`'s process group
        shutil.rmtree(tmp, ignore_errors=True)


def _snapshot(experiment: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished_seeds(experiment)}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_search_on_an_existing_cluster_resumes_after_the_driver_is_killed(tmp_path, space, head_node):
    store, name = tmp_path / "store", "attached"
    experiment = store / name
    args = ["search", "--space", str(space), "--storage", str(store), "--name", name,
            "--address", head_node["address"]]
    env = {"RAY_TMPDIR": head_node["RAY_TMPDIR"]}

    proc = start_cli(args, cwd=tmp_path, log=tmp_path / "run1.log", **env)
    try:
        wait_for(lambda: finished_seeds(experiment) or proc.poll() is not None, timeout=300,
                 what="a first finished seed")
        assert proc.poll() is None, (tmp_path / "run1.log").read_text()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        finish_cli(proc, timeout=60)
    kept = _snapshot(experiment)
    assert kept
    # the driver died mid-search: every table it left is whole (atomic writes)
    from tune_sched.results.experiment import load_experiment

    load_experiment(experiment)

    done = run_cli([*args, "--resume"], cwd=tmp_path, timeout=400, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    tables = check_tables(experiment, configs=4, seeds=[0, 1])
    trials = tables["trials"]
    assert (trials["status"] == "completed").all(), trials[["config_id", "seed", "status", "reason"]]
    assert (trials["epochs_run"] == CLI_EPOCHS).all()
    assert _snapshot(experiment).items() >= kept.items(), "a finished seed was trained again"
    assert "top configs by robust score" in done.stdout
    assert group_alive(head_node["pgid"]), "the search must attach to a cluster, never stop it"


def test_first_lines_appear_before_ray_is_up(tmp_path, space):
    """The first line within seconds of the command (a loaded machine: 5 s), then "starting Ray…" before Ray."""
    import time

    from tests.search.experiments import cli_command, cli_env

    start = time.monotonic()
    proc = subprocess.Popen(cli_command("search", "--space", str(space), "--storage", str(tmp_path / "store"),
                                        "--name", "first"), cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        first_s = time.monotonic() - start
        second = proc.stdout.readline()
        assert first.startswith("search: "), first
        assert second.strip() == "starting Ray…", second
        assert first_s < 5, f"the first line took {first_s:.1f} s"
    finally:
        proc.send_signal(signal.SIGTERM)  # the same clean stop as Ctrl-C; its private Ray goes with it
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
