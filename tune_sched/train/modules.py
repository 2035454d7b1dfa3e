"""Building the LightningModule and DataModule a run config names: a built-in task or the user's own classes."""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

from tune_sched.config.run_config import RunConfig
from tune_sched.core.checks import join
from tune_sched.core.errors import UsageError, did_you_mean, unknown_name
from tune_sched.train.tasks.registry import build_task

__all__ = ["build_module", "check_user_code", "import_object", "user_classes"]


def import_object(spec: str, path: str) -> Any:
    """Import ``"pkg.mod:Name"``; a failure is a UsageError naming the config key (code runs only from here)."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - any import failure is the user's path
        raise UsageError(f"cannot import module {module_name!r} ({type(err).__name__}: {err})", path=path,
                         fix="check the import path and that the package is installed or on PYTHONPATH") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(module) if not n.startswith("_")]

            raise UsageError(f"module {module_name!r} has no attribute {part!r}{did_you_mean(part, names)}",
                             path=path, fix="name a class defined in that module")
        obj = getattr(obj, part)
    return obj


def build_module(config: RunConfig) -> tuple[Any, Any]:
    """The (LightningModule, LightningDataModule or None) for a run config, freshly constructed.

    The trial supplies ``configure_optimizers`` from the config; a module that defines its own gets a warning
    that it is replaced.

    Raises:
        UsageError: at ``module``/``datamodule`` for a path that does not import or a class of the wrong kind; at
            ``module_kwargs``/``datamodule_kwargs`` for arguments the class does not accept or that its
            constructor rejects (the constructor's exception is chained, shown with ``--debug``).
    """
    # lazy: heavy
    import pytorch_lightning as pl

    if config.module is None:
        return build_task(config.task, config.task_kwargs, batch_size=config.trainer.batch_size)

    module_cls, dm_cls = user_classes(config)
    module = _construct(module_cls, config.module_kwargs, "module_kwargs")
    if type(module).configure_optimizers is not pl.LightningModule.configure_optimizers:
        warnings.warn(f"{config.module} defines configure_optimizers; tune-sched replaces it with the run "
                      "config's optimizer and lr_scheduler", UserWarning, stacklevel=2)
    datamodule = None if dm_cls is None else _construct(dm_cls, _datamodule_kwargs(config), "datamodule_kwargs")
    return module, datamodule


def user_classes(config: RunConfig) -> tuple[type, type | None]:
    """The (LightningModule class, LightningDataModule class or None) a run config with ``module:`` names.

    Raises:
        UsageError: at ``module``/``datamodule`` for a path that does not import or a class of the wrong kind.
    """
    assert config.module is not None, "a run config with a built-in task names no user class"
    cls = import_object(config.module, "module")  # first: a path that does not import fails without torch
    # lazy: heavy
    import pytorch_lightning as pl

    if not (isinstance(cls, type) and issubclass(cls, pl.LightningModule)):
        raise UsageError(f"{config.module!r} is not a pytorch_lightning.LightningModule subclass", path="module",
                         fix="name a LightningModule class (import it from pytorch_lightning)")
    if config.datamodule is None:
        return cls, None
    dm_cls = import_object(config.datamodule, "datamodule")
    if not (isinstance(dm_cls, type) and issubclass(dm_cls, pl.LightningDataModule)):
        raise UsageError(f"{config.datamodule!r} is not a LightningDataModule subclass", path="datamodule",
                         fix="name a LightningDataModule class")
    return cls, dm_cls


def check_user_code(config: RunConfig) -> None:
    """The preflight of a run config's own code: import ``module`` and ``datamodule``, check their kinds and bind
    ``module_kwargs``/``datamodule_kwargs`` to their constructors' signatures, constructing nothing.

    A run config with a built-in task passes at once, without importing torch. Errors are those of
    :func:`build_module` (the same key paths and fixes), found before any training or Ray starts.
    """
    if config.module is None:
        return
    module_cls, dm_cls = user_classes(config)
    _bind(module_cls, config.module_kwargs, "module_kwargs")
    if dm_cls is not None:
        _bind(dm_cls, _datamodule_kwargs(config), "datamodule_kwargs")


def _datamodule_kwargs(config: RunConfig) -> dict[str, Any]:
    """``datamodule_kwargs``, with ``trainer.batch_size`` as ``batch_size`` unless given there."""
    kwargs = dict(config.datamodule_kwargs)
    if config.trainer.batch_size is not None:
        kwargs.setdefault("batch_size", config.trainer.batch_size)
    return kwargs


def _construct(cls: type, kwargs: dict[str, Any], path: str) -> Any:
    """``cls(**kwargs)`` after :func:`_bind`; the constructor rejecting a value is a UsageError too."""
    _bind(cls, kwargs, path)
    try:
        return cls(**kwargs)
    except Exception as err:  # noqa: BLE001 - the constructor rejected the config's values
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        raise UsageError(f"{cls.__name__}(**{path}) raised {message}", path=path,
                         fix=f"check the values in {path}") from err


def _bind(cls: type, kwargs: dict[str, Any], path: str) -> None:
    """Check ``kwargs`` against ``cls``'s constructor: an unknown name (with the closest known one) or a missing
    required argument is a UsageError at ``path``."""
    signature = inspect.signature(cls)
    kinds = {name: p.kind for name, p in signature.parameters.items()}
    names = [n for n, kind in kinds.items() if kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                         inspect.Parameter.KEYWORD_ONLY)]
    if inspect.Parameter.VAR_KEYWORD not in kinds.values():
        for key in kwargs:
            if key not in names:
                raise unknown_name(f"{cls.__name__} argument", key, names, path=join(path, key))
    try:
        signature.bind(**kwargs)
    except TypeError as err:
        raise UsageError(f"{cls.__name__} does not accept these arguments ({err})", path=path,
                         fix=f"give the arguments {cls.__name__} needs (it takes: {', '.join(names) or 'none'})"
                         ) from None
