"""Property tests of the space parser: any input loads or raises UsageError; whatever loads samples valid configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tune_sched.config.run_config import RunConfig
from tune_sched.config.space import SearchSpace, is_search_space
from tune_sched.core.errors import UsageError

EXAMPLE = yaml.safe_load((Path(__file__).parent / "data" / "example_space.yaml").read_text())

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Keys a space uses, so random data often hits real branches of the parser rather than the unknown-key check.
KEYS = [
    "task", "task_kwargs", "optimizer", "lr_scheduler", "loss_scheduler", "trainer", "metric", "mode", "seeds",
    "search", "resources", "seed", "one_of", "values", "min", "max", "log", "step", "value", "name", "lr", "betas",
    "momentum", "Adam", "SGD", "StepLR", "constant", "none", "adaptive", "ramp", "step_size", "monitor",
    "max_epochs", "algorithm", "num_samples", "pruner", "rule", "grace_period", "cpu", "gpu", "patience",
]
SCALARS = (
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(KEYS + ["1e-3", "tiny", "grid", "asha", ""])
    | st.text(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | SCALARS, children,
                                                                       max_size=4),
    max_leaves=25,
)
SPACES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)

# A rough grammar of spaces: real blocks, kwargs and families, with random distributions and some typos.
NUMBERS = st.integers(-3, 12) | st.floats(-1.0, 2.0) | st.sampled_from(["1e-3", 0.0, 1e-5, float("nan")])
DISTRIBUTIONS = st.fixed_dictionaries({}, optional={
    "values": st.lists(SCALARS | NUMBERS, max_size=3), "min": NUMBERS, "max": NUMBERS,
    "log": st.booleans() | SCALARS, "step": NUMBERS, "value": SCALARS,
})
LEAVES = NUMBERS | SCALARS | DISTRIBUTIONS | st.lists(NUMBERS | DISTRIBUTIONS, max_size=2)
KWARGS = {
    "optimizer": ["lr", "betas", "momentum", "weight_decay", "eps", "nesterov", "lrr"],
    "lr_scheduler": ["step_size", "gamma", "factor", "patience", "monitor", "T_0", "interval", "T_max"],
    "loss_scheduler": ["patience", "warmup_epochs", "ramp_epochs", "final_weights", "max_target_weight"],
}
FAMILY_NAMES = {
    "optimizer": ["Adam", "SGD", "AdamW", "Adm"],
    "lr_scheduler": ["StepLR", "ReduceLROnPlateau", "CosineAnnealingLR", "constant", "none"],
    "loss_scheduler": ["adaptive", "ramp", "constant", "none"],
}


def _block(block: str) -> st.SearchStrategy:
    kwargs = st.dictionaries(st.sampled_from(KWARGS[block]), LEAVES, max_size=3)
    families = st.dictionaries(st.sampled_from(FAMILY_NAMES[block]), st.none() | kwargs, min_size=1, max_size=3)
    key = "mode" if block == "loss_scheduler" else "name"
    named = st.builds(lambda kw, name: {key: name, **kw}, kwargs, st.sampled_from(FAMILY_NAMES[block]))
    one_of = st.builds(lambda kw, fam: {**kw, "one_of": fam}, kwargs, families)
    return st.none() | named | one_of


GRAMMAR = st.fixed_dictionaries({}, optional={
    "task": st.sampled_from(["tiny", "fno2d", "tny"]),
    "optimizer": _block("optimizer"),
    "lr_scheduler": _block("lr_scheduler"),
    "loss_scheduler": _block("loss_scheduler"),
    "trainer": st.dictionaries(st.sampled_from(["max_epochs", "precision", "gradient_clip_val", "batch_size"]),
                               LEAVES, max_size=2),
    "seeds": st.lists(st.integers(-1, 5), max_size=3) | SCALARS,
    "search": st.fixed_dictionaries({}, optional={
        "algorithm": st.sampled_from(["optuna", "random", "grid"]), "num_samples": NUMBERS,
        "pruner": st.sampled_from(["asha", "median", "none", None]) | st.dictionaries(
            st.sampled_from(["rule", "grace_period", "reduction_factor"]), NUMBERS | SCALARS, max_size=2),
    }),
    "resources": st.dictionaries(st.sampled_from(["cpu", "gpu"]), NUMBERS, max_size=2),
    "metric": st.sampled_from(["val_loss", "val_field", ""]),
    "mode": st.sampled_from(["min", "max", "mx"]),
})

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _check_loads_or_usage_error(data: Any) -> SearchSpace | None:
    try:
        space = SearchSpace.from_dict(data)
    except UsageError as err:
        assert "\n" not in str(err)
        return None
    # Whatever loads works all the way: summary, dimensions, and samples that are valid run configs.
    space.summary()
    names = {d.name for d in space.dimensions()}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        RunConfig.from_dict(space.sample(trial))
        assert set(trial.params) <= names
    return space


@SETTINGS
@given(SPACES)
def test_random_spaces_load_or_raise_usage_error(data):
    _check_loads_or_usage_error(data)
    is_search_space(data)  # never raises


@SETTINGS
@given(GRAMMAR)
def test_grammar_spaces_load_or_raise_usage_error(data):
    _check_loads_or_usage_error(data)


@SETTINGS
@given(VALUES)
def test_any_yaml_value_loads_or_raises_usage_error(data):
    _check_loads_or_usage_error(data)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, prefix + (i,))
    return out


PATHS = _paths(EXAMPLE)


@st.composite
def mutated_examples(draw) -> dict:
    """The valid example with one to three edits: a value replaced, a key deleted or renamed."""
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed it
        action = draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif isinstance(parent, dict):
            value = parent.pop(path[-1])
            if action == "rename":
                parent[draw(st.sampled_from(KEYS) | st.text(max_size=5))] = value
    return data


@SETTINGS
@given(mutated_examples())
def test_mutated_valid_spaces_load_or_raise_usage_error(data):
    _check_loads_or_usage_error(data)


def test_the_unmutated_example_loads():
    assert _check_loads_or_usage_error(copy.deepcopy(EXAMPLE)) is not None


def test_huge_integer_settings_are_usage_errors():
    with pytest.raises(UsageError):
        SearchSpace.from_dict({"search": {"time_budget_s": 10**400}})
