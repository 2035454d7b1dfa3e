"""Search progress on the terminal: configs done / running / pruned / failed and the best robust score so far.

On a terminal one status line is rewritten in place; otherwise (CI, a log file) plain lines are printed when a
config finishes, and a status line at most every ``interval_s`` seconds.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

from ray import tune

from tune_sched.core.words import STATUSES, better, flatten
from tune_sched.search.aggregate import WORST

__all__ = ["OUTCOMES", "SearchProgress", "grid_labels", "outcome"]

OUTCOMES = STATUSES
"""A config's outcome, named like a seed's status."""


class SearchProgress(tune.Callback):
    """A Tune callback that prints progress; ``status_text()`` gives the counts so far.

    A config's outcome comes from its seeds (the trainable reports ``seeds_<status>`` counts when they finished):
    ``completed`` if any seed completed, else ``diverged`` or ``failed``; ``pruned`` if the pruner stopped
    it, and ``failed`` too when its worker died more often than ``search.max_failures`` allows. The counts and the
    best score are kept in Tune's experiment state, so a resumed search continues them.
    """

    def __init__(self, *, total: int | None, mode: str, stream: TextIO | None = None,
                 interval_s: float = 10.0, grid_labels: Sequence[str] | None = None, key: str = "",
                 max_epochs: int | None = None) -> None:
        self.key = key  # names this search's printer while it is live (see :meth:`live`)
        self.total = total
        self.grid_labels = tuple(grid_labels or ())  # how grid point i is named in the output
        self.mode = mode
        self._stream = stream
        self.interval_s = interval_s
        self.start = time.perf_counter()
        self.before_s = 0.0  # time spent by the runs of this search before a resume
        self.first_result_s: float | None = None
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.nodes: set[str] = set()  # the IPs of the nodes whose trials reported (Tune's ``node_ip``)
        self.running: set[str] = set()
        self.max_epochs = max_epochs  # the epochs a config trains unless pruned (the pruner's horizon)
        self.epochs: dict[str, int] = {}  # running trial id -> epochs its seeds have trained (lockstep)
        self.finished_epochs: list[int] = []  # the epochs each finished config trained (pruned ones fewer)
        self.failures: dict[str, int] = {}  # trial id -> times its worker died, for the configs that errored
        self.best: tuple[float, str, str] | None = None  # (score, trial id, short config)
        self._last_status: float | None = None  # perf_counter() counts from an arbitrary point: never 0.0
        self._printed = ""  # the last status line printed (not on a terminal)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    @property
    def tty(self) -> bool:
        return self.stream.isatty()

    @property
    def elapsed_s(self) -> float:
        return self.before_s + time.perf_counter() - self.start

    @contextlib.contextmanager
    def live(self) -> Iterator[SearchProgress]:
        """While open, this printer is the one a ``Tuner.restore`` in this process gives back (same ``key``).

        Tune saves a Tuner's callbacks with it and a restored Tuner uses those (``Tuner.restore`` takes none), so
        a resumed search's events would reach a copy that prints nowhere useful. A pickled printer is a reference
        instead: unpickled while its live printer is open, it is that printer, stream and all; Tune then gives it
        the saved counts through :meth:`set_state`. Unpickled elsewhere, it is a copy printing to stdout.
        """
        _LIVE[self.key] = self
        try:
            yield self
        finally:
            if _LIVE.get(self.key) is self:
                del _LIVE[self.key]

    def __reduce__(self) -> tuple[Any, ...]:
        return _unpickle, (self.key, {**self.__dict__, "_stream": None})

    # -- Tune hooks ----------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "best": self.best, "elapsed_s": self.elapsed_s,
                "failures": dict(self.failures), "finished_epochs": list(self.finished_epochs)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.counts.update(state.get("counts", {}))
        self.failures.update(state.get("failures", {}))
        self.best = state.get("best")
        self.before_s = float(state.get("elapsed_s", 0.0))
        self.finished_epochs = list(state.get("finished_epochs", []))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._status()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(f"retrying  {trial.trial_id}  (its worker died; its seeds continue from their last "
                   "checkpoints)")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.first_result_s is None:
            self.first_result_s = time.perf_counter() - self.start
        if result.get("node_ip"):
            self.nodes.add(str(result["node_ip"]))
        if isinstance(result.get("epoch"), (int, float)) and trial.trial_id in self.running:
            self.epochs[trial.trial_id] = int(result["epoch"])
        if result.get("all_seeds_finished"):
            self._offer(result.get("score"), trial)
        self._status()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        result = trial.last_result or {}
        kind = outcome(result)
        self.counts[kind] += 1
        self._offer(result.get("score"), trial)  # the score its line prints is a score the status line knows
        self.finished_epochs.append(int(result.get("epoch") or self.epochs.get(trial.trial_id, 0)))
        self.epochs.pop(trial.trial_id, None)
        self._line(f"{kind:9s} {trial.trial_id}  score {_fmt(result.get('score'))}  {self._describe(trial.config)}"
                   f"{_seed_note(result)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.finished_epochs.append(self.epochs.pop(trial.trial_id, 0))
        self.failures[trial.trial_id] = int(trial.num_failures)
        self.counts["failed"] += 1
        self._line(f"failed    {trial.trial_id}  {self._describe(trial.config)}  (its worker died; Ray's error: "
                   f"{error_file(trial)})")

    # -- output --------------------------------------------------------------------------------------------
    def status_text(self, width: int | None = None) -> str:
        """The status line; with ``width``, whole parts of it are left out, least useful first, until it fits.

        In order of priority: elapsed time and configs done; configs running; the best score; the ETA
        (``ETA ~12 min``, once a config finished); each running config's epochs done of planned (``epochs 3/30
        5/30``); the best config's id; its values. Words are never cut: a part fits
        whole or is left out (only the first, on a terminal narrower than it, is cut at the edge).
        """
        done = sum(self.counts.values())
        total = f"/{self.total}" if self.total else ""
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n or kind in ("completed", "pruned"))
        head = f"[{self.elapsed_s:.0f} s] configs done {done}{total}: {counts}"
        parts = [(0, head), (1, f"{len(self.running)} running")]
        planned = f"/{self.max_epochs}" if self.max_epochs else ""
        epochs = [f"{self.epochs.get(t, 0)}{planned}" for t in sorted(self.running)]
        if epochs:
            parts.append((4, "epochs " + " ".join(epochs)))
        if self.best:
            parts.append((2, f"best score {_fmt(self.best[0])}"))
            parts.append((5, f" ({self.best[1]}"))
            parts.append((6, f": {self.best[2]}"))
            parts.append((5, ")"))
        else:
            parts.append((2, "no score yet"))
        eta = self.eta_s()
        if eta is not None:
            parts.append((3, f"ETA ~{round(eta / 60)} min" if eta >= 30 else "ETA <1 min"))
        keep = {priority for priority, _ in parts}
        while True:
            text = _join([(p, t) for p, t in parts if p in keep])
            if width is None or len(text) <= width or keep == {0}:
                return text if width is None else text[:width]
            keep.discard(max(keep))

    def eta_s(self) -> float | None:
        """Seconds until the search ends, or None before a config finished (or without a known total).

        Epochs left (each running config's planned less done, each config not started yet as many as the
        finished configs trained on average: the pruner's share is in that mean) over the epochs trained per
        second so far. An estimate: a time budget, failures or a pruner that cuts harder later shorten it.
        """
        if not self.finished_epochs or not self.total:
            return None
        mean = sum(self.finished_epochs) / len(self.finished_epochs)
        running = sum(self.epochs.get(t, 0) for t in self.running)
        trained = sum(self.finished_epochs) + running
        if trained <= 0 or self.elapsed_s <= 0:
            return None
        planned = self.max_epochs or mean
        left = sum(max(0.0, planned - self.epochs.get(t, 0)) for t in self.running)
        left += max(0, self.total - len(self.finished_epochs) - len(self.running)) * mean
        return left / (trained / self.elapsed_s) if left > 0 else None

    def close(self) -> None:
        """End the output: the final status stays on screen (printed once more only if it changed)."""
        if self.tty:
            self._status()
            self.stream.write("\n")
            self.stream.flush()
        elif self.status_text().split("]", 1)[1] != self._printed.split("]", 1)[-1]:
            self._printed = self.status_text()
            print(self._printed, file=self.stream, flush=True)

    def _status(self) -> None:
        now = time.perf_counter()
        if self.tty:
            width = _width()  # one screen row, padded: each redraw covers the previous one entirely
            self.stream.write("\r" + self.status_text(width).ljust(width))
            self.stream.flush()
        elif self._last_status is None or now - self._last_status >= self.interval_s:
            self._last_status = now
            self._printed = self.status_text()
            print(self._printed, file=self.stream, flush=True)

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + " " * _width() + "\r")
        print(text, file=self.stream, flush=True)
        self._status()

    def _offer(self, score: Any, trial: Any) -> None:
        """Keep ``score`` as the best if it is a real score and better than the best so far."""
        if _known(score) and (self.best is None or better(score, self.best[0], self.mode)):
            self.best = (score, trial.trial_id, self._describe(trial.config))

    def _describe(self, config: dict[str, Any]) -> str:
        index = config.get("grid_index")
        if isinstance(index, int) and 0 <= index < len(self.grid_labels):
            return self.grid_labels[index]
        return _short(config)


_LIVE: dict[str, SearchProgress] = {}
"""The printers of the searches this process runs, by key, while :meth:`SearchProgress.live` is open."""


def _unpickle(key: str, state: dict[str, Any]) -> SearchProgress:
    live = _LIVE.get(key) or (next(iter(_LIVE.values())) if len(_LIVE) == 1 else None)  # (a renamed folder)
    if live is not None:
        return live
    progress = SearchProgress.__new__(SearchProgress)
    progress.__dict__.update(state)
    return progress


def grid_labels(grid: Sequence[Mapping[str, Any]], limit: int = 140) -> tuple[str, ...]:
    """Name each grid point by the keys whose values differ across the grid, e.g. ``optimizer.lr=0.01``."""
    flat = [flatten(config) for config in grid]
    keys = sorted({key for leaves in flat for key in leaves})
    varying = [key for key in keys if len({repr(leaves.get(key)) for leaves in flat}) > 1]
    return tuple(_short_text(" ".join(_point_parts(leaves, varying)), limit) or f"grid point {i}"
                 for i, leaves in enumerate(flat))


def _point_parts(leaves: Mapping[str, Any], varying: Sequence[str]) -> list[str]:
    """``key=value`` for each varying key this point sets; a block it leaves out altogether reads ``block=none``."""
    parts: list[str] = []
    for key in varying:
        if key in leaves:
            parts.append(f"{key}={_value(leaves[key])}")
            continue
        block = key.split(".", 1)[0]
        named = f"{block}=none"
        if named not in parts and not any(k == block or k.startswith(block + ".") for k in leaves):
            parts.append(named)
    return parts


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def error_file(trial: Any) -> str:
    """Where Tune keeps a failed trial's error, in the experiment (``<experiment>/tune/<trial id>/error.txt``)."""
    path = getattr(trial, "path", None)
    return f"{path}/error.txt" if path else "its worker's log"


def _width() -> int:
    """The terminal's width less one column (writing the last column wraps on some terminals)."""
    return max(20, shutil.get_terminal_size((120, 24)).columns - 1)


def outcome(result: dict[str, Any]) -> str:
    """A config's outcome from its last Tune result: completed, pruned, failed or diverged (see SearchProgress)."""
    if not result.get("all_seeds_finished") or result.get("seeds_pruned", 0):
        return "pruned"  # seeds already pruned: a resumed config that was stopped before the driver died
    if result.get("seeds_completed", 1):
        return "completed"
    return "diverged" if result.get("seeds_diverged", 0) else "failed"


def _seed_note(result: dict[str, Any]) -> str:
    """``  (seeds: 1 completed, 1 failed)`` when some seed did not complete, else nothing."""
    counts = {status: int(result.get(f"seeds_{status}", 0)) for status in ("completed", "failed", "diverged")}
    if not (counts["failed"] or counts["diverged"]):
        return ""
    return "  (seeds: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n) + ")"


