"""spike_table / spike_episodes: the same episodes and statistics as the one-run functions, for whole tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tune_sched.analysis import _series
from tune_sched.analysis.spike_table import EPISODE_COLUMNS, spike_analysis, spike_episodes, spike_table
from tune_sched.analysis.spikes import detect_spikes, run_spike_stats
from tune_sched.core.errors import UsageError

LENGTHS = [5, 20, 37, 64, 150, 300, 513, 700, 1200]  # several effective windows (8, 9, 16, 37, 75, 128)


def _random_runs(seed=0, runs=36):
    """Noisy decaying losses with planted spikes (single, multi-step, unrecovered), NaN/inf, varied lengths."""
    rng = np.random.default_rng(seed)
    series = {}
    for r in range(runs):
        n = LENGTHS[r % len(LENGTHS)] + int(rng.integers(0, 3))
        t = np.arange(n)
        x = (rng.uniform(1, 3) * np.exp(-t / max(n / 3, 1)) + 0.2) * (1 + 0.03 * rng.standard_normal(n))
        for at in rng.integers(0, n, size=int(rng.integers(0, 5))):
            x[at : at + int(rng.integers(1, 4))] *= rng.uniform(2, 12)
        if r % 7 == 3:
            x[rng.integers(0, n) :] = np.nan
        if r % 11 == 5:
            x[rng.integers(0, n)] = np.inf
        if r % 13 == 6 and n > 40:
            x[-n // 5 :] *= 5.0  # jumps up for good: unrecovered
        series[(f"cfg{r // 3:02d}", r % 3)] = x
    return series


def _long_table(series, *, shuffle=True, seed=0):
    frames = [
        pd.DataFrame({"config_id": c, "seed": s, "step": np.arange(x.size), "train_loss": x, "lr": 0.1})
        for (c, s), x in series.items()
    ]
    df = pd.concat(frames, ignore_index=True)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True) if shuffle else df


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b))


def _episode_rows(frame, key):
    rows = frame[(frame["config_id"] == key[0]) & (frame["seed"] == key[1])]
    out = []
    for rec in rows[list(EPISODE_COLUMNS)].to_dict("records"):
        rec["recovery_steps"] = None if pd.isna(rec["recovery_steps"]) else int(rec["recovery_steps"])
        out.append(tuple(rec[c] for c in EPISODE_COLUMNS))
    return out


@pytest.mark.parametrize(
    "rule",
    [{}, {"rule": "zscore"}, {"rule": "median_ratio"}, {"window": 16, "k": 4.0, "ema_alpha": 0.5, "recovery_tol": 0.05}],
)
@pytest.mark.parametrize("cells", [None, 700])  # 700: many small batches
def test_episodes_and_stats_equal_the_per_run_functions(rule, cells, monkeypatch):
    if cells:
        monkeypatch.setattr(_series, "_BATCH_CELLS", cells)
    series = _random_runs()
    result = spike_analysis(_long_table(series), **rule)
    assert list(result.runs[["config_id", "seed"]].itertuples(index=False, name=None)) == sorted(series)
    total = 0
    for key, x in series.items():
        expected = [dataclasses.astuple(e) for e in detect_spikes(x, **rule)]
        got = _episode_rows(result.episodes, key)
        assert len(got) == len(expected), key
        assert all(_same(a, b) for g, e in zip(got, expected) for a, b in zip(g, e)), key
        total += len(expected)
        row = result.runs[(result.runs["config_id"] == key[0]) & (result.runs["seed"] == key[1])].iloc[0]
        for name, value in run_spike_stats(x, **rule).items():
            got_value = None if pd.isna(row[name]) and value is None else row[name]
            assert _same(float(got_value) if isinstance(value, float) else got_value, value), (key, name)
    assert total > 20  # the series do have episodes
    assert result.runs["diverged"].any() and result.runs["unrecovered"].any() and result.episodes["recovered"].any()


def test_a_spike_near_the_end_of_a_shorter_run_stays_unrecovered():
    short = np.ones(520)
    short[515] = 9.0  # the EMA needs 9 steps to come back: past the end of this run, inside its batch's padding
    series = {("a", 0): np.ones(600), ("b", 0): short}  # same window, so one padded batch
    episodes = spike_episodes(_long_table(series))
    assert _episode_rows(episodes, ("b", 0)) == [dataclasses.astuple(e) for e in detect_spikes(short)]
    assert episodes["recovered"].tolist() == [False] and episodes["end"].tolist() == [520]


@pytest.mark.parametrize("rule", ["robust", "zscore", "median_ratio"])
def test_one_huge_value_in_a_long_run_is_one_episode_beside_runs_of_other_lengths(rule):
    # detect_spikes and spike_table alike (window sums that cancelled would leave many false episodes after it)
    rng = np.random.default_rng(1)
    t = np.arange(2000)
    blown = (np.exp(-t / 500) + 0.1) * np.exp(0.05 * rng.standard_normal(2000))
    blown[1024] = 1e8
    series = {("a", 0): blown, ("a", 1): 1.0 + 0.01 * np.sin(t), ("b", 0): blown[:300]}
    runs = spike_table(_long_table(series), rule=rule)
    assert runs["spike_count"].tolist() == [1, 0, 0]
    (ep,) = detect_spikes(blown, rule=rule)
    assert (ep.start, ep.peak, ep.recovered) == (1024, 1024, True)


def test_early_spikes_of_short_runs_are_found_in_a_whole_table():
    rng = np.random.default_rng(2)
    series = {}
    for r, at in enumerate([2, 3, 5, 7, 11, 20]):
        t = np.arange(60)
        x = (0.7 * np.exp(-t / 20) + 0.3) * (1 + 4 * np.exp(-t / 3)) * np.exp(0.05 * rng.standard_normal(60))
        x[at] *= 10.0
        series[("c", r)] = x
    episodes = spike_episodes(_long_table(series))
    assert episodes["start"].tolist() == [2, 3, 5, 7, 11, 20]


def test_reads_parquet_paths_and_arrow_tables_alike(tmp_path):
    series = _random_runs(seed=1, runs=9)
    df = _long_table(series, shuffle=False)
    path = tmp_path / "steps.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=500)
    from_frame = spike_table(df)
    pd.testing.assert_frame_equal(spike_table(path), from_frame, check_dtype=False)
    pd.testing.assert_frame_equal(spike_table(str(path)), from_frame, check_dtype=False)
    pd.testing.assert_frame_equal(spike_table(pa.Table.from_pandas(df)), from_frame, check_dtype=False)


@pytest.mark.parametrize("cells", [None, 700])
def test_runs_grouped_in_any_order_give_the_same_result_as_sorted_rows(cells, monkeypatch):
    if cells:
        monkeypatch.setattr(_series, "_BATCH_CELLS", cells)
    series = _random_runs(seed=2, runs=24)
    ordered = _long_table(series, shuffle=False)
    blocks = [block for _, block in ordered.groupby(["config_id", "seed"], sort=True)]
    reversed_blocks = pd.concat(blocks[::-1], ignore_index=True)  # each run in one block, runs in reverse order
    expected = spike_analysis(ordered)
    got = spike_analysis(reversed_blocks)
    pd.testing.assert_frame_equal(got.runs, expected.runs)
    pd.testing.assert_frame_equal(got.episodes, expected.episodes)
    pd.testing.assert_frame_equal(spike_analysis(_long_table(series, seed=3)).episodes, expected.episodes)


def test_output_columns_and_types():
    x = np.r_[np.ones(40), 9.0, np.ones(20)]
    df = pd.DataFrame({"config_id": "a", "seed": 0, "step": np.arange(61), "train_loss": x})
    runs = spike_table(df)
    assert list(runs.columns) == [
        "config_id", "seed", "n_values", "n_nonfinite", "first_nonfinite", "spike_count", "spike_rate",
        "max_peak_ratio", "mean_recovery", "frac_in_episodes", "unrecovered", "diverged",
    ]
    assert str(runs["first_nonfinite"].dtype) == "Int64" and runs["first_nonfinite"].isna().all()
    episodes = spike_episodes(df)
    assert list(episodes.columns) == ["config_id", "seed", *EPISODE_COLUMNS]
    assert episodes[["start", "peak", "end"]].iloc[0].tolist() == [40, 40, 49]  # 1 + 8 * 0.3 * 0.7**m <= 1.1 first at m = 9
    assert str(episodes["recovery_steps"].dtype) == "Int64"


def test_steps_other_than_0_1_2_and_the_table_order_option():
    x = np.r_[np.ones(40), 9.0, np.ones(20)]
    df = pd.DataFrame({"run": "a", "step": np.arange(61) * 10, "loss": x})
    assert spike_episodes(df, by=["run"], value="loss")["start"].tolist() == [40]  # positions, not step values
    reversed_rows = df.iloc[::-1]
    assert spike_episodes(reversed_rows, by="run", value="loss")["start"].tolist() == [40]
    assert spike_episodes(reversed_rows, by="run", value="loss", step=None)["start"].tolist() == [20]  # as given


def test_validation_summaries_come_from_the_epochs_table():
    steps = pd.DataFrame({"config_id": ["a"] * 20 + ["b"] * 20, "seed": 0, "step": list(range(20)) * 2, "train_loss": 1.0})
    epochs = pd.DataFrame({
        "config_id": ["a", "a", "a", "c"], "seed": 0, "epoch": [2, 0, 1, 0], "val_loss": [1.0, 3.0, 2.0, 5.0],
    })
    runs = spike_table(steps, epochs=epochs)
    assert runs["config_id"].tolist() == ["a", "b", "c"]  # a run in only one table is kept
    a = runs.iloc[0]
    assert (a["best_val"], a["final_val"], a["val_auc"]) == (1.0, 1.0, 2.0)
    assert np.isnan(runs.iloc[1]["best_val"]) and np.isnan(runs.iloc[2]["n_values"])
    assert spike_table(steps, epochs=epochs, mode="max").iloc[0]["best_val"] == 3.0


def test_nulls_in_the_value_column_are_nan():
    table = pa.table({
        "config_id": ["a"] * 30, "seed": [0] * 30, "step": list(range(30)), "train_loss": [1.0] * 10 + [None] + [1.0] * 19,
    })
    row = spike_table(table).iloc[0]
    assert (row["n_nonfinite"], row["first_nonfinite"], row["diverged"]) == (1, 10, True)


def test_empty_table_gives_empty_frames():
    df = pd.DataFrame({"config_id": pd.Series([], dtype=str), "seed": pd.Series([], dtype=np.int64),
                       "step": pd.Series([], dtype=np.int64), "train_loss": pd.Series([], dtype=float)})
    result = spike_analysis(df)
    assert len(result.runs) == 0 and len(result.episodes) == 0


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (
            None,
            {"value": "train_los"},
            r"^steps: unknown column of the steps table 'train_los' \(did you mean 'train_loss'\?\); use one of: ",
        ),
        (None, {"by": ()}, r"^by: must name at least one column; use e.g. by=\('config_id', 'seed'\)$"),
        ("duplicate", {}, r"^steps.step: two rows of the same run have step 3; keep one row per \(config_id, seed, step\)$"),
        ("missing_key", {}, r"^steps.config_id: has missing values; every row needs its run key$"),
        ("missing_step", {}, r"^steps.step: must hold an integer in every row; fill in the missing values$"),
        (None, {"mode": "mni"}, r"^mode: unknown mode 'mni' \(did you mean 'min'\?\)"),
        (None, {"kk": 3}, r"^kk: unknown robust setting 'kk' \(did you mean 'k'\?\)"),
    ],
)
def test_errors_name_the_column_and_the_fix(change, kwargs, message):
    df = pd.DataFrame({"config_id": "a", "seed": 0, "step": np.arange(10), "train_loss": 1.0})
    if change == "duplicate":
        df.loc[4, "step"] = 3
    elif change == "missing_key":
        df["config_id"] = df["config_id"].astype(object)
        df.loc[2, "config_id"] = None
    elif change == "missing_step":
        df["step"] = df["step"].astype(float)
        df.loc[2, "step"] = np.nan
    with pytest.raises(UsageError, match=message):
        spike_table(df, **kwargs)


def test_a_source_of_the_wrong_kind_is_a_usage_error():
    message = r"^steps: must be a Parquet path, a pyarrow.Table or a pandas.DataFrame, but got list$"
    with pytest.raises(UsageError, match=message):
        spike_table([1, 2, 3])


def test_duplicate_steps_in_a_parquet_file_are_reported(tmp_path):
    df = pd.DataFrame({"config_id": "a", "seed": 0, "step": [0, 1, 1], "train_loss": 1.0})
    path = tmp_path / "steps.parquet"
    df.to_parquet(path)
    with pytest.raises(UsageError, match="two rows of the same run have step 1"):
        spike_table(path)
