"""Analysis: loss-spike detection, across-seed statistics, the robust score and ranking (numpy/pandas only).

Names load lazily so that importing one piece does not import them all.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Episode": "spikes", "detect_spikes": "spikes", "run_spike_stats": "spikes",
    "SpikeRule": "spike_rules", "make_rule": "spike_rules", "RULES": "spike_rules",
    "spike_table": "spike_table", "spike_episodes": "spike_table", "spike_analysis": "spike_table",
    "SpikeAnalysis": "spike_table",
    "iqm": "stats", "cvar": "stats", "worst": "stats", "bootstrap_ci": "stats", "wilson_interval": "stats",
    "seed_summary": "stats", "summarize_seeds": "stats",
    "robust_score": "score", "rank_configs": "score", "pareto_front": "score", "ScoreSettings": "score",
    "bootstrap_diff_ci": "stats",
    "ExperimentAnalysis": "experiment_analysis", "analyze_experiment": "experiment_analysis",
    "write_analysis_table": "experiment_analysis", "config_families": "experiment_analysis",
    "arm_table": "arm_table", "arm_sentences": "arm_table", "param_importance": "importance", "write_report": "report",
    "export_config": "export", "compare_runs": "run_diff", "relative_deviation": "run_diff", "Arm": "arms",
    "arm_from_experiment": "arms", "Comparison": "compare", "compare_arms": "compare",
    "load_experiment": "tune_sched.results.experiment",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tune_sched.analysis' has no attribute {name!r}")
    where = _EXPORTS[name]
    module = importlib.import_module(where if "." in where else f"tune_sched.analysis.{where}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
