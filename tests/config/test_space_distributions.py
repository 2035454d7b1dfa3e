"""Distribution parsing: what each YAML form becomes, grid points, Optuna labels, and every error message."""

from __future__ import annotations

import re

import pytest

from tune_sched.config.distributions import (
    DISTRIBUTION_KEYS,
    Categorical,
    Constant,
    Range,
    is_distribution,
    parse_distribution,
)
from tune_sched.core.errors import UsageError

PARSED = [
    ({"values": [1, 2, 3]}, Categorical((1, 2, 3))),
    ({"values": [[0.9, 0.999], {"a": 1}]}, Categorical(([0.9, 0.999], {"a": 1}))),
    ({"min": 1, "max": 5}, Range(1, 5, integer=True)),
    ({"min": 0.0, "max": 1}, Range(0.0, 1.0)),
    ({"min": "1e-5", "max": 1.0e-2, "log": True}, Range(1e-5, 1e-2, log=True)),
    ({"min": 2, "max": 10, "step": 4}, Range(2, 10, step=4, integer=True)),
    ({"min": 2, "max": 10, "step": 2.0}, Range(2.0, 10.0, step=2.0)),
    ({"min": 0.1, "max": 0.5, "step": 0.1}, Range(0.1, 0.5, step=0.1)),
    ({"min": 3, "max": 3}, Range(3, 3, integer=True)),
    ({"min": 1, "max": 64, "log": True}, Range(1, 64, log=True, integer=True)),
    ({"value": {"min": 3}}, Constant({"min": 3})),
    ({"value": None}, Constant(None)),
]


@pytest.mark.parametrize(("data", "expected"), PARSED)
def test_parse_known_forms(data, expected):
    assert parse_distribution(data, "x") == expected


@pytest.mark.parametrize("key", DISTRIBUTION_KEYS)
def test_every_distribution_key_marks_a_distribution(key):
    assert is_distribution({key: 1, "other": 2})


@pytest.mark.parametrize("value", [{"lr": 1}, {}, [1, 2], 3, None, "min"])
def test_other_values_are_not_distributions(value):
    assert not is_distribution(value)


GRID_POINTS = [
    (Range(1, 4, integer=True), [(1, ".min"), (2, ""), (3, ""), (4, ".max")]),
    (Range(0, 10, step=5, integer=True), [(0, ".min"), (5, ""), (10, ".max")]),
    (Range(0.1, 0.4, step=0.1), [(0.1, ".min"), (0.2, ""), (0.3, ""), (0.4, ".max")]),  # 0.3, not 0.30000000000000004
    (Categorical(("a", [1], None)), [("a", ".values[0]"), ([1], ".values[1]"), (None, ".values[2]")]),
]


@pytest.mark.parametrize(("dist", "points"), GRID_POINTS)
def test_grid_points_are_exact(dist, points):
    assert dist.size == len(points)
    assert [dist.point(i) for i in range(dist.size)] == points


def test_continuous_range_has_no_grid_size():
    assert Range(0.1, 0.5).size is None
    assert Range(1e-4, 1e-1, log=True).size is None


def test_categorical_points_are_copies():
    dist = Categorical(({"a": [1]},))
    dist.point(0)[0]["a"].append(2)
    assert dist.values == ({"a": [1]},)


LABELS = [
    (("a", "b"), None),  # Optuna stores these as they are
    ((2, 2.5, None, True), None),
    ((1, 1.0), ["1", "1.0"]),  # equal under ==: Optuna could not tell them apart
    ((1, True), ["1", "true"]),
    (([0.9, 0.999], "x"), ["[0.9, 0.999]", '"x"']),
]


@pytest.mark.parametrize(("values", "labels"), LABELS)
def test_labels_only_when_optuna_cannot_store_the_values(values, labels):
    assert Categorical(values).labels() == labels


DESCRIBED = [
    ({"values": [0.001, "x", [1, 2]]}, "{0.001, x, [1, 2]}"),
    ({"min": 1e-5, "max": 0.01, "log": True}, "[1e-05, 0.01] log"),
    ({"min": 1, "max": 9, "step": 2}, "[1, 9] step 2"),
]


@pytest.mark.parametrize(("data", "text"), DESCRIBED)
def test_describe(data, text):
    assert parse_distribution(data, "x").describe() == text


