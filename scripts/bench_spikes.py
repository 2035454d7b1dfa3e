"""Benchmark: how well spike detection finds planted spikes, how often it flags clean curves, and how fast it is.

Makes seeded synthetic training-loss curves and runs them through ``spike_analysis`` (the whole-table path that
``analyze`` takes: one long steps table, every run at once), then prints:

- long series (2,000 steps) and short series (60-400 steps): recall of planted spikes and false episodes per
  clean curve (curves without planted spikes), and on curves with spikes the episodes that match no planted spike;
- for the short series, recall of the spikes planted in the first 40 steps on their own;
- the time to analyse a table of 10 million step rows (2,000 runs x 5,000 steps), median of ``--repeats``.

Curves: ``(a * exp(-t / tau) + floor)`` from about 1, times multiplicative log-normal noise (standard deviation
0.02-0.25 in log units, slightly autocorrelated), half of them with an extra fast fall over the first 2-15 steps
(the loss starting 2-5 times higher). Spikes: heights 5-50 times the curve (log-uniform), planted anywhere from
step 3 on, decaying back over a few steps (each step keeps 30-60 % of the excess). A planted spike counts as found
when an episode starts at most two steps after it and has not ended before it.

Usage:
    python scripts/bench_spikes.py [--curves 2000] [--repeats 3] [--rows 10000000] [--json out.json] [rule settings]

Rule settings (as for ``detect_spikes``), e.g. ``--rule zscore --k 6``; the default is the default rule.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

EARLY = 40  # "spikes in the first 40 steps"


@dataclass(frozen=True)
class Curve:
    values: np.ndarray
    planted: tuple[int, ...]


def make_curve(rng: np.random.Generator, n: int, n_spikes: int) -> Curve:
    """One synthetic loss curve of ``n`` steps with ``n_spikes`` planted spikes (at least 3 steps from the start)."""
    t = np.arange(n)
    level = rng.uniform(0.5, 1.2) * np.exp(-t / rng.uniform(n / 10, n / 2)) + rng.uniform(0.05, 0.4)
    if rng.random() < 0.5:  # a fast initial fall: the loss starts 2-5 times higher and drops within a few steps
        level *= 1.0 + rng.uniform(1.0, 4.0) * np.exp(-t / rng.uniform(2.0, 15.0))
    sigma, rho = rng.uniform(0.02, 0.25), rng.uniform(0.0, 0.3)
    shocks = rng.standard_normal(n)
    noise = np.empty(n)
    noise[0] = shocks[0]
    for i in range(1, n):
        noise[i] = rho * noise[i - 1] + np.sqrt(1 - rho * rho) * shocks[i]
    x = level * np.exp(sigma * noise)
    planted: list[int] = []
    gap = max(12, n // 20)
    for _ in range(200):
        if len(planted) == n_spikes:
            break
        at = int(rng.integers(3, n - 2))
        if all(abs(at - p) >= gap for p in planted):
            planted.append(at)
    for at in planted:
        height, keep = np.exp(rng.uniform(np.log(5.0), np.log(50.0))), rng.uniform(0.3, 0.6)
        excess = (height - 1.0) * keep ** np.arange(n - at)
        x[at:] *= 1.0 + np.where(excess > 0.02, excess, 0.0)
    return Curve(x, tuple(sorted(planted)))


def make_set(rng: np.random.Generator, count: int, lengths: tuple[int, int], max_spikes: int) -> list[Curve]:
    """Half clean curves, half with 1..max_spikes planted spikes; lengths uniform in ``lengths`` (inclusive)."""
    return [make_curve(rng, int(rng.integers(lengths[0], lengths[1] + 1)),
                       0 if i % 2 == 0 else int(rng.integers(1, max_spikes + 1))) for i in range(count)]


def steps_frame(curves: list[Curve]) -> pd.DataFrame:
    """The curves as one steps table, like an experiment's (config_id, seed, step, train_loss)."""
    lengths = np.array([c.values.size for c in curves])
    run = np.repeat(np.arange(len(curves)), lengths)
    return pd.DataFrame({
        "config_id": pd.Categorical([f"c{r // 4:05d}" for r in range(len(curves))])[run],
        "seed": run % 4,
        "step": np.concatenate([np.arange(n) for n in lengths]),
        "train_loss": np.concatenate([c.values for c in curves]),
    })


