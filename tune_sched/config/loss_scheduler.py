"""The ``loss_scheduler:`` block of a run config: its keys, defaults and checks (torch-free).

```yaml
loss_scheduler:
  mode: adaptive          # adaptive | ramp | constant
  source: field           # a loss name (tune_sched.config.losses.LOSS_NAMES)
  target: spectrum        # another loss name
  initial_weights: [1.0, 0.0]   # [source, target]
  final_weights: [0.3, 0.7]     # scaled to the sum of initial_weights
  max_target_weight: 0.8  # cap, as a fraction of that sum
  warmup_epochs: 15
  monitor: null           # default val_<target>, e.g. val_spectrum
  ema_beta: 0.9
  min_delta: 0.001
  patience: 5
  transition_step: 0.1
  min_step: 0.05          # smallest adaptive step
  adaptive_step: true
  tolerance: 0.01         # no change once both weights are this close to their finals
  max_consecutive: 10
  ramp_epochs: 20         # mode ramp only
  ramp_shape: linear      # linear | cosine
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

from tune_sched.core.blocks import Block, ReadsAsDict, choice, flag, integer, number, setting, text
from tune_sched.core.checks import as_float, join
from tune_sched.core.errors import UsageError
from tune_sched.config.losses import LOSS_NAMES

__all__ = ["LOSS_SCHEDULER_MODES", "RAMP_SHAPES", "LossSchedulerConfig", "validate_loss_scheduler_config"]

LOSS_SCHEDULER_MODES = ("adaptive", "ramp", "constant")
RAMP_SHAPES = ("linear", "cosine")


def _weight_pair(value: Any, path: str) -> tuple[float, float]:
    """``[source, target]``: two numbers >= 0, not both 0."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise UsageError(
            f"must be a list of two weights [source, target], but got {value!r}", path=path,
            fix="write e.g. [1.0, 0.0]",
        )
    pair = (as_float(value[0], join(path, 0), min=0.0), as_float(value[1], join(path, 1), min=0.0))
    if sum(pair) <= 0:
        raise UsageError("must not both be 0", path=path, fix="give the source or the target a positive weight")
    return pair


def _in_range(value: Any, path: str, *, rule: Literal["(0, 1]", "[0, 1)"]) -> float:
    number = as_float(value, path)
    inside = 0.0 < number <= 1.0 if rule == "(0, 1]" else 0.0 <= number < 1.0
    if not inside:
        raise UsageError(f"must be in {rule}, but got {number:g}", path=path, fix=f"use a value in {rule}")
    return number


@dataclass(frozen=True, eq=False)
class LossSchedulerConfig(Block, ReadsAsDict):
    """Every setting of a :class:`~tune_sched.losses.scheduler.LossScheduler` (the YAML keys; see module doc).

    Build it with :meth:`from_dict`, which checks every value; ``monitor`` is then always filled in. It also reads
    as its YAML block (:class:`~tune_sched.core.blocks.ReadsAsDict`), as a run config's ``loss_scheduler`` was read
    before it was typed.
    """

    PATH = "loss_scheduler"

    mode: Literal["adaptive", "ramp", "constant"] = setting(
        "adaptive", check=choice(LOSS_SCHEDULER_MODES, what="mode"))
    source: str = setting("field", check=choice(LOSS_NAMES, what="loss"))
    target: str = setting("spectrum", check=choice(LOSS_NAMES, what="loss"))
    initial_weights: tuple[float, float] = setting((1.0, 0.0), check=_weight_pair)
    final_weights: tuple[float, float] = setting((0.3, 0.7), check=_weight_pair)
    max_target_weight: float = setting(0.8, check=partial(_in_range, rule="(0, 1]"))
    warmup_epochs: int = setting(15, check=integer(min=0))
    monitor: str | None = setting(None, check=text(), if_null="keep")
    ema_beta: float = setting(0.9, check=partial(_in_range, rule="[0, 1)"))
    min_delta: float = setting(0.001, check=number(min=0.0))
    patience: int = setting(5, check=integer(min=1))
    transition_step: float = setting(0.1, check=number(positive=True))
    min_step: float = setting(0.05, check=number(positive=True))
    adaptive_step: bool = setting(True, check=flag())
    tolerance: float = setting(0.01, check=number(min=0.0))
    max_consecutive: int = setting(10, check=integer(min=1))
    ramp_epochs: int = setting(20, check=integer(min=1))
    ramp_shape: Literal["linear", "cosine"] = setting("linear", check=choice(RAMP_SHAPES, what="ramp shape"))

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        """The target differs from the source, the initial target weight is within its cap, and ``monitor``
        defaults to ``val_<target>``."""
        source, target, initial, cap = (values[k] for k in ("source", "target", "initial_weights", "max_target_weight"))
        if target == source:
            raise UsageError(
                f"must differ from source, but both are {target!r}", path=join(path, "target"),
                fix="name two different losses, or use mode: constant with initial_weights [1, 0]",
            )
        if values["mode"] != "constant" and initial[1] > cap * sum(initial) + 1e-12:
            raise UsageError(
                f"the initial target weight {initial[1]:g} is above max_target_weight x sum of initial_weights "
                f"= {cap:g} x {sum(initial):g} = {cap * sum(initial):g}",
                path=join(join(path, "initial_weights"), 1),
                fix="lower the initial target weight or raise max_target_weight",
            )
        return {**values, "monitor": f"val_{target}" if values["monitor"] is None else values["monitor"]}

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML data (weights as lists) with every key; round-trips through :meth:`from_dict`."""
        out = asdict(self)
        out["initial_weights"] = list(self.initial_weights)
        out["final_weights"] = list(self.final_weights)
        return out


def validate_loss_scheduler_config(cfg: Any, *, path: str = "loss_scheduler") -> dict[str, Any]:
    """A checked, normalised copy of a ``loss_scheduler:`` block with every key filled in (torch-free).

    Example:
        >>> validate_loss_scheduler_config({"patience": 3})["monitor"]
        'val_spectrum'

    Raises:
        UsageError: naming the key path, the rule, the value found and the fix.
    """
    return LossSchedulerConfig.from_dict(cfg, path=path).to_dict()