ERRORS = [
    ({"min": 1, "mx": 5}, "lr.mx: unknown distribution key 'mx' (did you mean 'max'?); use one of: log, max, min"),
    ({"vals": [1], "min": 1}, "lr.vals: unknown distribution key 'vals' (did you mean 'values'?)"),
    ({"value": 1, "min": 0}, "lr: 'value' cannot be combined with 'min'; write either {value: ...}"),
    ({"values": [1], "log": True}, "lr: 'values' cannot be combined with 'log'"),
    ({"values": []}, "lr.values: must be a non-empty list, but got []; list the choices"),
    ({"values": 3}, "lr.values: must be a non-empty list, but got 3"),
    ({"values": [1, float("nan")]}, "lr.values[1]: must not be NaN; remove it from the list"),
    ({"values": [0.1, 0.2, 0.1]}, "lr.values[2]: repeats 0.1 (also at [0]); list each value once"),
    ({"max": 5}, "lr: a range needs both 'min' and 'max', but 'min' is missing; write {min: 0.1, max: 0.9}"),
    ({"min": 5}, "lr: a range needs both 'min' and 'max', but 'max' is missing"),
    ({"min": "low", "max": 5}, "lr.min: must be a finite number, but got 'low' (str)"),
    ({"min": 0, "max": float("inf")}, "lr.max: must be a finite number, but got inf (float)"),
    ({"min": True, "max": 5}, "lr.min: must be a finite number, but got True (bool)"),
    ({"min": 0, "max": 2**60}, "lr.max: must be at most 9007199254740992 in size"),
    ({"min": 5, "max": 1}, "lr: min (5) is greater than max (1); swap them"),
    ({"min": 0.0, "max": 1.0, "log": True}, "lr.min: a log range needs min > 0, but got min 0.0; use a positive min"),
    ({"min": -1, "max": 1, "log": True}, "lr.min: a log range needs min > 0, but got min -1"),
    ({"min": 0.1, "max": 1.0, "log": "yes"}, "lr.log: must be true or false, but got 'yes' (str)"),
    ({"min": 0.1, "max": 1.0, "log": True, "step": 0.1}, "lr: 'log' and 'step' cannot be combined; drop one"),
    ({"min": 0, "max": 10, "step": 0}, "lr.step: must be greater than 0, but got 0"),
    ({"min": 0, "max": 10, "step": -2}, "lr.step: must be greater than 0, but got -2"),
    ({"min": 0, "max": 10, "step": 3}, "lr: max - min (10) is not a multiple of step (3); set max to 9 or change"),
    ({"min": 0.1, "max": 0.25, "step": 0.1}, "lr: max - min (0.15) is not a multiple of step (0.1); set max to 0.2"),
    ({"min": 0.0, "max": 1e300, "step": 1e-300}, "lr.step: step (1e-300) is too small for the range"),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_error_messages(data, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_distribution(data, "lr")


class _RecordingTrial:
    """Stands in for optuna.Trial's suggest methods only (the real Trial is used in test_space_sampling.py)."""

    def __init__(self):
        self.calls = []

    def suggest_categorical(self, name, choices):
        self.calls.append(("categorical", name, list(choices)))
        return choices[-1]

    def suggest_int(self, name, low, high, *, step=1, log=False):
        self.calls.append(("int", name, low, high, step, log))
        return high

    def suggest_float(self, name, low, high, *, step=None, log=False):
        self.calls.append(("float", name, low, high, step, log))
        return low


SUGGEST_CALLS = [
    ({"min": 1, "max": 8, "log": True}, ("int", "p", 1, 8, 1, True), 8),
    ({"min": 2, "max": 8, "step": 2}, ("int", "p", 2, 8, 2, False), 8),
    ({"min": 0.5, "max": 1.5, "step": 0.5}, ("float", "p", 0.5, 1.5, 0.5, False), 0.5),
    ({"min": "1e-4", "max": 0.1, "log": True}, ("float", "p", 1e-4, 0.1, None, True), 1e-4),
    ({"values": ["a", "b"]}, ("categorical", "p", ["a", "b"]), "b"),
    ({"values": [[1, 2], [3, 4]]}, ("categorical", "p", ["[1, 2]", "[3, 4]"]), [3, 4]),
]


@pytest.mark.parametrize(("data", "call", "value"), SUGGEST_CALLS)
def test_suggest_calls_the_matching_optuna_method(data, call, value):
    trial = _RecordingTrial()
    assert parse_distribution(data, "p").suggest(trial, "p") == value
    assert trial.calls == [call]
