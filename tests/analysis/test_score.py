"""The robust score, the ranking with deterministic ties, and the Pareto front."""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from tune_sched.analysis.score import RANK_COLUMNS, ScoreSettings, pareto_front, rank_configs, robust_score
from tune_sched.analysis.stats import iqm
from tune_sched.core.errors import UsageError


@pytest.mark.parametrize(
    ("values", "diverged", "kwargs", "expected"),
    [
        ([1.0, 1.0, 1.0, 1.0], None, {}, 1.0),
        ([1.0, 2.0, 3.0, 4.0], None, {}, 2.5 + 3.0 * np.std([1, 2, 3, 4], ddof=1)),  # the default spread weight: 3
        ([1.0, 2.0, 3.0, 4.0], None, {"spread_weight": 0.0}, 2.5),
        ([2.0], None, {}, 2.0),  # one seed: no spread
        ([1.0, 1.0, 1.0, 9.0], [False, False, False, True], {}, 1.0 + 3.0 * (1 / 3) * 1.0),  # default penalty: 3
        ([1.0, 1.0, np.nan, np.inf], None, {"divergence_penalty": 2.0}, 1.0 + 2.0 * 1.0 * 1.0),
        ([-2.0, -2.0, -2.0, np.nan], None, {}, -2.0 + 3.0 * (1 / 3) * 2.0),  # relative to |level|
        ([np.nan, np.nan], None, {}, math.inf),
        ([1.0, 2.0], [True, True], {}, math.inf),
    ],
)
def test_robust_score_known_values(values, diverged, kwargs, expected):
    assert robust_score(values, diverged=diverged, **kwargs) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[0.3, 0.5, 0.4, 0.45], [1.0, np.nan, 2.0], [-1.0, 2.0, 0.5], [np.nan], [7.0]])
def test_mode_max_is_the_mirror_image(values):
    assert robust_score(values, mode="max") == -robust_score(-np.asarray(values), mode="min")
    if not np.isfinite(values).any():
        assert robust_score(values, mode="max") == -math.inf


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("values", [[1.0, 1.1, 0.9, 1.05], [0.0, 0.0, 0.0, 0.0], [-3.0, -2.5, -2.8, -3.1], [5.0]])
def test_diverging_on_any_seed_ranks_below_the_same_config_without(mode, values):
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    clean = robust_score(values + [values[0]], mode=mode)
    one_bad = robust_score(values + [values[0]], diverged=[False] * len(values) + [True], mode=mode)
    two_bad = robust_score(values + [values[0]], diverged=[True] + [False] * (len(values) - 1) + [True], mode=mode)
    assert better(clean, one_bad)
    if len(values) > 1:
        assert better(one_bad, two_bad)


def test_a_slightly_better_config_that_diverged_once_still_ranks_below():
    assert robust_score([0.099] * 4 + [np.nan]) > robust_score([0.100] * 5)
    assert robust_score([0.901] * 4 + [np.nan], mode="max") < robust_score([0.900] * 5, mode="max")


def test_the_score_uses_the_iqm_so_one_outlier_seed_moves_it_little():
    values = [1.0, 1.1, 0.9, 1.0, 50.0, 1.05, 0.95, 1.0]
    assert robust_score(values, spread_weight=0.0) == pytest.approx(iqm(values))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": []}, r"^values: needs at least one seed's value, but got none$"),
        ({"values": [1.0, 2.0], "diverged": [True]}, r"^diverged: must have one flag per value \(2\), but got 1$"),
        ({"values": [1.0], "mode": "mx"}, r"^mode: unknown mode 'mx' \(did you mean 'max'\?\); use one of: max, min$"),
        ({"values": [1.0], "spread_weight": -1.0}, r"^spread_weight: must be a finite number >= 0, but got -1.0; use e.g. 0.5 \(0: spread"),
        (
            {"values": [1.0], "divergence_penalty": 0.0},
            r"^divergence_penalty: must be a finite number > 0 \(so that divergence always costs\), but got 0.0; use e.g. 1.0$",
        ),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs, message):
    values = kwargs.pop("values")
    with pytest.raises(UsageError, match=message):
        robust_score(values, **kwargs)


def test_the_defaults_are_one_set_everywhere():
    """The weights chosen with scripts/bench_decision.py; the functions' own defaults are ScoreSettings'."""
    assert asdict(ScoreSettings()) == {"spread_weight": 3.0, "divergence_penalty": 3.0, "spike_weight": 0.2}
    for function in (robust_score, rank_configs):
        params = inspect.signature(function).parameters
        assert {name: params[name].default for name in asdict(ScoreSettings())} == asdict(ScoreSettings())


