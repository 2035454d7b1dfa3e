"""Smoke test of scripts/bench_analysis.py on a tiny table (the real sizes run by hand)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_analysis.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_analysis", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_on_a_tiny_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = _load().main(["--runs", "20", "--steps", "300", "--repeats", "1", "--baseline-runs", "10", "--json", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["rows"] == 6000 and result["pandas_baseline_extrapolated"] and result["pandas_baseline_runs"] == 10
    assert result["spike_table_median_s"] > 0 and result["speedup"] > 0
    assert result["episodes"] >= 20  # three planted spikes per run, some merged
    assert result["agreement_on_spiky_runs"] == 1.0
    printed = capsys.readouterr().out
    assert "(a) spike_table" in printed and "measured on 10 runs, scaled x2.00" in printed


def test_the_generated_table_has_the_documented_shape():
    table = _load().make_steps_table(10, 200, nan_fraction=0.5)
    assert table.num_rows == 2000
    assert table.column_names[:5] == ["config_id", "seed", "step", "epoch", "train_loss"]
    assert table.column("train_loss").to_pandas().isna().any()
