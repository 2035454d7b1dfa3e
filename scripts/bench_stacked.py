"""Benchmark: a config's K seeds trained stacked (one vectorised model) vs separately in lockstep vs a bare loop.

For each task and K, in one process after a warm-up, rounds of three methods in a rotating order (a shared
machine's load hits them alike), each training the same config on seeds 0..K-1:

- ``bare``:     plain Lightning, one seed after another, no recording (``bench_overhead.plain_fit``);
- ``lockstep``: :func:`tune_sched.train.lockstep.run_seeds` (``trainer.seed_mode: separate``), recording every
                seed's tables, checkpoint and result as a search does (saving at most every ``--save-every-s``,
                the search's default 10 s);
- ``stacked``:  :func:`tune_sched.train.stacked.run_stacked`, recording the same.

Prints each run and, per task and K, the median wall time of each method, the ratios to the bare loop and
stacked / lockstep, and seconds per seed-step. ``--accelerator gpu --precision 16-mixed`` measures a GPU.

Usage:
    python scripts/bench_stacked.py [--tasks tiny,fno2d] [--seeds 3,8] [--epochs 5] [--repeats 3] [--threads 1]
        [--save-every-s 10] [--accelerator cpu|gpu] [--precision 32-true] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

METHODS = ("bare", "lockstep", "stacked")


def run_config(task: str, *, epochs: int, accelerator: str, precision: str) -> dict[str, Any]:
    return {"task": task, "optimizer": {"name": "Adam", "lr": 3e-3},
            "trainer": {"max_epochs": epochs, "accelerator": accelerator, "precision": precision}}


def methods(config: dict[str, Any], seeds: list[int], work: Path, *,
            save_every_s: float) -> dict[str, Callable[[], Any]]:
    from bench_overhead import plain_fit

    from tune_sched.train.lockstep import run_seeds
    from tune_sched.train.stacked import run_stacked

    def dirs(name: str) -> dict[int, Path]:
        shutil.rmtree(work / name, ignore_errors=True)
        return {s: work / name / f"seed{s}" for s in seeds}

    separate = {**config, "trainer": {**config["trainer"], "seed_mode": "separate"}}
    return {
        "bare": lambda: [plain_fit(config, s) for s in seeds],
        "lockstep": lambda: run_seeds(separate, seeds, dirs("lockstep"), save_every_s=save_every_s),
        "stacked": lambda: run_stacked(config, seeds, dirs("stacked"), save_every_s=save_every_s),
    }


def measure(task: str, k: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch

    config = run_config(task, epochs=args.epochs, accelerator=args.accelerator, precision=args.precision)
    seeds = list(range(k))
    calls = methods(config, seeds, work, save_every_s=args.save_every_s)
    for name in METHODS:  # warm-up: imports, first kernels, the task's data
        calls[name]()
    walls: dict[str, list[float]] = {name: [] for name in METHODS}
    for rnd in range(args.repeats):
        order = METHODS[rnd % 3:] + METHODS[: rnd % 3]
        for name in order:
            torch.set_num_threads(args.threads)
            if args.accelerator == "gpu":
                torch.cuda.synchronize()
            start = time.perf_counter()
            calls[name]()
            if args.accelerator == "gpu":
                torch.cuda.synchronize()
            walls[name].append(time.perf_counter() - start)
            print(f"  {task} K={k} round {rnd} {name:8s} {walls[name][-1]:7.2f} s (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    steps = _steps_per_seed(work / "stacked" / "seed0")
    med = {name: statistics.median(v) for name, v in walls.items()}
    return {
        "task": task, "seeds": k, "epochs": args.epochs, "steps_per_seed": steps, "wall_s": walls,
        "median_s": med,
        "ratio_to_bare": {name: med[name] / med["bare"] for name in METHODS},
        "stacked_to_lockstep": med["stacked"] / med["lockstep"],
        "ms_per_seed_step": {name: 1e3 * med[name] / (k * steps) for name in METHODS} if steps else None,
    }


def _steps_per_seed(folder: Path) -> int:
    result = json.loads((folder / "result.json").read_text())
    return int(result["steps_run"])


def machine() -> dict[str, Any]:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(), "load_avg": os.getloadavg()[0]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="tiny,fno2d")
    p.add_argument("--seeds", default="3,8", help="K values, comma-separated")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (a search trial's default is 1)")
    p.add_argument("--save-every-s", type=float, default=10.0, help="how often a seed saves (0: every epoch)")
    p.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--precision", default="32-true")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    import logging

    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-stacked-"))
    info = machine()
    print(f"{info}; {args.epochs} epochs, {args.repeats} rounds, {args.threads} thread(s)", flush=True)
    results = []
    try:
        for task in args.tasks.split(","):
            for k in (int(x) for x in args.seeds.split(",")):
                results.append(measure(task, k, args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'task':6s} {'K':>2s} {'bare s':>8s} {'lockstep s':>11s} {'stacked s':>10s} {'lockstep/bare':>14s} "
          f"{'stacked/bare':>13s} {'stacked/lockstep':>17s} {'ms per seed-step (bare/lock/stack)':>36s}")
    for r in results:
        m, ratio, per = r["median_s"], r["ratio_to_bare"], r["ms_per_seed_step"] or {}
        per_text = " / ".join(f"{per.get(n, float('nan')):.1f}" for n in METHODS)
        print(f"{r['task']:6s} {r['seeds']:2d} {m['bare']:8.2f} {m['lockstep']:11.2f} {m['stacked']:10.2f} "
              f"{ratio['lockstep']:14.2f} {ratio['stacked']:13.2f} {r['stacked_to_lockstep']:17.2f} {per_text:>36s}")
    if args.json:
        command = " ".join(["python", "scripts/bench_stacked.py", *(argv if argv is not None else sys.argv[1:])])
        Path(args.json).write_text(json.dumps({"benchmark": "stacked", "command": command, "machine": info,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
