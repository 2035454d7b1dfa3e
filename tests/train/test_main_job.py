"""The README's main job (search_spaces/plateau.yaml) can answer its question: its plateau arm acts.

A ReduceLROnPlateau that never lowers the LR is a constant LR under another name, and a study comparing the two
then compares a constant LR with itself. The space's plateau settings must lower the LR before the pruner's first
cut, on the learning rates where spikes are at stake.
"""

from __future__ import annotations

import pytest
from tests.train.trial_configs import ROOT

from tune_sched import load_search_space
from tune_sched.train.trial import run_trial


@pytest.mark.slow
@pytest.mark.parametrize("lr", [0.035, 0.09])
def test_the_plateau_arm_lowers_the_lr_before_the_first_cut(lr):
    space = load_search_space(ROOT / "search_spaces" / "plateau.yaml")
    grace = space.settings.pruner.grace_period
    arms = {(c["optimizer"]["lr"], (c.get("lr_scheduler") or {}).get("name", "constant")): c for c in space.grid()}
    assert set(arms) == {(x, arm) for x in (0.02, 0.035, 0.06, 0.09, 0.12) for arm in ("constant", "ReduceLROnPlateau")}
    config = arms[lr, "ReduceLROnPlateau"]
    config = {**config, "trainer": {**config["trainer"], "max_epochs": grace}}
    result = run_trial(config, seed=0, num_threads=1)
    assert result.status == "completed" and result.epochs_run == grace
    assert result.lr_changed is True
