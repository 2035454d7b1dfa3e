"""The built-in tasks a run config may name: name -> TaskSpec, and task_kwargs validation.

This module imports neither torch nor Lightning, so ``RunConfig.from_dict`` and ``tune-sched validate`` can check a
task name and its kwargs cheaply. Every task kwarg is declared once, in its task's :class:`TaskSpec`, with its
default and rule; ``tune_sched.train.tasks.build_task`` validates the user's kwargs, fills in the defaults and hands
each kwarg to the class it belongs to (the LightningModule or the LightningDataModule, in ``train/tasks/``, loaded
by their import paths).

Example:
    >>> from tune_sched.config.tasks import validate_task_kwargs
    >>> validate_task_kwargs("tiny", {"n_train": 32})["n_train"]
    32
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tune_sched.config.losses import LOSS_NAMES
from tune_sched.core.checks import as_float, as_int, as_mapping, check_keys, join
from tune_sched.core.errors import UsageError, unknown_name

if TYPE_CHECKING:
    import pytorch_lightning as pl

__all__ = [
    "TASKS",
    "TASK_NAMES",
    "TaskKwarg",
    "TaskSpec",
    "get_task",
    "parse_loss_weights",
    "validate_task_kwargs",
]


@dataclass(frozen=True)
class TaskKwarg:
    """One task kwarg: its default, its rule, and which class receives it.

    Attributes:
        name: The key under ``task_kwargs``.
        default: The value used when the key is absent.
        kind: ``"int"`` (an integer of at least ``min``) or ``"loss"`` (a loss name or a mapping of loss names to
            weights, see :func:`parse_loss_weights`).
        to: ``"module"`` or ``"data"``: the constructor the value is passed to.
        min: The smallest allowed value of an ``int``.
        help: One line for docs and error messages.
    """

    name: str
    default: Any
    kind: Literal["int", "loss"]
    to: Literal["module", "data"]
    min: int | None = None
    help: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """A built-in task: where its classes live and what it accepts.

    Attributes:
        name: The ``task`` value in a run config.
        module_path: ``"package.module:Class"`` of the LightningModule.
        datamodule_path: ``"package.module:Class"`` of the LightningDataModule.
        description: One line for ``--help`` and docs.
        kwargs: Every accepted task kwarg.
        batch_size: The default batch size (``trainer.batch_size`` overrides it).
        check: Optional rule across kwargs: ``check(values, path)`` gets every validated value and the key path of
            ``task_kwargs``, and raises UsageError.
    """

    name: str
    module_path: str
    datamodule_path: str
    description: str
    kwargs: tuple[TaskKwarg, ...]
    batch_size: int
    check: Callable[[Mapping[str, Any], str], None] | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """Every kwarg's default value."""
        return {k.name: k.default for k in self.kwargs}

    def module_class(self) -> type[pl.LightningModule]:
        """The LightningModule class (imports it, and so torch)."""
        return _load(self.module_path)

    def datamodule_class(self) -> type[pl.LightningDataModule]:
        """The LightningDataModule class (imports it, and so torch)."""
        return _load(self.datamodule_path)


def _check_fno2d(values: Mapping[str, Any], path: str) -> None:
    limit = values["resolution"] // 2
    if values["modes"] > limit:
        raise UsageError(
            f"must be at most resolution // 2 = {limit} (the highest frequency on the grid), "
            f"but got {values['modes']}",
            path=join(path, "modes"), fix=f"set modes to {limit} or less, or raise resolution",
        )


