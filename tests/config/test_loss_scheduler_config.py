"""validate_loss_scheduler_config: normalisation and every error message."""

from __future__ import annotations

import pytest

from tune_sched.core.errors import UsageError
from tune_sched.config.loss_scheduler import LossSchedulerConfig, validate_loss_scheduler_config

DEFAULTS = {
    "mode": "adaptive", "source": "field", "target": "spectrum", "initial_weights": [1.0, 0.0],
    "final_weights": [0.3, 0.7], "max_target_weight": 0.8, "warmup_epochs": 15, "monitor": "val_spectrum",
    "ema_beta": 0.9, "min_delta": 0.001, "patience": 5, "transition_step": 0.1, "min_step": 0.05,
    "adaptive_step": True, "tolerance": 0.01, "max_consecutive": 10, "ramp_epochs": 20, "ramp_shape": "linear",
}


@pytest.mark.parametrize("empty", [None, {}])
def test_every_key_is_filled(empty):
    assert validate_loss_scheduler_config(empty, path="loss_scheduler") == DEFAULTS


def test_normalises_values_and_keeps_the_input():
    given = {"target": "mae", "initial_weights": (2, 0), "min_delta": "1e-3", "warmup_epochs": 3.0}
    out = validate_loss_scheduler_config(given, path="loss_scheduler")
    assert out["monitor"] == "val_mae"
    assert out["initial_weights"] == [2.0, 0.0] and isinstance(out["initial_weights"][0], float)
    assert out["min_delta"] == 0.001
    assert out["warmup_epochs"] == 3 and isinstance(out["warmup_epochs"], int)
    assert given == {"target": "mae", "initial_weights": (2, 0), "min_delta": "1e-3", "warmup_epochs": 3.0}
    assert validate_loss_scheduler_config(out, path="loss_scheduler") == out  # idempotent


def test_round_trip_through_the_dataclass():
    cfg = LossSchedulerConfig.from_dict({"mode": "ramp", "ramp_shape": "cosine"})
    assert LossSchedulerConfig.from_dict(cfg.to_dict()) == cfg


def test_constant_mode_may_start_above_the_cap():
    out = validate_loss_scheduler_config({"mode": "constant", "initial_weights": [0, 1]}, path="loss_scheduler")
    assert out["initial_weights"] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ([1], r"^loss_scheduler: must be a mapping of keys to values, but got \[1\] \(list\); "),
        ({"patiense": 3}, r"^loss_scheduler.patiense: unknown key 'patiense' \(did you mean 'patience'\?\); "
                          r"use one of: adaptive_step, ema_beta, final_weights, .*warmup_epochs$"),
        ({"mode": "adaptiv"}, r"^loss_scheduler.mode: unknown mode 'adaptiv' \(did you mean 'adaptive'\?\); "
                              r"use one of: adaptive, constant, ramp$"),
        ({"source": "feild"}, r"^loss_scheduler.source: unknown loss 'feild' \(did you mean 'field'\?\); "
                              r"use one of: field, huber, mae, mse, spectrum$"),
        ({"target": "spectral"}, r"^loss_scheduler.target: unknown loss 'spectral' \(did you mean 'spectrum'\?\)"),
        ({"target": "field"}, r"^loss_scheduler.target: must differ from source, but both are 'field'; name two "
                              r"different losses, or use mode: constant with initial_weights \[1, 0\]$"),
        ({"initial_weights": [1.0]}, r"^loss_scheduler.initial_weights: must be a list of two weights \[source, "
                                     r"target\], but got \[1.0\]; write e.g. \[1.0, 0.0\]$"),
        ({"initial_weights": "1,0"}, r"^loss_scheduler.initial_weights: must be a list of two weights"),
        ({"final_weights": 0.7}, r"^loss_scheduler.final_weights: must be a list of two weights .*but got 0.7"),
        ({"final_weights": [0.3, -0.1]}, r"^loss_scheduler.final_weights\[1\]: must be at least 0.0, but got -0.1; "),
        ({"initial_weights": ["a", 0]}, r"^loss_scheduler.initial_weights\[0\]: must be a finite number, "
                                        r"but got 'a' \(str\); "),
        ({"final_weights": [0, 0]}, r"^loss_scheduler.final_weights: must not both be 0; give the source or the "
                                    r"target a positive weight$"),
        ({"max_target_weight": 0}, r"^loss_scheduler.max_target_weight: must be in \(0, 1\], but got 0; "),
        ({"max_target_weight": 1.5}, r"^loss_scheduler.max_target_weight: must be in \(0, 1\], but got 1.5; "),
        ({"initial_weights": [0.1, 0.9]},
         r"^loss_scheduler.initial_weights\[1\]: the initial target weight 0.9 is above max_target_weight x sum of "
         r"initial_weights = 0.8 x 1 = 0.8; lower the initial target weight or raise max_target_weight$"),
        ({"warmup_epochs": -1}, r"^loss_scheduler.warmup_epochs: must be at least 0, but got -1; "),
        ({"warmup_epochs": 1.5}, r"^loss_scheduler.warmup_epochs: must be an integer, but got 1.5 \(float\); "),
        ({"monitor": ""}, r"^loss_scheduler.monitor: must be a non-empty string, but got '' \(str\); "),
        ({"ema_beta": 1.0}, r"^loss_scheduler.ema_beta: must be in \[0, 1\), but got 1; "),
        ({"ema_beta": -0.5}, r"^loss_scheduler.ema_beta: must be in \[0, 1\), but got -0.5; "),
        ({"min_delta": -0.1}, r"^loss_scheduler.min_delta: must be at least 0.0, but got -0.1; "),
        ({"patience": 0}, r"^loss_scheduler.patience: must be at least 1, but got 0; "),
        ({"transition_step": 0}, r"^loss_scheduler.transition_step: must be greater than 0, but got 0.0; "),
        ({"min_step": float("nan")}, r"^loss_scheduler.min_step: must be a finite number, but got nan \(float\); "),
        ({"adaptive_step": "yes"}, r"^loss_scheduler.adaptive_step: must be true or false, but got 'yes' \(str\); "),
        ({"tolerance": -0.01}, r"^loss_scheduler.tolerance: must be at least 0.0, but got -0.01; "),
        ({"max_consecutive": 0}, r"^loss_scheduler.max_consecutive: must be at least 1, but got 0; "),
        ({"ramp_epochs": 0}, r"^loss_scheduler.ramp_epochs: must be at least 1, but got 0; "),
        ({"ramp_shape": "cos"}, r"^loss_scheduler.ramp_shape: unknown ramp shape 'cos' \(did you mean 'cosine'\?\); "
                                r"use one of: cosine, linear$"),
    ],
)
def test_errors(cfg, match):
    with pytest.raises(UsageError, match=match):
        validate_loss_scheduler_config(cfg, path="loss_scheduler")


def test_errors_name_the_given_path():
    with pytest.raises(UsageError, match=r"^runs\[2\].loss_scheduler.final_weights\[0\]: must be at least 0.0"):
        validate_loss_scheduler_config({"final_weights": [-1, 1]}, path="runs[2].loss_scheduler")
