"""Parameter importance: Spearman rho^2 for numbers, eta^2 for categories, on the configs' score ranks."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tune_sched.analysis.importance import IMPORTANCE_COLUMNS, param_importance
from tune_sched.core.errors import UsageError


def _ranking(**columns):
    return pd.DataFrame(columns)


@pytest.mark.parametrize(
    ("values", "scores", "mode", "importance", "direction"),
    [
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "min", 1.0, "lower is better"),
        ([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], "min", 1.0, "higher is better"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "max", 1.0, "higher is better"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], "min", 0.8 ** 2, "lower is better"),
        ([1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 1.0, 2.0], "min", 0.0, ""),  # no monotone relation
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, math.inf], "min", 1.0, "lower is better"),  # inf ranks last
        ([1.0, None, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "min", 1.0, "lower is better"),  # unset: left out
    ],
)
def test_numeric_importance_is_the_squared_rank_correlation(values, scores, mode, importance, direction):
    out = param_importance(_ranking(score=scores, p=values), ["p"], mode=mode).iloc[0]
    assert out["kind"] == "numeric"
    assert out["importance"] == pytest.approx(importance)
    assert out["direction"] == direction


def test_numeric_needs_three_configs_with_two_values():
    out = param_importance(_ranking(score=[1.0, 2.0, 3.0], p=[1.0, None, 2.0], q=[5.0, 5.0, 5.0]), ["p", "q"])
    assert out["importance"].isna().all()
    assert out.set_index("param").loc["p", "n_configs"] == 2


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Adam", "Adam", "SGD", "SGD"], 0.8),  # groups {1,2} and {3,4} of ranks 1..4
        (["Adam", "SGD", "Adam", "SGD"], 0.2),
        ([None, None, "StepLR", "StepLR"], 0.8),  # not set is a category of its own
        ([True, True, False, False], 0.8),
        ([[0.9, 0.99], [0.9, 0.99], [0.8, 0.99], [0.8, 0.99]], 0.8),
        (["a", "b", "c", "d"], math.nan),  # every config its own value: says nothing
    ],
)
def test_categorical_importance_is_eta_squared_of_the_ranks(values, expected):
    out = param_importance(_ranking(score=[1.0, 2.0, 3.0, 4.0], p=values), ["p"]).iloc[0]
    assert out["kind"] == "categorical"
    assert out["importance"] == pytest.approx(expected, nan_ok=True)


def test_the_most_important_comes_first_and_unjudged_ones_last():
    ranking = _ranking(score=[1.0, 2.0, 3.0, 4.0], weak=["x", "y", "x", "y"], strong=[0.1, 0.2, 0.3, 0.4],
                       unknown=[7.0, 7.0, 7.0, 7.0])
    out = param_importance(ranking, ["weak", "unknown", "strong"])
    assert out["param"].tolist() == ["strong", "weak", "unknown"]
    assert tuple(out.columns) == IMPORTANCE_COLUMNS


def test_no_params_gives_an_empty_table():
    assert param_importance(_ranking(score=[1.0]), []).empty


def test_unknown_mode_is_an_error():
    with pytest.raises(UsageError, match=r"mode: unknown mode 'low'; use one of: max, min"):
        param_importance(_ranking(score=[1.0], p=[1.0]), ["p"], mode="low")
