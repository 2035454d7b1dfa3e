"""The shared words: one definition each, used by the trial, the search and the ranking alike."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from tune_sched.core import words
from tune_sched.core.words import COUNTS_AS_DIVERGED, STATUSES, best, better, flatten, oriented


def test_doctests() -> None:
    assert doctest.testmod(words).failed == 0


@pytest.mark.parametrize("mode,a,b,expected", [("min", 1.0, 2.0, True), ("min", 2.0, 1.0, False),
                                               ("max", 2.0, 1.0, True), ("max", 1.0, 1.0, False),
                                               ("min", math.nan, 1.0, False), ("max", 1.0, math.nan, False)])
def test_better_is_strict_and_false_with_nan(mode: str, a: float, b: float, expected: bool) -> None:
    assert better(a, b, mode) is expected


def test_best_keeps_the_first_of_equals_and_oriented_turns_max_into_min() -> None:
    rows = [(0, 0.5), (1, 0.2), (2, 0.2), (3, 0.9)]
    assert best(rows, "min", key=lambda r: r[1]) == (1, 0.2)
    assert best(rows, "max", key=lambda r: r[1]) == (3, 0.9)
    assert np.array_equal(oriented(np.array([1.0, -2.0]), "max"), [-1.0, 2.0])
    assert oriented(3.0, "min") == 3.0


def test_statuses_and_which_count_as_diverged() -> None:
    assert STATUSES == ("completed", "pruned", "failed", "diverged")
    assert set(COUNTS_AS_DIVERGED) == {"diverged", "failed"} and set(COUNTS_AS_DIVERGED) <= set(STATUSES)


def test_flatten_keeps_lists_and_drops_empty_mappings() -> None:
    config = {"optimizer": {"name": "Adam", "betas": [0.9, 0.99], "extra": {}}, "seed": 1, "warmup": None}
    assert flatten(config) == {"optimizer.name": "Adam", "optimizer.betas": [0.9, 0.99], "seed": 1, "warmup": None}
    assert flatten(5) == {"": 5}