def _common(*, resolution: int, n_train: int, n_val: int) -> tuple[TaskKwarg, ...]:
    return (
        TaskKwarg("resolution", resolution, "int", "data", min=8, help="grid points per side"),
        TaskKwarg("n_train", n_train, "int", "data", min=1, help="training samples"),
        TaskKwarg("n_val", n_val, "int", "data", min=1, help="validation samples"),
        TaskKwarg("data_seed", 0, "int", "data", min=0, help="seed of the generated data (not the training seed)"),
        TaskKwarg("loss", "field", "loss", "module", help="loss name, or a mapping of loss names to weights"),
    )


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="fno2d",
            module_path="tune_sched.train.tasks.fno2d:FNO2dTask",
            datamodule_path="tune_sched.train.tasks.fno2d:AllenCahnDataModule",
            description="a 2-D Fourier neural operator learning the Allen-Cahn solution operator on random fields",
            kwargs=(
                *_common(resolution=32, n_train=256, n_val=64),
                TaskKwarg("width", 16, "int", "module", min=1, help="channels of the Fourier layers"),
                TaskKwarg("modes", 8, "int", "module", min=1, help="Fourier modes kept per direction"),
                TaskKwarg("layers", 3, "int", "module", min=1, help="Fourier layers"),
            ),
            batch_size=32,
            check=_check_fno2d,
        ),
        TaskSpec(
            name="tiny",
            module_path="tune_sched.train.tasks.tiny:TinyTask",
            datamodule_path="tune_sched.train.tasks.tiny:HeatSmoothingDataModule",
            description="a tiny conv net learning heat-equation smoothing of 16x16 random fields (for tests)",
            kwargs=(
                *_common(resolution=16, n_train=64, n_val=32),
                TaskKwarg("width", 8, "int", "module", min=1, help="channels of the hidden layer"),
            ),
            batch_size=16,
        ),
    )
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str, *, path: str = "task") -> TaskSpec:
    """The spec of a built-in task; an unknown name is a UsageError listing the valid ones."""
    if name not in TASKS:
        raise unknown_name("task", name, TASK_NAMES, path=path)
    return TASKS[name]


def parse_loss_weights(value: Any, *, path: str = "task_kwargs.loss") -> dict[str, float]:
    """The ``loss`` task kwarg as loss weights: ``"field"`` -> ``{"field": 1.0}``.

    A mapping ``{"field": 0.7, "spectrum": 0.3}`` is taken as given (not normalised). Names must be known losses;
    weights must be finite and non-negative, and at least one must be positive.

    Raises:
        UsageError: an unknown loss name, a bad weight, or an empty mapping.
    """
    if isinstance(value, str):
        if value not in LOSS_NAMES:
            raise unknown_name("loss", value, LOSS_NAMES, path=path)
        return {value: 1.0}
    if not isinstance(value, Mapping):
        raise UsageError(
            f"must be a loss name or a mapping of loss names to weights, but got {value!r}", path=path,
            fix="write e.g. loss: field, or loss: {field: 0.7, spectrum: 0.3}",
        )
    weights: dict[str, float] = {}
    for name, weight in value.items():
        if name not in LOSS_NAMES:
            raise unknown_name("loss", name, LOSS_NAMES, path=join(path, name))
        weights[name] = as_float(weight, join(path, name), min=0.0)
    if not any(w > 0 for w in weights.values()):
        raise UsageError(f"needs at least one positive weight, but got {dict(value)!r}", path=path,
                         fix="give at least one loss a weight greater than 0")
    return weights


def validate_task_kwargs(name: str, task_kwargs: Any, *, path: str = "task_kwargs") -> dict[str, Any]:
    """Check a task's kwargs and return every kwarg's value (defaults filled in).

    ``loss`` comes back as a ``{name: weight}`` dict. An unknown key is a UsageError at ``task_kwargs.<key>`` that
    lists the valid keys; a bad value names its key, the rule and the value.

    Example:
        >>> validate_task_kwargs("fno2d", {"loss": "spectrum"})["loss"]
        {'spectrum': 1.0}
    """
    spec = get_task(name)
    given = as_mapping(task_kwargs, path)
    check_keys(given, [k.name for k in spec.kwargs], path, what=f"{name} kwarg")
    values: dict[str, Any] = {}
    for kw in spec.kwargs:
        value = given.get(kw.name, kw.default)
        key_path = join(path, kw.name)
        if kw.kind == "int":
            values[kw.name] = as_int(value, key_path, min=kw.min)
        else:
            values[kw.name] = parse_loss_weights(value, path=key_path)
    if spec.check is not None:
        spec.check(values, path)
    return values


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
