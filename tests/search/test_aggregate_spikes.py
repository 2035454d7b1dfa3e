"""Spikes in the search's seed-aggregated score: the same spike counts and the same score as ``analyze`` ranks by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tune_sched.analysis.score import rank_configs, robust_score
from tune_sched.analysis.spike_table import spike_table
from tune_sched.search.aggregate import SeedAggregate
from tune_sched.train.trial import TrialResult


def _losses(seed: int, spikes: list[int], n: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = (0.8 * np.exp(-t / 40) + 0.2) * (1 + 3 * np.exp(-t / 4)) * np.exp(0.05 * rng.standard_normal(n))
    for at in spikes:
        x[at] *= 8.0
    return x


SEEDS = {0: ([], 0.50, "completed"), 1: ([3, 60], 0.52, "completed"), 2: ([30], 0.47, "pruned"),
         3: ([10, 50, 90], 0.40, "diverged")}


def _steps(losses: dict[int, np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"config_id": "c", "seed": s, "step": np.arange(x.size), "train_loss": x})
                      for s, x in losses.items()], ignore_index=True)


def test_the_aggregate_scores_the_seeds_exactly_as_the_ranking_does(tmp_path):
    losses = {s: _losses(s, spikes) for s, (spikes, _, _) in SEEDS.items()}
    for seed, x in losses.items():  # as the trial saves them
        (tmp_path / f"seed={seed}").mkdir()
        pq.write_table(pa.table({"step": np.arange(x.size), "train_loss": x}), tmp_path / f"seed={seed}" / "steps.parquet")
    agg = SeedAggregate(list(SEEDS), metric="val_loss", mode="min")
    agg.update({s: {"val_loss": best} for s, (_, best, _) in SEEDS.items()})
    agg.finish({s: TrialResult(config_id="c", seed=s, status=status, best_metric=best)
                for s, (_, best, status) in SEEDS.items()})
    agg.read_spikes({s: tmp_path / f"seed={s}" for s in SEEDS})
    assert agg.spikes == {0: 0.0, 1: 2.0, 2: 1.0, 3: 3.0}  # every planted spike, the one at step 3 too

    counts = spike_table(_steps(losses))
    assert counts["spike_count"].tolist() == [0, 2, 1, 3]  # analyze's counts
    per_run = pd.DataFrame({"config_id": "c", "seed": list(SEEDS), "best_metric": [v[1] for v in SEEDS.values()],
                            "status": [v[2] for v in SEEDS.values()]}).merge(counts, on=["config_id", "seed"])
    ranked = rank_configs(per_run, n_boot=20)
    score = agg.report()["score"]
    assert score == ranked["score"].iloc[0]
    assert score > robust_score([0.5, 0.52, 0.47, 0.4], diverged=[False, False, False, True])  # spikes cost
    assert ranked["spike_term"].iloc[0] == pytest.approx(score - robust_score(
        [0.5, 0.52, 0.47, 0.4], diverged=[False, False, False, True]), rel=1e-9)


def test_read_spikes_reads_only_changed_files_and_skips_missing_ones(tmp_path):
    agg = SeedAggregate([0, 1], metric="val_loss", mode="min")
    folder = tmp_path / "seed=0"
    folder.mkdir()
    x = _losses(0, [40])
    pq.write_table(pa.table({"step": np.arange(x.size), "train_loss": x}), folder / "steps.parquet")
    agg.read_spikes({0: folder, 1: tmp_path / "seed=1"})
    assert agg.spikes[0] == 1.0 and np.isnan(agg.spikes[1])
    agg.spikes[0] = 99.0  # unchanged file: not read again
    agg.read_spikes({0: folder})
    assert agg.spikes[0] == 99.0
    y = _losses(0, [40, 80])
    pq.write_table(pa.table({"step": np.arange(y.size), "train_loss": y}), folder / "steps.parquet")
    agg.read_spikes({0: folder})
    assert agg.spikes[0] == 2.0


def test_a_real_search_trial_and_analyze_give_every_config_the_same_score(tmp_path):
    """Two configs on the tiny task, 3 seeds, 3 epochs, run as the search runs a trial; then ``analyze``."""
    from tune_sched.analysis.experiment_analysis import analyze_experiment
    from tune_sched.results.experiment import create_experiment, gather_experiment
    from tests.search.experiments import train_configs
    from tune_sched.search.config_runner import SearchContext
    from tune_sched.search.summary import top_configs_text

    base = {"task": "tiny", "trainer": {"max_epochs": 3, "batch_size": 8}}
    configs = {
        "steady": {**base, "optimizer": {"name": "Adam", "lr": 0.01}},
        "spiky": {**base, "optimizer": {"name": "Adam", "lr": 0.01},  # the LR raised tenfold after epoch 0
                  "lr_scheduler": {"name": "MultiStepLR", "milestones": [1], "gamma": 10.0}},
    }
    exp = create_experiment(tmp_path / "exp", space_source={"task": "tiny"}, metric="val_loss", mode="min",
                            seeds=[0, 1, 2])
    ctx = SearchContext(experiment_dir=str(exp), seeds=(0, 1, 2), metric="val_loss", mode="min", threads=1)
    final, spikes = train_configs(ctx, configs)
    assert sum(spikes["spiky"].values()) > 0 and sum(spikes["steady"].values()) == 0

    analysis = analyze_experiment(exp, n_boot=20)
    ranking = analysis.ranking.set_index("config_id")
    assert ranking.loc["spiky", "spike_term"] > 0 and ranking.loc["steady", "spike_term"] == 0
    for config_id, score in final.items():
        assert ranking.loc[config_id, "score"] == pytest.approx(score, rel=1e-12)
        runs = analysis.runs[analysis.runs["config_id"] == config_id]
        assert dict(zip(runs["seed"], runs["spike_count"].astype(float))) == spikes[config_id]
    tables = gather_experiment(exp)
    text = top_configs_text(tables["trials"], mode="min", metric="val_loss", steps=tables["steps"])
    order = [line.split()[1] for line in text.splitlines()[2:4]]
    assert order == analysis.ranking["config_id"].tolist()
