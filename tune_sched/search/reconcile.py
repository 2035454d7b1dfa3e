"""Making the experiment's trial folders agree with Ray Tune's view of the search: before a resume, and for
configs whose worker died too often.

Tune saves its experiment state every few seconds (``TUNE_GLOBAL_CHECKPOINT_S``), so a driver that was killed
(SIGKILL, Ctrl-C, a crash) may leave two kinds of folders that Tune's restored state disagrees with:

- **unknown configs**: trial folders of configs that started after the last save. Tune and its searcher restart
  from the saved state and never hear of them (the searcher may propose the same config again under a new id),
  so they would be extra rows. They are moved to ``<experiment>/discarded/<config_id>`` (kept, not gathered).
- **stopped configs without results**: configs the state records as finished (``TERMINATED``) while some seeds
  have no ``result.json``. That is a config the pruner stopped whose worker had not yet been told to stop (Tune
  tells a reused worker only when it hands it the next config). Tune will not run them again, so their seeds are
  recorded here as ``pruned`` from the tables they wrote; nothing is trained.

After a search, the seeds of a config whose worker died more often than ``search.max_failures`` allows (Tune's
``ERROR``) are recorded as ``failed`` (:func:`record_errored`), so every config has its rows.

Temporary files a killed writer left in ``trials/`` (``*.tmp``: atomic writes that never reached their rename)
are removed; no table is ever half-written, since a table only appears under its name once complete.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from tune_sched.core.words import Status, best
from tune_sched.core.yaml_io import read_yaml
from tune_sched.results.io import write_json
from tune_sched.train.trial import TrialResult, lr_changed

__all__ = ["Reconciled", "reconcile", "record_errored", "record_stopped", "saved_trials"]

DISCARDED = "discarded"
PRUNED_REASON = "stopped by the search's pruner"


@dataclass(frozen=True)
class Reconciled:
    """What :func:`reconcile` changed: config ids set aside, and (config id, seed) recorded as pruned."""

    discarded: tuple[str, ...] = ()
    pruned: tuple[tuple[str, int], ...] = ()
    removed_tmp: int = 0

    def describe(self, experiment: Path) -> list[str]:
        """Lines for the terminal (none when nothing changed)."""
        lines = []
        if self.discarded:
            lines.append(f"resume: {len(self.discarded)} config(s) started after the search's last saved state "
                         f"were set aside in {experiment / DISCARDED} ({', '.join(self.discarded)})")
        if self.pruned:
            configs = sorted({c for c, _ in self.pruned})
            lines.append(f"resume: recorded the seeds of {len(configs)} pruned config(s) whose results were not "
                         f"written before the driver stopped ({', '.join(configs)})")
        if self.removed_tmp:
            lines.append(f"resume: removed {self.removed_tmp} temporary file(s) of writes the driver's stop cut short")
        return lines


def saved_trials(tune_dir: str | Path) -> dict[str, str] | None:
    """``{trial_id: status}`` in Tune's newest saved experiment state, the one ``Tuner.restore`` continues from
    (read with ``tune.ExperimentAnalysis``); None when Tune saved none."""
    if not Path(tune_dir).is_dir():
        return None
    # lazy: heavy
    from ray import tune

    try:
        analysis = tune.ExperimentAnalysis(str(tune_dir))
    except ValueError as err:  # the driver was killed before Tune's first save; anything else is raised
        if "No experiment snapshot" not in str(err):
            raise
        return None
    return {trial.trial_id: trial.status for trial in analysis.trials}


def reconcile(experiment: str | Path, tune_dir: str | Path, seeds: list[int]) -> Reconciled:
    """Set aside the configs Tune does not know, record as pruned the stopped ones without results, and remove
    leftover temporary files. Call it only while no search runs on the experiment."""
    experiment = Path(experiment)
    stale = [p for p in (experiment / "trials").rglob("*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    known = saved_trials(tune_dir) or {}
    discarded: list[str] = []
    pruned: list[tuple[str, int]] = []
    for folder in sorted(p for p in (experiment / "trials").glob("*") if p.is_dir()):
        config_id = folder.name
        if config_id not in known:
            target = experiment / DISCARDED / config_id
            target.parent.mkdir(exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            folder.rename(target)
            discarded.append(config_id)
        elif known[config_id] == "TERMINATED":
            for seed in seeds:
                seed_dir = folder / f"seed={seed}"
                if not (seed_dir / "result.json").exists():
                    record_stopped(seed_dir, config_id=config_id, seed=seed,
                                   note="recorded on resume: the driver stopped before this seed wrote its result")
                    pruned.append((config_id, seed))
    return Reconciled(tuple(discarded), tuple(pruned), len(stale))


def record_stopped(seed_dir: Path, *, config_id: str, seed: int, status: Status = "pruned",
                   reason: str = PRUNED_REASON, note: str = "") -> TrialResult:
    """Write ``result.json`` for a seed that was stopped from outside, from the tables it wrote (or none).

    ``status`` is ``pruned`` (the pruner's decision never reached the worker; ``completed`` when its tables hold
    every epoch) or ``failed`` (the worker died more often than ``search.max_failures`` allows). Best and final metric, epochs and steps come from its tables.
    """
    # lazy: heavy
    import pyarrow.parquet as pq

    config = read_yaml(seed_dir / "config.yaml") if (seed_dir / "config.yaml").exists() else {}
    metric, mode = config.get("metric", "val_loss"), config.get("mode", "min")
    epochs = pq.read_table(seed_dir / "epochs.parquet").to_pylist() if (seed_dir / "epochs.parquet").exists() else []
    step_rows = pq.read_table(seed_dir / "steps.parquet").to_pylist() if (seed_dir / "steps.parquet").exists() else []
    steps = len(step_rows)
    if status == "pruned" and len(epochs) >= (config.get("trainer") or {}).get("max_epochs", math.inf):
        status, reason = "completed", ""  # it trained every epoch: the stop cut nothing short
    result = TrialResult(config_id=config_id, seed=seed, status=status, reason=reason, metric=metric, mode=mode,
                         epochs_run=len(epochs), steps_run=steps, wall_time_s=math.nan, notes=[note] if note else [],
                         lr_changed=lr_changed(step_rows))
    values = [(row["epoch"], row.get(metric)) for row in epochs]
    finite = [(e, v) for e, v in values if v is not None and math.isfinite(v)]
    if values and values[-1][1] is not None:
        result.final_metric = float(values[-1][1])
    if finite:
        result.best_epoch, result.best_metric = best(finite, mode, key=lambda ev: ev[1])
    write_json(seed_dir / "result.json", result.to_dict())
    return result


def record_errored(experiment: str | Path, config_id: str, seeds: list[int], *, reason: str) -> list[int]:
    """Record as ``failed`` the seeds of a config whose worker died once too often; the seeds recorded."""
    recorded = []
    for seed in seeds:
        seed_dir = Path(experiment) / "trials" / config_id / f"seed={seed}"
        if not (seed_dir / "result.json").exists():
            record_stopped(seed_dir, config_id=config_id, seed=seed, status="failed", reason=reason)
            recorded.append(seed)
    return recorded
