"""``tune-sched search``: run a search space on Ray Tune into an experiment directory, resumable."""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from tune_sched.config.space import SearchSpace
from tune_sched.core.errors import SearchFailed, UsageError
from tune_sched.core.yaml_io import dump_yaml, read_yaml
from tune_sched.results.experiment import create_experiment, gather_experiment, is_experiment, read_manifest
from tune_sched.results.storage import is_uri
from tune_sched.search.algorithms import make_scheduler, make_searcher, max_epochs_of
from tune_sched.search.cluster_preflight import check_cluster, check_saved
from tune_sched.search.forkserver import forkserver, forkserver_supported
from tune_sched.search.ray_session import ray_session
from tune_sched.search.reconcile import reconcile, record_errored
from tune_sched.search.shared_storage import RemoteExperiment
from tune_sched.search.summary import failed_configs, top_configs_text
from tune_sched.search.watchdog import watchdog
from tune_sched.train.preflight import preflight

__all__ = ["run_search"]

TUNE_DIR = "tune"  # Ray Tune's own state, inside the experiment directory


def run_search(
    space: SearchSpace,
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    resume: bool = False,
    address: str | None = None,
    space_name: str = "search",
    stream: TextIO | None = None,
) -> Path:
    """Run every sampled config of ``space`` on every seed; return the experiment directory.

    Without ``address`` a private local Ray is started for the search and shut down after. An existing experiment
    is continued only with ``resume=True`` (finished seeds are kept, unfinished ones continue from their last
    checkpoint); otherwise an existing name is refused before anything starts.
    """
    stream = stream or sys.stdout
    name = name or f"{space_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    if "/" in name or name in (".", ".."):
        raise UsageError(f"must be a plain directory name, but got {name!r}", path="--name", fix="e.g. --name plateau")
    remote = _remote_experiment(storage, name)  # a URI: the driver works on a local mirror of it
    given_storage = storage
    storage = remote.mirror.parent if remote else Path(storage or "experiments").expanduser().resolve()
    experiment = storage / name
    if resume:
        if not is_experiment(experiment):
            raise UsageError("there is no experiment to resume", path=str(experiment),
                             fix="check --name and --storage, or leave out --resume to start one")
        manifest = read_manifest(experiment)
        seeds = list(manifest["seeds"])
        if sorted(seeds) != sorted(space.seeds):
            raise UsageError(f"the experiment was started with seeds {seeds}, not {list(space.seeds)}",
                             path="--seeds", fix="resume with the same seeds")
        _check_same_space(experiment, space)
    elif experiment.exists():
        raise UsageError("already exists", path=str(experiment),
                         fix="pass --resume to continue it, or choose another --name")
    _preflight_configs(space)
    _check_writable(storage)  # after the checks above, which must leave nothing behind
    if not resume:
        create_experiment(experiment, space_source=space.source, metric=space.metric, mode=space.mode,
                          seeds=list(space.seeds), settings=_settings(space))
        if remote:
            remote.created()

    total = None if space.settings.algorithm == "grid" else space.settings.num_samples
    print(f"search: {space.num_configs if total is None else total} configs x {len(space.seeds)} seeds "
          f"-> {remote.uri if remote else experiment}", file=stream, flush=True)
    if address or not _ray_running():
        print(f"connecting to Ray at {address}…" if address else "starting Ray…", file=stream, flush=True)
    with contextlib.ExitStack() as stack:
        # The fork server imports torch and Lightning once for the workers on this machine. A private cluster's
        # starts before Ray, so that its imports overlap Ray's start; an existing cluster's, if it has a node here.
        private = address is None and not _ray_running()
        if private:  # a driver killed outright leaves none of its cluster's processes running
            stack.enter_context(watchdog())
        fork = _start_forkserver(stack, space, experiment) if private else None
        stack.enter_context(ray_session(address))
        if not private:
            _preflight(address, space, experiment, remote, created=not resume)
        if not private and _driver_node_in_cluster():
            fork = _start_forkserver(stack, space, experiment)
        try:
            progress = _fit(space, experiment, resume=resume, stream=stream, forkserver=fork, remote=remote)
        except KeyboardInterrupt:
            if remote is None:
                raise
            raise _interrupted(experiment, str(given_storage)) from None  # resume from the URI, not the mirror
    _finish(experiment, space, progress, stream=stream, remote=remote)
    return experiment


