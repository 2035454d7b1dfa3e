"""The fork server outside Ray (a Tune worker makes the same calls): a forked training process trains a config
exactly as the worker's own process would, raises its errors in the worker, dies with its worker, ends its worker
when it dies, and the server ends with its driver. Real processes and real training throughout."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.search.experiments import ROOT, alive, forkserver_processes, wait_for
from tune_sched.core.errors import UsageError
from tune_sched.search.config_runner import SearchContext
from tune_sched.search.forkserver import ForkedHost, TrialHost, forkserver, forkserver_supported, open_host

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not forkserver_supported(), reason="Linux only"),
              pytest.mark.timeout(300)]

CONFIG = {"run_config": {"task": "tiny", "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
                         "trainer": {"max_epochs": 2, "batch_size": 4}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("forkserver")
    with forkserver(threads=1, log=folder / "forkserver.log", label=str(folder)) as path:
        yield path


def context(experiment: Path, server: str | None) -> SearchContext:
    return SearchContext(experiment_dir=str(experiment), seeds=(0, 1), metric="val_loss", mode="min",
                         forkserver=server)


def train(host: TrialHost | ForkedHost, ctx: SearchContext) -> list[dict]:
    host.start(ctx, CONFIG, "c0")
    reports = [host.step()]
    while not reports[-1].get("done"):
        reports.append(host.step())
    host.finish()
    return reports


def results(experiment: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(experiment.glob("trials/*/seed=*/result.json"))}


def test_only_this_user_can_reach_the_server(server):
    assert stat.S_IMODE(os.stat(os.path.dirname(server)).st_mode) == 0o700


def test_a_forked_process_trains_a_config_exactly_as_this_process(tmp_path, server):
    ctx = context(tmp_path / "forked", server)
    host = open_host(ctx)
    assert isinstance(host, ForkedHost) and host.pid != os.getpid()
    try:
        forked = train(host, ctx)
    finally:
        host.close()
    local = train(open_host(context(tmp_path / "local", None)), context(tmp_path / "local", None))
    assert forked == local and forked[-1]["all_seeds_finished"] == 1
    mine, theirs = results(tmp_path / "forked"), results(tmp_path / "local")
    assert [r["status"] for r in mine.values()] == ["completed", "completed"]
    assert ([(r["best_metric"], r["epochs_run"]) for r in mine.values()]
            == [(r["best_metric"], r["epochs_run"]) for r in theirs.values()])
    wait_for(lambda: not alive(host.pid), timeout=10, what="the training process to end with its connection")


def test_the_training_process_has_the_workers_cwd_environment_and_import_path(tmp_path, server, monkeypatch):
    out, extra = tmp_path / "probe.json", str(tmp_path / "extra-path")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNE_SCHED_PROBE", "from the worker")
    monkeypatch.syspath_prepend(extra)
    ctx = context(tmp_path, server)
    host = open_host(ctx)
    try:
        host.start(ctx, {"run_config": {"module": "tests.search.user_modules:Probe", "module_kwargs":
                                        {"out": str(out)}, "trainer": {"max_epochs": 1}}}, "probe")
        host.step()
    finally:
        host.close()
    seen = json.loads(out.read_text())
    assert seen["pid"] == host.pid != os.getpid()
    assert (seen["cwd"], seen["env"], seen["sys_path"][0]) == (str(tmp_path), "from the worker", extra)


def test_a_server_running_another_interpreter_or_copy_of_tune_sched_is_not_used(tmp_path, server, monkeypatch):
    import tune_sched

    with monkeypatch.context() as patch:
        patch.setattr(sys, "executable", sys.executable + "-other")
        assert type(open_host(context(tmp_path, server))) is TrialHost
    monkeypatch.setattr(tune_sched, "__file__", str(tmp_path / "elsewhere" / "__init__.py"))
    assert type(open_host(context(tmp_path, server))) is TrialHost


class NeedsTwo(Exception):
    def __init__(self, a: str, *, b: str) -> None:
        super().__init__(a)
        self.b = b


def test_an_exception_that_does_not_unpickle_arrives_as_its_text():
    from tune_sched.search.forkserver import _portable

    try:
        raise NeedsTwo("bad value", b="x")
    except NeedsTwo as err:
        copy = _portable(err)
    assert type(copy) is RuntimeError and str(copy) == "NeedsTwo: bad value"
    assert "raised in the trial's training process" in copy.__notes__[0] and "NeedsTwo" in copy.__notes__[0]


def test_an_error_is_raised_in_the_worker_with_its_type_and_where_it_happened(tmp_path, server):
    ctx = context(tmp_path, server)
    host = open_host(ctx)
    try:
        with pytest.raises(UsageError) as err:
            host.start(ctx, {"run_config": {"task": "tiny", "optimizer": {"name": "NoSuchOptimizer"}}}, "bad")
        assert "raised in the trial's training process" in "".join(err.value.__notes__)
        train(host, ctx)  # the process serves the next config after an error
    finally:
        host.close()


def test_without_a_usable_server_the_worker_trains_itself(tmp_path, server):
    assert type(open_host(context(tmp_path, None))) is TrialHost
    assert type(open_host(context(tmp_path, str(tmp_path / "no.sock")))) is TrialHost
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a socket file nobody listens on any more
    dead.bind(str(tmp_path / "dead.sock"))
    dead.close()
    assert type(open_host(context(tmp_path, str(tmp_path / "dead.sock")))) is TrialHost


def test_a_server_that_never_answers_is_given_up_on(tmp_path):
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # listens, never accepts (e.g. still importing)
    stuck.bind(str(tmp_path / "stuck.sock"))
    stuck.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(tmp_path / "stuck.sock"))
    with pytest.raises(ConnectionError, match="no training process from the fork server within 0.2 s"):
        ForkedHost(client, timeout_s=0.2)
    stuck.close()


WORKER = textwrap.dedent("""
    import sys
    from tune_sched.search.config_runner import SearchContext
    from tune_sched.search.forkserver import open_host
    ctx = SearchContext(experiment_dir=sys.argv[2], seeds=(0,), metric="val_loss", mode="min",
                        forkserver=sys.argv[1])
    host = open_host(ctx)
    print(host.pid, flush=True)
    sys.stdin.readline()  # the test kills the training process, or this worker, meanwhile
    host.start(ctx, {"run_config": {"task": "tiny"}}, "c0")
    print("unreachable", flush=True)
