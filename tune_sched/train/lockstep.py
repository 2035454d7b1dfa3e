"""run_seeds: train one config on several seeds in one process, epoch by epoch in lockstep.

Each seed runs ``run_trial`` in its own thread, but only one thread runs at a time: at every epoch end a seed hands
the baton back to the caller's thread, which, once every live seed has finished that epoch, sees all their
metrics together (``on_epoch``) — so a search can report one seed-aggregated value per epoch and stop all seeds of a
config together. The global RNG state is saved and restored at every hand-off, so each seed trains exactly as it
would alone: ``run_seeds(cfg, [1, 2])`` gives the same numbers as ``run_trial(cfg, 1)`` and ``run_trial(cfg, 2)``.
Data built once (the tasks cache it per process) serves every seed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tune_sched.train.trial import TrialResult, run_trial

__all__ = ["run_seeds"]

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


def run_seeds(
    config: Any,
    seeds: Sequence[int],
    out_dirs: Mapping[int, str | Path] | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    **trial_kwargs: Any,
) -> dict[int, TrialResult]:
    """Train ``config`` on every seed in lockstep; ``on_epoch(round, {seed: metrics})`` returning True stops all.

    ``trial_kwargs`` go to :func:`run_trial` (config_id, resume, checkpoint, num_threads, ...). An exception
    raised by ``on_epoch`` stops every seed cleanly and is re-raised.
    """
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, but got {list(seeds)}")
    baton = _Baton()

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

    threads = {s: threading.Thread(target=work, args=(s,), name=f"tune-sched-seed-{s}", daemon=True) for s in seeds}
    for thread in threads.values():
        thread.start()
    live = list(seeds)
    round_index = 0
    failure: BaseException | None = None
    while live:
        reports: dict[int, dict[str, float]] = {}
        for seed in list(live):
            baton.give(seed)
            if seed in baton.results or seed in baton.errors:
                live.remove(seed)
            else:
                reports[seed] = baton.reports[seed][1]
        if reports and on_epoch is not None and not baton.stop and failure is None:
            try:
                baton.stop = bool(on_epoch(round_index, reports))
            except BaseException as err:  # noqa: BLE001 - stop the seeds first, then re-raise
                failure, baton.stop = err, True
        round_index += 1
    for thread in threads.values():
        thread.join()
    if failure is not None:
        raise failure
    if baton.errors:
        raise next(iter(baton.errors.values()))
    return dict(sorted(baton.results.items()))