def _ray_running() -> bool:
    ray = sys.modules.get("ray")  # not imported yet: certainly not initialised
    return ray is not None and ray.is_initialized()


def _driver_node_in_cluster() -> bool:
    """Whether the cluster this driver is attached to has a node on this machine (its workers can fork here)."""
    # lazy: heavy
    import ray

    try:
        here = ray.util.get_node_ip_address()
        return any(node.get("Alive") and node.get("NodeManagerAddress") == here for node in ray.nodes())
    except Exception:  # noqa: BLE001 - only an optimisation: without it every worker trains in its own process
        return False


def _start_forkserver(stack: contextlib.ExitStack, space: SearchSpace, experiment: Path) -> str | None:
    """Start the search's fork server (:mod:`tune_sched.search.forkserver`) where it can serve; its socket."""
    if space.resources.gpu or not forkserver_supported():
        return None
    return stack.enter_context(forkserver(threads=max(1, int(space.resources.cpu)),
                                          log=experiment / TUNE_DIR / "forkserver.log", label=str(experiment)))


def _fit(space: SearchSpace, experiment: Path, *, resume: bool, stream: TextIO,
         forkserver: str | None = None, remote: Any = None) -> Any:
    # lazy: heavy
    import ray
    from ray import tune

    from tune_sched.search.fail_fast import FIRST, FailFast
    from tune_sched.search.progress import SearchProgress, grid_labels
    from tune_sched.search.study import close_study, study_home
    from tune_sched.search.trainable import ConfigTrainable, SearchContext

    res = space.resources
    grid = tuple(space.grid()) if space.settings.algorithm == "grid" else None
    ctx = SearchContext(experiment_dir=str(experiment), seeds=tuple(space.seeds), metric=space.metric,
                        mode=space.mode, threads=max(1, int(res.cpu)), save_every_s=space.settings.save_every_s,
                        grid=grid, forkserver=forkserver, storage_uri=remote.uri if remote else None,
                        **space.judging())
    trainable = tune.with_resources(tune.with_parameters(ConfigTrainable, ctx=ctx), {"cpu": res.cpu, "gpu": res.gpu})
    total = len(grid) if grid is not None else space.settings.num_samples
    progress = SearchProgress(total=total, mode=space.mode, stream=stream, key=experiment.name,
                              grid_labels=grid_labels(grid) if grid is not None else None,
                              max_epochs=max_epochs_of(space))
    tune_path = experiment / TUNE_DIR
    # Tune's own state: in the experiment, or at its URI (storage_fs) so that any machine can resume it
    storage_path, storage_fs = remote.tune_storage() if remote else (str(experiment), None)
    if resume:
        reconciled = reconcile(experiment, tune_path, list(space.seeds))
        if remote:
            remote.reconciled(reconciled)
        for line in reconciled.describe(experiment):
            print(line, file=stream, flush=True)
    tune_at = f"{storage_path}/{TUNE_DIR}"
    if resume and tune.Tuner.can_restore(tune_at, storage_filesystem=storage_fs):
        with progress.live():  # the restored Tuner's callback, saved with it, is unpickled as this printer
            tuner = tune.Tuner.restore(tune_at, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                       restart_errored=False, storage_filesystem=storage_fs)
    else:
        searcher, param_space = make_searcher(space, experiment)
        cpus = ray.cluster_resources().get("CPU", os.cpu_count() or 1)
        max_concurrent = space.settings.max_concurrent or max(1, int(cpus // max(res.cpu, 1e-9)))
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=make_scheduler(space), num_samples=1 if grid else total,
                max_concurrent_trials=max_concurrent, time_budget_s=space.settings.time_budget_s,
                reuse_actors=True, trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=TUNE_DIR, storage_path=storage_path, storage_filesystem=storage_fs, verbose=0,
                callbacks=[progress], stop=FailFast(first=min(FIRST, total)),
                failure_config=tune.FailureConfig(max_failures=space.settings.max_failures),
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            ),
        )
    try:
        with study_home(experiment):  # a restored searcher keeps its Optuna study in this experiment
            grid_result = tuner.fit()
    except KeyboardInterrupt:
        raise _interrupted(experiment) from None
    # Tune's own graceful stop (SIGUSR1; Ctrl-C raises above) returns normally: tell it from a finished search.
    progress.failed_fast = _failed_fast(grid_result, first=min(FIRST, total))
    unfinished = len(grid_result) - grid_result.num_terminated - grid_result.num_errors
    if progress.failed_fast is None and (
            unfinished or (space.settings.time_budget_s is None and len(grid_result) < total)):
        raise _interrupted(experiment)
    # Tune ends the configs the time budget or a stopped search cut short without telling the searcher
    close_study(experiment, why="the search stopped: its first configs all failed the same way"
                if progress.failed_fast else f"search.time_budget_s ({space.settings.time_budget_s} s) ran out")
    errored = [result for result in grid_result if result.error is not None]
    _record_errored(experiment, errored, list(space.seeds), failures=progress.failures)
    if remote:
        remote.errored([trial_id(result) for result in errored])
    return progress