""")


def start_worker(server: str, experiment: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", WORKER, server, str(experiment)], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), line + proc.communicate(timeout=60)[1]
    return proc, int(line)


def test_the_training_process_dies_with_its_worker(tmp_path, server):
    worker, child = start_worker(server, tmp_path)
    assert alive(child)
    worker.kill()
    worker.communicate(timeout=30)
    wait_for(lambda: not alive(child), timeout=10, what="the training process to follow its killed worker")


def test_a_dead_training_process_ends_its_worker(tmp_path, server):
    worker, child = start_worker(server, tmp_path)
    os.kill(child, signal.SIGKILL)
    out, err = worker.communicate("go\n", timeout=30)
    assert worker.returncode == 1, out + err
    assert "unreachable" not in out
    assert f"this worker's training process (pid {child}) ended unexpectedly" in err
    assert not (tmp_path / "trials").exists()


def test_the_server_ends_with_its_driver(tmp_path):
    driver = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from tune_sched.search.forkserver import forkserver
        with forkserver(threads=1, log=Path(sys.argv[1]) / "log", label=sys.argv[1]) as path:
            print(path, flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver, str(tmp_path)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    assert os.path.exists(path)

    assert len(forkserver_processes(tmp_path)) == 1
    proc.kill()  # no chance to clean up: the server notices its stdin close
    proc.wait()
    wait_for(lambda: not forkserver_processes(tmp_path), timeout=120,
             what="the fork server to exit after its driver died")
    assert not os.path.exists(path), "the server removed its socket"
