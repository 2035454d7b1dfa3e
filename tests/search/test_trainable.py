"""ConfigTrainable outside Ray Tune (Tune calls the same methods on its worker): the seeds start at the first step,
a stop prunes every seed at the same epoch, and finished seeds are never trained again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tune_sched.search.trainable import ConfigTrainable, SearchContext

CONFIG = {"run_config": {"task": "tiny", "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
                         "trainer": {"max_epochs": 2, "batch_size": 4}}}


def trainable(experiment: Path) -> ConfigTrainable:
    """A trainable as Tune builds it (``tune.with_parameters`` passes ``ctx`` to ``setup``); trial id 'default'."""
    ctx = SearchContext(experiment_dir=str(experiment), seeds=(0, 1), metric="val_loss", mode="min")

    class Trainable(ConfigTrainable):
        def setup(self, config: dict[str, Any]) -> None:  # type: ignore[override]
            super().setup(config, ctx=ctx)

    return Trainable(config=CONFIG)


def results(experiment: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(experiment.glob("trials/*/seed=*/result.json"))}


def test_a_copy_stopped_before_its_first_step_touches_no_seed(tmp_path):
    # Tune may set a trial up on a new worker, then give it to a reused worker and stop the first copy.
    trainable(tmp_path).stop()
    assert [p.name for p in (tmp_path / "trials" / "default").iterdir()] == ["config.yaml"]


@pytest.mark.slow
def test_stop_prunes_every_seed_and_a_finished_config_is_not_trained_again(tmp_path):
    first = trainable(tmp_path)
    report = first.train()
    assert report["training_iteration"] == 1 and "all_seeds_finished" not in report
    first.stop()  # the pruner's STOP
    pruned = results(tmp_path)
    assert [(r["status"], r["epochs_run"]) for r in pruned.values()] == [("pruned", 1), ("pruned", 1)]

    again = trainable(tmp_path)  # a resumed search restarting the same config
    report = again.train()
    assert report["all_seeds_finished"] == 1 and report["done"] and report["seeds_pruned"] == 2
    again.stop()
    assert results(tmp_path) == pruned