def _failed_fast(grid_result: Any, *, first: int) -> tuple[str, str] | None:
    """``(reason, kind)`` when every config that finished (at least ``first``) failed on all seeds the same way:
    what stopped the search (:class:`~tune_sched.search.fail_fast.FailFast`), told from its results alone, so a
    resumed search, whose stopper Tune restored, decides the same."""
    # lazy: heavy
    from tune_sched.search.fail_fast import verdict

    finished = [r.metrics for r in grid_result if r.metrics and r.metrics.get("all_seeds_finished")]
    return verdict(finished, first=len(finished)) if len(finished) >= first else None


def _record_errored(experiment: Path, results: list[Any], seeds: list[int], *, failures: dict[str, int]) -> None:
    """Configs whose worker died more often than ``search.max_failures`` allows still get their rows (failed).

    ``results`` are Tune's (``Result``) of the configs that ended in error; ``failures`` how often each one's
    worker died (:class:`~tune_sched.search.progress.SearchProgress` counts them).
    """
    # lazy: heavy
    from tune_sched.search.progress import error_file

    for result in results:
        config_id = trial_id(result)
        died = f"{failures[config_id]} time(s)" if config_id in failures else "more than once"
        reason = (f"its worker process died {died}, more than search.max_failures allows "
                  f"(Ray's error: {error_file(result)})")
        record_errored(experiment, config_id, seeds, reason=reason)


def trial_dirname(trial: Any) -> str:
    """Tune's folder for a trial is named by its id, like the experiment's ``trials/<config_id>``."""
    return str(trial.trial_id)


def trial_id(result: Any) -> str:
    """The trial id of a Tune ``Result``: the name of its folder (:func:`trial_dirname`)."""
    return Path(result.path).name


def _interrupted(experiment: Path, storage: str | None = None) -> KeyboardInterrupt:
    """The interrupt a stopped search ends with: its resume command (``storage``: the URI it was given, quoted for a
    shell; else the experiment's parent folder)."""
    where = shlex.quote(storage) if storage else experiment.parent
    return KeyboardInterrupt(
        f"search interrupted; finished trials are kept. Resume with: tune-sched search --space "
        f"{experiment / 'space.yaml'} --storage {where} --name {experiment.name} --resume"
    )