def test_score_settings_from_yaml():
    assert ScoreSettings.from_dict({"spread_weight": 1, "divergence_penalty": "2e0"}) == ScoreSettings(1.0, 2.0)
    assert ScoreSettings.from_dict(None) == ScoreSettings()
    message = (
        r"^score.spread_weigth: unknown score setting 'spread_weigth' \(did you mean 'spread_weight'\?\); "
        r"use one of: divergence_penalty, spike_weight, spread_weight$"
    )
    with pytest.raises(UsageError, match=message):
        ScoreSettings.from_dict({"spread_weigth": 1})
    with pytest.raises(UsageError, match=r"^search.score.divergence_penalty: must be a finite number > 0"):
        ScoreSettings.from_dict({"divergence_penalty": 0}, path="search.score")
    with pytest.raises(UsageError, match=r"^spread_weight: must be a finite number >= 0"):
        ScoreSettings(spread_weight=-1.0)
    assert ScoreSettings.from_dict({"spike_weight": 0}).spike_weight == 0.0
    with pytest.raises(UsageError, match=r"^score.spike_weight: must be a finite number >= 0 \(0 leaves spikes out\)"):
        ScoreSettings.from_dict({"spike_weight": -0.1})


def _per_run(rows):
    return pd.DataFrame(
        [{"config_id": c, "seed": i, "best_metric": v, "status": s, "spike_count": k}
         for c, runs in rows.items() for i, (v, s, k) in enumerate(runs)]
    )


def test_rank_configs_orders_by_score_then_divergence_then_spike_variance_then_id():
    ok = "completed"
    per_run = _per_run({
        "clean": [(1.0, ok, 0)] * 4,                                                   # score 1.0
        "diverged": [(0.5, ok, 0)] * 3 + [(np.nan, "diverged", 0)],                      # 0.5 + 3 * 0.5/3 = 1.0
        "spiky": [(0.5, ok, 0), (0.5, ok, 4), (0.5, ok, 0), (0.5, ok, 4)],               # 0.5, spike var 5.33
        "calm": [(0.5, ok, 1), (0.5, ok, 1), (0.5, ok, 2), (0.5, ok, 2)],                # 0.5, spike var 0.33
        "twin_b": [(0.5, ok, 1), (0.5, ok, 1), (0.5, ok, 2), (0.5, ok, 2)],              # same as calm: by id
        "worst": [(3.0, ok, 0)] * 4,
        "all_failed": [(np.nan, "failed", 0)] * 4,
    })
    ranked = rank_configs(per_run, n_boot=50)
    assert ranked["config_id"].tolist() == ["calm", "twin_b", "spiky", "clean", "diverged", "worst", "all_failed"]
    assert ranked["rank"].tolist() == list(range(1, 8))
    assert list(ranked.columns) == ["config_id", *RANK_COLUMNS]
    assert ranked.set_index("config_id").loc[["clean", "diverged"], "score"].tolist() == [1.0, 1.0]
    assert ranked.iloc[-1]["score"] == math.inf
    shuffled = rank_configs(per_run.sample(frac=1.0, random_state=1), n_boot=50)
    pd.testing.assert_frame_equal(shuffled, ranked)


def test_rank_configs_mode_max_puts_the_highest_first():
    per_run = _per_run(
        {"a": [(0.8, "completed", 0)] * 3, "b": [(0.9, "completed", 0)] * 3, "c": [(0.95, "diverged", 0)] * 3}
    )
    ranked = rank_configs(per_run, mode="max", n_boot=50)
    assert ranked["config_id"].tolist() == ["b", "a", "c"] and ranked.iloc[-1]["score"] == -math.inf


def test_rank_configs_agrees_with_robust_score():
    rng = np.random.default_rng(0)
    per_run = _per_run({f"c{i}": [(float(v), "diverged" if v > 2.2 else "completed", 0) for v in rng.lognormal(size=5)]
                        for i in range(6)})
    ranked = rank_configs(per_run, spread_weight=0.3, divergence_penalty=2.0, n_boot=50).set_index("config_id")
    for config, group in per_run.groupby("config_id"):
        expected = robust_score(group["best_metric"], diverged=group["status"] == "diverged", spread_weight=0.3,
                                divergence_penalty=2.0)
        assert ranked.loc[config, "score"] == pytest.approx(expected)


def test_rank_configs_without_status_or_spike_columns():
    per_run = pd.DataFrame({"config_id": ["a", "a", "b"], "best_metric": [1.0, np.nan, 0.5]})
    ranked = rank_configs(per_run, n_boot=50)
    assert ranked["config_id"].tolist() == ["b", "a"] and ranked.iloc[1]["n_diverged"] == 1
    with pytest.raises(UsageError, match=r"^by: unknown column 'config'"):
        rank_configs(per_run, by="config")


@pytest.mark.parametrize(
    ("quality", "stability", "mode", "expected"),
    [
        ([1.0, 2.0, 3.0, 1.5], [5.0, 1.0, 0.5, 6.0], "min", [True, True, True, False]),
        ([1.0, 2.0, 3.0, 1.5], [5.0, 1.0, 0.5, 6.0], "max", [False, False, True, False]),
        ([1.0, 1.0, 2.0], [2.0, 2.0, 2.0], "min", [True, True, False]),  # equal points: both on the front
        ([1.0, 1.0, 0.5], [1.0, 3.0, 9.0], "min", [True, False, True]),  # equal quality: the steadier wins
        ([1.0, np.nan, 0.5, 2.0], [1.0, 0.0, np.inf, 0.5], "min", [True, False, False, True]),
        ([], [], "min", []),
    ],
)
def test_pareto_front_known_cases(quality, stability, mode, expected):
    assert pareto_front(quality, stability, mode=mode).tolist() == expected


