"""A config's diverged seed in a search: the seed-aggregated score counts it the round it diverges, the other seeds
train on, and the final table says how much training stopping it saved (the tiny task, real training)."""

from __future__ import annotations

import pandas as pd

from tune_sched.results.experiment import trial_rows
from tune_sched.search.config_runner import ConfigRunner, SearchContext
from tune_sched.search.summary import diverged_savings, top_configs_text

# seed 2 at lr 0.3: epoch-mean train loss 71x and 24x its untrained loss in epochs 0-1; seeds 0 and 1 stay under 15x
CONFIG = {"task": "tiny", "optimizer": {"name": "Adam", "lr": 0.3},
          "trainer": {"max_epochs": 8, "divergence": {"blowup_factor": 20}}}


def test_a_diverged_seed_counts_at_once_and_the_summary_shows_the_time_saved(tmp_path):
    ctx = SearchContext(experiment_dir=str(tmp_path), seeds=(0, 1, 2), metric="val_loss", mode="min")
    runner = ConfigRunner(ctx, {"run_config": CONFIG}, "c0")
    reports = [runner.step()]
    while not reports[-1].get("done"):
        reports.append(runner.step())
    runner.finish()
    assert [r["diverged_seeds"] for r in reports] == [0.0] + [1.0] * 8  # 8 epochs, then the seeds end
    assert reports[1]["seeds_diverged"] == 1.0 and reports[-1]["seeds_completed"] == 2.0

    trials = pd.DataFrame(trial_rows(tmp_path))
    seeds, epochs, seconds = diverged_savings(trials)
    assert (seeds, epochs) == (1, 6) and seconds > 0
    text = top_configs_text(trials, mode="min", metric="val_loss")
    assert "33%" in text  # the ranking's divergence rate: 1 of 3 seeds
    assert text.splitlines()[-1].startswith("1 diverged seed(s) stopped early, 6 epoch(s) not trained: about ")