def quality(curves: list[Curve], rule: dict[str, Any]) -> dict[str, float]:
    """Recall, false episodes per clean curve, unmatched episodes per spiky curve, and early recall."""
    from tune_sched.analysis.spike_table import spike_episodes

    episodes = spike_episodes(steps_frame(curves), **rule)
    run = episodes["config_id"].str[1:].astype(int).to_numpy() * 4 + episodes["seed"].to_numpy()
    by_run: dict[int, list[tuple[int, int]]] = {}
    for r, start, end in zip(run, episodes["start"], episodes["end"]):
        by_run.setdefault(int(r), []).append((int(start), int(end)))
    found = early_found = early = planted = false_clean = unmatched = clean = 0
    for r, curve in enumerate(curves):
        eps = by_run.get(r, [])
        if not curve.planted:
            clean += 1
            false_clean += len(eps)
            continue
        hit = [any(start <= p + 2 and end > p for start, end in eps) for p in curve.planted]
        matched = sum(any(start <= p + 2 and end > p for p in curve.planted) for start, end in eps)
        unmatched += len(eps) - matched
        planted += len(hit)
        found += sum(hit)
        early += sum(p < EARLY for p in curve.planted)
        early_found += sum(h for h, p in zip(hit, curve.planted) if p < EARLY)
    spiky = len(curves) - clean
    return {
        "curves": len(curves), "planted": planted, "recall": found / planted,
        "false_per_clean_curve": false_clean / clean, "unmatched_per_spiky_curve": unmatched / spiky,
        "early_planted": early, "early_recall": early_found / early if early else float("nan"),
    }


def timing(rows: int, repeats: int, rule: dict[str, Any], seed: int) -> dict[str, Any]:
    """Seconds for ``spike_analysis`` of a steps table of ``rows`` rows (runs of 5,000 steps), as ``analyze``
    calls it (a pandas frame read from Parquet, keys config_id and seed)."""
    from tune_sched.analysis.spike_table import spike_analysis

    steps, runs = 5000, max(1, rows // 5000)
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    level = rng.uniform(0.5, 1.2, (runs, 1)) * np.exp(-t / rng.uniform(500, 2500, (runs, 1))) + 0.1
    loss = level * np.exp(rng.uniform(0.02, 0.25, (runs, 1)) * rng.standard_normal((runs, steps)))
    at = rng.integers(3, steps, (runs, 3))
    np.put_along_axis(loss, at, np.take_along_axis(loss, at, axis=1) * 10.0, axis=1)
    run = np.repeat(np.arange(runs), steps)
    frame = pd.DataFrame({
        "config_id": pd.Categorical.from_codes(run // 4, [f"c{i:05d}" for i in range(-(-runs // 4))]),
        "seed": run % 4, "step": np.tile(t, runs), "train_loss": loss.ravel(),
    })
    seconds = []
    for _ in range(repeats):
        begin = time.perf_counter()
        spike_analysis(frame, by=("config_id", "seed"), value="train_loss", step="step", **rule)
        seconds.append(time.perf_counter() - begin)
    return {"rows": runs * steps, "runs": runs, "seconds": seconds, "median_s": statistics.median(seconds)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curves", type=int, default=2000, help="curves per set (long and short)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="step rows for the timing (0: skip it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--rule")
    for name in ("window",):
        parser.add_argument(f"--{name}", type=int)
    for name in ("k", "threshold", "min_ratio", "ema_alpha", "recovery_tol"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float)
    args = parser.parse_args(argv)
    rule = {k: getattr(args, k) for k in ("rule", "window", "k", "threshold", "min_ratio", "ema_alpha",
                                          "recovery_tol") if getattr(args, k) is not None}
    from tune_sched.analysis.spike_rules import make_rule

    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {"rule": {k: v for k, v in asdict(make_rule(**rule)).items()}}
    out["long"] = quality(make_set(rng, args.curves, (2000, 2000), 3), rule)
    out["short"] = quality(make_set(rng, args.curves, (60, 400), 2), rule)
    if args.rows:
        out["timing"] = timing(args.rows, args.repeats, rule, args.seed)
    print(f"rule: {out['rule']}")
    for name in ("long", "short"):
        q = out[name]
        line = (f"{name:>5}: {q['curves']} curves, {q['planted']} planted spikes; recall {q['recall']:.3f}; "
                f"false episodes per clean curve {q['false_per_clean_curve']:.3f}; unmatched episodes per spiky "
                f"curve {q['unmatched_per_spiky_curve']:.3f}")
        if name == "short":
            line += f"; recall in the first {EARLY} steps {q['early_recall']:.3f} ({q['early_planted']} spikes)"
        print(line)
    if args.rows:
        tm = out["timing"]
        print(f"timing: {tm['rows']:,} step rows ({tm['runs']} runs) analysed in "
              f"{' / '.join(f'{s:.2f}' for s in tm['seconds'])} s (median {tm['median_s']:.2f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
