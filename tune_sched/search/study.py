"""The search's Optuna study, told what happened: a Ray Tune ``Searcher`` on Optuna's ask-and-tell interface.

Each Tune trial (one config on all its seeds) is one Optuna trial, asked when Tune wants a config and sampled
define-by-run from the space (:meth:`~tune_sched.config.space.SearchSpace.sample`). Every score the config reports
is an intermediate value (``trial.report(score, step)``, steps 1, 2, ... one per report, continued across a
resume); how the config ended decides what the study is told (:func:`verdict`; the user attribute ``outcome``
names it like the experiment's statuses):

- completed (some seed completed): COMPLETE with its final robust score;
- diverged (every seed diverged or failed, one at least diverged): COMPLETE with the worst finite score, ±1e30
  (``aggregate.WORST``, what the config reported), so the sampler learns the region is bad (a FAIL it ignores);
- failed (every seed failed: an exception, a refused config; or its worker died more often than
  ``search.max_failures`` allows): FAIL, user attribute ``reason``;
- pruned (stopped by the pruner): PRUNED; Optuna takes its last intermediate value as its value;
- stopped (``search.time_budget_s`` ran out, or the search stopped on repeated failures): FAIL, user attribute
  ``stopped`` saying which (:func:`close_study`, at the end of the search: Tune tells a searcher nothing here);
- interrupted (Ctrl-C, SIGTERM, a killed driver): left RUNNING, since ``--resume`` continues the config in the same
  Optuna trial.

The study lives in the experiment as an Optuna journal file, ``<experiment>/optuna.log``
(:func:`open_study` or ``optuna.load_study(study_name=None, storage=JournalStorage(JournalFileBackend(path)))``).
Tune's ``save``/``restore`` carry the searcher's state, the sampler's included, and a copy of that file, so a resume
continues the same study even where the file was lost (another machine resuming an experiment at a URI).
"""

from __future__ import annotations

import contextlib
import functools
import math
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from tune_sched.config.space import SearchSpace
from tune_sched.search.algorithms import METRIC
from tune_sched.search.progress import outcome

__all__ = ["STUDY_FILE", "StudySearcher", "close_study", "open_study", "study_home", "verdict"]

STUDY_FILE = "optuna.log"
"""The study's journal file in the experiment directory."""

def verdict(result: Mapping[str, Any] | None, *, error: bool = False) -> tuple[str, float | None, str]:
    """``(state, value, outcome)`` Optuna is told for a config's last Tune result (see the module's table).

    ``state`` is an ``optuna.trial.TrialState`` name; ``outcome`` is the experiment's word for the config
    (:func:`tune_sched.search.progress.outcome`). A result without ``all_seeds_finished`` ended early, and Tune
    tells a searcher of an early end only when the pruner stopped the trial (the time budget and a stopped search
    end trials without a word: :func:`close_study` tells those).
    """
    if error or not result:
        return "FAIL", None, "failed"
    kind = outcome(dict(result))
    if kind == "pruned":
        return "PRUNED", None, kind
    score = result.get(METRIC)
    if kind == "failed" or not _finite(score):
        return "FAIL", None, "failed"
    return "COMPLETE", float(score), kind


