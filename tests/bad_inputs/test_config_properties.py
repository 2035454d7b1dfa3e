"""Property tests of reading configs: any file either loads or gives the one user-error type, as one line.

tests/config/test_space_properties.py covers the space parser on random data; these cover what it does not: raw
text through the YAML reader (syntax, tags, anchors, deep nesting), ``tune-sched validate`` end to end, and run
configs with the blocks a space rarely reaches (user modules, param groups, warmups, nested schedulers, loss
schedulers).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tune_sched.cli import main
from tune_sched.core.yaml_io import read_yaml
from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Pieces of YAML syntax, so random text often parses, nests, aliases and tags rather than failing at once.
TOKENS = [
    "[", "]", "{", "}", ": ", ", ", "- ", "\n", "  ", "\t", "&a ", "*a", "&b ", "*b", "<<: *a\n",
    "!!python/object:os.system ", "!!python/name:os.path ", "!tag ", "!!binary ", "!!set ", "? ", "'", '"', "#",
    "|\n", ">\n", "---\n", "...\n",
    "%YAML 1.1\n", "task", "optimizer", "name", "lr", "tiny", "Adam", "1e-3", "-1", "0", "null", "true", "~", ".nan",
    "\u00e9", "\x00", "\ufeff",
]
YAML_TEXT = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join) | st.text(max_size=60)

SCALARS = (st.none() | st.booleans() | st.integers(-10**3, 10**3) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=6) | st.sampled_from(["Adam", "SGD", "StepLR", "val_loss", "1e-3", "tiny", "pkg.m:C"]))
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=15)

NUMBERS = st.integers(-2, 20) | st.floats(-1.0, 2.0) | st.sampled_from(["1e-3", 1e-4, 0, float("nan"), True])
LEAF = NUMBERS | SCALARS
SCHEDULER_NAMES = ["StepLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau", "SequentialLR", "OneCycleLR",
                   "LinearWarmupCosineAnnealingLR", "LambdaLR", "steplr", "Cosine"]
SCHEDULER_KEYS = ["step_size", "gamma", "T_max", "start_factor", "total_iters", "monitor", "factor", "patience",
                  "max_lr", "milestones", "warmup_epochs", "max_epochs", "interval", "frequency", "strict", "lr_lambda"]


def _scheduler(children: st.SearchStrategy | None) -> st.SearchStrategy:
    """A scheduler block; with ``children``, possibly wrapping a list of them (SequentialLR, ChainedScheduler)."""
    optional = {"warmup": st.dictionaries(st.sampled_from(["epochs", "steps", "start_factor", "len"]), NUMBERS,
                                          max_size=3)}
    if children is not None:
        optional["schedulers"] = st.lists(children, max_size=3) | LEAF
    return st.builds(
        lambda name, kwargs, extra: {"name": name, **kwargs, **extra},
        st.sampled_from(SCHEDULER_NAMES),
        st.dictionaries(st.sampled_from(SCHEDULER_KEYS), LEAF | st.lists(NUMBERS, max_size=3), max_size=3),
        st.fixed_dictionaries({}, optional=optional),
    )


SCHEDULERS = st.none() | st.recursive(_scheduler(None), _scheduler, max_leaves=4)
OPTIMIZERS = st.builds(
    lambda name, kwargs, extra: {"name": name, **kwargs, **extra},
    st.sampled_from(["Adam", "AdamW", "SGD", "sgd", "LBFGS", "Adamm"]),
    st.dictionaries(st.sampled_from(["lr", "betas", "momentum", "weight_decay", "eps", "nesterov", "foreach"]),
                    LEAF | st.lists(NUMBERS, max_size=3), max_size=3),
    st.fixed_dictionaries({}, optional={
        "param_groups": st.dictionaries(st.sampled_from(["head.*", "*.bias", "", "x"]) | st.integers(0, 3),
                                        st.dictionaries(st.sampled_from(["lr_factor", "weight_decay", "lr"]), LEAF,
                                                        max_size=2) | LEAF, max_size=2),
        "no_decay_bias_and_norm": LEAF,
    }),
)
RUN_CONFIGS = st.fixed_dictionaries({}, optional={
    "task": st.sampled_from(["tiny", "fno2d", None, "tiny2"]),
    "task_kwargs": st.dictionaries(st.sampled_from(["n_train", "resolution", "modes", "loss", "width", "nn"]),
                                   LEAF | st.dictionaries(st.sampled_from(["field", "spectrum", "mse", "x"]), NUMBERS,
                                                          max_size=2), max_size=3),
    "module": st.sampled_from(["pkg.mod:Net", "pkg.mod", ":Net", "", "a.b:C.D"]) | SCALARS,
    "module_kwargs": VALUES,
    "datamodule": st.sampled_from(["pkg.mod:Data", "pkg"]) | SCALARS,
    "optimizer": OPTIMIZERS | SCALARS,
    "lr_scheduler": SCHEDULERS | SCALARS,
    "loss_scheduler": st.none() | st.dictionaries(
        st.sampled_from(["mode", "source", "target", "initial_weights", "final_weights", "ema_beta", "patience",
                         "ramp_epochs", "ramp_shape", "monitor", "warmup_epochs"]),
        LEAF | st.lists(NUMBERS, max_size=3) | st.sampled_from(["adaptive", "ramp", "constant", "field", "spectrum"]),
        max_size=4),
    "trainer": st.dictionaries(st.sampled_from(["max_epochs", "precision", "early_stopping", "batch_size",
                                                "gradient_clip_val", "accelerator"]), LEAF | VALUES, max_size=3),
    "seed": LEAF,
    "metric": LEAF,
    "mode": st.sampled_from(["min", "max", "maximum"]),
})


def _validate(path: Any) -> tuple[int, str]:
    """``tune-sched validate PATH`` in this process: (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(path)])
    return code, err.getvalue()


def _assert_clean(code: int, stderr: str) -> None:
    assert code in (0, 2), stderr
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    else:
        assert stderr == ""


@SETTINGS
@given(YAML_TEXT)
def test_any_text_reads_or_raises_a_usage_error(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_yaml(path)
    except UsageError as err:
        assert "\n" not in str(err)
        assert str(err).startswith(f"{path}: ")


@SETTINGS
@given(YAML_TEXT)
def test_validate_on_any_text_exits_0_or_2_with_one_line(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _assert_clean(*_validate(path))


@SETTINGS
@given(VALUES | RUN_CONFIGS)
def test_validate_on_any_yaml_value_exits_0_or_2_with_one_line(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _assert_clean(*_validate(path))


@SETTINGS
@given(RUN_CONFIGS)
def test_run_configs_load_or_raise_a_usage_error_and_round_trip(data):
    try:
        config = RunConfig.from_dict(data)
    except UsageError as err:
        assert "\n" not in str(err)
        assert err.path, f"no key path in {err}"
        return
    assert RunConfig.from_dict(config.to_dict()) == config
