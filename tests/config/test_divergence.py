"""The divergence rule as a pure function, on epoch curves measured with the built-in tasks (Adam, 8 epochs,
default sizes; train loss as multiples of the untrained loss), and its settings' validation."""

from __future__ import annotations

import math

import pytest

from tune_sched.config.divergence import DivergenceRule, judge_divergence
from tune_sched.config.run_config import RunConfig

# Epoch-mean train loss and val_loss per epoch, and the untrained train loss (the first step's), as measured by
# scripts in docs/analysis.md ("The divergence rule"): `tune-sched run` of each config, seed as named.
CURVES = {
    "fno2d lr 0.15 seed 0": dict(untrained=1.01, expect=("blew_up", 3),
                                 loss=[841, 30.3, 2110, 467, 176, 120, 19.5, 6.66],
                                 val=[0.62, 12.1, 904, 11.4, 19.3, 37, 12.6, 1.36]),
    "fno2d lr 0.15 seed 1": dict(untrained=1.0, expect=("blew_up", 1),
                                 loss=[456, 4020, 1.05e6, 395, 182, 87.3, 75.1, 57.6],
                                 val=[72.8, 2230, 1030, 405, 120, 43.1, 51.3, 47]),
    "fno2d lr 0.15 seed 2": dict(untrained=1.05, expect=("blew_up", 1),
                                 loss=[1260, 148, 104, 2.56, 1.96, 1.69, 1.02, 0.774],
                                 val=[15.5, 4.92, 1.28, 1.24, 1.96, 1.26, 0.811, 0.75]),
    "fno2d lr 0.3 seed 2": dict(untrained=1.05, expect=("blew_up", 1),
                                loss=[2.4e5, 1830, 2.61e5, 9250, 2120, 638, 441, 165],
                                val=[245, 348, 6180, 7080, 9.15, 789, 41.1, 1.6]),
    "fno2d lr 0.6 seed 2": dict(untrained=1.05, expect=("blew_up", 1),
                                loss=[2.21e10, 5.53e8, 2.18e9, 1.93e4, 629, 62, 3.67, 3.58],
                                val=[2.87e7, 9.07e9, 1.4e5, 1480, 357, 3.74, 3.61, 3.56]),
    "fno2d lr 0.1 seed 0 (edge: spikes, recovers)": dict(untrained=1.01, expect=("", None),
                                                         loss=[7.01, 4.92, 1.01, 0.488, 0.256, 0.231, 1.07, 1.24],
                                                         val=[0.619, 1.1, 0.908, 0.334, 0.384, 0.221, 1.93, 1.15]),
    "fno2d lr 0.1 seed 1 (edge)": dict(untrained=1.0, expect=("", None),
                                       loss=[4.31, 5.52, 1.23, 0.625, 0.367, 0.153, 0.0974, 0.071],
                                       val=[3.16, 1.09, 0.895, 0.48, 0.145, 0.12, 0.0815, 0.0624]),
    "fno2d lr 0.01 seed 0": dict(untrained=1.01, expect=("", None),
                                 loss=[0.863, 0.192, 0.109, 0.0737, 0.0505, 0.0311, 0.0172, 0.00873],
                                 val=[0.238, 0.153, 0.0769, 0.0646, 0.0431, 0.0244, 0.0113, 0.00734]),
    "tiny lr 0.3 seed 2 (early spike, recovers)": dict(untrained=1.25, expect=("", None),
                                                       loss=[88.2, 29.5, 13.2, 4.18, 2.19, 1.83, 1.25, 0.829],
                                                       val=[13.8, 33.1, 4.84, 3.35, 2.52, 1.45, 1.03, 0.743]),
    "tiny lr 1.0 seed 1": dict(untrained=1.51, expect=("blew_up", 1),
                               loss=[2120, 477, 1260, 484, 207, 107, 43.3, 18.2],
                               val=[638, 785, 598, 199, 58, 20.9, 36.9, 20.4]),
    "tiny lr 0.001 seed 2 (slow, steady)": dict(untrained=1.25, expect=("", None),
                                                loss=[1.21, 1.08, 0.947, 0.83, 0.723, 0.623, 0.531, 0.446],
                                                val=[1.13, 1.0, 0.88, 0.767, 0.663, 0.568, 0.479, 0.398]),
}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_the_measured_curves_get_the_expected_verdict(name):
    curve = CURVES[name]
    verdict = judge_divergence(curve["loss"], curve["val"], untrained_loss=curve["untrained"], finished=True)
    assert (verdict.kind, verdict.epoch) == curve["expect"]


