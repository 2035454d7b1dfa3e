"""Benchmark: does tune-sched's pick hold up on seeds it has not seen, better than a one-seed search's?

A pool of configs of a built-in task straddling the edge of stability is trained once on every seed with the
project's own trial code (``run_trial``: the divergence rule, the steps and epochs tables), no pruning, and cached
on disk (a rerun only recomputes the statistics). The pools (``TASKS``):

- ``tiny``: SGD with momentum 0.9 at 8 learning rates (0.06-0.2), each after a 1-epoch and after a 3-epoch linear
  warmup from 0.1x, 10 epochs. The edge (seeds start to diverge) is near lr 0.1 after the short warmup and near
  0.14 after the long one, and the runs that survive there are the best of the pool: a few seeds of those configs
  diverge, the rest beat every safe config.
- ``fno2d``: SGD with momentum 0.9 and gradient clipping at norm 3 at 8 learning rates (0.06-0.25), each plain and
  after a 1-epoch linear warmup from 0.1x, 16 epochs. Clipping keeps SGD stable well past the rate where it diverges
  without it; the safe configs (lr 0.06-0.12) never diverge, and at lr 0.15-0.21 the seeds that survive mostly reach a
  lower loss than any safe config (medians 0.031-0.038 against 0.037 at best) while 8-31 % of them blow up and
  never come back. Those runs stay finite (the clipping
  bounds each step), so the pool's divergence rule counts a run that does not halve the untrained model's error as
  diverged (``trainer.divergence.min_improvement: 0.5``; the safe configs reach 3-10 % of it).
- ``fno2d_adam``: Adam at 8 learning rates (0.03-0.26), each plain and with a 1-epoch warmup plus gradient clipping
  at 1.0, 16 epochs: long enough for the safe rates to reach the small model's floor, so that the configs at the
  edge (lr 0.13-0.19), whose surviving seeds reach the same floor, tie with them on most seeds and spike, end badly
  or diverge on a few. Every rule's pick is safe on this pool: it shows how much the score gives up there.

Then, for each of ``--splits`` random splits of the seeds into ``--select`` selection seeds and the rest held out,
four rules pick one config from the selection seeds only:

- ``score``: tune-sched's robust score (``rank_configs`` with ``ScoreSettings``' defaults unless overridden; spike
  counts from ``spike_table`` on each run's steps, as ``analyze`` does);
- ``mean``: the mean metric over the selection seeds;
- ``single``: the metric of one selection seed (what a one-seed search picks);
- ``best_seed``: the best single value over the selection seeds.

The metric is each run's best validation metric. A diverged run (its status by ``trainer.divergence``) counts as
the untrained model's metric (``untrained_metric``; the pool's worst finite value when that is unknown) for the
``mean``, ``single`` and ``best_seed`` rules and for the held-out regret; the robust score sees its status instead.
For each rule: the held-out regret of its pick (the pick's held-out mean minus the best config's held-out mean), the
pick's held-out divergence rate and spike episodes per run, P(regret < the single-seed rule's regret), each as a mean
over splits with a 95 % percentile bootstrap interval over splits; and, for ``score``, the paired differences to
``single``, ``mean`` and ``best_seed``. The intervals are over splits of this one pool: they do not include the
variation of training another pool.

Usage:
    python scripts/bench_decision.py [--task fno2d|fno2d_adam|tiny] [--configs 16] [--seeds 13] [--splits 200]
        [--select 3] [--first-seed 0] [--epochs E] [--workers 2] [--cache .bench_cache/decision] [--json out.json]
        [--spread-weight W] [--divergence-penalty B] [--spike-weight S]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RULES = ("score", "mean", "single", "best_seed")

# Per task: small task kwargs (about a second per run), the training budget, the optimizer and its learning rates
# from safe to past the edge of stability, each with every variant (see the module docstring).
_SGD = {"name": "SGD", "momentum": 0.9}


def _warmup(epochs: int) -> dict[str, Any]:
    return {"lr_scheduler": {"name": "ConstantLR", "factor": 1.0, "warmup": {"epochs": epochs, "start_factor": 0.1}}}


def _clip(norm: float) -> dict[str, Any]:
    return {"trainer": {"gradient_clip_val": norm}}


_FNO2D = {"n_train": 128, "n_val": 32, "resolution": 16, "modes": 4, "width": 8, "layers": 2}


TASKS: dict[str, dict[str, Any]] = {
    "fno2d": {
        "task": "fno2d",
        "task_kwargs": _FNO2D,
        "batch_size": 16,
        "epochs": 16,
        "optimizer": _SGD,
        "trainer": {"divergence": {"min_improvement": 0.5}},
        "lrs": [0.06, 0.08, 0.1, 0.12, 0.15, 0.18, 0.21, 0.25],
        "variants": {"clip3": _clip(3.0), "clip3_warmup1": {**_warmup(1), **_clip(3.0)}},
    },
    "fno2d_adam": {
        "task": "fno2d",
        "task_kwargs": _FNO2D,
        "batch_size": 16,
        "epochs": 16,
        "optimizer": {"name": "Adam"},
        "lrs": [0.03, 0.06, 0.1, 0.13, 0.16, 0.19, 0.22, 0.26],
        "variants": {"plain": {}, "warmup_clip": {**_warmup(1), **_clip(1.0)}},
    },
    "tiny": {
        "task": "tiny",
        "task_kwargs": {"n_train": 256, "n_val": 64},
        "batch_size": 16,
        "epochs": 10,
        "optimizer": _SGD,
        "lrs": [0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2],
        "variants": {"warmup1": _warmup(1), "warmup3": _warmup(3)},
    },
}


def pool_configs(task: str, epochs: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The pool, by learning rate and then variant: [(label, run config), ...]."""
    spec = TASKS[task]
    out = []
    for lr in spec["lrs"]:
        for variant, extra in spec["variants"].items():
            cfg: dict[str, Any] = {
                "task": spec["task"], "task_kwargs": dict(spec["task_kwargs"]), "metric": "val_loss", "mode": "min",
                "optimizer": {**spec["optimizer"], "lr": lr},
                "trainer": {"max_epochs": epochs or spec["epochs"], "batch_size": spec["batch_size"],
                            **spec.get("trainer", {}), **extra.get("trainer", {})},
            }
            if "lr_scheduler" in extra:
                cfg["lr_scheduler"] = extra["lr_scheduler"]
            out.append((f"{spec['optimizer']['name']} lr={lr:g} {variant}", cfg))
    return out


