"""A search on a real two-node Ray cluster on one machine: a head with 0 CPUs and a worker node whose view of the
storage folder is a private tmpfs (its own mount namespace), as a second machine's disk would be.

Checks, through the real CLI: a cluster with no CPU for a trial is one line within seconds; a storage path the
worker node does not share fails at the preflight (exit 2, nothing trained); a shared path and an S3 bucket (a real
S3-compatible server, moto's, on a loopback port) yield every row with the worker node training. The cluster is
torn down by killing the processes that carry its own temp dirs on their command lines (never ``ray stop``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.timeout(600)]

SEEDS, CONFIGS, EPOCHS = (0, 1), 2, 2
SPACE = f"""\
task: tiny
task_kwargs: {{n_train: 64, n_val: 32, loss: field}}
seeds: {list(SEEDS)}
search: {{algorithm: optuna, num_samples: {CONFIGS}, save_every_s: 0}}
optimizer: {{name: Adam, lr: {{min: 1.0e-3, max: 1.0e-2, log: true}}}}
trainer: {{max_epochs: {EPOCHS}, batch_size: 16}}
"""
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_ports() -> list[str]:
    """Free ports for a node's own servers: their defaults (the dashboard agent's 52365, ...) collide with any
    other Ray on the machine, such as the test session's, and a node whose agent cannot bind never joins."""
    names = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "runtime-env-agent-port", "metrics-export-port")
    return [f"--{name}={_free_port()}" for name in names]


def _kill_marked(marker: str) -> None:
    """SIGKILL every process whose command line contains ``marker`` (this cluster's own temp dir)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def _wait_cpus(address: str, env: dict[str, str], cpus: float, timeout: float = 150.0) -> None:
    code = ("import ray,time,sys\nray.init(address=sys.argv[1], logging_level='ERROR')\n"
            f"t=time.time()\nwhile ray.cluster_resources().get('CPU',0)<{cpus} and time.time()-t<{timeout}:\n"
            f" time.sleep(0.5)\nsys.exit(0 if ray.cluster_resources().get('CPU',0)>={cpus} else 1)\n")
    subprocess.run([sys.executable, "-c", code, address], env=env, check=True, timeout=timeout + 30)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.shared = root / "shared"  # the same folder for both nodes
        self.private = root / "private"  # a tmpfs of its own on the worker node
        self.shared.mkdir()
        self.private.mkdir()
        self.temp = Path(tempfile.mkdtemp(prefix="tsmn-", dir="/tmp"))  # Ray's socket paths must stay short
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER: the session's Ray fixture (tests/conftest.py) sets it to 0
        # in this process for its private cluster, and `ray start` then refuses a second node ("not supported on
        # Windows and OSX")
        self.env = {**{k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"},
                    "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0",
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "TUNE_SCHED_CACHE": str(root / "driver-cache"), "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.procs: list[subprocess.Popen] = []

    def start_head(self) -> None:
        self.procs.append(subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--num-cpus=0", f"--port={self.port}", "--include-dashboard=false",
             f"--temp-dir={self.temp}/head", "--disable-usage-stats", "--block",
             f"--ray-client-server-port={_free_port()}", *_node_ports()],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def start_worker(self) -> None:
        work = self.root / "worker-tmp"
        work.mkdir()
        script = (f"mount --make-rprivate / && mount -t tmpfs tmpfs {self.private} && mount -t tmpfs tmpfs {work} "
                  f"&& exec {BIN / 'ray'} start --address={self.address} --num-cpus=1 "
                  f"--temp-dir={self.temp}/worker --disable-usage-stats --block {' '.join(_node_ports())}")
        env = {**self.env, "TMPDIR": str(work), "TUNE_SCHED_FORKSERVER": "0",
               "TUNE_SCHED_CACHE": str(work / "cache")}
        self.procs.append(subprocess.Popen(["unshare", "-m", "sh", "-c", script], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))
        _wait_cpus(self.address, self.env, 1)

    def search(self, storage: str, name: str, timeout: float = 150) -> subprocess.CompletedProcess:
        space = self.root / "space.yaml"
        space.write_text(SPACE)
        return subprocess.run([str(BIN / "tune-sched"), "search", "--space", str(space), "--storage", storage,
                               "--name", name, "--address", self.address], env=self.env, cwd=self.root,
                              capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        _kill_marked(str(self.temp))
        for proc in self.procs:
            proc.wait(timeout=30)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to give the worker node a private mount namespace")
    c = Cluster(tmp_path_factory.mktemp("multinode"))
    c.start_head()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (moto's) on a free loopback port, with a bucket; its URI's query string."""
    pytest.importorskip("moto")
    import pyarrow.fs as pafs

    port = _free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fs, _ = pafs.FileSystem.from_uri(f"s3://bucket?{query}&allow_bucket_creation=true")
                fs.create_dir("bucket")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield query
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _check_rows(tables: dict[str, int], experiment: str) -> None:
    assert tables["trials"] == CONFIGS * len(SEEDS), experiment
    assert tables["epochs"] == CONFIGS * len(SEEDS) * EPOCHS
    assert tables["steps"] == CONFIGS * len(SEEDS) * EPOCHS * 4  # tiny: 64 samples / 16 per batch


