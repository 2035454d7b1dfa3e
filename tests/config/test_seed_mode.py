"""trainer.seed_mode: its values, its error, and a default that leaves the written config as it was."""

from __future__ import annotations

import pytest

from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError


@pytest.mark.parametrize("mode", ["auto", "stacked", "separate"])
def test_seed_mode_round_trips(mode: str) -> None:
    config = RunConfig.from_dict({"trainer": {"seed_mode": mode}})
    assert config.trainer.seed_mode == mode
    assert RunConfig.from_dict(config.to_dict()) == config


def test_default_is_auto_and_not_written() -> None:
    config = RunConfig.from_dict({})
    assert config.trainer.seed_mode == "auto"
    assert "seed_mode" not in config.to_dict()["trainer"]


@pytest.mark.parametrize("value", ["stack", True, 3])
def test_bad_seed_mode_names_key_and_choices(value: object) -> None:
    with pytest.raises(UsageError, match=r"trainer\.seed_mode: unknown seed mode .*use one of: auto, separate, stacked"):
        RunConfig.from_dict({"trainer": {"seed_mode": value}})
