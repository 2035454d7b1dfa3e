"""Benchmark: start-up of the ``tune-sched`` command line, and which heavy packages each verb imports.

Times each command as a fresh process (launch to exit, median of ``--repeats``) and runs it once more under
``python -X importtime`` to list which of Ray, torch, Lightning, Optuna, pandas and matplotlib it imported:

- ``tune-sched --help``;
- ``tune-sched validate`` on a search space and on a run config;
- ``tune-sched analyze`` and ``tune-sched export`` on a small experiment made first (2 configs x 2 seeds x 2 epochs
  of the tiny task; untimed);
- ``tune-sched search`` (1 config x 1 seed x 2 epochs): launch to the first epoch result reaching Tune's driver, and
  launch to exit; cold (the search starts its own Ray) and attached (``--address`` to a Ray cluster started before
  the timed run, untimed).

Targets: ``--help`` and ``validate`` within 1 s, importing neither Ray nor torch (nor do ``analyze`` and ``export``);
the first epoch result within 8 s.

Usage:
    python scripts/bench_startup.py [--repeats 5] [--search-repeats 3] [--work DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_overhead as overhead  # noqa: E402 - the shared process runner and the search child

HEAVY = ("ray", "torch", "pytorch_lightning", "optuna", "pandas", "matplotlib")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tune_sched.cli", *args]


def time_command(argv: list[str], *, cwd: Path, repeats: int) -> dict[str, Any]:
    """Median / min / max wall seconds of ``argv`` as a fresh process; its exit code must be 0."""
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=overhead._env(), capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3), "n": repeats}


def heavy_imports(argv: list[str], *, cwd: Path) -> list[str]:
    """Which of ``HEAVY`` the command imports (``python -X importtime``: the top-level packages it loaded)."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=cwd, env=overhead._env(),
                          capture_output=True, text=True)
    loaded = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            loaded.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return [name for name in HEAVY if name in loaded]


def search_startup(work: Path, *, attached: bool, rnd: int) -> dict[str, Any]:
    """One minimal search (1 config x 1 seed x 2 epochs): launch to first epoch result, and to exit."""
    space = work / "startup-space.yaml"
    name = f"startup-{'attached' if attached else 'cold'}-{rnd}"
    argv = [sys.executable, str(Path(overhead.__file__).resolve()), "_search", "--space", str(space), "--storage",
            str(work / "experiments"), "--name", name]
    log = work / f"{name}.log"
    if attached:
        with overhead.local_cluster(argparse.Namespace(accelerator="cpu")) as address:
            wall, code, _, started = overhead.run_process([*argv, "--address", address], log, cwd=work)
    else:
        wall, code, _, started = overhead.run_process(argv, log, cwd=work)
    first = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(overhead.FIRST_RESULT_MARK):
            first = float(line.split()[1]) - started
    if code != 0 or first is None:
        raise RuntimeError(f"the start-up search failed (exit {code}); see {log}")
    return {"first_result_s": round(first, 2), "wall_s": round(wall, 2)}


def make_experiment(work: Path) -> Path:
    """A small experiment for analyze/export (2 configs x 2 seeds x 2 epochs), made by a real search."""
    import yaml

    space = overhead.space_dict(configs=2, seeds=2, epochs=2, cpus=1, gpus=0, accelerator="cpu")
    (work / "small-space.yaml").write_text(yaml.safe_dump(space))
    done = subprocess.run(cli("search", "--space", str(work / "small-space.yaml"), "--storage",
                              str(work / "experiments"), "--name", "small"),
                          cwd=work, env=overhead._env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the experiment for analyze/export failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return work / "experiments" / "small"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="runs of each quick command")
    p.add_argument("--search-repeats", type=int, default=3, help="runs of each start-up search (0: skip)")
    p.add_argument("--skip-experiment", action="store_true", help="leave out analyze and export (no experiment "
                   "to make)")
    p.add_argument("--work", help="working directory (default: a temporary one, removed afterwards)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    import yaml

    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="bench-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    space = overhead.space_dict(configs=1, seeds=1, epochs=2, cpus=1, gpus=0, accelerator="cpu")
    (work / "startup-space.yaml").write_text(yaml.safe_dump(space))
    run_config = {"task": "tiny", "optimizer": {"name": "Adam", "lr": 0.003}, "trainer": {"max_epochs": 2}}
    (work / "run.yaml").write_text(yaml.safe_dump(run_config))
    commands = {
        "--help": cli("--help"),
        "validate space": cli("validate", str(work / "startup-space.yaml")),
        "validate run config": cli("validate", str(work / "run.yaml")),
    }
    if not args.skip_experiment:
        print(f"work dir {work}; making a small experiment for analyze/export ...", flush=True)
        experiment = make_experiment(work)
        commands["analyze"] = cli("analyze", str(experiment), "--out", str(work / "analysis"))
        commands["export"] = cli("export", str(experiment), "--out", str(work / "best.yaml"), "--force")
    results: dict[str, Any] = {"machine": overhead.machine(), "commands": {}}
    print(f"{'command':22s} {'median s':>9s} {'min':>6s} {'max':>6s}  heavy imports")
    for name, command in commands.items():
        timing = time_command(command, cwd=work, repeats=args.repeats)
        imported = heavy_imports(command, cwd=work)
        results["commands"][name] = {**timing, "imports": imported, "argv": command[1:]}
        print(f"{name:22s} {timing['median_s']:9.2f} {timing['min_s']:6.2f} {timing['max_s']:6.2f}  "
              f"{', '.join(imported) or 'none'}", flush=True)

    for attached in (False, True):
        label = "search attached" if attached else "search cold"
        runs = [search_startup(work, attached=attached, rnd=i) for i in range(args.search_repeats)]
        if runs:
            firsts = [r["first_result_s"] for r in runs]
            walls = [r["wall_s"] for r in runs]
            results[label] = {"first_result_s": firsts, "wall_s": walls}
            print(f"{label:22s} first epoch result {statistics.median(firsts):.1f} s (min {min(firsts):.1f}, max "
                  f"{max(firsts):.1f}); exit {statistics.median(walls):.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