def config_key(cfg: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _train(job: tuple[str, dict[str, Any], int, str]) -> str:
    """Train one (config, seed) into its cache folder unless its result.json is there already."""
    key, cfg, seed, out = job
    if (Path(out) / "result.json").exists():
        return out
    from tune_sched.train.trial import run_trial

    run_trial(cfg, seed=seed, out_dir=out, config_id=key, checkpoint=False, num_threads=1)
    return out


def build_pool(task: str, n_configs: int, seeds: list[int], epochs: int | None, cache: Path,
               workers: int) -> pd.DataFrame:
    """Train (or read from the cache) every config on every seed: one row per run with its spike count."""
    from tune_sched.analysis.spike_table import spike_table

    configs = pool_configs(task, epochs)[:n_configs]
    jobs = [(config_key(cfg), cfg, seed, str(cache / TASKS[task]["task"] / config_key(cfg) / f"seed_{seed}"))
            for _, cfg in configs for seed in seeds]
    todo = [j for j in jobs if not (Path(j[3]) / "result.json").exists()]
    print(f"pool: {len(configs)} configs x {len(seeds)} seeds of {task}; {len(jobs) - len(todo)} runs cached, "
          f"training {len(todo)} on {workers} worker(s)", flush=True)
    if todo:
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(workers, initializer=_init_worker, maxtasksperchild=50) as pool:
            for i, _ in enumerate(pool.imap_unordered(_train, todo), start=1):
                if i % 20 == 0 or i == len(todo):
                    print(f"  trained {i}/{len(todo)}", flush=True)
    rows, steps = [], []
    labels = {config_key(cfg): label for label, cfg in configs}
    for key, _, seed, out in jobs:
        result = json.loads((Path(out) / "result.json").read_text())
        rows.append({"config_id": key, "label": labels[key], "seed": seed, "status": result["status"],
                     "best_metric": result["best_metric"], "untrained_metric": result["untrained_metric"]})
        table = pd.read_parquet(Path(out) / "steps.parquet", columns=["step", "train_loss"])
        steps.append(table.assign(config_id=key, seed=seed))
    runs = pd.DataFrame(rows)
    counts = spike_table(pd.concat(steps, ignore_index=True), by=("config_id", "seed"), value="train_loss", step="step")
    return runs.merge(counts[["config_id", "seed", "spike_count"]], on=["config_id", "seed"], how="left")


def imputed_values(runs: pd.DataFrame) -> np.ndarray:
    """Each run's metric, with a diverged or failed run (or a non-finite metric) set to the untrained model's."""
    value = runs["best_metric"].to_numpy(dtype=np.float64)
    bad = runs["status"].isin(["diverged", "failed"]).to_numpy() | ~np.isfinite(value)
    fallback = runs["untrained_metric"].to_numpy(dtype=np.float64)
    worst = np.nanmax(np.where(np.isfinite(value), value, np.nan))
    fallback = np.where(np.isfinite(fallback), fallback, worst)
    return np.where(bad, fallback, value)


def evaluate(runs: pd.DataFrame, *, splits: int, select: int, weights: dict[str, float], seed: int = 0,
             n_boot: int = 2000) -> dict[str, Any]:
    """Every rule's pick on every split and the held-out statistics, with bootstrap intervals over splits."""
    from tune_sched.analysis.score import rank_configs

    runs = runs.assign(value=imputed_values(runs), bad=lambda f: f["status"].isin(["diverged", "failed"]))
    configs = sorted(runs["config_id"].unique())
    seeds = sorted(runs["seed"].unique())
    table = runs.set_index(["config_id", "seed"])
    value = np.array([[table.loc[(c, s), "value"] for s in seeds] for c in configs])
    bad = np.array([[table.loc[(c, s), "bad"] for s in seeds] for c in configs], dtype=float)
    spikes = np.array([[table.loc[(c, s), "spike_count"] for s in seeds] for c in configs], dtype=float)
    rng = np.random.default_rng(seed)
    per_split: dict[str, dict[str, list[float]]] = {r: {"regret": [], "diverged": [], "spikes": []} for r in RULES}
    picks: dict[str, list[str]] = {r: [] for r in RULES}
    for _ in range(splits):
        order = rng.permutation(len(seeds))
        sel, held = order[:select], order[select:]
        sub = runs[runs["seed"].isin([seeds[i] for i in sel])]
        ranked = rank_configs(sub, metric="value", status="status", spikes="spike_count", **weights)
        chosen = {
            "score": configs.index(ranked["config_id"].iloc[0]),
            "mean": int(np.argmin(value[:, sel].mean(axis=1))),
            "single": int(np.argmin(value[:, sel[0]])),
            "best_seed": int(np.argmin(value[:, sel].min(axis=1))),
        }
        held_mean = value[:, held].mean(axis=1)
        for rule, c in chosen.items():
            per_split[rule]["regret"].append(float(held_mean[c] - held_mean.min()))
            per_split[rule]["diverged"].append(float(bad[c, held].mean()))
            per_split[rule]["spikes"].append(float(np.nanmean(spikes[c, held])))
            picks[rule].append(configs[c])
    arrays = {r: {k: np.asarray(v) for k, v in d.items()} for r, d in per_split.items()}
    boot = np.random.default_rng(seed + 1).integers(0, splits, size=(n_boot, splits))

    def interval(x: np.ndarray) -> dict[str, float]:
        means = x[boot].mean(axis=1)
        return {"mean": float(x.mean()), "lo": float(np.quantile(means, 0.025)), "hi": float(np.quantile(means, 0.975))}

    single = arrays["single"]["regret"]
    labels = runs.drop_duplicates("config_id").set_index("config_id")["label"]
    rules = {}
    for rule in RULES:
        a = arrays[rule]
        counts = pd.Series(picks[rule]).value_counts()
        rules[rule] = {
            "regret": interval(a["regret"]),
            "held_out_divergence_rate": interval(a["diverged"]),
            "held_out_spikes_per_run": interval(a["spikes"]),
            "p_regret_below_single": interval((a["regret"] < single).astype(float)),
            "p_regret_tie_single": float((a["regret"] == single).mean()),
            "picks": {labels[c]: int(n) for c, n in counts.items()},
        }
    paired = {}
    for other in ("single", "mean", "best_seed"):
        paired[f"score_minus_{other}"] = {
            "regret": interval(arrays["score"]["regret"] - arrays[other]["regret"]),
            "held_out_divergence_rate": interval(arrays["score"]["diverged"] - arrays[other]["diverged"]),
        }
    held_all = value.mean(axis=1)
    pool = [{"config": labels[c], "mean_value": float(held_all[i]), "divergence_rate": float(bad[i].mean()),
             "spikes_per_run": float(np.nanmean(spikes[i]))} for i, c in enumerate(configs)]
    return {"rules": rules, "paired": paired, "pool": sorted(pool, key=lambda p: p["mean_value"])}


def wins(result: dict[str, Any]) -> dict[str, bool]:
    """Whether the score beats ``single`` and ``mean`` on regret and divergence rate, intervals excluding a tie."""
    out = {}
    for other in ("single", "mean"):
        for stat in ("regret", "held_out_divergence_rate"):
            out[f"{stat} vs {other}"] = result["paired"][f"score_minus_{other}"][stat]["hi"] < 0
    return out


def format_table(result: dict[str, Any]) -> str:
    def cell(d: dict[str, float]) -> str:
        return f"{d['mean']:.4g} [{d['lo']:.4g}, {d['hi']:.4g}]"

    head = ["rule", "held-out regret", "held-out diverged", "held-out spikes/run", "P(regret < single)"]
    rows = [[r, cell(d["regret"]), cell(d["held_out_divergence_rate"]), cell(d["held_out_spikes_per_run"]),
             cell(d["p_regret_below_single"])] for r, d in result["rules"].items()]
    rows += [[f"score - {k.removeprefix('score_minus_')}", cell(d["regret"]), cell(d["held_out_divergence_rate"]),
              "", ""] for k, d in result["paired"].items()]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    rule = ["-" * w for w in widths]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, rule, *rows]]
    lines.append("score wins: " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in wins(result).items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from tune_sched.analysis.score import ScoreSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="fno2d", choices=sorted(TASKS))
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=13)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--select", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="the task's budget by default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--cache", type=Path, default=Path(".bench_cache/decision"))
    parser.add_argument("--json", type=Path, default=None)
    for name in ("spread-weight", "divergence-penalty", "spike-weight"):
        parser.add_argument(f"--{name}", type=float, default=None, help="override ScoreSettings' default")
    args = parser.parse_args(argv)
    n_max = len(TASKS[args.task]["lrs"]) * len(TASKS[args.task]["variants"])
    if not 2 <= args.configs <= n_max:
        parser.error(f"--configs must be in [2, {n_max}] for {args.task}, but got {args.configs}")
    if not 1 <= args.select < args.seeds:
        parser.error(f"--select must be in [1, --seeds), but got {args.select} with --seeds {args.seeds}")
    overrides = {k: getattr(args, k) for k in ("spread_weight", "divergence_penalty", "spike_weight")
                 if getattr(args, k) is not None}
    weights = asdict(replace(ScoreSettings(), **overrides))

    start = time.perf_counter()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = build_pool(args.task, args.configs, seeds, args.epochs, args.cache, args.workers)
    trained = time.perf_counter()
    result = evaluate(runs, splits=args.splits, select=args.select, weights=weights, n_boot=args.boot)
    done = time.perf_counter()
    result.update({
        "task": args.task, "configs": args.configs, "seeds": seeds, "splits": args.splits, "select": args.select,
        "epochs": args.epochs or TASKS[args.task]["epochs"], "weights": weights, "wins": wins(result),
        "runs_diverged": int(runs["status"].isin(["diverged", "failed"]).sum()), "runs": len(runs),
        "pool_s": round(trained - start, 1), "statistics_s": round(done - trained, 1),
    })
    print(f"\n{args.task}: {args.configs} configs x {args.seeds} seeds ({seeds[0]}-{seeds[-1]}; "
          f"{result['runs_diverged']} of {len(runs)} runs "
          f"diverged), {args.splits} splits of {args.select} selection seeds; weights {weights}")
    print("pool (all seeds; diverged = untrained metric):")
    for p in result["pool"]:
        print(f"  {p['config']:<28} mean {p['mean_value']:.4g}  diverged {p['divergence_rate']:.0%}  "
              f"spikes/run {p['spikes_per_run']:.2f}")
    print()
    print(format_table(result))
    print(f"\npool {result['pool_s']} s, statistics {result['statistics_s']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
