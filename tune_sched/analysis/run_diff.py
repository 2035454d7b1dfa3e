"""How far apart two runs of the same config are: the comparison behind ``tune-sched reproduce``.

What is compared, per seed: every numeric column of the epochs table at every epoch (metrics, loss components,
LR, loss weights, the step counter), the set of epochs itself, and the run's status, best/final metric, best
epoch, epochs and steps run and divergence step from ``result.json``. The deviation of two values is relative,
``|a - b| / max(|a|, |b|)`` (0 when both are 0, both NaN, or the same infinity; infinite when only one is finite or
a value or epoch is missing on one side), and the run reproduces when the largest one is at most the tolerance
(default 1e-6). Wall times are not compared. Training the runs again is ``tune_sched.rerun.reproduce``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_TOLERANCE", "RESULT_FIELDS", "Deviation", "ReproduceResult", "compare_runs", "read_result",
           "relative_deviation"]

DEFAULT_TOLERANCE = 1e-6
RESULT_FIELDS = ("best_metric", "final_metric", "best_epoch", "epochs_run", "steps_run", "diverged_step")
_KEY_COLUMNS = ("config_id", "seed", "epoch")


@dataclass(frozen=True)
class Deviation:
    """The largest difference found in one seed's comparison.

    ``metric`` is an epochs-table column, ``result.<field>`` (from result.json), ``status`` or ``epochs`` (an epoch
    on one side only); ``epoch`` is None for the result fields.
    """

    seed: int
    metric: str
    epoch: int | None
    recorded: Any
    reproduced: Any
    relative: float

    def describe(self) -> str:
        where = f" at epoch {self.epoch + 1}" if self.epoch is not None else ""  # stored from 0, printed from 1
        return (f"{self.metric}{where} of seed {self.seed}: recorded {_show(self.recorded)}, reproduced "
                f"{_show(self.reproduced)} (relative deviation {_show(self.relative)})")


@dataclass(frozen=True)
class ReproduceResult:
    """The comparison of every reproduced seed; ``ok`` when the largest deviation is within ``tolerance``."""

    source: str
    config_id: str
    tolerance: float
    deviations: dict[int, Deviation]
    compared: int
    out_dir: Path | None
    notes: tuple[str, ...] = ()

    @property
    def worst(self) -> Deviation | None:
        """The largest deviation over all seeds (the first seed's on ties); None when no seed was compared."""
        found = list(self.deviations.values())
        return max(found, key=lambda d: d.relative) if found else None

    @property
    def ok(self) -> bool:
        worst = self.worst
        return worst is not None and worst.relative <= self.tolerance

    def summary(self) -> str:
        """A few lines for the terminal: per seed, then the verdict with the largest deviation."""
        lines = [f"reproduce {self.config_id} ({self.source}): {_plural(len(self.deviations), 'seed')}, "
                 f"{self.compared} values compared"]
        for seed, d in self.deviations.items():
            where = f"{d.metric}{'' if d.epoch is None else f', epoch {d.epoch + 1}'}"
            lines.append(f"  seed {seed}: " + ("identical" if d.relative == 0 else
                                                f"largest deviation {_show(d.relative)} ({where})"))
        lines += [f"note: {note}" for note in self.notes]
        worst = self.worst
        if worst is None:
            lines.append("nothing was compared")
        elif worst.relative == 0:
            lines.append(f"reproduced: every compared value is identical (tolerance {self.tolerance:g})")
        elif self.ok:
            lines.append(f"reproduced: largest deviation {worst.describe()}, within tolerance {self.tolerance:g}")
        else:
            lines.append(f"NOT reproduced: largest deviation {worst.describe()}, beyond tolerance {self.tolerance:g}")
        if self.out_dir is not None:
            lines.append(f"the new runs are in {self.out_dir}")
        return "\n".join(lines)


def compare_runs(recorded: str | Path, reproduced: str | Path, *, seed: int) -> tuple[Deviation, int]:
    """The largest deviation between two run directories (epochs.parquet and result.json), and values compared.

    Missing files count as empty tables / empty results. Ties keep the first deviation found: status, then the
    set of epochs, then the epochs table column by column (in the recorded table's order), then result fields.
    """
    # lazy: heavy
    import pandas as pd

    recorded, reproduced = Path(recorded), Path(reproduced)
    a_result, b_result = read_result(recorded), read_result(reproduced)
    status_a, status_b = a_result.get("status"), b_result.get("status")
    candidates = [Deviation(seed, "status", None, status_a, status_b, 0.0 if status_a == status_b else math.inf)]
    compared = 1
    a, b = _read_epochs(recorded), _read_epochs(reproduced)
    only = sorted(set(a.index) ^ set(b.index))
    if only:
        epoch = only[0]
        candidates.append(Deviation(seed, "epochs", int(epoch), "present" if epoch in a.index else "missing",
                                    "present" if epoch in b.index else "missing", math.inf))
    common = a.index.intersection(b.index)
    for column in dict.fromkeys([*a.columns, *b.columns]):
        if column not in a.columns or column not in b.columns:
            epoch = int(common[0]) if len(common) else None
            candidates.append(Deviation(seed, column, epoch, "missing" if column not in a.columns else "present",
                                        "missing" if column not in b.columns else "present", math.inf))
            continue
        x = pd.to_numeric(a.loc[common, column], errors="coerce").to_numpy(dtype=float, na_value=math.nan)
        y = pd.to_numeric(b.loc[common, column], errors="coerce").to_numpy(dtype=float, na_value=math.nan)
        for epoch, xv, yv in zip(common, x, y):
            candidates.append(Deviation(seed, column, int(epoch), float(xv), float(yv), relative_deviation(xv, yv)))
        compared += len(common)
    for name in RESULT_FIELDS:
        x, y = _number(a_result.get(name)), _number(b_result.get(name))
        candidates.append(Deviation(seed, f"result.{name}", None, x, y, relative_deviation(x, y)))
        compared += 1
    worst = candidates[0]
    for found in candidates[1:]:
        if found.relative > worst.relative:
            worst = found
    return worst, compared


def relative_deviation(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)``: 0 for equal values (both NaN, the same infinity, both 0); inf when one is NaN.

    Example:
        >>> relative_deviation(1.0, 1.001) < 1e-3, relative_deviation(0.0, 0.0), relative_deviation(1.0, float("nan"))
        (True, 0.0, inf)
    """
    a, b = float(a), float(b)
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def read_result(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "result.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _read_epochs(run_dir: Path) -> Any:
    """The epochs table indexed by epoch, numeric columns only, without the run's keys."""
    # lazy: heavy
    import pandas as pd
    import pyarrow.parquet as pq

    path = run_dir / "epochs.parquet"
    frame = pq.read_table(path).to_pandas() if path.is_file() else pd.DataFrame()
    if frame.empty or "epoch" not in frame.columns:
        return pd.DataFrame(index=pd.Index([], dtype="int64", name="epoch"))
    frame = frame.set_index("epoch").drop(columns=[c for c in _KEY_COLUMNS if c in frame.columns and c != "epoch"])
    return frame.select_dtypes(include=["number", "bool"])


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
