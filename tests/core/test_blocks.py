"""core/blocks.py: a dataclass's fields are a block's keys, each field's metadata its check; errors name key paths."""

from __future__ import annotations

import doctest
from dataclasses import dataclass

import pytest

from tune_sched.core import blocks
from tune_sched.core.blocks import Block, ReadsAsDict, choice, flag, integer, number, read_block, setting, text
from tune_sched.core.checks import join
from tune_sched.core.errors import UsageError


@dataclass(frozen=True)
class Inner(Block):
    PATH = "outer.inner"
    KEY_KIND = "inner setting"

    size: int = setting(2, check=integer(min=1))


@dataclass(frozen=True)
class Outer(Block):
    PATH = "outer"

    name: str = setting("a", check=text())
    rate: float = setting(0.1, check=number(positive=True))
    limit: float | None = setting(None, check=number(min=0.0), if_null="default")
    cutoff: float | None = setting(0.5, check=number(), if_null="keep")
    mode: str = setting("min", check=choice(["min", "max"], what="mode"))
    on: bool = setting(True, check=flag())
    inner: Inner = setting(default_factory=Inner, check=Inner.from_dict, if_null="default")

    @classmethod
    def check_together(cls, values, path, *, written):
        if "cutoff" in written and not values["on"]:
            raise UsageError("applies only when on", path=join(path, "cutoff"), fix="remove it")
        if values["mode"] == "max" and values["limit"] is None:
            raise UsageError("needs 'limit' with mode max", path=join(path, "limit"), fix="add limit: 1")
        return {**values, "name": values["name"].upper()}


def test_values_are_checked_normalized_and_defaults_filled():
    assert Outer.from_dict({"rate": "1e-3", "inner": {"size": 4.0}, "name": "b"}) == Outer(
        name="B", rate=0.001, inner=Inner(size=4))
    assert Outer.from_dict(None) == Outer(name="A")


def test_null_means_what_the_field_says():
    assert Outer.from_dict({"limit": None, "inner": None, "cutoff": None}) == Outer(name="A", cutoff=None)
    with pytest.raises(UsageError, match=r"^outer\.rate: must be a finite number, but got None"):
        Outer.from_dict({"rate": None})


@pytest.mark.parametrize(("data", "path", "match"), [
    ({"rat": 1}, None, r"^outer\.rat: unknown key 'rat' \(did you mean 'rate'\?\); use one of: cutoff, inner, "),
    ({"inner": {"sise": 1}}, None, r"^outer\.inner\.sise: unknown inner setting 'sise' \(did you mean 'size'\?\)"),
    ({"inner": {"size": 0}}, "run.outer", r"^run\.outer\.inner\.size: must be at least 1, but got 0"),
    ({"mode": "maxx"}, None, r"^outer\.mode: unknown mode 'maxx' \(did you mean 'max'\?\)"),
    ({"on": "yes"}, None, r"^outer\.on: must be true or false"),
    ({"mode": "max"}, None, r"^outer\.limit: needs 'limit' with mode max; add limit: 1$"),
    ({"on": False, "cutoff": 0.5}, None, r"^outer\.cutoff: applies only when on; remove it$"),
    ([1, 2], None, r"^outer: must be a mapping"),
    ({"rate": 0}, "", r"^rate: must be greater than 0"),
])
def test_errors_name_the_key_path(data, path, match):
    with pytest.raises(UsageError, match=match):
        Outer.from_dict(data, path)


def test_keys_can_be_narrowed_to_those_that_apply():
    with pytest.raises(UsageError, match=r"^o\.mode: unknown short setting 'mode'; use one of: name, rate$"):
        read_block(Outer, {"mode": "max"}, "o", keys=("name", "rate"), key_kind="short setting")
    assert read_block(Outer, {"rate": 2}, "o", keys=("name", "rate")) == Outer(name="A", rate=2.0)


@dataclass(frozen=True)
class Either(Block):
    """``kind`` or ``custom``, never both: the two are read together, before ``count``."""

    PATH = "either"

    kind: str | None = "a"
    custom: str | None = None
    count: int = setting(1, check=integer(min=1))

    @classmethod
    def read_first(cls, data, path):
        if data.get("kind") is not None and data.get("custom") is not None:
            raise UsageError("give either 'kind' or 'custom', not both", path=join(path, "custom"), fix="remove one")
        if data.get("custom") is not None:
            return {"kind": None, "custom": text()(data["custom"], join(path, "custom"))}
        return {"kind": choice(["a", "b"], what="kind")(data.get("kind", "a"), join(path, "kind")), "custom": None}


def test_keys_read_first_are_read_together_before_the_others():
    assert Either.from_dict({"custom": "x", "count": 2}) == Either(kind=None, custom="x", count=2)
    assert Either.from_dict({"kind": "b"}) == Either(kind="b")
    with pytest.raises(UsageError, match=r"^either\.custom: give either 'kind' or 'custom', not both"):
        Either.from_dict({"kind": "a", "custom": "x", "count": 0})  # before count's own check
    with pytest.raises(UsageError, match=r"^either\.kund: unknown key 'kund'"):
        Either.from_dict({"kund": "a", "kind": "c"})  # after the unknown-key check


def test_doctests():
    assert doctest.testmod(blocks).failed == 0


@dataclass(frozen=True, eq=False)
class Named(ReadsAsDict):
    name: str
    extras: dict

    def to_dict(self):
        return {"name": self.name, **self.extras}


def test_a_typed_block_reads_as_its_yaml_dict():
    block = Named("Adam", {"lr": 0.1, "betas": [0.9, 0.99]})
    assert block["lr"] == 0.1 and block.get("eps") is None and list(block) == ["name", "lr", "betas"]
    assert block == {"name": "Adam", "lr": 0.1, "betas": [0.9, 0.99]} and block != {"name": "Adam"}
    assert dict(block) == block.to_dict() and {**block}["name"] == "Adam"
    with pytest.raises(KeyError):
        block["eps"]
    with pytest.raises(TypeError):
        block["lr"] = 1.0
