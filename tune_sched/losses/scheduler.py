"""LossScheduler: the weights of a source loss and a target loss, moved from initial to final during training.

Pure Python (no torch import), so a run config's ``loss_scheduler:`` block is validated fast. The training loop
asks for ``weights`` each step (see :func:`tune_sched.losses.combine`) and calls ``step(epoch, metrics)`` once
after each validation (not during Lightning's sanity check).

Modes:

- ``adaptive``: weights stay at ``initial_weights`` for the first ``warmup_epochs`` epochs. After that the
  monitored validation metric (default ``val_<target>``) is smoothed by an EMA (``ema_beta``; seeded with the first
  finite value). A call improves when the smoothed value drops below ``best - min_delta`` (absolute). After
  ``patience`` calls in a row without an improvement the weights adapt once: each moves toward its final value by
  ``step`` (absolute, never past it), with ``step = max(transition_step * (1 - progress), min_step)`` where
  ``progress`` is the share of the way the target weight has come (``step = transition_step`` when
  ``adaptive_step`` is false). An adaptation resets the patience counter and sets ``best`` to the current smoothed
  value, so the next improvement must beat the value reached under the old weights. There is no adaptation once
  both weights are within ``tolerance`` of their finals.
  **"In a row"**: ``max_consecutive`` counts adaptations since the last improvement; when it is reached the
  scheduler stops adapting until the smoothed metric improves again (which resets the count).
  **NaN or infinite metric**: counts as no improvement and leaves the EMA untouched.
- ``ramp``: the weights follow a fixed schedule, ``initial + f * (final - initial)`` with ``f`` from
  :func:`~tune_sched.losses.weight_rules.ramp_fraction` (linear or cosine over ``ramp_epochs`` after the warmup);
  no metric is read.
- ``constant``: the weights stay at ``initial_weights``; no metric is read.

Weights: the final weights are first rescaled to the sum of the initial weights, and the target weight is capped
at ``max_target_weight`` times that sum, the excess going to the source (so ``final_weights: [0, 1]`` with the
default cap means a final (0.2, 0.8)). After every change the pair is rescaled to the initial sum and capped again
(:func:`~tune_sched.losses.weight_rules.settle`).

Example:
    >>> sched = LossScheduler.from_config({"warmup_epochs": 0, "patience": 1})
    >>> sched.step(0, {"val_spectrum": 1.0}), sched.step(1, {"val_spectrum": 1.0})
    (False, True)
    >>> sched.weights
    {'field': 0.9, 'spectrum': 0.1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tune_sched.config.loss_scheduler import LossSchedulerConfig, validate_loss_scheduler_config
from tune_sched.core.errors import UsageError
from tune_sched.losses.weight_rules import (
    Weights,
    adaptive_step,
    move_toward,
    ramp_fraction,
    ramp_weights,
    settle,
    within,
)

__all__ = ["LossScheduler", "LossSchedulerConfig", "validate_loss_scheduler_config"]

_STATE_KEYS = ("config", "weights", "last_epoch", "smoothed", "best", "wait", "consecutive")


class LossScheduler:
    """Weights of a source and a target loss that move from initial to final (see the module doc for the rules).

    Args:
        config: a ``loss_scheduler:`` block (mapping; missing keys take their defaults), a
            :class:`LossSchedulerConfig`, or ``None`` for all defaults. It is validated.
        path: the key path named in validation errors.

    Raises:
        UsageError: the config breaks a rule (the message names the key path).
    """

    def __init__(
        self, config: LossSchedulerConfig | Mapping[str, Any] | None = None, *, path: str = "loss_scheduler"
    ) -> None:
        if isinstance(config, LossSchedulerConfig):
            config = config.to_dict()
        self.config = LossSchedulerConfig.from_dict(config, path=path)
        self._path = path
        self._total = sum(self.config.initial_weights)
        self._final = settle(self.config.final_weights, total=self._total, cap=self.config.max_target_weight)
        self._weights: Weights = self.config.initial_weights
        self._last_epoch: int | None = None
        self._smoothed: float | None = None
        self._best: float | None = None
        self._wait = 0
        self._consecutive = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, *, path: str = "loss_scheduler") -> LossScheduler:
        """A scheduler for a run config's ``loss_scheduler:`` block (validated; ``None`` means all defaults)."""
        return cls(cfg, path=path)

    @property
    def weights(self) -> dict[str, float]:
        """The current weights, ``{source: w_source, target: w_target}``."""
        return self._as_dict(self._weights)

    @property
    def final_weights(self) -> dict[str, float]:
        """Where the weights are heading: the final weights rescaled to the initial sum and capped."""
        return self._as_dict(self._final)

    @property
    def monitor(self) -> str:
        """The validation metric the adaptive mode watches (``val_<target>`` unless configured)."""
        return str(self.config.monitor)

    def step(self, epoch: int, metrics: Mapping[str, Any]) -> bool:
        """Update the weights after validating ``epoch`` (0-based); True when they changed.

        Args:
            epoch: the epoch just validated; must increase from call to call.
            metrics: logged metrics, floats or 0-d tensors (``float()`` is applied); the adaptive mode needs the
                monitored one at every call, warmup included, so a wrong name fails early.

        Raises:
            UsageError: the adaptive mode's monitored metric is missing (the message lists the metrics present).
            ValueError: ``epoch`` is negative or not after the previous call's (e.g. called during the sanity check).
            TypeError: ``epoch`` is not an integer, or the monitored value is not a number.
        """
        self._advance_to(epoch)
        mode = self.config.mode
        if mode == "constant":
            return False
        if mode == "ramp":
            c = self.config
            fraction = ramp_fraction(
                epoch, warmup_epochs=c.warmup_epochs, ramp_epochs=c.ramp_epochs, shape=c.ramp_shape
            )
            return self._set(ramp_weights(c.initial_weights, self._final, fraction))
        value = self._read_monitor(metrics)
        if epoch < self.config.warmup_epochs:
            return False
        if self._observe(value):
            self._wait = 0
            self._consecutive = 0
            return False
        self._wait += 1
        if self._wait < self.config.patience or self._consecutive >= self.config.max_consecutive:
            return False
        return self._adapt()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically after :meth:`load_state_dict` (plain, JSON-able data)."""
        return {
            "config": self.config.to_dict(),
            "weights": list(self._weights),
            "last_epoch": self._last_epoch,
            "smoothed": self._smoothed,
            "best": self._best,
            "wait": self._wait,
            "consecutive": self._consecutive,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output.

        Raises:
            ValueError: ``state`` has missing or unknown keys, or was saved by a scheduler with other settings.
        """
        missing = [k for k in _STATE_KEYS if k not in state]
        unknown = [k for k in state if k not in _STATE_KEYS]
        if missing or unknown:
            raise ValueError(
                f"LossScheduler state must have the keys {', '.join(_STATE_KEYS)}; "
                f"missing: {', '.join(missing) or 'none'}; unknown: {', '.join(map(str, unknown)) or 'none'}"
            )
        mine = self.config.to_dict()
        differ = [k for k in mine if state["config"].get(k) != mine[k]]
        if differ:
            key = differ[0]
            raise ValueError(
                f"LossScheduler state was saved with other settings ({len(differ)} differ; {key}: saved "
                f"{state['config'].get(key)!r}, here {mine[key]!r}); build the scheduler from the saved config"
            )
        source, target = state["weights"]
        self._weights = (float(source), float(target))
        self._last_epoch = state["last_epoch"]
        self._smoothed = state["smoothed"]
        self._best = state["best"]
        self._wait = int(state["wait"])
        self._consecutive = int(state["consecutive"])

    def __repr__(self) -> str:
        return f"LossScheduler(mode={self.config.mode!r}, weights={self.weights}, final={self.final_weights})"

    def _as_dict(self, weights: Weights) -> dict[str, float]:
        return {self.config.source: weights[0], self.config.target: weights[1]}

    def _advance_to(self, epoch: int) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise TypeError(f"LossScheduler.step: epoch must be an integer, but got {epoch!r}")
        if epoch < 0:
            raise ValueError(f"LossScheduler.step: epoch must be at least 0, but got {epoch}")
        if self._last_epoch is not None and epoch <= self._last_epoch:
            raise ValueError(
                f"LossScheduler.step: epoch {epoch} comes after epoch {self._last_epoch}; call step once per "
                "validation with increasing epochs, and not during the sanity check (trainer.sanity_checking)"
            )
        self._last_epoch = epoch

    def _read_monitor(self, metrics: Mapping[str, Any]) -> float:
        name = self.monitor
        if name not in metrics:
            present = ", ".join(sorted(map(str, metrics))) or "none"
            raise UsageError(
                f"the loss scheduler monitors {name!r}, but the logged metrics are: {present}",
                path=f"{self._path}.monitor",
                fix=f"log {name!r} during validation, or set {self._path}.monitor to one of them",
            )
        try:
            return float(metrics[name])
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"LossScheduler: metric {name!r} must be a number or a 0-d tensor, but got {metrics[name]!r}"
            ) from err

    def _observe(self, value: float) -> bool:
        """Feed the EMA; True when the smoothed value improved (the first finite value always does)."""
        if not math.isfinite(value):
            return False
        if self._smoothed is None:
            self._smoothed = value
        else:
            beta = self.config.ema_beta
            self._smoothed = beta * self._smoothed + (1.0 - beta) * value
        if self._best is None or self._smoothed < self._best - self.config.min_delta:
            self._best = self._smoothed
            return True
        return False

    def _adapt(self) -> bool:
        c = self.config
        if within(self._weights, self._final, tolerance=c.tolerance):
            return False
        if c.adaptive_step:
            step = adaptive_step(
                self._weights[1], initial=c.initial_weights[1], final=self._final[1],
                transition_step=c.transition_step, min_step=c.min_step,
            )
        else:
            step = c.transition_step
        self._wait = 0
        self._best = self._smoothed
        self._consecutive += 1
        return self._set(move_toward(self._weights, self._final, step=step))

    def _set(self, weights: Weights) -> bool:
        weights = settle(weights, total=self._total, cap=self.config.max_target_weight)
        changed = weights != self._weights
        self._weights = weights
        return changed
