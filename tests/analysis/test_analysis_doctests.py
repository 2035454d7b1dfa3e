"""The examples in the analysis modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["spikes", "spike_table", "stats", "score", "importance", "ranking_table", "run_diff", "compare"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"tune_sched.analysis.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_analysis_imports_neither_torch_nor_ray():
    import subprocess
    import sys

    code = (
        "import sys, tune_sched.analysis.spike_table, tune_sched.analysis.score, tune_sched.analysis.spikes,"
        " tune_sched.analysis.experiment_analysis, tune_sched.analysis.report, tune_sched.analysis.export,"
        " tune_sched.analysis.run_diff, tune_sched.analysis.arms;"
        "bad = [m for m in ('torch', 'ray', 'optuna', 'pytorch_lightning', 'scipy.signal') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