@pytest.mark.slow
def test_two_node_cluster(cluster, s3_server):
    # 1. only the head (0 CPUs): one line within seconds, not a silent wait
    start = time.monotonic()
    result = cluster.search(str(cluster.shared), "no-cpus", timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"the cluster at {cluster.address} has 0 CPUs free; each config needs 1 CPU" in result.stderr
    assert time.monotonic() - start < 45
    assert not (cluster.shared / "no-cpus").exists()

    cluster.start_worker()
    # 2. a path the worker node sees as its own disk: refused at the preflight, nothing trained
    result = cluster.search(str(cluster.private), "private", timeout=90)
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "wrote its probe, but this driver cannot read it there" in line and str(cluster.private) in line, line
    assert "--storage s3://" in line
    assert "completed" not in result.stdout
    assert not (cluster.private / "private").exists()

    # 3. a shared path: every row, trained on the worker node (the head has no CPU)
    result = cluster.search(str(cluster.shared), "shared")
    assert result.returncode == 0, result.stdout + result.stderr
    experiment = cluster.shared / "shared"
    _check_rows({t: pq.read_metadata(experiment / f"{t}.parquet").num_rows for t in ("trials", "epochs", "steps")},
                str(experiment))

    # 4. an S3 bucket: the worker node trains in its private TMPDIR and uploads; the driver gathers from the bucket
    uri = f"s3://bucket/experiments?{s3_server}"
    result = cluster.search(uri, "bucket")
    assert result.returncode == 0, result.stdout + result.stderr
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(f"s3://bucket/experiments/bucket?{s3_server}")
    counts = {t: pq.read_metadata(f"{root}/{t}.parquet", filesystem=fs).num_rows for t in ("trials", "epochs", "steps")}
    _check_rows(counts, uri)
    files = [i.path for i in fs.get_file_info(pafs.FileSelector(f"{root}/trials", recursive=True))]
    # every seed can resume: its own last.ckpt, or its config's stacked checkpoint naming it (stacked-0-1.ckpt)
    names = [p.rsplit("/", 1)[-1] for p in files if p.endswith(".ckpt")]
    covered = sum(1 if n == "last.ckpt" else len(n.removeprefix("stacked-").removesuffix(".ckpt").split("-"))
                  for n in names)
    assert covered == CONFIGS * len(SEEDS), names
    analyzed = subprocess.run([str(BIN / "tune-sched"), "analyze", f"s3://bucket/experiments/bucket?{s3_server}"],
                              env=cluster.env, capture_output=True, text=True, timeout=120)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "Best config" in analyzed.stdout


def test_results_lost_is_an_error_naming_the_nodes():
    """Trials that reported but whose tables never arrived make the search fail (the CLI exits with 1)."""
    from tune_sched.search.cluster_preflight import ResultsLost, check_saved
    from tune_sched.search.progress import SearchProgress

    progress = SearchProgress(total=3, mode="min", stream=open(os.devnull, "w"))  # noqa: SIM115
    check_saved(progress, 0, where="/x")  # nothing reported, nothing saved: not this error
    progress.counts["completed"] = 3
    progress.nodes.add("10.0.0.7")
    check_saved(progress, 6, where="/x")
    with pytest.raises(ResultsLost, match=r"none of their tables arrived in /x: .*\(10\.0\.0\.7\).*--storage s3://"):
        check_saved(progress, 0, where="/x")


@pytest.mark.slow
def test_a_search_on_a_bucket_resumes_from_the_printed_command(tmp_path, s3_server):
    """SIGTERM mid-search on a private local Ray with an S3 storage URI, then the printed resume command (which
    names the URI, not the driver's local mirror): every row of every config and seed ends in the bucket."""
    from tests.search.experiments import cli_env, finish_cli, start_cli, wait_for, write_yaml

    space = write_yaml(tmp_path / "space.yaml", {
        "task": "tiny", "task_kwargs": {"resolution": 8, "n_train": 32, "n_val": 8}, "seeds": [0, 1],
        "search": {"algorithm": "random", "num_samples": 3, "max_concurrent": 1, "pruner": "none", "save_every_s": 0},
        "optimizer": {"name": "Adam", "lr": {"min": 1.0e-3, "max": 1.0e-2, "log": True}},
        "trainer": {"max_epochs": 12, "batch_size": 4}})
    uri = f"s3://bucket/resumed?{s3_server}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    log = tmp_path / "first.log"
    proc = start_cli(["search", "--space", str(space), "--storage", uri, "--name", "r"], cwd=tmp_path, log=log, **env)
    wait_for(lambda: "\ncompleted " in log.read_text() or proc.poll() is not None, timeout=200,
             what="a first finished config")
    assert proc.poll() is None, log.read_text()
    os.kill(proc.pid, signal.SIGTERM)
    assert finish_cli(proc, timeout=120) == 143, log.read_text()
    output = log.read_text()
    assert output.splitlines()[0].endswith(f"-> s3://bucket/resumed/r?{s3_server}")
    command = output.split("Resume with: ", 1)[1].splitlines()[0]
    assert f"--storage 's3://bucket/resumed?{s3_server}' --name r --resume" in command

    resumed = subprocess.run(command, shell=True, cwd=tmp_path, env=cli_env(**env), capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(f"s3://bucket/resumed/r?{s3_server}")
    trials = pq.read_table(f"{root}/trials.parquet", filesystem=fs).to_pandas()
    assert len(trials) == 3 * 2 and set(trials["status"]) == {"completed"}, trials
    assert pq.read_metadata(f"{root}/epochs.parquet", filesystem=fs).num_rows == 3 * 2 * 12
    # the Optuna study ends in the bucket too, continued by the resume (the mirror it began in was replaced)
    from tune_sched.search.study import STUDY_FILE, open_study

    with fs.open_input_stream(f"{root}/{STUDY_FILE}") as study_file:
        (tmp_path / STUDY_FILE).write_bytes(study_file.readall())
    study = open_study(tmp_path).get_trials()
    assert sorted(t.user_attrs["config_id"] for t in study) == sorted(set(trials["config_id"]))
    assert {t.state.name for t in study} == {"COMPLETE"}
