"""Reproduce a run: train it again with ``run_trial`` and check that every recorded number comes back.

Two sources:

- ``reproduce_trial(experiment, config_id)``: each recorded seed of one config of an experiment is trained again
  from its recorded ``config.yaml`` and compared with its recorded ``epochs.parquet`` and ``result.json``.
- ``reproduce_config(config.yaml)``: the config is trained twice per seed and the two runs compared; or, with
  ``against=RUN_DIR`` (a directory made by ``tune-sched run``), trained once on that run's seed and compared with it.

What is compared, per seed: every numeric column of the epochs table at every epoch (metrics, loss components,
LR, loss weights, the step counter), the set of epochs itself, and the run's status, best/final metric, best
epoch, epochs and steps run and divergence step from ``result.json``. The deviation of two values is relative,
``|a - b| / max(|a|, |b|)`` (0 when both are 0, both NaN, or the same infinity; infinite when only one is finite or
a value or epoch is missing on one side), and the run reproduces when the largest one is at most the tolerance
(default 1e-6). Wall times are not compared.

A seed the search pruned is trained again for as many epochs as it had (and stops as pruned). A recorded failure
from outside the training (a crashed worker) cannot come back, so its status differs and the result says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_sched.analysis._workdir import work_dir
from tune_sched.core.errors import UsageError
from tune_sched.core.words import flatten

__all__ = [
    "DEFAULT_TOLERANCE", "Deviation", "ReproduceResult", "compare_runs", "relative_deviation", "reproduce",
    "reproduce_config", "reproduce_trial",
]

DEFAULT_TOLERANCE = 1e-6
THREADS_FIELD = "num_threads"
"""The result.json key with the torch thread count a run trained with; reproduce uses it when present."""
_THREADS_NOTE = ("the recorded run does not say how many torch threads it used, and results can differ in the last "
                 "digits between thread counts: try --threads with the count it ran with (the search uses its "
                 "cpus per trial)")
RESULT_FIELDS = ("best_metric", "final_metric", "best_epoch", "epochs_run", "steps_run", "diverged_step")
_KEY_COLUMNS = ("config_id", "seed", "epoch")
Progress = Callable[[str], None]


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


def reproduce(
    source: str | Path,
    *,
    trial: str | None = None,
    against: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    out: str | Path | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> ReproduceResult:
    """``reproduce_trial`` for an experiment directory (``trial`` required), ``reproduce_config`` for a YAML file.

    Raises:
        UsageError: a directory that is no experiment, an experiment without ``trial``, ``trial`` with a config,
            ``against`` with an experiment; and the errors of the two functions.
    """
    from tune_sched.results.experiment import is_experiment
    from tune_sched.results.storage import local_experiment

    source = local_experiment(source)  # an experiment at a URI is read from its local mirror
    options: dict[str, Any] = dict(seeds=seeds, tolerance=tolerance, out=out, num_threads=num_threads,
                                   progress=progress)
    if source.is_dir():
        if not is_experiment(source):
            raise UsageError("is a directory but not an experiment", path=str(source),
                             fix="pass an experiment directory with --trial ID, or a run config YAML")
        if not trial:
            raise UsageError("is required for an experiment", path="--trial",
                             fix=f"name the config to reproduce, e.g. from 'tune-sched analyze {source}'")
        if against is not None:
            raise UsageError("applies to a run config only", path="--against", fix="remove it")
        return reproduce_trial(source, trial, **options)
    if trial:
        raise UsageError("applies to an experiment only", path="--trial", fix="remove it, or pass an experiment")
    return reproduce_config(source, against=against, **options)


def reproduce_trial(
    experiment: str | Path,
    config_id: str,
    *,
    seeds: Sequence[int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    out: str | Path | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> ReproduceResult:
    """Train the recorded seeds of ``config_id`` again and compare them with the experiment's records.

    Args:
        experiment: the experiment directory.
        config_id: the config (trial id) to reproduce.
        seeds: which of its recorded seeds (default: all).
        tolerance: the largest relative deviation that still counts as reproduced.
        out: where to keep the new runs (``<out>/<config_id>/seed=<s>``; must be new or empty); default a
            temporary directory, deleted afterwards.
        num_threads: torch threads for training. None: the count in the recorded result.json's ``num_threads``
            when it has one, else the search's (its CPUs per trial, from the manifest), else torch's default.
            Results can differ in the last digits between thread counts.
        progress: called with a line before each training.

    Raises:
        UsageError: not an experiment, an unknown config id or seed, a bad tolerance, or a non-empty ``out``.
    """
    from tune_sched.analysis.experiment_analysis import unknown_config
    from tune_sched.results.experiment import read_manifest, seed_dir

    manifest = read_manifest(experiment)  # also checks that it is an experiment
    _check_tolerance(tolerance)
    trials = Path(experiment) / "trials"
    ids = sorted(p.name for p in trials.iterdir() if any(p.glob("seed=*/result.json"))) if trials.is_dir() else []
    if config_id not in ids:
        raise unknown_config(config_id, ids, path="--trial")
    recorded = sorted(int(p.parent.name.removeprefix("seed=")) for p in (trials / config_id).glob("seed=*/result.json"))
    chosen = _pick_seeds(seeds, recorded, f"config {config_id!r}")
    pairs = [(seed, seed_dir(experiment, config_id, seed)) for seed in chosen]
    with work_dir(out, prefix="tune-sched-reproduce-") as work:
        deviations, compared, notes = {}, 0, set()
        for i, (seed, record_dir) in enumerate(pairs, start=1):
            config = _load_config(record_dir / "config.yaml")
            record = _read_result(record_dir)
            notes |= _determinism_notes(config) | _status_notes(record, seed)
            threads = num_threads if num_threads is not None else record.get(THREADS_FIELD, _search_threads(manifest))
            if progress:
                progress(f"seed {seed}: training ({i} of {len(pairs)})")
            new_dir = work / config_id / f"seed={seed}"
            stop = int(record.get("epochs_run") or 0) if record.get("status") == "pruned" else None
            _train(config, seed, new_dir, config_id=config_id, num_threads=threads, stop_after=stop, progress=progress)
            deviations[seed], n = compare_runs(record_dir, new_dir, seed=seed)
            compared += n
            if deviations[seed].relative > tolerance and threads is None:
                notes.add(_THREADS_NOTE)
        return ReproduceResult(source=str(experiment), config_id=config_id, tolerance=tolerance, deviations=deviations,
                               compared=compared, out_dir=Path(out) if out is not None else None,
                               notes=tuple(sorted(notes)))


def reproduce_config(
    config_path: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    against: str | Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    out: str | Path | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> ReproduceResult:
    """Train a run config twice per seed and compare, or once against a recorded run (``against``).

    Args:
        config_path: a run config YAML file.
        seeds: seeds to run (default: the config's own seed, or the recorded run's seed with ``against``).
        against: a run directory made by ``tune-sched run`` with the same config (the seed may differ).
        tolerance, out, progress: as for ``reproduce_trial`` (new runs go to ``<out>/seed=<s>/``).
        num_threads: torch threads (None: the recorded run's ``num_threads`` if it has one, else torch's default).

    Raises:
        UsageError: a bad config, ``against`` not a run directory or trained with a different config, seeds
            that ``against`` does not have, a bad tolerance, or a non-empty ``out``.
    """
    _check_tolerance(tolerance)
    config = _load_config(config_path)
    notes = _determinism_notes(config)
    with work_dir(out, prefix="tune-sched-reproduce-") as work:
        deviations, compared = {}, 0
        if against is not None:
            against = Path(against)
            recorded = _check_against(config, config_path, against)
            chosen = _pick_seeds(seeds, [recorded.seed], f"the run in {against}")
            record = _read_result(against)
            threads = num_threads if num_threads is not None else record.get(THREADS_FIELD)
            for seed in chosen:
                if progress:
                    progress(f"seed {seed}: training (1 of 1)")
                _train(config, seed, work / f"seed={seed}", num_threads=threads, progress=progress)
                deviations[seed], n = compare_runs(against, work / f"seed={seed}", seed=seed)
                compared += n
                if deviations[seed].relative > tolerance and threads is None:
                    notes.add(_THREADS_NOTE)
            source = f"{config_path} against {against}"
        else:
            chosen = list(seeds) if seeds else [config.seed]
            for seed in chosen:
                runs = [work / f"seed={seed}" / name for name in ("first", "second")]
                for i, run_dir in enumerate(runs, start=1):
                    if progress:
                        progress(f"seed {seed}: training run {i} of 2")
                    _train(config, seed, run_dir, num_threads=num_threads, progress=progress)
                deviations[seed], n = compare_runs(runs[0], runs[1], seed=seed)
                compared += n
            source = f"{config_path}, trained twice"
        return ReproduceResult(source=source, config_id=Path(config_path).stem, tolerance=tolerance,
                               deviations=deviations, compared=compared,
                               out_dir=Path(out) if out is not None else None, notes=tuple(sorted(notes)))


def compare_runs(recorded: str | Path, reproduced: str | Path, *, seed: int) -> tuple[Deviation, int]:
    """The largest deviation between two run directories (epochs.parquet and result.json), and values compared.

    Missing files count as empty tables / empty results. Ties keep the first deviation found: status, then the
    set of epochs, then the epochs table column by column (in the recorded table's order), then result fields.
    """
    import pandas as pd

    recorded, reproduced = Path(recorded), Path(reproduced)
    a_result, b_result = _read_result(recorded), _read_result(reproduced)
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


def _train(config: Any, seed: int, out_dir: Path, *, config_id: str = "run", num_threads: int | None,
           stop_after: int | None = None, progress: Progress | None = None) -> None:
    """``run_trial`` without checkpoints; ``stop_after`` epochs ends it as pruned (as the search's pruner did).

    With ``progress``, each epoch's line (as ``tune-sched run`` prints it, indented) is passed to it.
    """
    from tune_sched.train.progress import EpochPrinter
    from tune_sched.train.trial import run_trial

    printer = EpochPrinter(config, emit=progress, indent="  ") if progress else None

    class Hook:  # a class, so that run_trial hands the printer its clock (EpochPrinter.use_clock)
        def use_clock(self, clock: Any) -> None:
            if printer is not None:
                printer.use_clock(clock)

        def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
            if printer is not None:
                printer(epoch, metrics)
            return stop_after is not None and epoch + 1 >= stop_after

    hook = Hook() if printer is not None or stop_after is not None else None

    run_trial(config, seed, out_dir, config_id=config_id, checkpoint=False, num_threads=num_threads, epoch_hook=hook)


def _search_threads(manifest: dict[str, Any]) -> int | None:
    """The torch threads a search gave each trial: its CPUs per trial, at least 1 (None if not recorded)."""
    cpu = ((manifest.get("settings") or {}).get("resources") or {}).get("cpu")
    return max(1, int(cpu)) if isinstance(cpu, (int, float)) else None


def _status_notes(record: dict[str, Any], seed: int) -> set[str]:
    if record.get("status") == "pruned":
        return {f"seed {seed} was pruned by the search after {record.get('epochs_run')} epochs: the new run stops "
                "there too"}
    if record.get("status") == "failed":
        return {f"seed {seed} failed when recorded ({record.get('reason') or 'no reason recorded'}); a failure from "
                "outside the training, such as a crashed worker, does not come back"}
    return set()


def _load_config(path: str | Path) -> Any:
    from tune_sched.config.run_config import load_run_config
    from tune_sched.train.preflight import preflight

    config = load_run_config(path)
    preflight(config)
    return config


def _check_against(config: Any, config_path: str | Path, against: Path) -> Any:
    """The recorded run's config; an error when ``against`` is no run directory or trained another config."""
    if not (against / "result.json").is_file() or not (against / "config.yaml").is_file():
        raise UsageError("is not a run directory (no result.json and config.yaml)", path=f"--against {against}",
                         fix="pass a directory made by 'tune-sched run'")
    recorded = _load_config(against / "config.yaml")
    mine, theirs = flatten(config.to_dict()), flatten(recorded.to_dict())
    differ = sorted(k for k in set(mine) | set(theirs) if k != "seed" and mine.get(k) != theirs.get(k))
    if differ:
        shown = ", ".join(differ[:5]) + (" ..." if len(differ) > 5 else "")
        raise UsageError(f"differs from the run in {against} at {shown}", path=str(config_path),
                         fix=f"pass that run's own config ({against / 'config.yaml'}), or use 'tune-sched compare'")
    return recorded


def _pick_seeds(seeds: Sequence[int] | None, recorded: list[int], what: str) -> list[int]:
    if not seeds:
        return list(recorded)
    missing = [s for s in seeds if s not in recorded]
    if missing:
        raise UsageError(f"{what} has no recorded seed {missing[0]}", path="--seeds",
                         fix=f"use some of: {', '.join(map(str, recorded))}")
    return list(seeds)


def _check_tolerance(tolerance: float) -> None:
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise UsageError(f"must be a finite number >= 0, but got {tolerance!r}", path="--tolerance",
                         fix="e.g. --tolerance 1e-6 (relative)")


def _determinism_notes(config: Any) -> set[str]:
    if not config.trainer.deterministic:
        return {"trainer.deterministic is false: runs may differ in the last digits"}
    return set()


def _read_result(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "result.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _read_epochs(run_dir: Path) -> Any:
    """The epochs table indexed by epoch, numeric columns only, without the run's keys."""
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
