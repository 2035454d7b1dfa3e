"""``tune-sched search``: run a search space on Ray Tune into an experiment directory, resumable."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from tune_sched.config.space import SearchSpace
from tune_sched.errors import UsageError

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
    from tune_sched.results.experiment import create_experiment, is_experiment, read_manifest

    stream = stream or sys.stdout
    storage = Path(storage or "experiments").expanduser().resolve()
    name = name or f"{space_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    if "/" in name or name in (".", ".."):
        raise UsageError(f"must be a plain directory name, but got {name!r}", path="--name", fix="e.g. --name plateau")
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
    _check_user_code(space)
    _check_writable(storage)  # after the checks above, which must leave nothing behind
    if not resume:
        create_experiment(experiment, space_source=space.source, metric=space.metric, mode=space.mode,
                          seeds=list(space.seeds), settings=_settings(space))

    from tune_sched.search.ray_session import ray_session

    total = None if space.settings.algorithm == "grid" else space.settings.num_samples
    print(f"search: {space.num_configs if total is None else total} configs x {len(space.seeds)} seeds "
          f"-> {experiment}", file=stream, flush=True)
    with contextlib.ExitStack() as stack:
        # The fork server imports torch and Lightning once for the workers on this machine. A private cluster's
        # starts before Ray, so that its imports overlap Ray's start; an existing cluster's, if it has a node here.
        private = address is None and not _ray_running()
        fork = _start_forkserver(stack, space, experiment) if private else None
        stack.enter_context(ray_session(address))
        if not private and _driver_node_in_cluster():
            fork = _start_forkserver(stack, space, experiment)
        progress = _fit(space, experiment, resume=resume, stream=stream, forkserver=fork)
    _finish(experiment, space, progress, stream=stream)
    return experiment


def _ray_running() -> bool:
    ray = sys.modules.get("ray")  # not imported yet: certainly not initialised
    return ray is not None and ray.is_initialized()


def _driver_node_in_cluster() -> bool:
    """Whether the cluster this driver is attached to has a node on this machine (its workers can fork here)."""
    import ray

    try:
        here = ray.util.get_node_ip_address()
        return any(node.get("Alive") and node.get("NodeManagerAddress") == here for node in ray.nodes())
    except Exception:  # noqa: BLE001 - only an optimisation: without it every worker trains in its own process
        return False


def _start_forkserver(stack: contextlib.ExitStack, space: SearchSpace, experiment: Path) -> str | None:
    """Start the search's fork server (:mod:`tune_sched.search.forkserver`) where it can serve; its socket."""
    from tune_sched.search.forkserver import forkserver, forkserver_supported

    if space.resources.gpu or not forkserver_supported():
        return None
    return stack.enter_context(forkserver(threads=max(1, int(space.resources.cpu)),
                                          log=experiment / TUNE_DIR / "forkserver.log", label=str(experiment)))