def _known(score: Any) -> bool:
    """A real score: finite and not the stand-in for 'every seed diverged'."""
    return isinstance(score, (int, float)) and math.isfinite(score) and abs(score) < WORST


def _short(config: dict[str, Any], limit: int = 140) -> str:
    """The sampled dimensions (Optuna's flat names), e.g. ``optimizer.lr=0.0013 lr_scheduler=StepLR``."""
    parts = []
    for key, value in sorted(config.items()):
        if key in ("run_config", "grid_index"):
            continue
        block, _, rest = key.partition(".")
        family, _, param = rest.partition(".")
        if param and block in config and config[block] != family:
            continue  # a kwarg of a family this config did not choose (Optuna's define-by-run leaves it unset)
        if param and config.get(block) == family:
            key = param  # "lr_scheduler.StepLR.gamma" reads as "gamma" next to "lr_scheduler=StepLR"
        parts.append(f"{key}={_value(value)}")
    if not parts and "grid_index" in config:
        parts.append(f"grid point {config['grid_index']}")
    return _short_text(" ".join(parts), limit)


def _join(parts: Sequence[tuple[int, str]]) -> str:
    """The status line's parts: ``; `` between them, except before the pieces of the best score (`` (``, ``:``, ``)``)."""
    text = ""
    for i, (_, part) in enumerate(parts):
        text += part if i == 0 or part[0] in " :)" else f"; {part}"
    return text


def _short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if _known(value) else "n/a"
