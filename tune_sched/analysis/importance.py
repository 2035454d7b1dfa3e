"""Which hyperparameters matter: how much of the spread in the configs' ranks each parameter explains on its own.

A simple, assumption-light measure over the configs of one experiment (numpy and pandas only), using the score's
rank (1 = best, ties averaged; a config whose every seed diverged ranks last):

- numeric parameter: the squared Spearman rank correlation between the parameter and the rank, over the configs
  that set it (at least 3, with at least 2 distinct values). Its sign says the direction: ``"higher is better"``
  when larger values go with better ranks.
- categorical parameter (text, booleans, lists, or a missing value standing for "not set"): eta squared, the share
  of the ranks' variance between the parameter's groups (a one-way ANOVA on ranks); it needs two groups and one
  group with at least two configs (a parameter with a different value in every config explains everything and
  says nothing).

Both are in [0, 1]. Each parameter is judged alone, so correlated parameters share the credit, and with fewer than
about 10 configs the numbers are rough: ``param_importance`` reports the number of configs it used.

Example:
    >>> import pandas as pd
    >>> ranking = pd.DataFrame({"score": [1.0, 2.0, 3.0, 4.0], "cfg.lr": [0.1, 0.01, 0.001, 1e-4],
    ...                         "cfg.opt": ["Adam", "Adam", "SGD", "SGD"]})
    >>> out = param_importance(ranking, ["cfg.lr", "cfg.opt"])
    >>> out[["param", "importance", "direction"]].values.tolist()
    [['cfg.lr', 1.0, 'higher is better'], ['cfg.opt', 0.8, '']]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.core.checks import as_choice
from tune_sched.core.words import Mode

__all__ = ["IMPORTANCE_COLUMNS", "param_importance"]

IMPORTANCE_COLUMNS = ("param", "kind", "importance", "direction", "n_configs")
_MIN_NUMERIC = 3


def param_importance(
    ranking: pd.DataFrame, params: Sequence[str], *, score: str = "score", mode: Mode = "min"
) -> pd.DataFrame:
    """The importance of each parameter for the score, most important first.

    Args:
        ranking: one row per config with a ``score`` column and one column per parameter.
        params: the parameter columns to judge.
        score: the score column (infinite values allowed: they rank last).
        mode: whether a lower (``"min"``) or higher score is better.

    Returns:
        Columns ``IMPORTANCE_COLUMNS``: ``kind`` is ``"numeric"`` or ``"categorical"``, ``importance`` in [0, 1]
        (NaN when the parameter cannot be judged: too few configs or values), ``direction`` for numeric ones,
        ``n_configs`` used. Sorted by importance (NaN last), then by name. Empty for no params or configs.
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    values = ranking[score].to_numpy(dtype=np.float64, na_value=np.nan)
    oriented = np.where(np.isnan(values), np.inf, values if mode == "min" else -values)
    ranks = pd.Series(oriented).rank(method="average").to_numpy()
    rows = [_judge(name, ranking[name].tolist(), ranks) for name in params]
    frame = pd.DataFrame(rows, columns=list(IMPORTANCE_COLUMNS))
    if frame.empty:
        return frame
    order = np.lexsort((frame["param"].to_numpy(), -frame["importance"].fillna(-1.0).to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _judge(name: str, values: list[Any], ranks: np.ndarray) -> dict[str, Any]:
    plain = [_plain(v) for v in values]
    numbers = [v for v in plain if v is not None]
    if numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        rho, used = _spearman([float(v) if v is not None else math.nan for v in plain], ranks)
        direction = "" if not math.isfinite(rho) or rho == 0 else ("higher is better" if rho < 0 else "lower is better")
        return {"param": name, "kind": "numeric", "importance": rho * rho, "direction": direction, "n_configs": used}
    labels = ["(not set)" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else str(v)
              for v in plain]
    return {"param": name, "kind": "categorical", "importance": _eta_squared(labels, ranks), "direction": "",
            "n_configs": len(labels)}


def _spearman(x: list[float], ranks: np.ndarray) -> tuple[float, int]:
    """Spearman's rho between ``x`` (NaN = not set, left out) and ``ranks``, and how many configs it used."""
    x_arr = np.asarray(x, dtype=np.float64)
    keep = np.isfinite(x_arr)
    used = int(keep.sum())
    if used < _MIN_NUMERIC or np.unique(x_arr[keep]).size < 2:
        return math.nan, used
    a = pd.Series(x_arr[keep]).rank(method="average").to_numpy()
    b = pd.Series(ranks[keep]).rank(method="average").to_numpy()
    if a.std() == 0 or b.std() == 0:
        return 0.0, used
    return float(np.corrcoef(a, b)[0, 1]), used


def _eta_squared(labels: list[str], ranks: np.ndarray) -> float:
    groups = pd.Series(ranks).groupby(pd.Series(labels))
    sizes = groups.size()
    if len(sizes) < 2 or sizes.max() < 2:
        return math.nan
    total = float(((ranks - ranks.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = float((sizes * (groups.mean() - ranks.mean()) ** 2).sum())
    return between / total


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
