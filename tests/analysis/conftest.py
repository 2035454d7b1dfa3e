"""Real experiment directories, trained once per test session on the tiny task (about 10 s in all).

``experiment``: four configs on seeds 0, 1, 2 (3 epochs, batch 8):

- ``steady``: Adam, lr 0.01; completes on every seed without a spike.
- ``decay``: Adam, lr 0.003 with StepLR and a ramped loss scheduler (field -> spectrum): LR and weight traces.
- ``spiky``: Adam, lr 0.01 with the LR raised tenfold after the first epoch: spikes on some seeds, recovers.
- ``blowup``: SGD, lr 50: diverges on every seed.

plus ``troubled`` on seeds 0 and 1 only: seed 0 is pruned after its first epoch, seed 1 fails (its epoch hook
raises). ``single_seed``: two configs on seed 0 only. Tests that change files must copy these first (``copy_of``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SEEDS = (0, 1, 2)
BASE = {"task": "tiny", "trainer": {"max_epochs": 3, "batch_size": 8}}
CONFIGS = {
    "steady": {**BASE, "optimizer": {"name": "Adam", "lr": 0.01}},
    "decay": {
        **BASE, "optimizer": {"name": "Adam", "lr": 0.003},
        "lr_scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.5},
        "loss_scheduler": {"mode": "ramp", "source": "field", "target": "spectrum", "initial_weights": [1.0, 0.0],
                           "final_weights": [0.5, 0.5], "warmup_epochs": 0, "ramp_epochs": 2},
    },
    "spiky": {
        **BASE, "optimizer": {"name": "Adam", "lr": 0.01},
        "lr_scheduler": {"name": "MultiStepLR", "milestones": [1], "gamma": 10.0},
    },
    "blowup": {**BASE, "optimizer": {"name": "SGD", "lr": 50.0}},
}
TROUBLED = {**BASE, "optimizer": {"name": "Adam", "lr": 0.02}}


def _prune_after_first_epoch(epoch: int, metrics: dict) -> bool:
    return epoch >= 0


def _crash(epoch: int, metrics: dict) -> bool:
    raise RuntimeError("simulated worker crash")


def _build(path: Path, configs: dict, seeds: tuple[int, ...], *, troubled: bool) -> Path:
    import torch

    from tune_sched.results.experiment import create_experiment, seed_dir
    from tune_sched.train.trial import run_trial

    torch.set_num_threads(1)
    exp = create_experiment(path, space_source={"task": "tiny"}, metric="val_loss", mode="min", seeds=list(seeds),
                            settings={"resources": {"cpu": 1, "gpu": 0}})  # as a search with 1 CPU per trial
    for config_id, config in configs.items():
        for seed in seeds:
            run_trial(config, seed, seed_dir(exp, config_id, seed), config_id=config_id)
    if troubled:
        run_trial(TROUBLED, 0, seed_dir(exp, "troubled", 0), config_id="troubled", epoch_hook=_prune_after_first_epoch)
        run_trial(TROUBLED, 1, seed_dir(exp, "troubled", 1), config_id="troubled", epoch_hook=_crash)
    return exp


@pytest.fixture(scope="session")
def experiment(tmp_path_factory) -> Path:
    """The four-config experiment (read-only: copy it before changing anything)."""
    return _build(tmp_path_factory.mktemp("exp") / "main", CONFIGS, SEEDS, troubled=True)


@pytest.fixture(scope="session")
def single_seed(tmp_path_factory) -> Path:
    """Two configs, one seed each."""
    configs = {"steady": CONFIGS["steady"], "spiky": CONFIGS["spiky"]}
    return _build(tmp_path_factory.mktemp("exp") / "single", configs, (0,), troubled=False)


@pytest.fixture(scope="session")
def run_configs() -> dict:
    """The fixture experiment's configs by id (plain dicts, as written in a run config)."""
    return CONFIGS


@pytest.fixture(scope="session")
def analysis(experiment):
    from tune_sched.analysis.experiment_analysis import analyze_experiment

    return analyze_experiment(experiment, n_boot=200)


@pytest.fixture
def copy_of(tmp_path):
    """``copy_of(path)``: a private copy of a fixture experiment that a test may change."""

    def copy(path: Path) -> Path:
        target = tmp_path / path.name
        shutil.copytree(path, target)
        return target

    return copy