def _fit(space: SearchSpace, experiment: Path, *, resume: bool, stream: TextIO,
         forkserver: str | None = None) -> Any:
    import ray
    from ray import tune

    from tune_sched.search.algorithms import make_scheduler, make_searcher
    from tune_sched.search.progress import SearchProgress, grid_labels
    from tune_sched.search.trainable import ConfigTrainable, SearchContext

    res = space.resources
    grid = tuple(space.grid()) if space.settings.algorithm == "grid" else None
    ctx = SearchContext(experiment_dir=str(experiment), seeds=tuple(space.seeds), metric=space.metric,
                        mode=space.mode, threads=max(1, int(res.cpu)), save_every_s=space.settings.save_every_s,
                        grid=grid, forkserver=forkserver)
    trainable = tune.with_resources(tune.with_parameters(ConfigTrainable, ctx=ctx), {"cpu": res.cpu, "gpu": res.gpu})
    total = len(grid) if grid is not None else space.settings.num_samples
    progress = SearchProgress(total=total, mode=space.mode, stream=stream,
                              grid_labels=grid_labels(grid) if grid is not None else None)
    tune_path = experiment / TUNE_DIR
    if resume:
        from tune_sched.search.reconcile import reconcile

        for line in reconcile(experiment, tune_path, list(space.seeds)).describe(experiment):
            print(line, file=stream, flush=True)
    if resume and tune.Tuner.can_restore(str(tune_path)):
        tuner = tune.Tuner.restore(str(tune_path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=True, restart_errored=False)
        # Callbacks are not part of the restored state: give the progress printer to the new controller.
        tuner._local_tuner._run_config.callbacks = [progress]  # noqa: SLF001
    else:
        searcher, param_space = make_searcher(space)
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
                name=TUNE_DIR, storage_path=str(experiment), verbose=0, callbacks=[progress],
                failure_config=tune.FailureConfig(max_failures=space.settings.max_failures),
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            ),
        )
    try:
        grid_result = tuner.fit()
    except KeyboardInterrupt:
        raise _interrupted(experiment) from None
    # Tune's own graceful stop (SIGUSR1; Ctrl-C raises above) returns normally: tell it from a finished search.
    trials = grid_result._experiment_analysis.trials  # noqa: SLF001
    unfinished = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
    if unfinished or (space.settings.time_budget_s is None and len(trials) < total):
        raise _interrupted(experiment)
    _record_errored(experiment, [t for t in trials if t.status == "ERROR"], list(space.seeds))
    return progress


def _record_errored(experiment: Path, trials: list[Any], seeds: list[int]) -> None:
    """Configs whose worker died more often than ``search.max_failures`` allows still get their rows (failed)."""
    from tune_sched.search.progress import error_file
    from tune_sched.search.reconcile import record_errored

    for trial in trials:
        reason = (f"its worker process died {trial.num_failures} time(s), more than search.max_failures allows "
                  f"(Ray's error: {error_file(trial)})")
        record_errored(experiment, trial.trial_id, seeds, reason=reason)


def trial_dirname(trial: Any) -> str:
    """Tune's folder for a trial is named by its id, like the experiment's ``trials/<config_id>``."""
    return str(trial.trial_id)


def _interrupted(experiment: Path) -> KeyboardInterrupt:
    return KeyboardInterrupt(
        f"search interrupted; finished trials are kept. Resume with: tune-sched search --space "
        f"{experiment / 'space.yaml'} --storage {experiment.parent} --name {experiment.name} --resume"
    )


def _finish(experiment: Path, space: SearchSpace, progress: Any, *, stream: TextIO) -> None:
    from tune_sched.results.experiment import gather_experiment
    from tune_sched.search.summary import top_configs_text

    tables = gather_experiment(experiment)
    progress.close()
    print("", file=stream)
    print(top_configs_text(tables["trials"], mode=space.mode, metric=space.metric), file=stream)
    print(f"experiment: {experiment}\nnext: tune-sched analyze {experiment}", file=stream, flush=True)


def _settings(space: SearchSpace) -> dict[str, Any]:
    from dataclasses import asdict

    return {"search": asdict(space.settings), "resources": asdict(space.resources)}


def _check_same_space(experiment: Path, space: SearchSpace) -> None:
    """A resumed search continues what it started: the space (with the command-line overrides it was started
    with) may not change. Ray Tune restores its searcher, pruner and settings from the experiment anyway, and a
    changed grid would renumber its points."""
    import yaml

    from tune_sched.config._yaml import dump_yaml, read_yaml

    stored = read_yaml(experiment / "space.yaml") or {}
    given = yaml.safe_load(dump_yaml(space.source)) or {}
    changed = sorted(k for k in {*stored, *given} if stored.get(k) != given.get(k))
    if changed:
        raise UsageError(f"differs from the space the experiment was started with (changed: {', '.join(changed)})",
                         path="--space", fix=f"resume with --space {experiment / 'space.yaml'}")


def _check_user_code(space: SearchSpace) -> None:
    """The preflight of a space that trains the user's own module: import it (and its datamodule) and bind every
    sampled ``module_kwargs``/``datamodule_kwargs`` before Ray starts, so a typo costs seconds, not a search."""
    if "module" not in space.template:
        return
    from tune_sched.train.modules import check_user_code

    space.check_each(check_user_code)


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
