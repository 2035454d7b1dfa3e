"""The GPU measurement of stacked seeds (run by scripts/gpu_check.sh): fno2d on CUDA in 16-mixed, through
``tune-sched run`` as a user runs it, without Ray or Optuna.

Runs, each a separate ``tune-sched run`` process (timed from launch to exit, imports included):

1. ``one``:      1 seed;
2. ``stacked``:  K seeds (``--seeds 0,...,K-1``, ``trainer.seed_mode: stacked``);
3. ``lockstep``: the same K seeds separately in lockstep (``seed_mode: separate``);
4. ``shared-N``: N processes at once on the one GPU (what ``--gpus-per-trial 1/N`` does), each the K-seed
                 stacked run, and then each a 1-seed run.

For each: wall seconds, the training time the trials recorded (``result.json``'s ``wall_time_s``, summed over
seeds: a stacked seed records its share), milliseconds per seed-step, and the process's peak GPU memory
(``torch.cuda.max_memory_allocated``). Checks that ``tune-sched run`` imported neither Ray nor Optuna. Prints a
table and the ratios (stacked K seeds / one seed, stacked / lockstep) and writes ``gpu_check.json`` and
``gpu_check.txt`` into ``$OUT`` when it is set. Every run has a time limit and the whole script a deadline
(``GPU_CHECK_DEADLINE_S``, default 220 s); runs that would pass it are skipped and said to be.

``GPU_CHECK_CPU=1`` runs the same on the CPU with a small fno2d (for testing this script without a GPU).
Environment: ``GPU_CHECK_SEEDS`` (K, default 8), ``GPU_CHECK_EPOCHS`` (default 10), ``GPU_CHECK_SHARED``
(process counts, default ``2,4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CPU = os.environ.get("GPU_CHECK_CPU") == "1"
K = int(os.environ.get("GPU_CHECK_SEEDS", "8"))
EPOCHS = int(os.environ.get("GPU_CHECK_EPOCHS", "2" if CPU else "10"))
SHARED = [int(n) for n in os.environ.get("GPU_CHECK_SHARED", "2,4").split(",") if n]
DEADLINE = time.monotonic() + float(os.environ.get("GPU_CHECK_DEADLINE_S", "220"))
RUN_LIMIT_S = 120.0

# One `tune-sched run` in this process, reporting what it imported and its peak GPU memory on its last line.
CHILD = """
import sys
from tune_sched.cli import main
code = main(sys.argv[1:])
import torch
peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
heavy = sorted(m for m in ("ray", "optuna") if m in sys.modules)
print("GPU_CHECK", peak, ",".join(heavy) or "-", flush=True)
sys.exit(code)
"""


def config(mode: str) -> dict[str, Any]:
    trainer = {"max_epochs": EPOCHS, "precision": "32-true" if CPU else "16-mixed",
               "accelerator": "cpu" if CPU else "gpu", "seed_mode": mode}
    kwargs = {"n_train": 64, "n_val": 32, "resolution": 16, "width": 8, "modes": 4} if CPU else {}
    return {"task": "fno2d", "task_kwargs": kwargs, "optimizer": {"name": "Adam", "lr": 3e-3}, "trainer": trainer}


def start(name: str, mode: str, seeds: list[int], work: Path) -> tuple[subprocess.Popen, Path, float]:
    import yaml

    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.yaml").write_text(yaml.safe_dump(config(mode)))
    seed_args = ["--seed", str(seeds[0])] if len(seeds) == 1 else ["--seeds", ",".join(map(str, seeds))]
    argv = [sys.executable, "-c", CHILD, "run", str(folder / "run.yaml"), *seed_args, "--out", str(folder / "out"),
            "--overwrite"]
    log = (folder / "log.txt").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    return proc, folder, time.perf_counter()


def finish(proc: subprocess.Popen, folder: Path, started: float, name: str, seeds: list[int]) -> dict[str, Any]:
    try:
        code = proc.wait(timeout=max(1.0, min(RUN_LIMIT_S, DEADLINE - time.monotonic())))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = "timeout"
    wall = time.perf_counter() - started
    text = (folder / "log.txt").read_text(errors="replace")
    mark = [line.split() for line in text.splitlines() if line.startswith("GPU_CHECK")]
    results = []
    for seed in seeds:
        path = folder / "out" / (f"seed{seed}" if len(seeds) > 1 else "") / "result.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    train_s = sum(r["wall_time_s"] for r in results)
    steps = sum(r["steps_run"] for r in results)
    row = {"run": name, "seeds": len(seeds), "exit": code, "wall_s": round(wall, 2), "train_s": round(train_s, 2),
           "seed_steps": steps, "ms_per_seed_step": round(1e3 * train_s / steps, 2) if steps else None,
           "peak_gpu_mib": round(int(mark[-1][1]) / 2**20, 1) if mark else None,
           "imported": mark[-1][2] if mark else "?", "statuses": sorted({r["status"] for r in results}),
           "seed_mode": sorted({r.get("seed_mode", "?") for r in results})}
    if code != 0:
        row["log_tail"] = text[-1500:]
    return row


def run_one(name: str, mode: str, seeds: list[int], work: Path, *, budget_s: float) -> dict[str, Any]:
    if DEADLINE - time.monotonic() < budget_s:
        return {"run": name, "seeds": len(seeds), "exit": "skipped (the script's deadline)"}
    row = finish(*start(name, mode, seeds, work), name, seeds)
    print(_line(row), flush=True)
    return row


def run_shared(n: int, k: int, work: Path, *, budget_s: float) -> dict[str, Any]:
    """``n`` processes at once, each training ``k`` seeds (stacked when ``k`` > 1)."""
    name = f"shared-{n}x{k}"
    if DEADLINE - time.monotonic() < budget_s:
        return {"run": name, "exit": "skipped (the script's deadline)"}
    seeds = list(range(k))
    t0 = time.perf_counter()
    procs = [(start(f"{name}-{i}", "stacked", seeds, work), i) for i in range(n)]
    rows = [finish(*started, f"{name}-{i}", seeds) for started, i in procs]
    wall = time.perf_counter() - t0
    steps = sum(r["seed_steps"] for r in rows)
    row = {"run": name, "processes": n, "seeds": k, "exit": [r["exit"] for r in rows], "wall_s": round(wall, 2),
           "seed_steps": steps, "seed_steps_per_s": round(steps / wall, 1) if wall else None,
           "max_ms_per_seed_step": max((r["ms_per_seed_step"] or 0) for r in rows),
           "peak_gpu_mib_each": [r["peak_gpu_mib"] for r in rows], "imported": sorted({r["imported"] for r in rows})}
    print(f"{name:16s} {n} processes x {k} seeds at once: {wall:6.1f} s wall, {row['seed_steps_per_s']} seed-steps/s, "
          f"slowest {row['max_ms_per_seed_step']} ms per seed-step, peak GPU MiB each {row['peak_gpu_mib_each']}",
          flush=True)
    return row


def _line(row: dict[str, Any]) -> str:
    return (f"{row['run']:16s} {row['seeds']} seed(s) {row.get('seed_mode', '')}: exit {row['exit']}, "
            f"{row['wall_s']:6.1f} s wall, {row['train_s']:6.1f} s training, {row['ms_per_seed_step']} ms per "
            f"seed-step, peak GPU {row['peak_gpu_mib']} MiB, imported Ray/Optuna: {row['imported']}, "
            f"{row['statuses']}" + (f"\n{row['log_tail']}" if "log_tail" in row else ""))


def environment() -> dict[str, Any]:
    import pytorch_lightning
    import torch

    info = {"torch": torch.__version__, "lightning": pytorch_lightning.__version__, "cuda": torch.cuda.is_available(),
            "python": sys.version.split()[0], "cpu_mode": CPU, "seeds": K, "epochs": EPOCHS}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                             "--format=csv,noheader"], capture_output=True, text=True,
                                            timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["run"]: r for r in rows}
    out: dict[str, Any] = {}

    def train(name: str) -> float | None:
        row = by.get(name, {})
        return row.get("train_s") if row.get("exit") == 0 else None

    one, stacked, lockstep = train("one"), train("stacked"), train("lockstep")
    if one and stacked:
        out[f"stacked_{K}_seeds_over_one_seed_training"] = round(stacked / one, 2)
        out[f"stacked_{K}_seeds_over_one_seed_wall"] = round(by["stacked"]["wall_s"] / by["one"]["wall_s"], 2)
    if stacked and lockstep:
        out["stacked_over_lockstep_training"] = round(stacked / lockstep, 2)
        out["stacked_over_lockstep_wall"] = round(by["stacked"]["wall_s"] / by["lockstep"]["wall_s"], 2)
    imported = {r.get("imported") for r in rows if "imported" in r and not isinstance(r["imported"], list)}
    out["ray_or_optuna_imported"] = sorted(i for i in imported if i not in ("-", None))
    return out


def main() -> int:
    info = environment()
    print(f"gpu_check: {json.dumps(info)}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    seeds = list(range(K))
    rows = [run_one("one", "stacked", [0], work, budget_s=20)]
    rows.append(run_one("stacked", "stacked", seeds, work, budget_s=25))
    rows.append(run_one("lockstep", "separate", seeds, work, budget_s=60))
    for n in SHARED:
        rows.append(run_shared(n, K, work, budget_s=30))
    for n in SHARED:
        rows.append(run_shared(n, 1, work, budget_s=20))
    result = {"environment": info, "runs": rows, "summary": summary(rows)}
    text = json.dumps(result["summary"])
    print(f"summary: {text}", flush=True)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "gpu_check.json").write_text(json.dumps(result, indent=2, default=str))
        Path(out, "gpu_check.txt").write_text("\n".join(_line(r) if "train_s" in r else json.dumps(r) for r in rows)
                                              + f"\nsummary: {text}\n")
    ok = all(r.get("exit") == 0 for r in rows if r["run"] in ("one", "stacked", "lockstep"))
    return 0 if ok and not result["summary"]["ray_or_optuna_imported"] else 1


if __name__ == "__main__":
    sys.exit(main())
