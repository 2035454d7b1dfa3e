"""The examples of docs/run_config.md and docs/loss_protocol.md are valid, and the protocol example trains."""

from __future__ import annotations

import re
import sys
import types

import pyarrow.parquet as pq
import pytest
import yaml
from tests.train.trial_configs import ROOT

from tune_sched.config.run_config import RunConfig, load_run_config
from tune_sched.train.trial import run_trial

DOCS = ROOT / "docs"


def blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


@pytest.mark.parametrize("text", blocks("run_config.md", "yaml"))
def test_every_run_config_example_is_valid(text):
    RunConfig.from_dict(yaml.safe_load(text))


@pytest.mark.parametrize("name", ["champion_trial69.yaml", "champion_beta090.yaml", "tiny.yaml"])
def test_the_ready_run_configs_are_valid(name):
    config = load_run_config(ROOT / "run_configs" / name)
    assert config.trainer.deterministic


def test_the_champion_config_holds_the_champions_settings():
    config = load_run_config(ROOT / "run_configs" / "champion_trial69.yaml")
    assert (config.task, config.seed, config.metric, config.mode) == ("fno2d", 307, "val_loss", "min")
    assert config.optimizer == {"name": "Adam", "lr": 0.0018498849832733245, "betas": [0.95, 0.999],
                                "weight_decay": 0.0}
    assert config.lr_scheduler == {"name": "CosineAnnealingWarmRestarts", "T_0": 6, "T_mult": 1,
                                   "eta_min": 1.6816632143867157e-06}
    trainer = config.trainer
    assert (trainer.batch_size, trainer.precision, trainer.gradient_clip_val, trainer.max_epochs) == (
        32, "16-mixed", 1.0, 100)
    es = trainer.early_stopping
    assert (es.monitor, es.patience, es.mode) == ("val_loss", 7, "min")


def test_the_champions_neighbour_differs_only_in_beta1():
    champion = load_run_config(ROOT / "run_configs" / "champion_trial69.yaml").to_dict()
    neighbour = load_run_config(ROOT / "run_configs" / "champion_beta090.yaml").to_dict()
    assert neighbour["optimizer"].pop("betas") == [0.9, 0.999]
    champion["optimizer"].pop("betas")
    assert neighbour == champion


def test_run_configs_and_search_spaces_live_apart():
    from tune_sched.core.yaml_io import read_yaml
    from tune_sched.config.space import is_search_space

    assert all(not is_search_space(read_yaml(p)) for p in (ROOT / "run_configs").glob("*.yaml"))
    assert all(is_search_space(read_yaml(p)) for p in (ROOT / "search_spaces").glob("*.yaml"))


def test_every_config_the_readme_names_exists():
    named = set(re.findall(r"(?:run_configs|search_spaces)/[\w.-]+\.yaml", (ROOT / "README.md").read_text()))
    assert "run_configs/champion_beta090.yaml" in named
    assert [name for name in sorted(named) if not (ROOT / name).exists()] == []


def test_the_loss_protocol_example_trains_with_a_moving_loss_schedule(tmp_path, monkeypatch):
    (code,) = blocks("loss_protocol.md", "python")
    (config_text,) = blocks("loss_protocol.md", "yaml")
    module = types.ModuleType("my_package.models")
    exec(compile(code, "docs/loss_protocol.md", "exec"), module.__dict__)  # noqa: S102 - our own docs
    monkeypatch.setitem(sys.modules, "my_package.models", module)
    config = yaml.safe_load(config_text)
    config["loss_scheduler"].update(warmup_epochs=0, min_delta=10.0)  # move at every validation from the second
    config["trainer"]["max_epochs"] = 3
    result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed"
    steps = pq.read_table(tmp_path / "steps.parquet").to_pandas()
    assert {"train_field", "train_spectrum", "weight_field", "weight_spectrum"} <= set(steps.columns)
    assert steps["weight_spectrum"].iloc[0] == 0.0 and steps["weight_spectrum"].iloc[-1] > 0.0
