"""What "diverged" means: the rule's settings (``trainer.divergence``) and the one function that applies it.

A run diverged when, judged at the end of each epoch (``judge_divergence``):

1. **non-finite**: its train loss or its monitored metric became NaN or infinite;
2. **blew up**: its epoch-mean train loss stayed above ``blowup_factor`` x the untrained model's train loss (the
   loss of the first optimizer step, computed before any update) for ``patience`` epochs in a row, or from some
   epoch to the end of the run (it never came back). Skipped when the untrained loss is not a positive number;
3. **never learned** (judged only once the run has trained to its end): its best metric is not at least
   ``min_improvement`` (relative) better than the untrained model's (the metric over the whole validation set
   before any training: Lightning's sanity check). ``min_improvement: null`` switches this part off.

Defaults, from the built-in ``fno2d`` task with Adam (3 seeds, 8 epochs; docs/analysis.md): at lr 0.1, the edge,
the per-step loss spikes to 20-41x its untrained level but the epoch mean peaks at 11x and is back below 1x by the
third epoch; at lr 0.15, 0.3 and 0.6 the first epoch's mean is 456x to 2e10x and stays above 100x for at least two
epochs in a row on every seed. ``blowup_factor: 100`` sits a factor 9 above the edge's worst epoch.

```yaml
trainer:
  divergence: {blowup_factor: 100, patience: 2, min_improvement: 0.01}
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from tune_sched.core.blocks import Block, integer, number, setting
from tune_sched.core.checks import join
from tune_sched.core.errors import UsageError
from tune_sched.core import words

__all__ = ["DivergenceRule", "DivergenceVerdict", "judge_divergence"]

Kind = Literal["", "non_finite", "blew_up", "never_learned"]


@dataclass(frozen=True)
class DivergenceRule(Block):
    """The rule's parameters (see the module docstring): ``blowup_factor`` > 1, ``patience`` >= 1 epochs,
    ``min_improvement`` in [0, 1) or None (no "never learned" check)."""

    PATH = "trainer.divergence"
    KEY_KIND = "divergence setting"

    blowup_factor: float = setting(100.0, check=number())
    patience: int = setting(2, check=integer(min=1))
    min_improvement: float | None = setting(0.01, check=number(), if_null="keep")

    def __post_init__(self) -> None:
        _check(self.blowup_factor, self.patience, self.min_improvement, None)

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        _check(values["blowup_factor"], values["patience"], values["min_improvement"], path)
        return values

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DivergenceVerdict:
    """``diverged`` and why: ``kind``, the 0-based ``epoch`` it was decided at, and a one-line ``reason``."""

    diverged: bool = False
    kind: Kind = ""
    epoch: int | None = None
    reason: str = ""


def judge_divergence(
    epoch_losses: Sequence[float | None],
    metric_values: Sequence[float | None],
    *,
    untrained_loss: float,
    untrained_metric: float = math.nan,
    rule: DivergenceRule | None = None,
    metric: str = "val_loss",
    mode: str = "min",
    finished: bool = False,
) -> DivergenceVerdict:
    """Whether a run diverged, from its epochs so far (the rule of the module docstring).

    Args:
        epoch_losses: per epoch, the mean train loss of its optimizer steps (None: unknown).
        metric_values: per epoch, the monitored metric (None: not measured that epoch).
        untrained_loss: the train loss before any update (NaN: unknown; the blow-up part is skipped).
        untrained_metric: the metric of the untrained model (NaN: unknown; "never learned" is skipped).
        rule: the settings (default ``DivergenceRule()``).
        metric, mode: the metric's name (for the reason) and whether lower (``"min"``) or higher is better.
        finished: the run has trained to its end: a blow-up that lasted to the last epoch counts whatever its
            length, and "never learned" is judged.

    Returns:
        The first verdict by epoch; ``DivergenceVerdict()`` (not diverged) when none applies or no epoch ran.

    Example:
        >>> judge_divergence([0.9, 0.5], [0.8, 0.4], untrained_loss=1.0).diverged
        False
        >>> judge_divergence([841.0, 300.0, 2.0], [12.1, 90.0, 1.5], untrained_loss=1.0).reason
        'train loss stayed above 100x its untrained level (1) for 2 epochs (epochs 1-2, peak 841)'
        >>> judge_divergence([1.0], [1.0], untrained_loss=1.0, untrained_metric=1.0, finished=True).kind
        'never_learned'
    """
    rule = rule or DivergenceRule()
    limit = rule.blowup_factor * untrained_loss if _number(untrained_loss) and untrained_loss > 0 else math.inf
    start = None  # first epoch of the current blow-up streak
    for epoch, (loss, value) in enumerate(zip(epoch_losses, metric_values)):
        for name, x in (("train loss", loss), (metric, value)):
            if x is not None and not math.isfinite(x):
                return DivergenceVerdict(True, "non_finite", epoch, f"{name} became {x} in epoch {epoch + 1}")
        start = (epoch if start is None else start) if loss is not None and loss > limit else None
        if start is not None and epoch - start + 1 >= rule.patience:
            return _blew_up(epoch_losses, start, epoch, untrained_loss, rule)
    if not finished or not epoch_losses:
        return DivergenceVerdict()
    if start is not None:
        return _blew_up(epoch_losses, start, len(epoch_losses) - 1, untrained_loss, rule)
    return _never_learned(metric_values, untrained_metric, rule, metric, mode, len(epoch_losses) - 1)


def _blew_up(losses: Sequence[float | None], start: int, end: int, untrained: float,
             rule: DivergenceRule) -> DivergenceVerdict:
    peak = max(x for x in losses[start : end + 1] if x is not None)
    span = f"epoch {start + 1}" if start == end else f"epochs {start + 1}-{end + 1}"  # counted from 1, as printed
    n = end - start + 1
    return DivergenceVerdict(True, "blew_up", end, f"train loss stayed above {rule.blowup_factor:g}x its untrained "
                             f"level ({untrained:.4g}) for {n} epoch{'s' if n > 1 else ''} ({span}, peak {peak:.4g})")


def _never_learned(values: Sequence[float | None], untrained: float, rule: DivergenceRule, metric: str, mode: str,
                   last: int) -> DivergenceVerdict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if rule.min_improvement is None or not finite or not _number(untrained):
        return DivergenceVerdict()
    margin = rule.min_improvement * abs(untrained)
    best = words.best(finite, mode)
    learned = words.oriented(best, mode) < words.oriented(untrained, mode) - margin
    if learned:
        return DivergenceVerdict()
    return DivergenceVerdict(True, "never_learned", last, f"never learned: its best {metric} {best:.4g} is not "
                             f"{rule.min_improvement:.0%} better than the untrained model's {untrained:.4g}")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _check(blowup_factor: Any, patience: Any, min_improvement: Any, path: str | None) -> None:
    if not (_number(blowup_factor) and blowup_factor > 1):
        raise UsageError(f"must be a number greater than 1, but got {blowup_factor!r}",
                         path=join(path, "blowup_factor"), fix="use e.g. 100 (the loss rose 100-fold)")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise UsageError(f"must be a whole number of epochs >= 1, but got {patience!r}", path=join(path, "patience"),
                         fix="use e.g. 2")
    if min_improvement is not None and not (_number(min_improvement) and 0 <= min_improvement < 1):
        raise UsageError(f"must be a fraction in [0, 1) or null, but got {min_improvement!r}",
                         path=join(path, "min_improvement"), fix="use e.g. 0.01 (1 % better than untrained)")
