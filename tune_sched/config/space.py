"""SearchSpace: a run config with distributions in it, plus how to search it (see docs/search_spaces.md).

```yaml
task: fno2d
metric: val_loss
mode: min
seeds: [0, 1, 2]
search: {algorithm: optuna, num_samples: 40, pruner: {rule: asha, grace_period: 3}}
resources: {cpu: 1, gpu: 0.25}
score: {spread_weight: 3.0, divergence_penalty: 3.0, spike_weight: 0.2}    # how configs are scored across seeds
spikes: {rule: robust, window: 128, k: 6}                                # what counts as a loss spike
optimizer:
  lr: {min: 1.0e-4, max: 3.0e-2, log: true}        # shared by every family below
  one_of:
    Adam: {betas: [{min: 0.85, max: 0.95}, 0.999]}
    SGD: {momentum: {values: [0.0, 0.9]}}
lr_scheduler:
  one_of:
    ReduceLROnPlateau: {factor: {min: 0.1, max: 0.5}, patience: {min: 2, max: 8}, monitor: val_loss}
    constant: null                                  # no scheduler
trainer: {max_epochs: 20}
```

Loading checks the distributions and the settings, then builds representative concrete configs (every family,
every distribution at both ends, every categorical value) and validates each with ``RunConfig.from_dict``, so a
bad optimizer kwarg is reported at load time with its key path in the space. Nothing here imports Optuna, Ray or
torch: ``sample`` only calls the trial it is given.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from tune_sched.core.checks import as_choice, as_int, as_str, check_keys
from tune_sched.config._space_tree import (
    Dimension,
    EndsChooser,
    GridChooser,
    MappingNode,
    OneOf,
    Searched,
    TrialChooser,
    contains_search,
    not_enumerable,
    parse_template,
    space_path,
)
from tune_sched.config.distributions import Categorical, is_distribution
from tune_sched.config.judging import ScoreSettings, SpikeRule, rule_settings
from tune_sched.config.run_config import RunConfig, TrainerConfig
from tune_sched.config.search_settings import (
    PrunerSettings,
    Resources,
    SearchSettings,
    check_cpu,
    check_gpu,
    parse_seeds,
)
from tune_sched.core.errors import UsageError
from tune_sched.core.yaml_io import read_yaml

__all__ = [
    "Dimension",
    "PrunerSettings",
    "Resources",
    "SearchSettings",
    "SearchSpace",
    "is_search_space",
    "load_search_space",
]

SPACE_KEYS = ("seeds", "search", "resources", "score", "spikes")  # keys of a space that a run config does not have
MAX_GRID = 100_000


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space. Build it with ``load_search_space`` or ``SearchSpace.from_dict``.

    ``template`` is the run-config part as written (distributions included), ``source`` the whole space as given
    (with any ``with_overrides`` applied; this is what an experiment stores as ``space.yaml``). ``score`` and
    ``spikes`` are the validated ``score:`` and ``spikes:`` blocks (``ScoreSettings`` and ``SpikeRule``, defaults
    when absent): the search's per-epoch score, ``analyze``, ``export`` and ``compare`` all use them, through the
    experiment's manifest (``judging()``).
    """

    template: dict[str, Any]
    settings: SearchSettings
    seeds: tuple[int, ...]
    metric: str
    mode: Literal["min", "max"]
    resources: Resources
    source: dict[str, Any]
    _tree: MappingNode = field(repr=False, compare=False)
    score: ScoreSettings = field(default_factory=ScoreSettings)
    spikes: SpikeRule = field(default_factory=SpikeRule)

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        """Validate a plain dict (as read from YAML); every problem is a UsageError naming its key path.

        ``None`` is the empty space (the default run config, nothing searched).
        """
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise UsageError(f"must be a mapping of keys to values, but got {type(data).__name__}",
                             path="search space", fix="write a search space as 'key: value' lines")
        if "seed" in data:
            raise UsageError(
                "a search space has no 'seed': every config is trained on each of its seeds", path="seed",
                fix="write seeds: [0, 1, 2] instead",
            )
        check_keys(data, [f.name for f in fields(RunConfig) if f.name != "seed"] + list(SPACE_KEYS), None)
        for key in ("metric", "mode"):
            if is_distribution(data.get(key)):
                raise UsageError(
                    f"'{key}' is the search's objective and cannot be searched", path=key,
                    fix=f"give one {key}, e.g. {key}: {'val_loss' if key == 'metric' else 'min'}",
                )
        metric = as_str(data.get("metric", "val_loss"), "metric")
        mode = as_choice(data.get("mode", "min"), ["min", "max"], "mode", what="mode")
        seeds = parse_seeds(data.get("seeds"), "seeds")
        settings = SearchSettings.from_dict(data.get("search"), "search")
        resources = Resources.from_dict(data.get("resources"), "resources")
        score = ScoreSettings.from_dict({} if data.get("score") is None else data["score"], "score")
        spikes = SpikeRule.from_dict({} if data.get("spikes") is None else data["spikes"], "spikes")
        template = {k: v for k, v in data.items() if k not in SPACE_KEYS and k not in ("metric", "mode")}
        tree = parse_template(template)
        space = cls(
            template=copy.deepcopy(template), settings=settings, seeds=seeds, metric=metric, mode=mode,
            resources=resources, source=copy.deepcopy(dict(data)), _tree=tree, score=score, spikes=spikes,
        )
        space._check_run_configs()
        if settings.algorithm == "grid":
            space._check_grid()
        return space

    def judging(self) -> dict[str, dict[str, Any]]:
        """How configs are judged, as the manifest stores it: ``{"score": {...}, "spikes": {...}}``, every setting
        written out (defaults included), so an experiment keeps its settings when the defaults change."""
        return {"score": asdict(self.score), "spikes": rule_settings(self.spikes)}

    def sample(self, trial: Any) -> dict[str, Any]:
        """A concrete run-config dict drawn with an ``optuna.Trial`` (define-by-run; Ray's OptunaSearch calls it).

        A family (``optimizer``, ``lr_scheduler``, ``loss_scheduler`` given with ``one_of``) is suggested as a
        categorical named after its block, then only that family's kwargs, named ``<block>.<Family>.<key>``;
        other parameters are named by their key path (``optimizer.lr``, ``optimizer.betas[0]``). The result holds
        no distributions and includes ``metric`` and ``mode`` (no ``seed``: the search adds each seed).
        """
        return self._concrete(TrialChooser(trial))

    def dimensions(self) -> list[Dimension]:
        """Every searched parameter, in sampling order, with the condition under which it is sampled."""
        return list(self._tree.dimensions("", ""))

    def grid(self) -> list[dict[str, Any]]:
        """Every concrete run-config dict of the space (``algorithm: grid``), families expanded separately.

        Raises:
            UsageError: a continuous range (no step) is in the space, naming it and the fix; or the grid has
                more than 100,000 points.
        """
        self._check_grid()
        configs: list[dict[str, Any]] = []
        decisions: list[int] | None = []
        while decisions is not None:
            chooser = GridChooser(decisions)
            configs.append(self._concrete(chooser))
            decisions = chooser.following()
        return configs

    def grid_size(self) -> int:
        """How many configs ``grid()`` returns (a continuous range counts once; ``grid()`` rejects it)."""
        return self._tree.count()

    @property
    def num_configs(self) -> int:
        """How many configs the search tries: ``num_samples``, or the grid's size for ``algorithm: grid``."""
        return self.grid_size() if self.settings.num_samples is None else self.settings.num_samples

    def summary(self) -> str:
        """What ``tune-sched validate SPACE.yaml`` prints: dimensions, seeds, objective, algorithm and budget."""
        dims = self.dimensions()
        lines = []
        if dims:
            conditional = sum(1 for d in dims if d.condition)
            lines.append(f"search space: {len(dims)} dimensions ({conditional} conditional)")
            rows = [(d.name, d.kind, d.detail + (f"  if {d.condition}" if d.condition else "")) for d in dims]
            widths = [max(len(row[i]) for row in rows) for i in range(2)]
            for name, kind, detail in rows:  # the last column is not padded (a long one would pad every row)
                lines.append(f"  {name.ljust(widths[0])}  {kind.ljust(widths[1])}  {detail}")
        else:
            lines.append("search space: no dimensions (every sample is the same config)")
        s = self.settings
        runs = self.num_configs * len(self.seeds)
        what = f"{self.num_configs} configs (the whole grid)" if s.algorithm == "grid" else f"{s.num_samples} configs"
        lines.append(f"seeds: {', '.join(map(str, self.seeds))} ({len(self.seeds)} runs per config)")
        lines.append(f"objective: {self.mode} {self.metric}, scored across seeds")
        budget = [f"{what} x {len(self.seeds)} seeds = {runs} runs"]
        budget.append(f"at most {s.max_concurrent} at once" if s.max_concurrent else "as many at once as fit")
        if s.time_budget_s is not None:
            budget.append(f"time budget {s.time_budget_s:g} s")
        epochs = self._max_epochs()
        if epochs is not None:
            budget.append(f"up to {epochs} epochs per run")
        lines.append(f"algorithm: {s.algorithm}; " + "; ".join(budget))
        lines.append(f"pruner: {s.pruner.describe()}")
        lines.append(f"resources per config: {self.resources.cpu:g} CPU, {self.resources.gpu:g} GPU")
        return "\n".join(lines)

    def with_overrides(
        self,
        *,
        num_samples: int | None = None,
        seeds: Sequence[int] | str | None = None,
        max_epochs: int | None = None,
        max_concurrent: int | None = None,
        cpus_per_trial: float | None = None,
        gpus_per_trial: float | None = None,
    ) -> SearchSpace:
        """A copy with the CLI's flags applied (None leaves a setting as it is); errors name the flag.

        ``max_epochs`` sets ``trainer.max_epochs`` (replacing a distribution there); ``seeds`` may be a list or
        the CLI's ``"1,2,3"``. The returned space's ``source`` includes the overrides.
        """
        source = copy.deepcopy(self.source)
        search = dict(source.get("search") or {})
        if num_samples is not None:
            if self.settings.algorithm == "grid":
                raise UsageError(
                    "does not apply to algorithm grid, which tries every grid point once", path="--num-samples",
                    fix="leave out --num-samples, or set search.algorithm: random in the space",
                )
            search["num_samples"] = as_int(num_samples, "--num-samples", min=1)
        if max_concurrent is not None:
            search["max_concurrent"] = as_int(max_concurrent, "--max-concurrent", min=1)
        if search:
            source["search"] = search
        if seeds is not None:
            source["seeds"] = list(parse_seeds(seeds, "--seeds"))
        resources = dict(source.get("resources") or {})
        if cpus_per_trial is not None:
            resources["cpu"] = check_cpu(cpus_per_trial, "--cpus-per-trial")
        if gpus_per_trial is not None:
            resources["gpu"] = check_gpu(gpus_per_trial, "--gpus-per-trial")
        if resources:
            source["resources"] = resources
        if max_epochs is not None:
            trainer = source.get("trainer")
            if trainer is not None and (not isinstance(trainer, Mapping) or is_distribution(trainer)):
                raise UsageError(
                    "cannot set max_epochs because the whole trainer block is searched", path="--max-epochs",
                    fix="search single trainer keys instead (trainer: {max_epochs: ..., ...})",
                )
            source["trainer"] = {**(trainer or {}), "max_epochs": as_int(max_epochs, "--max-epochs", min=1)}
        return SearchSpace.from_dict(source)

    def _check_grid(self) -> None:
        continuous = next((n for n in self._tree.walk() if isinstance(n, Searched) and n.dist.size is None), None)
        if continuous is not None:
            raise not_enumerable(continuous.dist, continuous.path)
        count = self.grid_size()
        if count > MAX_GRID:
            raise UsageError(
                f"the grid has {count:,} configs, more than {MAX_GRID:,}", path="search.algorithm",
                fix="use fewer values or larger steps, or algorithm: random or optuna",
            )

    def _concrete(self, chooser: Any, records: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        out = self._tree.materialise(chooser, "", "", records)
        out["metric"] = self.metric
        out["mode"] = self.mode
        return out

    def _check_run_configs(self) -> None:
        """Validate a config per family and end: both ends of every range, every categorical value."""
        self.check_each(lambda config: None)

    def check_each(self, check: Callable[[RunConfig], None]) -> None:
        """Run ``check`` on the load-time check configs (both ends of every range, every categorical value, every
        family), each validated first; a UsageError either raises is re-pointed at the space's key path.

        The search's preflight passes :func:`tune_sched.train.preflight.preflight` here, so a typo in a
        sampled ``module_kwargs`` key is found before any trial.
        """
        nodes = list(self._tree.walk())
        families = max((len(n.branches) for n in nodes if isinstance(n, OneOf)), default=1)
        values = max((n.dist.size for n in nodes if isinstance(n, Searched) and isinstance(n.dist, Categorical)),
                     default=1)
        last = max(values, 2) - 1
        for branch in range(families):
            for position in range(last + 1):
                chooser, records = EndsChooser(position, last, branch), []
                config = self._concrete(chooser, records)
                try:
                    check(RunConfig.from_dict(config))
                except UsageError as err:
                    raise _in_space(err, records, chooser.chosen) from None

    def _max_epochs(self) -> int | None:
        """``trainer.max_epochs`` when it is one known int (not searched), else None."""
        trainer = self.template.get("trainer") or {}
        if not isinstance(trainer, Mapping) or is_distribution(trainer):
            return None
        epochs = trainer.get("max_epochs", TrainerConfig().max_epochs)
        return epochs if type(epochs) is int else None


def _in_space(err: UsageError, records: list[tuple[str, str]], chosen: Mapping[str, str]) -> UsageError:
    """A run-config error re-pointed at the space's key path, naming the family when the key is shared.

    An error about a key itself (an unknown key) names the key, not the value the check config drew for it
    (``step_sze``, not ``step_sze.values[0]``).
    """
    path = space_path(err.path, records)
    if path and _names_its_key(err):
        key = (err.path or "").rsplit(".", 1)[-1]
        stripped = re.sub(r"\.(values\[\d+\]|min|max)$", "", path)
        path = stripped if stripped.endswith(key) else path
    message = err.message
    for block, family in chosen.items():
        if err.path and path and ".one_of." not in path and (err.path == block or err.path.startswith(block + ".")):
            message += f" (with {block}: {family})"
    return UsageError(message, path=path, fix=err.fix)


def _names_its_key(err: UsageError) -> bool:
    """Whether the error rejects the last key of its path (``unknown_name`` quotes it) rather than its value."""
    key = (err.path or "").rsplit(".", 1)[-1]
    return bool(key) and err.message.startswith("unknown ") and f" {key!r}" in err.message


def is_search_space(data: Any) -> bool:
    """Whether YAML data is a search space rather than a run config (for ``tune-sched validate``).

    True when it has ``seeds``, ``search`` or ``resources``, or a distribution or ``one_of`` anywhere. Never
    raises (anything that is not a mapping is not a space).
    """
    return isinstance(data, Mapping) and (any(k in data for k in SPACE_KEYS) or contains_search(data))


def load_search_space(path: str | Path) -> SearchSpace:
    """Read and validate a search space YAML file.

    Example:
        >>> space = load_search_space("space.yaml")  # doctest: +SKIP
        >>> print(space.summary())  # doctest: +SKIP
    """
    data = read_yaml(path)
    if data is None:
        raise UsageError("is empty", path=str(path), fix="write a search space (see docs/search_spaces.md)")
    if not isinstance(data, Mapping):
        raise UsageError(
            f"must be a mapping of keys to values, but got {type(data).__name__}", path=str(path),
            fix="write a search space (see docs/search_spaces.md)",
        )
    return SearchSpace.from_dict(data)

