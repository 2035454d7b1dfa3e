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
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from tune_sched.core.checks import as_choice, as_float, as_int, as_mapping, check_keys, join
from tune_sched.core.errors import UsageError

__all__ = ["ALGORITHMS", "PRUNER_RULES", "PrunerSettings", "Resources", "SearchSettings", "parse_seeds"]

ALGORITHMS = ("optuna", "random", "grid")
PRUNER_RULES = ("asha", "median", "none")
DEFAULT_NUM_SAMPLES = 20
DEFAULT_SEEDS = (0, 1, 2)

# Pruner keys and the rules they apply to.
_PRUNER_KEYS = {"grace_period": ("asha", "median"), "reduction_factor": ("asha",), "min_samples_required": ("median",)}


@dataclass(frozen=True)
class PrunerSettings:
    """The rule that stops weak configs early on their seed-aggregated metric (not the trainer's early stopping).

    ``grace_period`` is in epochs; ``reduction_factor`` is ASHA's (keep 1 in that many at each rung);
    ``min_samples_required`` is how many other configs the median rule compares with.
    """

    rule: Literal["asha", "median", "none"] = "asha"
    grace_period: int = 3
    reduction_factor: float = 3.0
    min_samples_required: int = 3

    @classmethod
    def from_dict(cls, data: Any, path: str = "search.pruner") -> PrunerSettings:
        """``null`` or ``none`` means no pruning; a bare rule name (``asha``) takes the defaults."""
        if data is None:
            return cls(rule="none")
        if isinstance(data, str):
            data = {"rule": data}
        data = as_mapping(data, path)
        check_keys(data, [f.name for f in fields(cls)], path)
        rule = as_choice(data.get("rule", cls.rule), PRUNER_RULES, join(path, "rule"), what="pruner rule")
        for key, rules in _PRUNER_KEYS.items():
            if key in data and rule not in rules:
                raise UsageError(
                    f"applies only to rule {' or '.join(rules)}, not {rule}", path=join(path, key), fix=f"remove {key}"
                )
        kw: dict[str, Any] = {"rule": rule}
        if "grace_period" in data:
            kw["grace_period"] = as_int(data["grace_period"], join(path, "grace_period"), min=1)
        if "reduction_factor" in data:
            factor = as_float(data["reduction_factor"], join(path, "reduction_factor"))
            if factor <= 1:
                raise UsageError(
                    f"must be greater than 1, but got {factor}", path=join(path, "reduction_factor"),
                    fix="use 2 to 4 (ASHA keeps 1 config in that many at each rung)",
                )
            kw["reduction_factor"] = factor
        if "min_samples_required" in data:
            kw["min_samples_required"] = as_int(data["min_samples_required"], join(path, "min_samples_required"), min=1)
        return cls(**kw)

    def describe(self) -> str:
        if self.rule == "none":
            return "none (every config trains to the end)"
        extra = (
            f"reduction_factor {self.reduction_factor:g}" if self.rule == "asha"
            else f"min_samples_required {self.min_samples_required}"
        )
        return f"{self.rule} (grace_period {self.grace_period} epochs, {extra})"


@dataclass(frozen=True)
class SearchSettings:
    """The ``search:`` block. ``num_samples`` is None for ``algorithm: grid`` (every grid point is tried)."""

    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    num_samples: int | None = DEFAULT_NUM_SAMPLES
    time_budget_s: float | None = None
    max_concurrent: int | None = None
    max_failures: int = 0
    sampler_seed: int = 0
    save_every_s: float = 10.0
    pruner: PrunerSettings = field(default_factory=PrunerSettings)

    @classmethod
    def from_dict(cls, data: Any, path: str = "search") -> SearchSettings:
        data = as_mapping(data, path)
        check_keys(data, [f.name for f in fields(cls)], path)
        p = lambda key: join(path, key)  # noqa: E731
        algorithm = as_choice(data.get("algorithm", cls.algorithm), ALGORITHMS, p("algorithm"), what="algorithm")
        kw: dict[str, Any] = {"algorithm": algorithm}
        if algorithm == "grid":
            if data.get("num_samples") is not None:
                raise UsageError(
                    "does not apply to algorithm grid, which tries every grid point once", path=p("num_samples"),
                    fix="remove num_samples, or use algorithm: random to try a few of them",
                )
            kw["num_samples"] = None
        elif data.get("num_samples") is not None:
            kw["num_samples"] = as_int(data["num_samples"], p("num_samples"), min=1)
        if data.get("time_budget_s") is not None:
            kw["time_budget_s"] = as_float(data["time_budget_s"], p("time_budget_s"), positive=True)
        if data.get("max_concurrent") is not None:
            kw["max_concurrent"] = as_int(data["max_concurrent"], p("max_concurrent"), min=1)
        if "max_failures" in data:
            kw["max_failures"] = as_int(data["max_failures"], p("max_failures"), min=0)
        if "sampler_seed" in data:
            kw["sampler_seed"] = as_int(data["sampler_seed"], p("sampler_seed"), min=0)
        if data.get("save_every_s") is not None:
            kw["save_every_s"] = as_float(data["save_every_s"], p("save_every_s"), min=0.0)
        if "pruner" in data:
            kw["pruner"] = PrunerSettings.from_dict(data["pruner"], p("pruner"))
        return cls(**kw)


@dataclass(frozen=True)
class Resources:
    """What one trial (one config, all its seeds) asks Ray for: CPUs and a share of GPUs (0.25 = a quarter)."""

    cpu: float = 1.0
    gpu: float = 0.0

    @classmethod
    def from_dict(cls, data: Any, path: str = "resources") -> Resources:
        data = as_mapping(data, path)
        check_keys(data, ["cpu", "gpu"], path)
        cpu = check_cpu(data["cpu"], join(path, "cpu")) if "cpu" in data else cls.cpu
        gpu = check_gpu(data["gpu"], join(path, "gpu")) if "gpu" in data else cls.gpu
        return cls(cpu=cpu, gpu=gpu)


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