def test_pareto_front_matches_a_brute_force_check():
    rng = np.random.default_rng(5)
    q, s = rng.integers(0, 6, 60).astype(float), rng.integers(0, 6, 60).astype(float)
    front = pareto_front(q, s)
    for i in range(60):
        dominated = any(q[j] <= q[i] and s[j] <= s[i] and (q[j] < q[i] or s[j] < s[i]) for j in range(60))
        assert front[i] == (not dominated)


def test_pareto_front_needs_matching_lengths():
    with pytest.raises(UsageError, match=r"^stability: must have one value per quality value \(2\), but got 1$"):
        pareto_front([1.0, 2.0], [1.0])


@pytest.mark.parametrize("mode", ["min", "max"])
def test_spike_weight_0_gives_exactly_the_score_without_spikes(mode):
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 7))
        values = rng.lognormal(size=n) * rng.choice([1.0, -1.0])
        values[rng.random(n) < 0.2] = np.nan
        diverged = rng.random(n) < 0.2
        counts = rng.integers(0, 6, n).astype(float)
        old = robust_score(values, diverged=diverged, mode=mode)  # no spike data: the score before spikes
        assert robust_score(values, diverged=diverged, spikes=counts, mode=mode, spike_weight=0.0) == old
        assert robust_score(values, diverged=diverged, spikes=np.full(n, np.nan), mode=mode) == old
        # the score as it was before the spike term (formula of the module docstring, without it)
        ok = values[~(diverged | ~np.isfinite(values))]
        if ok.size and mode == "min":
            spread = 3.0 * (ok.std(ddof=1) if ok.size > 1 else 0.0)
            rate = 1 - ok.size / n
            assert old == pytest.approx(iqm(ok) + spread + 3.0 * rate / (1 - rate) * max(abs(iqm(ok)) + spread, 1e-12),
                                        rel=1e-14)


def test_spike_term_known_values_and_its_column():
    # IQM 2, std 0 -> level 2; counts 0, 0, 3 over three seeds: mean 1 + std sqrt(3) episodes
    burden = 1 + math.sqrt(3)
    expected = 2.0 + 0.1 * burden * 2.0
    assert robust_score([2.0] * 3, spikes=[0, 0, 3], spike_weight=0.1) == pytest.approx(expected)
    assert robust_score([2.0] * 3, spikes=[0, 0, 3], spike_weight=0.1, mode="max") == pytest.approx(2.0 - 0.2 * burden)
    # a diverged seed's spikes are not counted (its divergence is charged already)
    assert robust_score([2.0] * 4, diverged=[False] * 3 + [True], spikes=[1, 1, 1, 40]) == pytest.approx(
        robust_score([2.0] * 4, diverged=[False] * 3 + [True], spikes=[1, 1, 1, 0]))
    per_run = _per_run({"a": [(2.0, "completed", 0), (2.0, "completed", 0), (2.0, "completed", 3)]})
    row = rank_configs(per_run, spike_weight=0.1, n_boot=20).iloc[0]
    assert row["score"] == pytest.approx(expected) and row["spike_term"] == pytest.approx(0.2 * burden)
    assert rank_configs(per_run, spike_weight=0.0, n_boot=20).iloc[0]["spike_term"] == 0.0
    with pytest.raises(UsageError, match=r"^spikes: must have one count per value \(3\), but got 2"):
        robust_score([1.0, 1.0, 1.0], spikes=[1, 2])


@pytest.mark.parametrize("mode", ["min", "max"])
def test_same_losses_fewer_spikes_rank_first(mode):
    ok = "completed"
    per_run = _per_run({
        "a_spiky": [(0.5, ok, 3), (0.5, ok, 0), (0.5, ok, 4), (0.5, ok, 1)],  # the id would win a tie
        "b_calm": [(0.5, ok, 1), (0.5, ok, 0), (0.5, ok, 0), (0.5, ok, 1)],
    })
    ranked = rank_configs(per_run, mode=mode, n_boot=20)
    assert ranked["config_id"].tolist() == ["b_calm", "a_spiky"]
    assert ranked["spike_term"].iloc[0] < ranked["spike_term"].iloc[1]
    slightly_better = per_run.assign(best_metric=np.where(per_run["config_id"] == "a_spiky",
                                                          0.49 if mode == "min" else 0.51, 0.5))
    # 2 % better metric does not buy 2 episodes per seed (and their spread) at the default weight
    assert rank_configs(slightly_better, mode=mode, n_boot=20)["config_id"].tolist() == ["b_calm", "a_spiky"]
    assert rank_configs(slightly_better, mode=mode, spike_weight=0, n_boot=20)["config_id"].tolist() == [
        "a_spiky", "b_calm"]
