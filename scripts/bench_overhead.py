"""Benchmark: what a search costs over training the same configs by hand, its start-up, and its workers' memory.

On the tiny task, N configs (a grid over N Adam learning rates) x S seeds x E epochs, pruning off, so every method
does the same trainings. Each method runs as its own process, timed from launch to exit (imports included), and
the methods are interleaved (one round = one run of each, in a rotating order) so a shared machine's load hits them
alike:

(a) ``bare``:   the trainings one after another in one plain Python process: plain Lightning, no Ray, no recording
                (``logger=False``, no checkpoints, no progress bar or model summary, one torch thread);
(b) ``search``: ``tune-sched search`` on the same configs (grid, ``pruner: none``), recording everything; each
                config's seeds train as ``trainer.seed_mode: auto`` picks (stacked as one model where it can);
    ``search_separate`` (optional): (b) with ``seed_mode: separate`` (each seed its own model, in lockstep);
    ``search_attached`` (optional): (b) attached with ``--address`` to a Ray cluster started before the timed run
                (by this script, untimed; stopped after it), as when several searches share a ``ray start``;
(c) ``ray``:    a naive Ray Tune baseline: a function trainable with Ray's defaults (no actor reuse, Tune's default
                loggers, one CPU per trial) running a config's seeds one after another with the same plain Lightning
                training as (a), reporting every epoch through ``tune.report``.
    ``ray_reuse`` (optional): (c) with ``reuse_actors=True``.

Prints every run, the ratios (b)/(a) and (c)/(a) of each round with their min / median / max, the start-up of (b)
(launch to the first epoch result reaching Tune's driver), CPU seconds of each process tree by kind (driver, Ray's
own processes, Ray workers, the fork server and the training processes it forks), and (b)'s trials' memory: peak
RSS and PSS of each worker and its training process, and how many concurrent trials fit in a memory budget.
``--memory-trials K`` adds a check that a reused worker's memory does not grow: one worker trains K configs
(1 seed, 2 epochs) in turn while the RSS of the process that trains (its forked training process) is sampled.
It checks that (a) and (b) trained the same (the same final val_loss for every config and seed: to 1e-5 relative,
or 1 % for stacked seeds, whose float32 kernels round differently).

Process statistics come from ``/proc`` (Linux). GPU: ``--accelerator gpu`` trains every method on the GPU
(``trainer.accelerator: gpu``; Ray gets ``--gpus-per-trial`` per trial, default ``1 / max concurrent``).

Usage:
    python scripts/bench_overhead.py [--configs 16] [--seeds 3] [--epochs 5] [--repeats 3]
        [--methods bare,search,ray] [--cpus-per-trial 1] [--accelerator cpu|gpu] [--gpus-per-trial G]
        [--memory-trials 100] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))
METHODS = ("bare", "search", "search_separate", "search_attached", "ray", "ray_reuse")
FIRST_RESULT_MARK = "BENCH_FIRST_RESULT"
FORKSERVER = "tune_sched.search.forkserver"
TRIAL_KINDS = ("worker", "trainer")  # the processes of a trial: its Ray worker and (forked) training process
MEMORY_BUDGET_GIB = 24.0
RAY_SYSTEM = ("gcs_server", "raylet", "dashboard", "log_monitor", "monitor.py", "DashboardAgent", "RuntimeEnvAgent",
              "ray::IDLE")


# -- the workload ------------------------------------------------------------------------------------------------
def learning_rates(n: int) -> list[float]:
    """``n`` distinct learning rates, log-spaced over [1e-3, 1e-2] and rounded to 4 significant digits."""
    if n == 1:
        return [3e-3]
    return [float(f"{1e-3 * 10 ** (i / (n - 1)):.4g}") for i in range(n)]


def space_dict(*, configs: int, seeds: int, epochs: int, cpus: float, gpus: float, accelerator: str) -> dict:
    """The search space (b) runs: a grid over ``configs`` learning rates, pruning off."""
    return {
        "task": "tiny",
        "metric": "val_loss",
        "mode": "min",
        "seeds": list(range(seeds)),
        "search": {"algorithm": "grid", "pruner": "none"},
        "resources": {"cpu": cpus, "gpu": gpus},
        "optimizer": {"name": "Adam", "lr": {"values": learning_rates(configs)}},
        "trainer": {"max_epochs": epochs, "accelerator": accelerator},
    }


def plain_fit(config: dict[str, Any], seed: int, *, callbacks: Sequence[Any] = ()) -> float:
    """Train one run config on one seed with plain Lightning (no recording); its final ``val_loss``."""
    import functools

    import pytorch_lightning as pl
    import torch

    from tune_sched.optim.lightning import configure_optimizers
    from tune_sched.config.run_config import RunConfig
    from tune_sched.train.modules import build_module

    torch.set_num_threads(1)
    run = RunConfig.from_dict(config).with_overrides(seed=seed)
    pl.seed_everything(seed, workers=True, verbose=False)
    module, datamodule = build_module(run)
    module.configure_optimizers = functools.partial(configure_optimizers, module, run)
    t = run.trainer
    trainer = pl.Trainer(
        max_epochs=t.max_epochs, accelerator=t.accelerator, devices=1, precision=t.precision,
        gradient_clip_val=t.gradient_clip_val, accumulate_grad_batches=t.accumulate_grad_batches,
        deterministic=t.deterministic, limit_train_batches=t.limit_train_batches,
        check_val_every_n_epoch=t.check_val_every_n_epoch, callbacks=list(callbacks), logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    return float(trainer.callback_metrics["val_loss"])


def _quiet() -> None:
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


# -- the child processes (one per measured run) ------------------------------------------------------------------
def child_bare(configs_file: str, seeds: str, out: str) -> None:
    """(a): every config on every seed, one after another; writes their final val_loss.

    Prints a timestamp at its first epoch end: the bare loop's own time to a first result, for comparison with (b)'s.
    """
    _quiet()
    import pytorch_lightning as pl

    class FirstEpoch(pl.Callback):
        seen = False

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            if not FirstEpoch.seen:
                FirstEpoch.seen = True
                print(f"{FIRST_RESULT_MARK} {time.time():.3f}", flush=True)

    configs = json.loads(Path(configs_file).read_text())
    finals = [[plain_fit(config, int(s), callbacks=[FirstEpoch()]) for s in seeds.split(",")] for config in configs]
    Path(out).write_text(json.dumps(finals))


def child_ray(configs_file: str, seeds: str, cpus: str, gpus: str, storage: str, reuse: str) -> None:
    """(c): a naive Ray Tune function trainable, one trial per config, Ray's defaults otherwise."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind to 127.0.0.1 only (a shared machine)
    import ray
    from ray import tune

    configs = json.loads(Path(configs_file).read_text())
    seed_list = [int(s) for s in seeds.split(",")]

    def trainable(params: dict[str, Any]) -> None:
        import pytorch_lightning as pl

        _quiet()

        class Report(pl.Callback):
            def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
                tune.report({"val_loss": float(trainer.callback_metrics["val_loss"]), "seed": seed})

        for seed in seed_list:
            plain_fit(configs[params["index"]], seed, callbacks=[Report()])

    # address="local": never attach to another user's cluster on this machine
    ray.init(address="local", num_cpus=os.cpu_count(), num_gpus=1 if float(gpus) > 0 else None)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": float(cpus), "gpu": float(gpus)}),
        param_space={"index": tune.grid_search(list(range(len(configs))))},
        tune_config=tune.TuneConfig(reuse_actors=reuse == "1"),
        run_config=tune.RunConfig(storage_path=storage, name="naive"),
    )
    tuner.fit()
    ray.shutdown()


