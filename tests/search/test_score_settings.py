"""A space's ``score:`` and ``spikes:`` blocks: validated, stored in the manifest, and used by the search's seed
aggregate, its final table, ``analyze`` and ``export`` alike (real training of the ``tiny`` task)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from tests.search.experiments import train_configs
from tune_sched.analysis.experiment_analysis import analyze_experiment
from tune_sched.analysis.export import export_config
from tune_sched.analysis.score import ScoreSettings, rank_configs
from tune_sched.config.space import SearchSpace
from tune_sched.core.errors import UsageError
from tune_sched.results.experiment import create_experiment, gather_experiment, read_manifest
from tune_sched.search.config_runner import SearchContext
from tune_sched.search.summary import top_configs_text

BASE = {"task": "tiny", "trainer": {"max_epochs": 3, "batch_size": 8}}
CONFIGS = {
    "steady": {**BASE, "optimizer": {"name": "Adam", "lr": 0.01}},
    "spiky": {**BASE, "optimizer": {"name": "Adam", "lr": 0.01},
              "lr_scheduler": {"name": "MultiStepLR", "milestones": [1], "gamma": 10.0}},
    "slow": {**BASE, "optimizer": {"name": "SGD", "lr": 0.01}},
}
SPACE = {"task": "tiny", "seeds": [0, 1, 2],
         "optimizer": {"name": "Adam", "lr": {"min": 1e-3, "max": 1e-1, "log": True}},
         "score": {"spread_weight": 2.0, "spike_weight": 0.5},
         "spikes": {"rule": "zscore", "k": 3, "window": 16}}


def test_the_blocks_are_validated_and_written_out_in_full():
    space = SearchSpace.from_dict(SPACE)
    assert space.score == ScoreSettings(spread_weight=2.0, divergence_penalty=3.0, spike_weight=0.5)
    assert space.judging() == {
        "score": {"spread_weight": 2.0, "divergence_penalty": 3.0, "spike_weight": 0.5},
        "spikes": {"rule": "zscore", "window": 16, "k": 3.0, "ema_alpha": 0.3, "recovery_tol": 0.1},
    }
    default = SearchSpace.from_dict({"task": "tiny"}).judging()
    assert default["score"] == asdict(ScoreSettings()) and default["spikes"]["rule"] == "robust"
    with pytest.raises(UsageError, match=r"^spikes.window: must be at least 4, but got 2"):
        SearchSpace.from_dict({**SPACE, "spikes": {"window": 2}})


def test_search_analyze_and_export_use_the_spaces_settings(tmp_path):
    space = SearchSpace.from_dict(SPACE)
    exp = create_experiment(tmp_path / "exp", space_source=space.source, metric="val_loss", mode="min",
                            seeds=list(space.seeds), settings=space.judging())
    assert read_manifest(exp)["settings"] == space.judging()
    ctx = SearchContext(experiment_dir=str(exp), seeds=space.seeds, metric="val_loss", mode="min", threads=1,
                        **space.judging())
    final, spikes = train_configs(ctx, CONFIGS)

    analysis = analyze_experiment(exp)
    assert analysis.score == space.score and analysis.spikes == space.spikes
    ranking = analysis.ranking.set_index("config_id")
    for config_id, score in final.items():
        assert ranking.loc[config_id, "score"] == pytest.approx(score, rel=1e-12)
        runs = analysis.runs[analysis.runs["config_id"] == config_id]
        assert dict(zip(runs["seed"], runs["spike_count"].astype(float))) == spikes[config_id]
    # the settings change the numbers: the defaults would score these seeds differently
    default = rank_configs(analysis.runs, mode="min").set_index("config_id")
    assert not any(default.loc[c, "score"] == pytest.approx(final[c], rel=1e-9) for c in final)

    tables = gather_experiment(exp)
    text = top_configs_text(tables["trials"], mode="min", metric="val_loss", steps=tables["steps"],
                            **space.judging())
    assert [line.split()[1] for line in text.splitlines()[2:5]] == analysis.ranking["config_id"].tolist()
    best = analysis.ranking.iloc[0]
    export_config(exp, tmp_path / "best.yaml", rank=1)
    assert f"# config_id: {best['config_id']}, rank 1 of 3 by robust score {best['score']:.4g}" in (
        tmp_path / "best.yaml").read_text()
