"""LossScheduler: hand-computed weight trajectories for scripted metric sequences, the weight rules, state."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tune_sched.core.errors import UsageError
from tune_sched.losses import LossScheduler
from tune_sched.losses.weight_rules import adaptive_step, move_toward, ramp_fraction, settle, within

# Target weights after each adaptation with the defaults ((1, 0) -> (0.3, 0.7), transition_step 0.1, min 0.05):
# step_n = max(0.1 * (1 - w_t / 0.7), 0.05), by hand:
#   0 + 0.1                                  = 0.1
#   0.1 + 0.1 * (1 - 0.1 / 0.7)              = 0.1857142857
#   0.1857142857 + 0.1 * (1 - 0.26530612)    = 0.2591836735
#   0.2591836735 + 0.1 * (1 - 0.37026239)    = 0.3221574344
#   0.3221574344 + 0.1 * (1 - 0.46022491)    = 0.3761349438
#   then 0.1 * (1 - 0.53733563) = 0.046 < 0.05, so +0.05 per adaptation: 0.4261..., ..., 0.6761...
#   and the last one stops at the final 0.7.
ADAPTIVE_TARGETS = [
    0.1, 0.1857142857, 0.2591836735, 0.3221574344, 0.3761349438, 0.4261349438, 0.4761349438,
    0.5261349438, 0.5761349438, 0.6261349438, 0.6761349438, 0.7,
]


def drive(sched: LossScheduler, values, *, start: int = 0):
    """Step through ``values`` (one per epoch from ``start``); return (changed, source, target) per epoch."""
    out = []
    source, target = sched.config.source, sched.config.target
    for offset, value in enumerate(values):
        changed = sched.step(start + offset, {sched.monitor: value, "val_loss": 0.0})
        out.append((changed, sched.weights[source], sched.weights[target]))
    return out


def flat(pairs):
    """[(source, target), ...] -> [source, target, ...] (pytest.approx compares flat lists)."""
    return [w for pair in pairs for w in pair]


def test_defaults():
    sched = LossScheduler()
    assert sched.weights == {"field": 1.0, "spectrum": 0.0}
    assert sched.final_weights == {"field": 0.3, "spectrum": 0.7}
    assert sched.monitor == "val_spectrum"
    assert repr(sched).startswith("LossScheduler(mode='adaptive', weights={'field': 1.0, 'spectrum': 0.0}")


def test_warmup_then_plateau_adapts_with_the_adaptive_step():
    """warmup 3, patience 2, no smoothing, a flat metric: epoch 3 seeds; epochs 5, 7, 9, ... adapt."""
    sched = LossScheduler.from_config({"warmup_epochs": 3, "patience": 2, "ema_beta": 0.0, "max_consecutive": 50})
    rows = drive(sched, [1.0] * 31)
    assert [r[0] for r in rows[:5]] == [False] * 5  # warmup (0-2), seed (3), wait 1 (4)
    adapted = [epoch for epoch, row in enumerate(rows) if row[0]]
    assert adapted == list(range(5, 5 + 2 * len(ADAPTIVE_TARGETS), 2))
    targets = [rows[epoch][2] for epoch in adapted]
    assert targets == pytest.approx(ADAPTIVE_TARGETS, abs=1e-9)
    assert all(s + t == pytest.approx(1.0) for _, s, t in rows)  # rescaled to the initial sum
    assert rows[-1][1:] == pytest.approx((0.3, 0.7))  # and nothing more once at the finals


def test_ema_smooths_the_monitored_metric():
    """beta 0.9: values 1, 0, 1, 1 smooth to 1, 0.9, 0.91, 0.919: seed, improve, wait 1, wait 2 -> adapt."""
    sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 2})
    rows = drive(sched, [1.0, 0.0, 1.0, 1.0])
    assert [r[0] for r in rows] == [False, False, False, True]
    assert sched.state_dict()["smoothed"] == pytest.approx(0.919)
    assert sched.state_dict()["best"] == pytest.approx(0.919)  # reset to the current value by the adaptation


@pytest.mark.parametrize(
    ("min_delta", "expected"),
    [
        (0.001, [False, False, True]),  # 0.9995 is not below 1 - 0.001: wait 1, then 0.9995 again: adapt
        (0.0, [False, False, False]),  # every drop counts; 0.999 < 0.9995 improves again
    ],
)
def test_min_delta_is_absolute(min_delta, expected):
    sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 2, "ema_beta": 0.0, "min_delta": min_delta})
    assert [r[0] for r in drive(sched, [1.0, 0.9995, 0.999])] == expected


def test_nan_metric_counts_as_no_improvement_and_leaves_the_ema_alone():
    sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 2, "ema_beta": 0.5})
    rows = drive(sched, [1.0, float("nan"), 0.5, float("inf"), float("nan")])
    # seed 1.0; nan: wait 1; 0.5 -> smoothed 0.75, improves (wait 0); inf: wait 1; nan: wait 2 -> adapt
    assert [r[0] for r in rows] == [False, False, False, False, True]
    assert sched.state_dict()["smoothed"] == 0.75


def test_metrics_may_be_0d_tensors():
    sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0})
    assert sched.step(0, {"val_spectrum": torch.tensor(1.0)}) is False
    assert sched.step(1, {"val_spectrum": torch.tensor(1.0)}) is True


def test_cap_gives_the_excess_to_the_source():
    """final (0, 1) with cap 0.8 means final (0.2, 0.8); fixed steps of 0.3 stop there."""
    sched = LossScheduler.from_config(
        {"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0, "final_weights": [0.0, 1.0], "adaptive_step": False,
         "transition_step": 0.3}
    )
    assert sched.final_weights == pytest.approx({"field": 0.2, "spectrum": 0.8})
    rows = drive(sched, [1.0] * 6)
    assert [r[0] for r in rows] == [False, True, True, True, False, False]
    expected = [(1, 0), (0.7, 0.3), (0.4, 0.6), (0.2, 0.8), (0.2, 0.8), (0.2, 0.8)]
    assert flat(r[1:] for r in rows) == pytest.approx(flat(expected))


def test_weights_keep_the_initial_sum():
    """initial (2, 0): the final (0.3, 0.7) is rescaled to (0.6, 1.4); fixed steps of 0.5."""
    sched = LossScheduler.from_config(
        {"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0, "initial_weights": [2, 0], "adaptive_step": False,
         "transition_step": 0.5}
    )
    rows = drive(sched, [1.0] * 5)
    assert flat(r[1:] for r in rows) == pytest.approx(flat([(2, 0), (1.5, 0.5), (1.0, 1.0), (0.6, 1.4), (0.6, 1.4)]))


def test_fixed_step_when_adaptive_step_is_off():
    sched = LossScheduler.from_config(
        {"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0, "adaptive_step": False, "max_consecutive": 50}
    )
    rows = drive(sched, [1.0] * 10)
    assert [r[2] for r in rows] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7])


@pytest.mark.parametrize(("tolerance", "changes"), [(0.01, False), (0.001, True)])
def test_no_change_within_tolerance_of_the_finals(tolerance, changes):
    sched = LossScheduler.from_config(
        {"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0, "initial_weights": [0.305, 0.695],
         "tolerance": tolerance}
    )
    rows = drive(sched, [1.0, 1.0])
    assert rows[1][0] is changes
    assert rows[1][2] == pytest.approx(0.7 if changes else 0.695)


def test_max_consecutive_blocks_until_an_improvement():
    sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 1, "ema_beta": 0.0, "max_consecutive": 2})
    rows = drive(sched, [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    # seed, adapt, adapt, blocked, blocked, improvement (count reset), adapt
    assert [r[0] for r in rows] == [False, True, True, False, False, False, True]
    assert [r[2] for r in rows] == pytest.approx([0, 0.1, 0.1857142857, 0.1857142857, 0.1857142857, 0.1857142857,
                                                  0.2591836735])


@pytest.mark.parametrize(
    ("shape", "targets"),
    [
        # warmup 2, ramp 4: fractions 0, 0, 1/4, 2/4, 3/4, 1, 1 of the way to 0.7
        ("linear", [0.0, 0.0, 0.175, 0.35, 0.525, 0.7, 0.7]),
        # (1 - cos(pi f)) / 2 for the same f: 0, 0, 0.1464466, 0.5, 0.8535534, 1, 1
        ("cosine", [0.0, 0.0, 0.1025126266, 0.35, 0.5974873734, 0.7, 0.7]),
    ],
)
def test_ramp(shape, targets):
    sched = LossScheduler.from_config({"mode": "ramp", "warmup_epochs": 2, "ramp_epochs": 4, "ramp_shape": shape})
    changed, targets_seen = [], []
    for epoch in range(7):
        changed.append(sched.step(epoch, {}))  # no metric needed
        targets_seen.append(sched.weights["spectrum"])
    assert targets_seen == pytest.approx(targets, abs=1e-9)
    assert sum(sched.weights.values()) == pytest.approx(1.0)
    assert changed == [False, False, True, True, True, True, False]


def test_ramp_follows_the_epoch_not_the_number_of_calls():
    sched = LossScheduler.from_config({"mode": "ramp", "warmup_epochs": 0, "ramp_epochs": 10})
    sched.step(4, {})
    assert sched.weights["spectrum"] == pytest.approx(0.35)


def test_constant_mode_never_moves():
    sched = LossScheduler.from_config({"mode": "constant", "initial_weights": [0.5, 0.5], "warmup_epochs": 0})
    assert [sched.step(epoch, {}) for epoch in range(30)] == [False] * 30
    assert sched.weights == {"field": 0.5, "spectrum": 0.5}


def test_custom_losses_and_monitor():
    sched = LossScheduler.from_config(
        {"source": "mse", "target": "field", "monitor": "val_loss", "warmup_epochs": 0, "patience": 1, "ema_beta": 0}
    )
    assert sched.weights == {"mse": 1.0, "field": 0.0}
    sched.step(0, {"val_loss": 1.0})
    assert sched.step(1, {"val_loss": 1.0}) is True


@pytest.mark.parametrize("k", [0, 3, 17, 25, 40])
def test_state_round_trip_continues_identically(k):
    config = {"warmup_epochs": 2, "patience": 2, "max_consecutive": 3}
    values = [1.0 + 0.3 * math.sin(i * 0.7) - 0.01 * i for i in range(40)]
    values[20] = float("nan")
    full = drive(LossScheduler.from_config(config), values)
    first = LossScheduler.from_config(config)
    head = drive(first, values[:k])
    state = json.loads(json.dumps(first.state_dict()))  # plain data
    second = LossScheduler.from_config(config)
    second.load_state_dict(state)
    tail = drive(second, values[k:], start=k)
    assert head + tail == full
    assert any(row[0] for row in full)  # the sequence does adapt, so the test can fail


def test_load_state_dict_errors():
    sched = LossScheduler()
    state = sched.state_dict()
    with pytest.raises(ValueError, match=r"missing: best, wait; unknown: extra"):
        sched.load_state_dict({**{k: v for k, v in state.items() if k not in ("best", "wait")}, "extra": 1})
    other = LossScheduler.from_config({"patience": 7}).state_dict()
    with pytest.raises(ValueError, match=r"saved with other settings \(1 differ; patience: saved 7, here 5\)"):
        sched.load_state_dict(other)


def test_missing_monitored_metric_is_a_usage_error_even_during_warmup():
    sched = LossScheduler()
    with pytest.raises(
        UsageError,
        match=r"^loss_scheduler.monitor: the loss scheduler monitors 'val_spectrum', but the logged metrics are: "
        r"val_field, val_loss; log 'val_spectrum' during validation, or set loss_scheduler.monitor to one of them$",
    ):
        sched.step(0, {"val_loss": 1.0, "val_field": 2.0})
    with pytest.raises(UsageError, match=r"but the logged metrics are: none"):
        LossScheduler().step(0, {})


def test_non_numeric_metric():
    with pytest.raises(TypeError, match=r"metric 'val_spectrum' must be a number or a 0-d tensor, but got 'low'"):
        LossScheduler().step(0, {"val_spectrum": "low"})
    with pytest.raises(TypeError, match=r"must be a number or a 0-d tensor"):
        LossScheduler().step(0, {"val_spectrum": torch.ones(2)})


@pytest.mark.parametrize(
    ("epochs", "error", "match"),
    [
        ([0, 0], ValueError, r"epoch 0 comes after epoch 0; call step once per validation .*sanity_checking"),
        ([3, 2], ValueError, r"epoch 2 comes after epoch 3"),
        ([-1], ValueError, r"epoch must be at least 0, but got -1"),
        ([True], TypeError, r"epoch must be an integer, but got True"),
        ([1.0], TypeError, r"epoch must be an integer, but got 1.0"),
    ],
)
def test_bad_epochs(epochs, error, match):
    sched = LossScheduler()
    with pytest.raises(error, match=match):
        for epoch in epochs:
            sched.step(epoch, {"val_spectrum": 1.0})


def test_config_errors_reach_the_constructor():
    with pytest.raises(UsageError, match=r"^loss_scheduler.patience: must be at least 1, but got 0; "):
        LossScheduler({"patience": 0})
    with pytest.raises(UsageError, match=r"^space.ls.patience: must be at least 1"):
        LossScheduler.from_config({"patience": 0}, path="space.ls")


# ---- the pure weight rules ----


@pytest.mark.parametrize(
    ("weights", "total", "cap", "expected"),
    [
        ((0.5, 0.5), 1.0, 0.8, (0.5, 0.5)),
        ((0.1, 0.9), 1.0, 0.8, (0.2, 0.8)),  # cap: excess 0.1 to the source
        ((1.0, 1.0), 1.0, 0.8, (0.5, 0.5)),  # rescale
        ((0.0, 2.0), 1.0, 0.8, (0.2, 0.8)),  # rescale to (0, 1), then cap
        ((3.0, 1.0), 2.0, 0.8, (1.5, 0.5)),
        ((0.0, 4.0), 2.0, 0.5, (1.0, 1.0)),  # cap is a fraction of the total
        ((0.0, 0.0), 1.0, 0.8, (1.0, 0.0)),
    ],
)
def test_settle(weights, total, cap, expected):
    assert settle(weights, total=total, cap=cap) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("target", "initial", "final", "expected"),
    [
        (0.0, 0.0, 0.7, 0.1),
        (0.35, 0.0, 0.7, 0.05),  # half way: 0.1 * 0.5 = 0.05
        (0.7, 0.0, 0.7, 0.05),  # min step
        (-0.7, 0.0, 0.7, 0.1),  # progress clamped at 0
        (0.3, 0.5, 0.5, 0.05),  # initial == final: progress 1
        (0.8, 1.0, 0.6, 0.05),  # moving down: half way
    ],
)
def test_adaptive_step(target, initial, final, expected):
    assert adaptive_step(target, initial=initial, final=final, transition_step=0.1, min_step=0.05) == pytest.approx(
        expected
    )


def test_move_toward_and_within():
    assert move_toward((1.0, 0.0), (0.3, 0.7), step=0.1) == pytest.approx((0.9, 0.1))
    assert move_toward((0.35, 0.65), (0.3, 0.7), step=0.1) == pytest.approx((0.3, 0.7))  # never past
    assert within((0.305, 0.695), (0.3, 0.7), tolerance=0.01)
    assert not within((0.305, 0.68), (0.3, 0.7), tolerance=0.01)


def test_ramp_fraction_edges():
    assert ramp_fraction(0, warmup_epochs=0, ramp_epochs=1, shape="cosine") == pytest.approx(1.0)
    assert ramp_fraction(100, warmup_epochs=5, ramp_epochs=3, shape="linear") == 1.0
    assert ramp_fraction(3, warmup_epochs=5, ramp_epochs=3, shape="cosine") == 0.0