def child_search(argv: list[str]) -> None:
    """(b): ``tune-sched search``, printing a timestamp when Tune's driver gets the first epoch result.

    The mark is added by wrapping the progress callback's ``on_trial_result`` once its module is imported (a
    watcher thread), so the search imports and starts exactly as from the command line.
    """

    def mark_first_result() -> None:
        while "tune_sched.search.progress" not in sys.modules:
            time.sleep(0.01)
        module = sys.modules["tune_sched.search.progress"]
        while not hasattr(module, "SearchProgress"):
            time.sleep(0.01)
        cls = module.SearchProgress
        original = cls.on_trial_result
        seen = []

        def on_trial_result(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not seen:
                seen.append(True)
                print(f"{FIRST_RESULT_MARK} {time.time():.3f}", flush=True)
            return original(self, *args, **kwargs)

        cls.on_trial_result = on_trial_result

    threading.Thread(target=mark_first_result, daemon=True).start()
    from tune_sched.cli import console_main

    console_main(["search", *argv])


CHILDREN = {"_bare": child_bare, "_ray": child_ray}


# -- measuring a process tree through /proc -----------------------------------------------------------------------
@dataclass
class ProcInfo:
    """What was seen of one process: its command line, peak RSS (the kernel's VmHWM) and PSS, CPU seconds."""

    pid: int
    cmd: str
    kind: str = ""
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    cpu_s: float = 0.0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time, rss MB), trial processes only


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        kids += [int(k) for k in _read(f"/proc/{pid}/task/{task}/children").split()]
    return kids


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def _status_kb(text: str, key: str) -> float:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