def _finish(experiment: Path, space: SearchSpace, progress: Any, *, stream: TextIO, remote: Any = None) -> None:
    tables = remote.gather() if remote else gather_experiment(experiment)
    check_saved(progress, tables["trials"].num_rows, where=remote.uri if remote else str(experiment))
    progress.close()
    print("", file=stream)
    print(top_configs_text(tables["trials"], mode=space.mode, metric=space.metric, steps=tables["steps"],
                           **space.judging()), file=stream)
    where = f"'{remote.uri}'" if remote else experiment
    print(f"experiment: {where}", file=stream, flush=True)
    _raise_if_failed(tables["trials"], getattr(progress, "failed_fast", None), where=where)
    print(f"next: tune-sched analyze {where}", file=stream, flush=True)


def _raise_if_failed(trials: Any, failed_fast: tuple[str, str] | None, *, where: Any) -> None:
    """A search that stopped early on one repeated failure, or in which every config failed, is not a success."""
    # lazy: heavy
    from tune_sched.search.fail_fast import failed_search

    failed, total, reason = failed_configs(trials)
    if failed_fast is not None:
        raise failed_search(*failed_fast, configs=failed, experiment=where)
    if total and failed == total:
        raise SearchFailed(f"every config failed on every seed ({failed} of {total}); the commonest reason: {reason} "
                           f"(rows in {where})")


def _remote_experiment(storage: str | Path | None, name: str) -> Any:
    """For a URI ``--storage``: the experiment there, with its local mirror (see search/shared_storage.py)."""
    if not is_uri(storage):
        return None

    return RemoteExperiment.open(str(storage), name)


def _preflight(address: str | None, space: SearchSpace, experiment: Path, remote: Any, *, created: bool) -> None:
    """On an existing cluster: a node fits a trial and every such node writes where the driver reads; else the
    experiment this search created is removed again (nothing was trained) and the UsageError raised."""
    try:
        check_cluster(address, cpu=space.resources.cpu, gpu=space.resources.gpu, experiment=experiment,
                      uri=remote.uri if remote else None)
    except UsageError:
        if created:
            shutil.rmtree(experiment, ignore_errors=True)
            if remote:
                remote.remove()
        raise


def _settings(space: SearchSpace) -> dict[str, Any]:
    return {"search": asdict(space.settings), "resources": asdict(space.resources), **space.judging()}


def _check_same_space(experiment: Path, space: SearchSpace) -> None:
    """A resumed search continues what it started: the space (with the command-line overrides it was started
    with) may not change. Ray Tune restores its searcher, pruner and settings from the experiment anyway, and a
    changed grid would renumber its points."""
    import yaml  # lazy: heavy

    stored = read_yaml(experiment / "space.yaml") or {}
    given = yaml.safe_load(dump_yaml(space.source)) or {}
    changed = sorted(k for k in {*stored, *given} if stored.get(k) != given.get(k))
    if changed:
        raise UsageError(f"differs from the space the experiment was started with (changed: {', '.join(changed)})",
                         path="--space", fix=f"resume with --space {experiment / 'space.yaml'}")


def _preflight_configs(space: SearchSpace) -> None:
    """The preflight (:mod:`tune_sched.train.preflight`) of every check config of the space before Ray starts:
    the user's module imports and takes every sampled kwarg, each logger is installed; a typo costs seconds."""
    space.check_each(preflight)


def _check_writable(storage: Path) -> None:
    """Create ``storage`` and write a probe file there; on failure remove what was created and raise."""
    created = [p for p in (storage, *storage.parents) if not p.exists()]  # deepest first
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".tune-sched-write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty: never removes anything but what this created
        raise UsageError(f"cannot write there ({err.strerror or err})", path=str(storage),
                         fix="choose a writable --storage directory with free space") from None
