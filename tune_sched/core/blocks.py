"""One way to validate a config block: a frozen dataclass whose fields are its keys, each field's metadata its check.

In the spirit of Lightning's ``LRSchedulerConfig``: the allowed keys are the dataclass's fields (an unknown key gets
the did-you-mean error of :func:`~tune_sched.core.checks.check_keys`), and each field declares its check with
:func:`setting`. A block class inherits :class:`Block`, which gives it ``from_dict``; rules between keys go in
:meth:`Block.check_together`, which sees every value (defaults filled in) once each has passed its own check. Keys
whose checks depend on one another as written (two alternatives, one of which applies) are read together by
:meth:`Block.read_first`, before the other fields.

A typed block that code (or users) also read as its YAML dict mixes in :class:`ReadsAsDict`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Stopping(Block):
    ...     PATH = "trainer.early_stopping"
    ...     patience: int = setting(5, check=integer(min=1))
    ...     mode: str = setting("min", check=choice(["min", "max"], what="mode"))
    >>> Stopping.from_dict({"patience": 3})
    Stopping(patience=3, mode='min')
    >>> Stopping.from_dict({"patince": 3})
    Traceback (most recent call last):
    ...
    tune_sched.core.errors.UsageError: trainer.early_stopping.patince: unknown key 'patince' (did you mean \
'patience'?); use one of: mode, patience
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Literal

from tune_sched.core.checks import as_bool, as_choice, as_float, as_int, as_mapping, as_str, check_keys, join

__all__ = ["Block", "Check", "ReadsAsDict", "choice", "flag", "integer", "number", "read_block", "setting", "text"]

Check = Callable[[Any, str], Any]
"""A field's check: ``(value, key path) -> the value normalized``; raises UsageError naming the path."""

IfNull = Literal["check", "default", "keep"]
_META = "tune_sched.setting"


@dataclasses.dataclass(frozen=True)
class _Setting:
    check: Check
    if_null: IfNull


def setting(default: Any = dataclasses.MISSING, *, check: Check, if_null: IfNull = "check",
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A block's field: its default and its check.

    Args:
        default, default_factory: as for :func:`dataclasses.field`.
        check: the field's check, e.g. ``integer(min=1)``.
        if_null: what ``key: null`` means: ``"check"`` (the check decides; most refuse it), ``"default"`` (the
            field's default) or ``"keep"`` (None itself, e.g. a rule switched off).
    """
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_META: _Setting(check, if_null)})


class Block:
    """A config block (mix into a frozen dataclass whose fields are all declared with :func:`setting`).

    Attributes:
        PATH: the block's key path in a config file, the default ``path`` of :meth:`from_dict`.
        KEY_KIND: what an unknown key is called in its error (``"key"``, ``"divergence setting"``).
    """

    PATH: ClassVar[str] = ""
    KEY_KIND: ClassVar[str] = "key"

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> Any:
        """Validate a mapping (as read from YAML; ``None`` is an empty one) into the block; errors name the key path.

        Raises:
            UsageError: an unknown key (with the closest valid one), a value that breaks its field's check, or a
                rule between keys (:meth:`check_together`).
        """
        return read_block(cls, data, cls.PATH if path is None else path)

    @classmethod
    def read_first(cls, data: Mapping[str, Any], path: str) -> dict[str, Any]:
        """Keys whose checks depend on one another as written, read before the other fields; returns their values.

        A field it returns is not checked again (declare such fields with :func:`dataclasses.field`, not
        :func:`setting`); it runs after the unknown-key check. The default reads none.
        """
        return {}

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        """Rules between keys, on every value (defaults filled in); returns the values, possibly completed.

        ``written`` is the block as written (for a key that applies only with some other value).
        Raise UsageError with ``join(path, key)`` for the key to change. The default checks nothing.
        """
        return values


class ReadsAsDict(Mapping[str, Any]):
    """A typed block that also reads as its YAML block: a read-only mapping equal to its ``to_dict()``.

    So ``cfg.loss_scheduler["mode"]``, ``dict(cfg.optimizer)`` and a builder that takes a plain dict keep working
    on the typed block. Declare the dataclass with ``eq=False``: it then compares equal to that dict (and to any
    mapping with the same items), and is not hashable, like the dict.
    """

    def to_dict(self) -> dict[str, Any]:
        """The block as plain YAML data (a new dict each time)."""
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def read_block(cls: type, data: Any, path: str, *, keys: Iterable[str] | None = None,
               key_kind: str | None = None) -> Any:
    """The engine of :meth:`Block.from_dict`; ``keys`` narrows the allowed keys (a block whose keys depend on one
    of its values, such as a spike rule's own settings), ``key_kind`` renames them in the unknown-key error."""
    data = as_mapping(data, path or cls.PATH)
    fields = dataclasses.fields(cls)
    check_keys(data, [f.name for f in fields] if keys is None else keys, path,
               what=key_kind or getattr(cls, "KEY_KIND", "key"))
    values = cls.read_first(data, path)
    for f in fields:
        if f.name in values:
            continue
        meta: _Setting = f.metadata[_META]
        value = data.get(f.name)
        if f.name in data and not (value is None and meta.if_null == "default"):
            values[f.name] = None if value is None and meta.if_null == "keep" else meta.check(value, join(path, f.name))
        elif f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        else:
            values[f.name] = f.default_factory()
    return cls(**cls.check_together(values, path, written=data))


def integer(*, min: int | None = None) -> Check:
    """A whole number (``3.0`` reads as 3), at least ``min``."""
    return lambda value, path: as_int(value, path, min=min)


def number(*, min: float | None = None, positive: bool = False) -> Check:
    """A finite number (``"1e-3"`` reads as 0.001), at least ``min`` or greater than 0."""
    return lambda value, path: as_float(value, path, min=min, positive=positive)


def choice(options: Iterable[str], *, what: str = "value") -> Check:
    """One of ``options``; the error calls the value a ``what`` and suggests the closest option."""
    options = tuple(options)
    return lambda value, path: as_choice(value, options, path, what=what)


def flag() -> Check:
    """true or false."""
    return as_bool


def text() -> Check:
    """A non-empty string."""
    return as_str