def test_a_blow_up_is_judged_once_it_lasted_patience_epochs_and_not_before():
    losses = [841.0, 30.3, 2110.0, 467.0, 176.0]  # fno2d lr 0.15 seed 0 (untrained 1.01): back under 100x, then up
    assert not judge_divergence(losses[:2], [None, None], untrained_loss=1.01).diverged
    assert not judge_divergence(losses[:3], [None] * 3, untrained_loss=1.01).diverged
    verdict = judge_divergence(losses[:4], [None] * 4, untrained_loss=1.01)
    assert (verdict.kind, verdict.epoch) == ("blew_up", 3)
    assert verdict.reason == ("train loss stayed above 100x its untrained level (1.01) for 2 epochs (epochs 3-4, "
                              "peak 2110)")


def test_a_blow_up_that_lasts_to_the_end_counts_whatever_its_length():
    assert not judge_divergence([0.5, 500.0], [0.4, 300.0], untrained_loss=1.0).diverged
    verdict = judge_divergence([0.5, 500.0], [0.4, 300.0], untrained_loss=1.0, finished=True)
    assert (verdict.kind, verdict.epoch) == ("blew_up", 1)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_metric_that_is_not_finite_in_one_epoch_diverges_there_even_if_finite_later(bad):
    verdict = judge_divergence([0.9, 0.6, 0.4], [0.8, bad, 0.3], untrained_loss=1.0, metric="val_loss")
    assert (verdict.diverged, verdict.kind, verdict.epoch) == (True, "non_finite", 1)
    assert verdict.reason == f"val_loss became {bad} in epoch 2"  # a reason counts epochs from 1


def test_a_train_loss_that_is_not_finite_diverges():
    assert judge_divergence([0.9, math.nan], [0.8, 0.7], untrained_loss=1.0).kind == "non_finite"


def test_never_learned_is_judged_only_at_the_end_and_follows_the_mode():
    stuck = judge_divergence([1.0, 1.0], [1.0, 0.995], untrained_loss=1.0, untrained_metric=1.0)
    assert not stuck.diverged  # it may still learn
    stuck = judge_divergence([1.0, 1.0], [1.0, 0.995], untrained_loss=1.0, untrained_metric=1.0, finished=True)
    assert stuck.kind == "never_learned"
    assert stuck.reason == "never learned: its best val_loss 0.995 is not 1% better than the untrained model's 1"
    learned = judge_divergence([1.0, 1.0], [1.0, 0.98], untrained_loss=1.0, untrained_metric=1.0, finished=True)
    assert not learned.diverged
    acc = dict(untrained_loss=1.0, untrained_metric=0.10, mode="max", metric="val_acc", finished=True)
    assert judge_divergence([1.0], [0.1005], **acc).kind == "never_learned"
    assert not judge_divergence([1.0], [0.2], **acc).diverged
    off = DivergenceRule(min_improvement=None)
    assert not judge_divergence([1.0], [1.0], untrained_loss=1.0, untrained_metric=1.0, rule=off,
                                finished=True).diverged


@pytest.mark.parametrize("untrained", [math.nan, 0.0, -2.0])
def test_no_blow_up_is_judged_without_a_positive_untrained_loss(untrained):
    assert not judge_divergence([1e9, 1e9, 1e9], [1.0] * 3, untrained_loss=untrained, finished=True).diverged


def test_no_epochs_is_not_diverged():
    assert not judge_divergence([], [], untrained_loss=1.0, untrained_metric=1.0, finished=True).diverged


def test_the_settings_round_trip_through_a_run_config():
    config = RunConfig.from_dict({"trainer": {"divergence": {"blowup_factor": 20, "patience": 1,
                                                             "min_improvement": None}}})
    assert config.trainer.divergence == DivergenceRule(20.0, 1, None)
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_dict({}).trainer.divergence == DivergenceRule(100.0, 2, 0.01)


@pytest.mark.parametrize("block,path,message", [
    ({"blowup_factor": 1}, "blowup_factor", "must be a number greater than 1, but got 1.0"),
    ({"blowup_factor": "big"}, "blowup_factor", "must be a"),
    ({"patience": 0}, "patience", "must be at least 1, but got 0"),
    ({"min_improvement": 1.5}, "min_improvement", r"must be a fraction in \[0, 1\) or null, but got 1.5"),
    ({"patiense": 2}, "patiense", "unknown divergence setting 'patiense' \\(did you mean 'patience'\\?\\)"),
])
def test_bad_settings_name_the_key_path(block, path, message):
    with pytest.raises(ValueError, match=f"^trainer.divergence.{path}: {message}"):
        RunConfig.from_dict({"trainer": {"divergence": block}})