def _uninterrupted(func: Callable[..., Any]) -> Callable[..., Any]:
    """Ctrl-C and SIGTERM wait until ``func`` has written the study: Optuna's journal file lock is not safe to
    interrupt (a KeyboardInterrupt inside its release leaves the lock behind and raises FileNotFoundError instead).

    For the call, the Python handlers of SIGINT and SIGTERM (the driver's) are replaced by one that notes the
    signal; after it, the handler runs for the first signal noted. Blocking the signals would not do: the kernel
    hands a process's signal to any thread that does not block it, and Python runs its handler in the main thread.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return func(*args, **kwargs)  # (signal handlers run in the main thread only)
        held: list[tuple[int, Any]] = []
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        handlers = {sig: handler for sig, handler in handlers.items() if callable(handler)}
        for sig in handlers:
            signal.signal(sig, lambda signum, frame: held.append((signum, frame)))
        try:
            return func(*args, **kwargs)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for signum, frame in held[:1]:
                handlers[signum](signum, frame)

    return wrapper


class StudySearcher(Searcher):
    """Tune searcher: one Optuna trial per config in the study at ``study_file``, told how each config ended.

    Args:
        space: the search space, sampled define-by-run.
        sampler: the Optuna sampler (``TPESampler``/``RandomSampler`` seeded by ``search.sampler_seed``).
        mode: ``min`` or ``max`` (the study's direction).
        study_file: the journal file (``<experiment>/optuna.log``); created with the study if missing.
        study_name: the study's name in it (the experiment's name).
    """

    def __init__(self, space: SearchSpace, *, sampler: Any, mode: str, study_file: str | Path,
                 study_name: str) -> None:
        super().__init__(metric=METRIC, mode=mode)
        self.space = space
        self.sampler = sampler
        self.study_file = str(study_file)
        self.study_name = study_name
        self.numbers: dict[str, int] = {}  # Tune trial id (the config id) -> Optuna trial number
        self.steps: dict[str, int] = {}  # the last intermediate step reported, per Tune trial
        self.told: set[str] = set()  # Tune trials whose Optuna trial is finished
        self._reset_live()

    def _reset_live(self) -> None:
        """What is never saved: the open study, this process's trial objects and last reported iterations."""
        self._study: Any = None
        self._storage: Any = None
        self._trials: dict[str, Any] = {}
        self._iterations: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_study", "_storage", "_trials", "_iterations")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_live()

    @property
    def study(self) -> Any:
        """The Optuna study (opened, or created, on first use)."""
        if self._study is None:
            # lazy: heavy
            import optuna

            self._storage = journal(self.study_file)
            self._study = optuna.create_study(storage=self._storage, sampler=self.sampler,
                                              study_name=self.study_name, load_if_exists=True,
                                              direction="minimize" if self.mode == "min" else "maximize")
        return self._study

    # -- Tune's Searcher interface -----------------------------------------------------------------------------
    @_uninterrupted
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        trial = self.study.ask()
        trial.set_user_attr("config_id", trial_id)
        run_config = self.space.sample(trial)
        self.numbers[trial_id] = trial.number
        self._trials[trial_id] = trial
        # Optuna's flat names beside the config, as Ray's OptunaSearch gave them (the progress lines show them)
        return {**trial.params, "run_config": run_config}

    @_uninterrupted
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._report(trial_id, result)

    @_uninterrupted
    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self.numbers or trial_id in self.told:
            return
        if result:
            self._report(trial_id, result)  # Tune hands a trial's last result only to this hook
        state, value, kind = verdict(result, error=error)
        trial = self._trial(trial_id)
        trial.set_user_attr("outcome", kind)
        if state == "FAIL":
            trial.set_user_attr("reason", _failure(result, error=error))
        self._tell(trial_id, state, value)

    def save(self, checkpoint_path: str) -> None:
        log = Path(self.study_file)
        journal_bytes = log.read_bytes() if log.exists() else b""
        with open(checkpoint_path, "wb") as file:
            pickle.dump({"state": self.__getstate__(), "journal": journal_bytes}, file)

    @_uninterrupted
    def restore(self, checkpoint_path: str) -> None:
        """Tune's saved state; the study is the experiment's journal when it holds what was saved, else the saved
        copy. Optuna trials of configs the restored Tune never heard of (asked after its last save) are failed."""
        # lazy: heavy
        import optuna

        with open(checkpoint_path, "rb") as file:
            saved = pickle.load(file)
        self.__setstate__(saved["state"])
        if _HOME:
            self.study_file = str(_HOME[-1] / STUDY_FILE)
        log, copy = Path(self.study_file), saved["journal"]
        if copy and not (log.exists() and log.read_bytes().startswith(copy)):
            log.parent.mkdir(parents=True, exist_ok=True)
            tmp = log.with_name(log.name + ".tmp")
            tmp.write_bytes(copy)
            tmp.replace(log)
        known = {number: trial_id for trial_id, number in self.numbers.items()}
        for frozen in self.study.get_trials(deepcopy=False):
            trial_id = known.get(frozen.number)
            if trial_id is None:
                if frozen.state == optuna.trial.TrialState.RUNNING:
                    self._close(frozen.number, "lost", "asked after the search's last saved state: the resumed "
                                                       "search never runs it")
            elif frozen.state.is_finished():
                self.told.add(trial_id)
            else:
                self.steps[trial_id] = frozen.last_step or 0

    # -- helpers -------------------------------------------------------------------------------------------------
    def _report(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """The result's score as the next intermediate value, once per Tune iteration."""
        score = result.get(self.metric)
        iteration = int(result.get("training_iteration", 0))
        if trial_id not in self.numbers or trial_id in self.told or not _finite(score):
            return
        if iteration and iteration <= self._iterations.get(trial_id, 0):
            return  # already reported (this run of the trial counts its iterations from 1)
        self._iterations[trial_id] = iteration
        step = self.steps.get(trial_id, 0) + 1
        self._trial(trial_id).report(float(score), step)
        self.steps[trial_id] = step

    def _tell(self, trial_id: str, state: str, value: float | None) -> None:
        # lazy: heavy
        import optuna

        self.study.tell(self.numbers[trial_id], value, state=optuna.trial.TrialState[state], skip_if_finished=True)
        self.told.add(trial_id)
        self._trials.pop(trial_id, None)

    def _trial(self, trial_id: str) -> Any:
        """The ``optuna.Trial`` of a Tune trial (the one asked, or, after a restore, one opened by its number)."""
        if trial_id not in self._trials:
            self._trials[trial_id] = _open_trial(self.study, self._storage, self.numbers[trial_id])
        return self._trials[trial_id]

    def _close(self, number: int, kind: str, why: str) -> None:
        _fail(self.study, self._storage, number, kind, why)


# -- the study after the search ---------------------------------------------------------------------------------
_HOME: list[Path] = []


@contextlib.contextmanager
def study_home(experiment: Path) -> Iterator[None]:
    """While open, a searcher that Tune restores in this process keeps its study in ``experiment`` (a resumed
    search whose experiment moved, or whose mirror of a URI is somewhere else on this machine)."""
    _HOME.append(Path(experiment))
    try:
        yield
    finally:
        _HOME.remove(Path(experiment))


def journal(path: str | Path) -> Any:
    """The Optuna storage of a study file: a ``JournalStorage`` on a ``JournalFileBackend``."""
    # lazy: heavy
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def open_study(experiment: str | Path) -> Any:
    """The experiment's Optuna study (``optuna.load_study`` on ``<experiment>/optuna.log``); FileNotFoundError
    for a search that kept none (``algorithm: grid``)."""
    path = Path(experiment) / STUDY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no Optuna study (a grid search keeps none)")
    return _load(path)[0]


@_uninterrupted
def close_study(experiment: str | Path, *, why: str) -> int:
    """At the end of a search that was not interrupted: fail every Optuna trial still running (Tune ended it
    without telling the searcher: the time budget ran out, or the search stopped), user attributes ``outcome:
    stopped`` and ``stopped: why``. The number of trials closed (0 without a study)."""
    # lazy: heavy
    import optuna

    path = Path(experiment) / STUDY_FILE
    if not path.exists():
        return 0
    study, storage = _load(path)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for frozen in running:
        _fail(study, storage, frozen.number, "stopped", why)
    return len(running)


def _load(path: Path) -> tuple[Any, Any]:
    """(study, storage) of the one study in the journal file ``path``."""
    # lazy: heavy
    import optuna

    storage = journal(path)
    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        raise ValueError(f"{path}: expected one Optuna study, found {len(names)}")
    return optuna.load_study(study_name=names[0], storage=storage), storage


def _open_trial(study: Any, storage: Any, number: int) -> Any:
    # lazy: heavy
    import optuna

    study_id = storage.get_study_id_from_name(study.study_name)
    return optuna.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, number))


def _fail(study: Any, storage: Any, number: int, kind: str, why: str) -> None:
    # lazy: heavy
    import optuna

    trial = _open_trial(study, storage, number)
    trial.set_user_attr("outcome", kind)
    trial.set_user_attr("stopped", why)
    study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def _failure(result: Mapping[str, Any] | None, *, error: bool) -> str:
    if error:
        return "its worker process died more often than search.max_failures allows"
    if not result:
        return "it ended before its first report"
    return str(result.get("failure") or "every seed failed")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)

