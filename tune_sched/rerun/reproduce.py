"""Reproduce a run: train it again with ``run_trial`` and check that every recorded number comes back.

Two sources:

- ``reproduce_trial(experiment, config_id)``: each recorded seed of one config of an experiment is trained again
  from its recorded ``config.yaml`` and compared with its recorded ``epochs.parquet`` and ``result.json``.
- ``reproduce_config(config.yaml)``: the config is trained twice per seed and the two runs compared; or, with
  ``against=RUN_DIR`` (a directory made by ``tune-sched run``), trained once on that run's seed and compared with it.

What is compared and how: ``tune_sched.analysis.run_diff``.

A seed the search pruned is trained again for as many epochs as it had (and stops as pruned). A recorded failure
from outside the training (a crashed worker) cannot come back, so its status differs and the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tune_sched.analysis.run_diff import DEFAULT_TOLERANCE, ReproduceResult, compare_runs, read_result
from tune_sched.config.run_config import load_run_config
from tune_sched.core.errors import UsageError
from tune_sched.core.words import flatten
from tune_sched.rerun._workdir import work_dir
from tune_sched.results.experiment import is_experiment, read_manifest, seed_dir
from tune_sched.results.storage import local_experiment
from tune_sched.train.preflight import preflight
from tune_sched.train.progress import EpochPrinter
from tune_sched.train.trial import run_trial

__all__ = ["reproduce", "reproduce_config", "reproduce_trial"]

THREADS_FIELD = "num_threads"
"""The result.json key with the torch thread count a run trained with; reproduce uses it when present."""
_THREADS_NOTE = ("the recorded run does not say how many torch threads it used, and results can differ in the last "
                 "digits between thread counts: try --threads with the count it ran with (the search uses its "
                 "cpus per trial)")
Progress = Callable[[str], None]


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
    # lazy: heavy
    from tune_sched.analysis.experiment_analysis import unknown_config

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
            record = read_result(record_dir)
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
            record = read_result(against)
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


def _train(config: Any, seed: int, out_dir: Path, *, config_id: str = "run", num_threads: int | None,
           stop_after: int | None = None, progress: Progress | None = None) -> None:
    """``run_trial`` without checkpoints; ``stop_after`` epochs ends it as pruned (as the search's pruner did).

    With ``progress``, each epoch's line (as ``tune-sched run`` prints it, indented) is passed to it.
    """
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


