"""Search progress on the terminal: configs done / running / pruned / failed and the best robust score so far.

On a terminal one status line is rewritten in place; otherwise (CI, a log file) plain lines are printed when a
config finishes, and a status line at most every ``interval_s`` seconds.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from ray import tune

__all__ = ["SearchProgress"]


class SearchProgress(tune.Callback):
    """A Tune callback that prints progress; ``summary()`` gives the final counts."""

    def __init__(self, *, total: int | None, mode: str, stream: TextIO | None = None,
                 interval_s: float = 10.0) -> None:
        self.total = total
        self.mode = mode
        self._stream = stream
        self.interval_s = interval_s
        self.start = time.perf_counter()
        self.first_result_s: float | None = None
        self.counts = {"completed": 0, "pruned": 0, "failed": 0}
        self.running: set[str] = set()
        self.best: tuple[float, str, str] | None = None  # (score, trial id, short config)
        self._last_status = 0.0

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    @property
    def tty(self) -> bool:
        return self.stream.isatty()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks with its experiment state; the stream is re-bound on resume.
        return {**self.__dict__, "_stream": None}

    # -- Tune hooks ----------------------------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._status()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.first_result_s is None:
            self.first_result_s = time.perf_counter() - self.start
        score = result.get("score")
        if score is not None and math.isfinite(score) and (self.best is None or self._better(score, self.best[0])):
            if result.get("all_seeds_finished"):
                self.best = (score, trial.trial_id, _short(trial.config))
        self._status()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        finished = bool((trial.last_result or {}).get("all_seeds_finished"))
        kind = "completed" if finished else "pruned"
        self.counts[kind] += 1
        score = (trial.last_result or {}).get("score", math.nan)
        self._line(f"{kind:9s} {trial.trial_id}  score {_fmt(score)}  {_short(trial.config)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.counts["failed"] += 1
        self._line(f"failed    {trial.trial_id}  {_short(trial.config)} (see {trial.local_path or 'its logs'})")

    # -- output --------------------------------------------------------------------------------------------
    def status_text(self) -> str:
        done = sum(self.counts.values())
        total = f"/{self.total}" if self.total else ""
        best = (f"best score {_fmt(self.best[0])} ({self.best[1]}: {_short_text(self.best[2], 70)})" if self.best
                else "no score yet")
        return (f"[{time.perf_counter() - self.start:6.0f} s] configs done {done}{total}: "
                f"{self.counts['completed']} completed, {self.counts['pruned']} pruned, {self.counts['failed']} "
                f"failed; {len(self.running)} running; {best}")

    def _status(self) -> None:
        now = time.perf_counter()
        if self.tty:
            text = self.status_text()
            self.stream.write("\r" + text[:200].ljust(120))
            self.stream.flush()
        elif now - self._last_status >= self.interval_s:
            self._last_status = now
            print(self.status_text(), file=self.stream, flush=True)

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
        print(text, file=self.stream, flush=True)
        self._status()

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b


def _short(config: dict[str, Any], limit: int = 140) -> str:
    """The sampled dimensions (Optuna's flat names), e.g. ``optimizer.lr=0.0013 lr_scheduler=StepLR``."""
    parts = []
    for key, value in sorted(config.items()):
        if key in ("run_config", "grid_index"):
            continue
        block, _, rest = key.partition(".")
        family, _, param = rest.partition(".")
        if param and config.get(block) == family:
            key = param  # "lr_scheduler.StepLR.gamma" reads as "gamma" next to "lr_scheduler=StepLR"
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    if not parts and "grid_index" in config:
        parts.append(f"grid point {config['grid_index']}")
    return _short_text(" ".join(parts), limit)


def _short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"
