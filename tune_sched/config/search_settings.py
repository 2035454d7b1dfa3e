"""How a search runs: the ``search:``, ``resources:`` and ``seeds:`` blocks of a search space.

```yaml
seeds: [0, 1, 2]            # every sampled config is trained on each seed
search:
  algorithm: optuna         # optuna (TPE) | random | grid
  num_samples: 20           # configs to try (not for grid: it tries every grid point)
  time_budget_s: 3600       # stop proposing configs after this long (null: no limit)
  max_concurrent: 4         # configs trained at once (null: as many as the resources allow)
  max_failures: 0           # retries of a config whose worker crashed
  sampler_seed: 0           # seed of the Optuna sampler (reproducible proposals)
  save_every_s: 10          # a training seed saves last.ckpt and its tables at most this often (0: every epoch)
  pruner:                   # stops weak configs early (null or rule: none: never)
    rule: asha              # asha | median | none
    grace_period: 3         # epochs before a config can be stopped
    reduction_factor: 3     # asha only
resources: {cpu: 1, gpu: 0.25}  # per config (a config trains its seeds together)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tune_sched.core.blocks import Block, choice, integer, number, setting
from tune_sched.core.checks import as_float, as_int, join
from tune_sched.core.errors import UsageError

__all__ = ["ALGORITHMS", "PRUNER_RULES", "PrunerSettings", "Resources", "SearchSettings", "parse_seeds"]

ALGORITHMS = ("optuna", "random", "grid")
PRUNER_RULES = ("asha", "median", "none")
DEFAULT_NUM_SAMPLES = 20
DEFAULT_SEEDS = (0, 1, 2)

# Pruner keys and the rules they apply to.
_PRUNER_KEYS = {"grace_period": ("asha", "median"), "reduction_factor": ("asha",), "min_samples_required": ("median",)}


def _reduction_factor(value: Any, path: str) -> float:
    factor = as_float(value, path)
    if factor <= 1:
        raise UsageError(f"must be greater than 1, but got {factor}", path=path,
                         fix="use 2 to 4 (ASHA keeps 1 config in that many at each rung)")
    return factor


@dataclass(frozen=True)
class PrunerSettings(Block):
    """The rule that stops weak configs early on their seed-aggregated metric (not the trainer's early stopping).

    ``grace_period`` is in epochs; ``reduction_factor`` is ASHA's (keep 1 in that many at each rung);
    ``min_samples_required`` is how many other configs the median rule compares with.
    """

    PATH = "search.pruner"

    rule: Literal["asha", "median", "none"] = setting("asha", check=choice(PRUNER_RULES, what="pruner rule"))
    grace_period: int = setting(3, check=integer(min=1))
    reduction_factor: float = setting(3.0, check=_reduction_factor)
    min_samples_required: int = setting(3, check=integer(min=1))

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> PrunerSettings:
        """``null`` or ``none`` means no pruning; a bare rule name (``asha``) takes the defaults."""
        if data is None:
            return cls(rule="none")
        return super().from_dict({"rule": data} if isinstance(data, str) else data, path)

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        for key, rules in _PRUNER_KEYS.items():
            if key in written and values["rule"] not in rules:
                raise UsageError(f"applies only to rule {' or '.join(rules)}, not {values['rule']}",
                                 path=join(path, key), fix=f"remove {key}")
        return values

    def describe(self) -> str:
        if self.rule == "none":
            return "none (every config trains to the end)"
        extra = (
            f"reduction_factor {self.reduction_factor:g}" if self.rule == "asha"
            else f"min_samples_required {self.min_samples_required}"
        )
        return f"{self.rule} (grace_period {self.grace_period} epochs, {extra})"


@dataclass(frozen=True)
class SearchSettings(Block):
    """The ``search:`` block. ``num_samples`` is None for ``algorithm: grid`` (every grid point is tried)."""

    PATH = "search"

    algorithm: Literal["optuna", "random", "grid"] = setting("optuna", check=choice(ALGORITHMS, what="algorithm"))
    num_samples: int | None = setting(DEFAULT_NUM_SAMPLES, check=integer(min=1), if_null="default")
    time_budget_s: float | None = setting(None, check=number(positive=True), if_null="default")
    max_concurrent: int | None = setting(None, check=integer(min=1), if_null="default")
    max_failures: int = setting(0, check=integer(min=0))
    sampler_seed: int = setting(0, check=integer(min=0))
    save_every_s: float = setting(10.0, check=number(min=0.0), if_null="default")
    pruner: PrunerSettings = setting(default_factory=PrunerSettings, check=PrunerSettings.from_dict)

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        if values["algorithm"] != "grid":
            return values
        if written.get("num_samples") is not None:
            raise UsageError(
                "does not apply to algorithm grid, which tries every grid point once", path=join(path, "num_samples"),
                fix="remove num_samples, or use algorithm: random to try a few of them",
            )
        return {**values, "num_samples": None}


def check_cpu(value: Any, path: str) -> float:
    """CPUs per trial: greater than 0 (fractions allowed)."""
    return as_float(value, path, positive=True)


def check_gpu(value: Any, path: str) -> float:
    """GPUs per trial: 0, a fraction below 1 (trials share a GPU), or a whole number (Ray's rule)."""
    gpu = as_float(value, path, min=0.0)
    if gpu > 1 and not gpu.is_integer():
        raise UsageError(
            f"must be a fraction up to 1 or a whole number, but got {gpu:g}", path=path,
            fix=f"use {int(gpu)} or {int(gpu) + 1} (Ray only shares a single GPU between trials)",
        )
    return gpu


@dataclass(frozen=True)
class Resources(Block):
    """What one trial (one config, all its seeds) asks Ray for: CPUs and a share of GPUs (0.25 = a quarter)."""

    PATH = "resources"

    cpu: float = setting(1.0, check=check_cpu)
    gpu: float = setting(0.0, check=check_gpu)


def parse_seeds(value: Any, path: str = "seeds") -> tuple[int, ...]:
    """A non-empty list of distinct seeds >= 0 (``null``: 0, 1, 2); a string ``"1,2,3"`` is accepted (the CLI)."""
    if value is None:
        return DEFAULT_SEEDS
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
        value = [int(part) if part.lstrip("-").isdigit() else part for part in value]
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str) or not value:
        example = "--seeds 0,1,2" if path.startswith("--") else "seeds: [0, 1, 2]"
        raise UsageError(
            f"must be a non-empty list of seeds, but got {value!r}"[:120], path=path, fix=f"write e.g. {example}"
        )
    seeds = tuple(as_int(seed, join(path, i), min=0) for i, seed in enumerate(value))
    for i, seed in enumerate(seeds):
        if seed in seeds[:i]:
            raise UsageError(f"repeats seed {seed}", path=join(path, i), fix="list each seed once")
    return seeds
