"""run_seeds: train one config on several seeds in one process, epoch by epoch in lockstep.

Each seed runs ``run_trial`` in its own thread, but only one thread runs at a time: at every epoch end a seed hands
the baton back to the caller's thread, which, once every live seed has finished that epoch, sees all their
metrics together (``on_epoch``) — so a search can report one seed-aggregated value per epoch and stop all seeds of a
config together. The global RNG state is saved and restored at every hand-off, so each seed trains exactly as it
would alone: ``run_seeds(cfg, [1, 2])`` gives the same numbers as ``run_trial(cfg, 1)`` and ``run_trial(cfg, 2)``.
Data built once (the tasks cache it per process) serves every seed. A seed waits for the others only inside its
epoch hook, which :func:`run_trial` leaves out of ``wall_time_s``: each seed's wall time is its own training time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tune_sched.train.trial import TrialResult, run_trial

__all__ = ["Lockstep", "run_seeds"]

EpochCallback = Callable[[int, Mapping[int, Mapping[str, float]]], bool]


class _Baton:
    """Strict turn-taking between the caller (holder ``None``) and the seed threads."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.holder: int | None = None
        self.reports: dict[int, tuple[int, dict[str, float]]] = {}
        self.results: dict[int, TrialResult] = {}
        self.errors: dict[int, BaseException] = {}
        self.stop = False

    def give(self, seed: int) -> None:
        """Caller: let ``seed`` run until it reaches an epoch end or finishes."""
        with self.cond:
            self.holder = seed
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.holder is None)

    def wait_turn(self, seed: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.holder == seed)

    def yield_epoch(self, seed: int, epoch: int, metrics: dict[str, float]) -> bool:
        """Seed thread: publish this epoch, pause until the caller gives the turn back; True means stop."""
        # lazy: heavy
        from tune_sched.train.rng import rng_state, set_rng_state

        state = rng_state()
        with self.cond:
            self.reports[seed] = (epoch, metrics)
            self.holder = None
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.holder == seed)
        set_rng_state(state)
        return self.stop

    def finish(self, seed: int) -> None:
        with self.cond:
            self.holder = None
            self.cond.notify_all()


class Lockstep:
    """Several seeds of one config, advanced one epoch at a time by :meth:`step` (Ray Tune's class trainable
    calls it once per iteration).

    ``trial_kwargs`` go to :func:`run_trial` (config_id, resume, checkpoint, num_threads, ...).
    """

    def __init__(self, config: Any, seeds: Sequence[int], out_dirs: Mapping[int, str | Path] | None = None,
                 **trial_kwargs: Any) -> None:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, but got {list(seeds)}")
        self._baton = _Baton()
        self.live = list(seeds)
        self.rounds = 0
        baton = self._baton

        def work(seed: int) -> None:
            baton.wait_turn(seed)
            try:
                baton.results[seed] = run_trial(
                    config, seed, None if out_dirs is None else out_dirs[seed],
                    epoch_hook=lambda epoch, metrics: baton.yield_epoch(seed, epoch, metrics), **trial_kwargs,
                )
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                baton.errors[seed] = err
            finally:
                baton.finish(seed)

        self._threads = [threading.Thread(target=work, args=(s,), name=f"tune-sched-seed-{s}", daemon=True)
                         for s in seeds]
        for thread in self._threads:
            thread.start()

    @property
    def done(self) -> bool:
        return not self.live

    @property
    def results(self) -> dict[int, TrialResult]:
        return dict(sorted(self._baton.results.items()))

    def step(self) -> dict[int, dict[str, float]]:
        """Run every live seed through its next epoch; their epoch metrics (a finished seed reports nothing)."""
        reports: dict[int, dict[str, float]] = {}
        for seed in list(self.live):
            self._baton.give(seed)
            if seed in self._baton.results or seed in self._baton.errors:
                self.live.remove(seed)
            else:
                reports[seed] = self._baton.reports[seed][1]
        self.rounds += 1
        if self.done:
            self._join()
        return reports

    def stop(self) -> dict[int, TrialResult]:
        """Stop every seed at its current epoch end (their status becomes ``pruned``) and wait for them."""
        self._baton.stop = True
        while not self.done:
            self.step()
        return self.results

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()
        if self._baton.errors:
            raise next(iter(self._baton.errors.values()))


def run_seeds(
    config: Any,
    seeds: Sequence[int],
    out_dirs: Mapping[int, str | Path] | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    **trial_kwargs: Any,
) -> dict[int, TrialResult]:
    """Train ``config`` on every seed in lockstep; ``on_epoch(round, {seed: metrics})`` returning True stops all.

    An exception raised by ``on_epoch`` stops every seed cleanly and is re-raised.
    """
    lock = Lockstep(config, seeds, out_dirs, **trial_kwargs)
    while not lock.done:
        reports = lock.step()
        if reports and on_epoch is not None:
            try:
                stop = on_epoch(lock.rounds - 1, reports)
            except BaseException:
                lock.stop()
                raise
            if stop:
                lock.stop()
    return lock.results
