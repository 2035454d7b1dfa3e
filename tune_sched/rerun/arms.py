"""The two arms of ``tune-sched compare``: from two experiments, or two run configs trained here on the same seeds.

``make_arms`` checks the two sources and either reads both experiments' configs (``tune_sched.analysis.arms``) or
trains both run configs with ``run_trial`` (``arm_from_config``: each seed in ``<out_dir>/seed=<s>``) and reads the
runs back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tune_sched.analysis.arms import Arm, arm_from_experiment, arm_from_runs
from tune_sched.analysis.spike_rules import SpikeRule
from tune_sched.config.run_config import load_run_config
from tune_sched.core.errors import UsageError
from tune_sched.rerun._workdir import work_dir
from tune_sched.results.experiment import is_experiment
from tune_sched.train.preflight import preflight
from tune_sched.train.progress import EpochPrinter
from tune_sched.train.trial import run_trial

__all__ = ["arm_from_config", "make_arms"]


def make_arms(
    a: str | Path,
    b: str | Path,
    *,
    config_a: str | None = None,
    config_b: str | None = None,
    seeds: Sequence[int] | None = None,
    max_epochs: int | None = None,
    out: str | Path | None = None,
    num_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Arm, Arm]:
    """Arms A and B from two experiments (``config_a``/``config_b``, default their best) or two run configs.

    Two run configs are trained on the same ``seeds`` (default 0, 1, 2) into ``<out>/A`` and ``<out>/B`` (``out``
    new or empty; default a temporary directory, removed once the arms are read).

    Raises:
        UsageError: a directory that is no experiment, an experiment and a config mixed, or options that do not
            apply (seeds or max_epochs with experiments, config ids with run configs).
    """
    kinds = []
    for label, path in (("A", a), ("B", b)):
        if Path(path).is_dir() and not is_experiment(path):
            raise UsageError("is a directory but not an experiment", path=f"{label} ({path})",
                             fix="pass an experiment directory or a run config YAML")
        kinds.append("an experiment" if is_experiment(path) else "a run config")
    if kinds[0] != kinds[1]:
        raise UsageError(f"A ({a}) is {kinds[0]} but B ({b}) is {kinds[1]}", path="compare",
                         fix="give two experiments or two run configs")
    if kinds[0] == "an experiment":
        for flag, value in (("--seeds", seeds), ("--max-epochs", max_epochs), ("--out", out)):
            if value is not None:
                raise UsageError("applies to two run configs only (experiments bring their runs)", path=flag,
                                 fix="remove it")
        return (arm_from_experiment(a, label="A", config_id=config_a, id_path="--config-a"),
                arm_from_experiment(b, label="B", config_id=config_b, id_path="--config-b"))
    for flag, value in (("--config-a", config_a), ("--config-b", config_b)):
        if value is not None:
            raise UsageError("applies to two experiments only", path=flag, fix="remove it")
    options: dict[str, Any] = dict(seeds=list(seeds) if seeds else [0, 1, 2], max_epochs=max_epochs,
                                   num_threads=num_threads, progress=progress)
    for path in (a, b):  # both are checked before A trains: a broken B must not cost A's training first
        preflight(load_run_config(path))
    with work_dir(out, prefix="tune-sched-compare-") as work:
        return (arm_from_config(a, label="A", out_dir=work / "A", **options),
                arm_from_config(b, label="B", out_dir=work / "B", **options))


def arm_from_config(
    path: str | Path,
    *,
    label: str,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_epochs: int | None = None,
    num_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    spikes: SpikeRule | None = None,
) -> Arm:
    """Train the run config at ``path`` on ``seeds`` (into ``<out_dir>/seed=<s>``) and make it an arm.

    Raises:
        UsageError: a bad run config or ``max_epochs``.
    """
    config = load_run_config(path).with_overrides(max_epochs=max_epochs)
    out_dir = Path(out_dir)
    results = []
    for i, seed in enumerate(seeds, start=1):
        if progress:
            progress(f"training {label} ({Path(path).name}): seed {seed} ({i} of {len(seeds)})")
        printer = EpochPrinter(config, emit=progress, indent="  ") if progress else None  # per-epoch lines, as run
        result = run_trial(config, seed, out_dir / f"seed={seed}", config_id=label, checkpoint=False,
                           num_threads=num_threads, epoch_hook=printer)
        results.append(result.to_dict())
    return arm_from_runs(path, config, label=label, results=results, out_dir=out_dir, spikes=spikes)
