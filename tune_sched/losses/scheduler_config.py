"""The ``loss_scheduler:`` block of a run config: its keys, defaults and checks (torch-free).

```yaml
loss_scheduler:
  mode: adaptive          # adaptive | ramp | constant
  source: field           # a loss name (tune_sched.losses.registry.LOSS_NAMES)
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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from tune_sched.core.checks import as_bool, as_choice, as_float, as_int, as_mapping, as_str, check_keys, join
from tune_sched.core.errors import UsageError
from tune_sched.losses.registry import LOSS_NAMES

__all__ = ["LOSS_SCHEDULER_MODES", "RAMP_SHAPES", "LossSchedulerConfig", "validate_loss_scheduler_config"]

LOSS_SCHEDULER_MODES = ("adaptive", "ramp", "constant")
RAMP_SHAPES = ("linear", "cosine")


@dataclass(frozen=True)
class LossSchedulerConfig:
    """Every setting of a :class:`~tune_sched.losses.scheduler.LossScheduler` (the YAML keys; see module doc).

    Build it with :meth:`from_dict`, which checks every value; ``monitor`` is then always filled in.
    """

    mode: Literal["adaptive", "ramp", "constant"] = "adaptive"
    source: str = "field"
    target: str = "spectrum"
    initial_weights: tuple[float, float] = (1.0, 0.0)
    final_weights: tuple[float, float] = (0.3, 0.7)
    max_target_weight: float = 0.8
    warmup_epochs: int = 15
    monitor: str | None = None
    ema_beta: float = 0.9
    min_delta: float = 0.001
    patience: int = 5
    transition_step: float = 0.1
    min_step: float = 0.05
    adaptive_step: bool = True
    tolerance: float = 0.01
    max_consecutive: int = 10
    ramp_epochs: int = 20
    ramp_shape: Literal["linear", "cosine"] = "linear"

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "loss_scheduler") -> LossSchedulerConfig:
        """Check a ``loss_scheduler:`` block (``None`` means all defaults) and fill in every key.

        Raises:
            UsageError: an unknown key (the closest valid key is suggested), or a value that breaks its rule;
                the message names the key path, e.g. ``loss_scheduler.final_weights[1]``.
        """
        data = as_mapping(data, path)
        check_keys(data, [f.name for f in fields(cls)], path)
        p = lambda key: join(path, key)  # noqa: E731
        d = {**asdict(cls()), **data}
        source = as_choice(d["source"], LOSS_NAMES, p("source"), what="loss")
        target = as_choice(d["target"], LOSS_NAMES, p("target"), what="loss")
        if target == source:
            raise UsageError(
                f"must differ from source, but both are {target!r}", path=p("target"),
                fix="name two different losses, or use mode: constant with initial_weights [1, 0]",
            )
        mode = as_choice(d["mode"], LOSS_SCHEDULER_MODES, p("mode"), what="mode")
        initial = _weight_pair(d["initial_weights"], p("initial_weights"))
        final = _weight_pair(d["final_weights"], p("final_weights"))
        cap = _in_range(d["max_target_weight"], p("max_target_weight"), rule="(0, 1]")
        if mode != "constant" and initial[1] > cap * sum(initial) + 1e-12:
            raise UsageError(
                f"the initial target weight {initial[1]:g} is above max_target_weight x sum of initial_weights "
                f"= {cap:g} x {sum(initial):g} = {cap * sum(initial):g}",
                path=join(p("initial_weights"), 1),
                fix="lower the initial target weight or raise max_target_weight",
            )
        monitor = d["monitor"]
        return cls(
            mode=mode,  # type: ignore[arg-type]
            source=source,
            target=target,
            initial_weights=initial,
            final_weights=final,
            max_target_weight=cap,
            warmup_epochs=as_int(d["warmup_epochs"], p("warmup_epochs"), min=0),
            monitor=f"val_{target}" if monitor is None else as_str(monitor, p("monitor")),
            ema_beta=_in_range(d["ema_beta"], p("ema_beta"), rule="[0, 1)"),
            min_delta=as_float(d["min_delta"], p("min_delta"), min=0.0),
            patience=as_int(d["patience"], p("patience"), min=1),
            transition_step=as_float(d["transition_step"], p("transition_step"), positive=True),
            min_step=as_float(d["min_step"], p("min_step"), positive=True),
            adaptive_step=as_bool(d["adaptive_step"], p("adaptive_step")),
            tolerance=as_float(d["tolerance"], p("tolerance"), min=0.0),
            max_consecutive=as_int(d["max_consecutive"], p("max_consecutive"), min=1),
            ramp_epochs=as_int(d["ramp_epochs"], p("ramp_epochs"), min=1),
            ramp_shape=as_choice(  # type: ignore[arg-type]
                d["ramp_shape"], RAMP_SHAPES, p("ramp_shape"), what="ramp shape"
            ),
        )

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