def _stat_fields(stat: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` text after the command name: state, ppid, ..., utime (11), stime (12)."""
    return stat.rsplit(")", 1)[1].split()


def classify(cmd: str, *, root: bool, parent_is_root: bool) -> str:
    """``driver`` (the launched process), ``worker`` (a Ray trial actor), ``forkserver`` (the search's fork server),
    ``trainer`` (a training process it forked for a worker), or ``ray`` (Ray's own processes)."""
    if root:
        return "driver"
    if FORKSERVER in cmd:  # a forked child keeps its server's command line
        return "forkserver" if parent_is_root else "trainer"
    if cmd.startswith("ray::") and not any(name in cmd for name in RAY_SYSTEM):
        return "worker"
    return "ray"


class TreeSampler:
    """Samples a process tree every ``interval_s``: per process peak RSS, PSS (workers), CPU seconds, RSS series.

    ``also``: more processes whose descendants count too (not themselves), e.g. this process when it hosts the Ray
    cluster a search attaches to; CPU seconds of processes already running count from the sampler's start.
    """

    def __init__(self, root: int, *, also: Sequence[int] = (), interval_s: float = 0.25, pss_every: int = 8) -> None:
        self.root = root
        self.also = tuple(also)
        self.interval_s = interval_s
        self.pss_every = pss_every
        self.procs: dict[int, ProcInfo] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")
        self._base = {pid: self._cpu(_read(f"/proc/{pid}/stat")) for pid in self._pids() if pid != root}

    def _pids(self) -> list[int]:
        pids = dict.fromkeys(_tree(self.root))
        for pid in self.also:
            pids.update(dict.fromkeys(p for p in _tree(pid) if p != pid))
        return list(pids)

    def _cpu(self, stat: str) -> float:
        """utime + stime, in seconds, from /proc/<pid>/stat."""
        if not stat:
            return 0.0
        fields = _stat_fields(stat)
        return (int(fields[11]) + int(fields[12])) / self._tick

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            now = time.time()
            for pid in self._pids():
                self._sample(pid, now, pss=n % self.pss_every == 0)
            n += 1
            self._stop.wait(self.interval_s)

    def _sample(self, pid: int, now: float, *, pss: bool) -> None:
        cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
        status, stat = _read(f"/proc/{pid}/status"), _read(f"/proc/{pid}/stat")
        if not cmd or not status or not stat:
            return
        info = self.procs.get(pid)
        if info is None:
            info = self.procs[pid] = ProcInfo(pid, cmd)
        if info.kind != "worker":  # a worker renames itself (ray::IDLE -> ray::ConfigTrainable) and stays one
            parent = int(_stat_fields(stat)[1])
            info.cmd, info.kind = cmd, classify(cmd, root=pid == self.root, parent_is_root=parent == self.root)
        info.cpu_s = max(info.cpu_s, self._cpu(stat) - self._base.get(pid, 0.0))
        info.peak_rss_mb = max(info.peak_rss_mb, _status_kb(status, "VmHWM") / 1024)
        if info.kind in TRIAL_KINDS:
            info.samples.append((now, _status_kb(status, "VmRSS") / 1024))
            if pss or not info.peak_pss_mb:  # every few samples, and at once for a new process
                info.peak_pss_mb = max(info.peak_pss_mb, _status_kb(_read(f"/proc/{pid}/smaps_rollup"), "Pss") / 1024)


# -- running the methods -----------------------------------------------------------------------------------------
@dataclass
class Run:
    """One measured run of one method."""

    method: str
    round: int
    wall_s: float
    cpu_s: float
    returncode: int
    first_result_s: float | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)
    driver_peak_rss_mb: float = 0.0
    ray_system_peak_rss_mb: float = 0.0
    cpu_s_by_kind: dict[str, float] = field(default_factory=dict)
    finals: list[list[float]] | None = None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def run_process(argv: list[str], log: Path, *, cwd: Path,
                also: Sequence[int] = ()) -> tuple[float, int, TreeSampler, float]:
    """Launch ``argv``; (wall seconds, return code, its sampler, launch time as ``time.time()``)."""
    with open(log, "w") as out:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=_env())
        with TreeSampler(proc.pid, also=also) as sampler:
            code = proc.wait()
        wall = time.perf_counter() - t0
    return wall, code, sampler, started


def run_method(method: str, rnd: int, args: argparse.Namespace, work: Path, configs_file: Path) -> Run:
    seeds = ",".join(str(s) for s in range(args.seeds))
    log = work / f"{method}-{rnd}.log"
    out = work / f"{method}-{rnd}.json"
    script = str(Path(__file__).resolve())
    if method == "bare":
        argv = [sys.executable, script, "_bare", str(configs_file), seeds, str(out)]
    elif method.startswith("search"):
        space = "space_separate.yaml" if method == "search_separate" else "space.yaml"
        argv = [sys.executable, script, "_search", "--space", str(work / space), "--storage",
                str(work / "experiments"), "--name", f"{method}-{rnd}"]
    else:
        argv = [sys.executable, script, "_ray", str(configs_file), seeds, str(args.cpus_per_trial),
                str(args.gpus_per_trial), str(work / "ray_results" / f"{method}-{rnd}"),
                "1" if method == "ray_reuse" else "0"]
    if method == "search_attached":
        with local_cluster(args) as address:
            wall, code, sampler, started = run_process([*argv, "--address", address], log, cwd=work,
                                                       also=(os.getpid(),))
    else:
        wall, code, sampler, started = run_process(argv, log, cwd=work)
    procs = list(sampler.procs.values())
    run = Run(method, rnd, wall, sum(p.cpu_s for p in procs), code)
    for p in procs:
        run.cpu_s_by_kind[p.kind] = round(run.cpu_s_by_kind.get(p.kind, 0.0) + p.cpu_s, 2)
    run.workers = [{"pid": p.pid, "kind": p.kind, "cmd": p.cmd[:60], "peak_rss_mb": round(p.peak_rss_mb, 1),
                    "peak_pss_mb": round(p.peak_pss_mb, 1), "cpu_s": round(p.cpu_s, 2)}
                   for p in procs if p.kind in TRIAL_KINDS]
    run.driver_peak_rss_mb = max((p.peak_rss_mb for p in procs if p.kind == "driver"), default=0.0)
    run.ray_system_peak_rss_mb = sum(p.peak_rss_mb for p in procs if p.kind in ("ray", "forkserver"))
    text = log.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith(FIRST_RESULT_MARK):
            run.first_result_s = float(line.split()[1]) - started
    if code != 0:
        print(f"  {method} round {rnd} exited with {code}; its output: {log}\n{text[-2000:]}", file=sys.stderr)
    if method == "bare" and out.exists():
        run.finals = json.loads(out.read_text())
    if method.startswith("search"):
        run.finals = _search_finals(work / "experiments" / f"{method}-{rnd}", args)
    return run


@contextlib.contextmanager
def local_cluster(args: argparse.Namespace) -> Iterator[str]:
    """A private local Ray cluster hosted by this process (loopback only) for ``--address``; its GCS address."""
    import logging

    from tune_sched.search.ray_session import quiet_ray_environment

    quiet_ray_environment()
    import ray

    ray.init(address="local", num_cpus=os.cpu_count(), num_gpus=1 if args.accelerator == "gpu" else None,
             include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _search_finals(experiment: Path, args: argparse.Namespace) -> list[list[float]] | None:
    """The final val_loss of every (config, seed) of a search, in the grid's order (by learning rate)."""
    import pyarrow.parquet as pq

    path = experiment / "trials.parquet"
    if not path.exists():
        return None
    trials = pq.read_table(path, columns=["cfg.optimizer.lr", "seed", "final_metric"]).to_pylist()
    finals: dict[float, dict[int, float]] = {}
    for row in trials:
        finals.setdefault(float(row["cfg.optimizer.lr"]), {})[int(row["seed"])] = float(row["final_metric"])
    return [[by_seed[s] for s in sorted(by_seed)] for _, by_seed in sorted(finals.items())]


# -- the memory check: one reused worker, many trials -------------------------------------------------------------
def memory_check(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train ``args.memory_trials`` configs (1 seed, 2 epochs) on one reused worker; its RSS against trials done."""
    import yaml

    space = space_dict(configs=args.memory_trials, seeds=1, epochs=2, cpus=args.cpus_per_trial,
                       gpus=args.gpus_per_trial, accelerator=args.accelerator)
    space["search"]["max_concurrent"] = 1
    (work / "memory-space.yaml").write_text(yaml.safe_dump(space))
    experiment = work / "experiments" / "memory"
    argv = [sys.executable, str(Path(__file__).resolve()), "_search", "--space", str(work / "memory-space.yaml"),
            "--storage", str(work / "experiments"), "--name", "memory"]
    done_at: list[tuple[float, int]] = []
    stop = threading.Event()

    def count_done() -> None:
        while not stop.is_set():
            done_at.append((time.time(), len(list((experiment / "trials").glob("*/seed=*/result.json")))))
            stop.wait(0.25)

    counter = threading.Thread(target=count_done, daemon=True)
    counter.start()
    wall, code, sampler, _ = run_process(argv, work / "memory.log", cwd=work)
    stop.set()
    counter.join()
    # the process that trains: the forked training process, or the worker itself without a fork server
    kind = "trainer" if any(p.kind == "trainer" for p in sampler.procs.values()) else "worker"
    workers = [p for p in sampler.procs.values() if p.kind == kind]
    result: dict[str, Any] = {"trials": args.memory_trials, "wall_s": round(wall, 1), "returncode": code,
                              "measured": kind, "processes": len(workers)}
    if not workers or not done_at:
        return result
    series = [(t, rss) for w in workers for t, rss in w.samples]
    by_done: dict[int, list[float]] = {}
    for t, rss in series:
        done = max((n for ts, n in done_at if ts <= t), default=0)
        by_done.setdefault(done, []).append(rss)
    points = sorted((n, statistics.median(v)) for n, v in by_done.items() if n >= 1)
    if len(points) >= 2:
        quarter = max(1, args.memory_trials // 4)
        after_warmup = [(n, r) for n, r in points if n >= quarter]
        slope = _slope(after_warmup) if len(after_warmup) >= 2 else math.nan
        result.update({
            "rss_mb_after_trials": {str(m): round(_at_or_after(points, m), 1)
                                    for m in sorted({1, 10, quarter, args.memory_trials // 2, points[-1][0]})},
            "growth_mb_first_quarter": round(_at_or_after(points, quarter) - points[0][1], 1),
            "growth_mb_after_first_quarter": round(points[-1][1] - _at_or_after(points, quarter), 1),
            "slope_mb_per_100_trials_after_first_quarter": round(slope * 100, 2),
            "peak_rss_mb": round(max(w.peak_rss_mb for w in workers), 1),
        })
    return result


def _at_or_after(points: list[tuple[int, float]], trials: int) -> float:
    """RSS (MB) at the first sample with at least ``trials`` trials done (the last sample if none)."""
    return next((rss for n, rss in points if n >= trials), points[-1][1])


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against trials done."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else math.nan


# -- the report --------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """The machine, the versions and the load when the benchmark started."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("torch", "pytorch_lightning", "ray", "optuna"):
        try:
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a version we cannot read is left out
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(_status_kb(_read("/proc/meminfo"), "MemTotal")
                                                                      / 2**20, 1),
            "python": platform.python_version(), "versions": versions, "load_avg": os.getloadavg(),
            "date": datetime.date.today().isoformat()}


def summarize(runs: list[Run], methods: Sequence[str]) -> dict[str, Any]:
    """Per method: wall / CPU / first-result min, median, max; per round ratio to ``bare`` and its spread."""
    out: dict[str, Any] = {}
    for method in methods:
        mine = [r for r in runs if r.method == method and r.returncode == 0]
        if not mine:
            continue
        entry = {"wall_s": _spread([r.wall_s for r in mine]), "cpu_s": _spread([r.cpu_s for r in mine])}
        firsts = [r.first_result_s for r in mine if r.first_result_s is not None]
        if firsts:
            entry["first_result_s"] = _spread(firsts)
        if method != "bare":
            bares = {b.round: b for b in runs if b.method == "bare" and b.returncode == 0}
            ratios = [r.wall_s / bares[r.round].wall_s for r in mine if r.round in bares]
            if ratios:
                entry["ratio_to_bare"] = _spread(ratios)
            first_ratios = [r.first_result_s / bares[r.round].first_result_s for r in mine
                            if r.round in bares and r.first_result_s and bares[r.round].first_result_s]
            if first_ratios:
                entry["first_result_ratio_to_bare"] = _spread(first_ratios)
        workers = [w for r in mine for w in r.workers if w["kind"] == "worker"]
        if workers:
            trainers = [w for r in mine for w in r.workers if w["kind"] == "trainer"]
            base = statistics.median(r.driver_peak_rss_mb + r.ray_system_peak_rss_mb for r in mine)
            entry["worker_peak_rss_mb"] = max(w["peak_rss_mb"] for w in workers)
            entry["worker_peak_pss_mb"] = max(w["peak_pss_mb"] for w in workers)
            entry["workers_per_run"] = statistics.median(
                sum(w["kind"] == "worker" for w in r.workers) for r in mine)
            if trainers:  # forked training processes share the fork server's pages: PSS splits those fairly
                entry["trainer_peak_rss_mb"] = max(w["peak_rss_mb"] for w in trainers)
                entry["trainer_peak_pss_mb"] = max(w["peak_pss_mb"] for w in trainers)
            per_trial = entry["worker_peak_pss_mb"] + entry.get("trainer_peak_pss_mb", 0.0)
            entry["trial_pss_mb"] = round(per_trial, 1)
            entry["driver_and_ray_rss_mb"] = round(base, 1)
            entry[f"concurrent_trials_in_{MEMORY_BUDGET_GIB:g}_gib"] = int(
                (MEMORY_BUDGET_GIB * 1024 - base) // per_trial) if per_trial else None
        out[method] = entry
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def same_training(runs: list[Run], *, stacked: bool) -> bool | None:
    """Whether (a) and every search ended with the same val_loss for every config and seed (None: nothing to
    compare): to 1e-5 relative, or 1 % when the search's seeds may train ``stacked``."""
    bare = next((r.finals for r in runs if r.method == "bare" and r.finals), None)
    searches = [r for r in runs if r.method.startswith("search") and r.finals]
    if bare is None or not searches:
        return None
    flat_a = [v for row in bare for v in row]
    for run in searches:
        flat_b = [v for row in run.finals for v in row]
        tolerance = 1e-2 if stacked and run.method != "search_separate" else 1e-5
        if len(flat_a) != len(flat_b) or not all(math.isclose(a, b, rel_tol=tolerance)
                                                 for a, b in zip(flat_a, flat_b)):
            return False
    return True


def print_report(summary: dict[str, Any], runs: list[Run], info: dict[str, Any]) -> None:
    print(f"\n{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; load at start {info['load_avg']}")
    print(f"{'method':15s} {'wall s (min / median / max)':>30s} {'CPU s median':>13s} "
          f"{'ratio to bare (min / med / max)':>34s}")
    for method, entry in summary.items():
        w = entry["wall_s"]
        ratio = entry.get("ratio_to_bare")
        ratio_text = f"{ratio['min']:.2f} / {ratio['median']:.2f} / {ratio['max']:.2f}" if ratio else "-"
        print(f"{method:15s} {w['min']:9.1f} / {w['median']:7.1f} / {w['max']:7.1f} {entry['cpu_s']['median']:13.1f} "
              f"{ratio_text:>34s}")
    for method, entry in summary.items():
        if "first_result_s" in entry:
            f = entry["first_result_s"]
            ratio = entry.get("first_result_ratio_to_bare")
            vs = (f"; ratio to bare's first epoch {ratio['min']:.2f} / {ratio['median']:.2f} / {ratio['max']:.2f}"
                  if ratio else "")
            print(f"{method}: launch to first epoch result {f['min']:.1f} / {f['median']:.1f} / {f['max']:.1f} s "
                  f"(min / median / max){vs}")
        if "worker_peak_rss_mb" in entry:
            trainer = (f"; its training process (forked) peak RSS {entry['trainer_peak_rss_mb']:.0f} MB, PSS "
                       f"{entry['trainer_peak_pss_mb']:.0f} MB" if "trainer_peak_pss_mb" in entry else "")
            print(f"{method}: {entry['workers_per_run']:g} workers per run; worker peak RSS "
                  f"{entry['worker_peak_rss_mb']:.0f} MB, PSS {entry['worker_peak_pss_mb']:.0f} MB{trainer}; "
                  f"driver + Ray's processes (+ fork server) {entry['driver_and_ray_rss_mb']:.0f} MB RSS; "
                  f"concurrent trials in {MEMORY_BUDGET_GIB:g} GiB (by PSS per trial): "
                  f"{entry[f'concurrent_trials_in_{MEMORY_BUDGET_GIB:g}_gib']}")


# -- main --------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=16, help="configs (learning rates) in the grid")
    p.add_argument("--seeds", type=int, default=3, help="seeds per config (0, 1, ...)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per run")
    p.add_argument("--repeats", type=int, default=3, help="rounds; each runs every method once")
    p.add_argument("--methods", default="bare,search,ray", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial for (b) and (c)")
    p.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--gpus-per-trial", type=float, default=None, help="with --accelerator gpu (default 1 / "
                   "concurrent trials)")
    p.add_argument("--memory-trials", type=int, default=0, help="also check a reused worker's memory over this "
                   "many trials (e.g. 100)")
    p.add_argument("--work", help="working directory (default: a temporary one, removed afterwards)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        p.error(f"unknown method(s) {unknown}; use some of: {', '.join(METHODS)}")
    args.methods = methods
    if args.gpus_per_trial is None:
        concurrent = max(1, int((os.cpu_count() or 1) // args.cpus_per_trial))
        args.gpus_per_trial = 1.0 / concurrent if args.accelerator == "gpu" else 0.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_search":
        child_search(argv[1:])
    if argv and argv[0] in CHILDREN:
        CHILDREN[argv[0]](*argv[1:])
        return 0
    args = parse_args(argv)
    import yaml

    from tune_sched.config.space import SearchSpace

    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    space = space_dict(configs=args.configs, seeds=args.seeds, epochs=args.epochs, cpus=args.cpus_per_trial,
                       gpus=args.gpus_per_trial, accelerator=args.accelerator)
    (work / "space.yaml").write_text(yaml.safe_dump(space))
    separate = {**space, "trainer": {**space["trainer"], "seed_mode": "separate"}}
    (work / "space_separate.yaml").write_text(yaml.safe_dump(separate))
    configs = SearchSpace.from_dict(space).grid()  # exactly the run configs the search trains
    configs_file = work / "configs.json"
    configs_file.write_text(json.dumps(configs))
    info = machine()
    print(f"{args.configs} configs x {args.seeds} seeds x {args.epochs} epochs on the tiny task, "
          f"{args.repeats} rounds of {', '.join(args.methods)}; work dir {work}", flush=True)

    runs: list[Run] = []
    for rnd in range(args.repeats):
        order = args.methods[rnd % len(args.methods):] + args.methods[: rnd % len(args.methods)]
        for method in order:
            run = run_method(method, rnd, args, work, configs_file)
            runs.append(run)
            first = f", first result {run.first_result_s:.1f} s" if run.first_result_s is not None else ""
            kinds = ", ".join(f"{k} {v:.1f}" for k, v in sorted(run.cpu_s_by_kind.items()))
            print(f"round {rnd} {method:15s} {run.wall_s:7.1f} s wall, {run.cpu_s:6.1f} s CPU ({kinds}){first} "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    summary = summarize(runs, args.methods)
    print_report(summary, runs, info)
    same = same_training(runs, stacked=args.seeds > 1)
    if same is not None:
        print(f"(a) and (b) trained the same (same final val_loss for every config and seed): {same}")
    memory = memory_check(args, work) if args.memory_trials else None
    if memory:
        print(f"memory: one reused worker over {memory['trials']} trials: {json.dumps(memory)}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "overhead", "command": " ".join(["python", "scripts/bench_overhead.py", *argv]),
            "machine": info, "params": {k: v for k, v in vars(args).items() if k not in ("json", "work")},
            "summary": summary, "same_training": same, "memory": memory, "runs": [asdict(r) for r in runs],
        }, indent=2, default=str))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.returncode == 0 for r in runs) and (memory is None or memory["returncode"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
