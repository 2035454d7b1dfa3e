"""The Python API for notebooks and scripts: :func:`search` and :func:`analyze`, which the CLI's verbs are a thin layer
over (the same checks, output and errors).

Example (a few seconds on a laptop: 2 configs x 2 seeds x 2 epochs of the built-in tiny task)::

    import tune_sched

    space = {"task": "tiny", "seeds": [0, 1], "search": {"algorithm": "random", "num_samples": 2},
             "optimizer": {"name": "Adam", "lr": {"min": 1e-3, "max": 3e-2, "log": True}},
             "trainer": {"max_epochs": 2}}
    experiment = tune_sched.search(space, name="notebook", storage="experiments")
    analysis = experiment.analyze()                 # or tune_sched.analyze("experiments/notebook")
    analysis.ranking[["rank", "config_id", "score", "iqm"]]
    best = analysis.best_config()                   # a RunConfig: tune_sched.run_trial(best, seed=5, out_dir=...)
    analysis.export("best.yaml")                    # the same file as `tune-sched export`
    analysis.report()                               # report.md and figures/ in the experiment

Ctrl-C (a notebook's "interrupt kernel") stops a search cleanly: Ray and the fork server are shut down, finished
seeds are kept, and a :class:`SearchInterrupted` (a ``KeyboardInterrupt``) says how to continue it: the same call
with ``resume=True``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tune_sched.core.errors import UsageError

if TYPE_CHECKING:  # the heavy modules load when a function runs, so `import tune_sched` stays light
    import pandas as pd

    from tune_sched.analysis.experiment_analysis import ExperimentAnalysis
    from tune_sched.analysis.export import ExportResult
    from tune_sched.analysis.report import Report
    from tune_sched.config.run_config import RunConfig
    from tune_sched.config.space import SearchSpace

__all__ = ["Analysis", "Experiment", "SearchInterrupted", "analyze", "search"]


class SearchInterrupted(KeyboardInterrupt):
    """A search stopped by Ctrl-C (or SIGTERM in the CLI); what finished is kept and ``resume=True`` continues it.

    Attributes:
        experiment: the experiment directory.
        command: the shell command that resumes it (what ``tune-sched search`` prints).
        call: the Python call that resumes it.
    """

    def __init__(self, message: str, *, experiment: Path, command: str, call: str) -> None:
        super().__init__(message)
        self.experiment, self.command, self.call = experiment, command, call


@dataclass(frozen=True)
class Experiment:
    """An experiment directory made by :func:`search` (or ``tune-sched search``).

    Attributes:
        path: the experiment directory (for a search on a storage URI: its local mirror).
    """

    path: Path

    @property
    def tables(self) -> dict[str, Any]:
        """The trials, epochs and steps tables as pyarrow Tables (``tune_sched.analysis.load_experiment``)."""
        # lazy: entry
        from tune_sched.results.experiment import load_experiment

        return load_experiment(self.path)

    def analyze(self, **settings: Any) -> Analysis:
        """:func:`analyze` of this experiment."""
        return analyze(self.path, **settings)


@dataclass(frozen=True)
class Analysis:
    """An analysed experiment: its ranking (best first) and what to do with it.

    Attributes:
        ranking: one row per config, best first (``rank``, ``config_id``, ``score``, ``iqm``, ``std``, ...; see
            ``ExperimentAnalysis``).
        details: the full analysis: per-run spike statistics, episodes, steps, epochs, settings.
    """

    details: ExperimentAnalysis

    @property
    def path(self) -> Path:
        return self.details.path

    @property
    def ranking(self) -> pd.DataFrame:
        return self.details.ranking

    def best_config(self, rank: int = 1, *, config_id: str | None = None) -> RunConfig:
        """The config at ``rank`` (1 = best) or with ``config_id`` as a RunConfig, on its best seed (as exported).

        Raises:
            UsageError: a rank out of range or an unknown config id (naming valid ones).
        """
        # lazy: heavy
        from tune_sched.analysis.experiment_analysis import select_config
        from tune_sched.analysis.export import exported_yaml
        from tune_sched.config.run_config import RunConfig  # lazy: entry

        row = select_config(self.details, rank=None if config_id else rank, config_id=config_id,
                            rank_path="rank", id_path="config_id")
        _, config, _, _ = exported_yaml(self.details, row)
        return RunConfig.from_dict(config)

    def export(self, path: str | Path, rank: int | None = None, *, config_id: str | None = None,
               force: bool = False) -> ExportResult:
        """Write the config at ``rank`` (default 1) or with ``config_id`` as a run config YAML (``tune-sched export``)."""
        # lazy: heavy
        from tune_sched.analysis.export import export_config

        return export_config(self.details, path, rank=rank, config_id=config_id, force=force)

    def report(self, out: str | Path | None = None, *, top: int = 3) -> Report:
        """Write ``report.md``, ``figures/*.png`` and ``analysis.parquet`` into ``out`` (default: the experiment)."""
        # lazy: heavy
        from tune_sched.analysis.experiment_analysis import write_analysis_table
        from tune_sched.analysis.report import write_report

        out = Path(out) if out is not None else self.path
        report = write_report(self.details, out, top=top)
        write_analysis_table(self.details, out)
        return report

    def __repr__(self) -> str:
        return f"Analysis({str(self.path)!r}: {len(self.ranking)} configs, metric {self.details.metric}, " \
               f"mode {self.details.mode})"


def search(
    space: str | Path | Mapping[str, Any] | SearchSpace,
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    num_samples: int | None = None,
    seeds: Sequence[int] | str | None = None,
    max_epochs: int | None = None,
    max_concurrent: int | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    address: str | None = None,
    resume: bool = False,
    stream: IO[str] | None = None,
) -> Experiment:
    """Search ``space`` on Ray Tune: every sampled config on every seed; the same as ``tune-sched search``.

    Args:
        space: a search space YAML path, a dict in the same format, or a ``SearchSpace``.
        name: the experiment's directory name (default ``<space file stem or 'search'>-<date>-<time>``).
        storage: where experiments live (default ``./experiments``), or a URI such as ``s3://bucket/dir``.
        num_samples, seeds, max_epochs, max_concurrent, cpus_per_trial, gpus_per_trial: override the space's
            settings, as the CLI's flags do (None leaves one as it is).
        address: an existing Ray cluster to attach to; default a private local Ray, shut down at the end.
        resume: continue the interrupted experiment ``name`` (finished seeds are kept).
        stream: where progress goes (default ``sys.stdout``).

    Returns:
        The experiment.

    Raises:
        UsageError: the space or an override is wrong, ``name`` exists (without ``resume``) or there is nothing
            to resume; nothing is created then.
        SearchFailed: every config failed, or the first ones all failed the same way.
        SearchInterrupted: Ctrl-C; Ray and the fork server are stopped, and the message gives the call that
            resumes the search.

    Example:
        >>> experiment = search("search_spaces/plateau.yaml", name="plateau", max_epochs=2)  # doctest: +SKIP
        >>> experiment.analyze().ranking.head()  # doctest: +SKIP
    """
    # lazy: entry
    from tune_sched.search.driver import run_search

    loaded, space_name = _space(space)
    loaded = loaded.with_overrides(num_samples=num_samples, seeds=seeds, max_epochs=max_epochs,
                                   max_concurrent=max_concurrent, cpus_per_trial=cpus_per_trial,
                                   gpus_per_trial=gpus_per_trial)
    name = name or f"{space_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    try:
        path = run_search(loaded, name=name, storage=storage, resume=resume, address=address,
                          space_name=space_name, stream=stream)
    except KeyboardInterrupt as err:
        if isinstance(err, SearchInterrupted) or not str(err):
            raise
        where = storage if storage is not None else "experiments"
        experiment = _experiment_dir(where, name)
        again = "<the same space>" if _is_uri(where) else repr(str(experiment / "space.yaml"))
        call = f"tune_sched.search({again}, name={name!r}, storage={str(where)!r}, resume=True)"
        raise SearchInterrupted(f"{err}\nIn Python: {call}", experiment=experiment, command=str(err),
                                call=call) from None
    return Experiment(path=path)


def analyze(path: str | Path, **settings: Any) -> Analysis:
    """Analyse an experiment: spikes, across-seed statistics and the ranking by the robust score.

    Args:
        path: an experiment directory (or a storage URI's experiment).
        settings: ``score``, ``spikes`` and ``n_boot`` of ``tune_sched.analysis.analyze_experiment`` (default: the
            experiment's own).

    Raises:
        UsageError: not an experiment, or no finished trial yet.

    Example:
        >>> analysis = analyze("experiments/plateau")  # doctest: +SKIP
        >>> analysis.best_config().optimizer  # doctest: +SKIP
        {'name': 'Adam', 'lr': 0.02, ...}
    """
    # lazy: heavy
    from tune_sched.analysis.experiment_analysis import analyze_experiment

    return Analysis(details=analyze_experiment(path, **settings))


def _space(space: Any) -> tuple[SearchSpace, str]:
    """The space and the name it gives an experiment by default (its file's stem, else ``search``)."""
    # lazy: entry
    from tune_sched.config.space import SearchSpace, load_search_space

    if isinstance(space, SearchSpace):
        return space, "search"
    if isinstance(space, Mapping):
        return SearchSpace.from_dict(dict(space)), "search"
    if isinstance(space, (str, Path)):
        return load_search_space(space), Path(space).stem
    raise UsageError(f"must be a path, a dict or a SearchSpace, but got {type(space).__name__}", path="space",
                     fix="e.g. tune_sched.search('search_spaces/plateau.yaml')")


def _is_uri(storage: str | Path) -> bool:
    # lazy: entry
    from tune_sched.results.storage import is_uri

    return bool(is_uri(storage))


def _experiment_dir(storage: str | Path, name: str) -> Path:
    """Where the experiment lives (for a URI, the URI joined as a path: for messages only)."""
    return Path(str(storage)) / name if _is_uri(storage) else Path(storage).expanduser().resolve() / name
