"""Benchmark: spike statistics for a whole steps table, ``spike_table`` against a plain pandas groupby-rolling.

Generates a steps table (default 2,000 runs x 5,000 steps = 10 million rows; decaying noisy losses with planted
spikes, and some runs that turn NaN) as Parquet in a temporary directory, then times, in the same process:

(a) ``tune_sched.analysis.spike_table(path)``: reads the four columns it needs and computes every run's episodes and
    statistics (z-score rule, W = 128, k = 6);
(b) a straightforward pandas implementation of the same z-score flags (read, sort, groupby-shift, groupby-rolling
    mean and std, compare, count per run). It only flags spikes (no episodes, EMA or recovery), so it does less.
    With ``--baseline-runs`` below ``--runs`` it runs on that many runs and its time is scaled up linearly.

Prints both medians and their ratio, checks that (a) and (b) agree on which runs have a spike, and writes JSON
with ``--json PATH``.

Usage:
    python scripts/bench_analysis.py [--runs 2000] [--steps 5000] [--repeats 3] [--baseline-runs 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

WINDOW, K = 128, 6.0
SEEDS_PER_CONFIG = 5


def make_steps_table(runs: int, steps: int, *, seed: int = 0, nan_fraction: float = 0.02) -> pa.Table:
    """A steps table like the trial runner's: decaying noisy losses, 3 planted spikes per run, some NaN tails."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    scale = rng.uniform(1.0, 3.0, (runs, 1))
    tau = rng.uniform(steps / 10, steps / 3, (runs, 1))
    floor = rng.uniform(0.05, 0.5, (runs, 1))
    loss = (scale * np.exp(-t / tau) + floor) * (1.0 + 0.02 * rng.standard_normal((runs, steps)))
    for _ in range(3):
        at = rng.integers(steps // 10, steps, runs)
        height = rng.uniform(3.0, 10.0, runs)
        for lag in range(5):  # a spike decaying over five steps
            cols = np.minimum(at + lag, steps - 1)
            loss[np.arange(runs), cols] *= 1.0 + (height - 1.0) * 0.5**lag
    diverging = rng.random(runs) < nan_fraction
    start = rng.integers(steps // 2, steps, runs)
    loss[diverging[:, None] & (t >= start[:, None])] = np.nan

    run = np.repeat(np.arange(runs), steps)
    names = np.array([f"cfg{i:05d}" for i in range(-(-runs // SEEDS_PER_CONFIG))])
    return pa.table({
        "config_id": pa.array(names[run // SEEDS_PER_CONFIG]),
        "seed": pa.array(run % SEEDS_PER_CONFIG, pa.int64()),
        "step": pa.array(np.tile(t, runs), pa.int64()),
        "epoch": pa.array(np.tile(t // 100, runs), pa.int64()),
        "train_loss": pa.array(loss.ravel()),
        "lr": pa.array(np.tile(1e-3 * np.ones(steps), runs)),
        "grad_norm": pa.array(rng.random(runs * steps)),
    })


def ours(path: Path) -> pd.DataFrame:
    """(a): the vectorised whole-table analysis."""
    from tune_sched.analysis.spike_table import spike_table

    return spike_table(path, window=WINDOW, k=K)


def pandas_baseline(path: Path, configs: int) -> pd.Series:
    """(b): the z-score flags with pandas groupby-rolling; spike points per run, for the first ``configs`` configs."""
    by = ["config_id", "seed"]
    names = [f"cfg{i:05d}" for i in range(configs)]
    df = pd.read_parquet(path, columns=[*by, "step", "train_loss"], filters=[("config_id", "in", names)])
    df = df.sort_values([*by, "step"], ignore_index=True)
    loss = df["train_loss"].where(np.isfinite(df["train_loss"]))
    groups = [df["config_id"], df["seed"]]
    n = loss.groupby(groups).transform("size")
    window = int(min(WINDOW, max(8, int(n.iloc[0]) // 4)))  # every run has the same length here
    previous = loss.groupby(groups).shift(1)
    rolling = previous.groupby(groups).rolling(window, min_periods=window // 2)
    mean = rolling.mean().reset_index(level=[0, 1], drop=True).sort_index()
    std = rolling.std().reset_index(level=[0, 1], drop=True).sort_index()
    spread = np.maximum(std, 1e-6 * mean.abs())
    flags = loss > mean + K * spread
    return flags.groupby(groups).sum()


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=None, help="runs for (b); default all of them")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if "torch" in sys.modules:  # the analysis never imports torch; pin its threads if something else did
        sys.modules["torch"].set_num_threads(1)

    configs = -(-min(args.baseline_runs or args.runs, args.runs) // SEEDS_PER_CONFIG)
    base_runs = min(configs * SEEDS_PER_CONFIG, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "steps.parquet"
        start = time.perf_counter()
        pq.write_table(make_steps_table(args.runs, args.steps), path)
        generate_s = time.perf_counter() - start
        ours_s, table = timed(lambda: ours(path), args.repeats)
        base_s, flagged = timed(lambda: pandas_baseline(path, configs), args.repeats)

    scaled_base_s = base_s * args.runs / base_runs
    subset = table.head(base_runs).set_index(["config_id", "seed"])["spike_count"] > 0
    agree = float(((flagged.reindex(subset.index) > 0) == subset).mean())
    result = {
        "runs": args.runs,
        "steps": args.steps,
        "rows": args.runs * args.steps,
        "repeats": args.repeats,
        "generate_s": round(generate_s, 3),
        "spike_table_median_s": round(ours_s, 3),
        "pandas_baseline_median_s": round(scaled_base_s, 3),
        "pandas_baseline_runs": base_runs,
        "pandas_baseline_extrapolated": base_runs < args.runs,
        "speedup": round(scaled_base_s / ours_s, 2),
        "runs_with_spikes": int((table["spike_count"] > 0).sum()),
        "episodes": int(table["spike_count"].sum()),
        "diverged_runs": int(table["diverged"].sum()),
        "agreement_on_spiky_runs": agree,
    }
    note = f" (measured on {base_runs} runs, scaled x{args.runs / base_runs:.2f})" if base_runs < args.runs else ""
    print(f"{result['rows']:,} rows ({args.runs} runs x {args.steps} steps), median of {args.repeats}:")
    print(f"  (a) spike_table            {ours_s:8.3f} s  (episodes, recovery, per-run statistics)")
    print(f"  (b) pandas groupby-rolling {scaled_base_s:8.3f} s{note}  (spike flags only)")
    print(f"  ratio (b)/(a): {result['speedup']}x; runs flagged alike: {agree:.1%}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
