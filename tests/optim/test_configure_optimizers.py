"""configure_optimizers inside a real (tiny) Lightning fit, and its plain-call behaviour."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from tune_sched.optim.lightning import configure_optimizers, trainer_lengths
from tune_sched.optim.liveness import expected_lr_change
from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError

STEPS_PER_EPOCH = 4


class Tiny(pl.LightningModule):
    """Two Linear layers on random tensors; the optimizer comes from the run config, as users write it."""

    def __init__(self, run_config) -> None:
        super().__init__()
        self.run_config = run_config
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.lrs: list[list[float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def on_before_optimizer_step(self, optimizer) -> None:
        self.lrs.append([g["lr"] for g in optimizer.param_groups])

    def configure_optimizers(self):
        return configure_optimizers(self, self.run_config)


def _fit(run_config, *, max_epochs: int = 2) -> tuple[Tiny, pl.Trainer]:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(4 * STEPS_PER_EPOCH, 4), torch.randn(4 * STEPS_PER_EPOCH, 1))
    module = Tiny(run_config)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, DataLoader(data, batch_size=4), DataLoader(data, batch_size=8))
    return module, trainer


def test_fit_with_dict_config_fills_lengths_from_the_trainer():
    run_config = {
        "optimizer": {"name": "AdamW", "lr": 0.1, "weight_decay": 0.01, "no_decay_bias_and_norm": True,
                      "param_groups": {"head.*": {"lr_factor": 0.5}}},
        "lr_scheduler": {"name": "LinearDecayLR", "final_fraction": 0.0},
    }
    module, trainer = _fit(run_config)
    (config,) = trainer.lr_scheduler_configs
    assert (config.name, config.interval) == ("lr-LinearDecayLR", "step")
    assert [g["name"] for g in trainer.optimizers[0].param_groups] == [
        "default", "default/no_decay", "head.*", "head.*/no_decay"]
    total = 2 * STEPS_PER_EPOCH  # T filled from estimated_stepping_batches
    assert [lrs[0] for lrs in module.lrs] == pytest.approx([0.1 * (1 - s / total) for s in range(total)])
    assert [lrs[2] for lrs in module.lrs] == pytest.approx([0.05 * (1 - s / total) for s in range(total)])


def test_fit_with_run_config_per_epoch_schedule_and_warmup():
    run_config = RunConfig(optimizer={"name": "SGD", "lr": 1.0},
                           lr_scheduler={"name": "CosineAnnealingLR", "warmup": {"steps": 2, "start_factor": 0.5}})
    module, trainer = _fit(run_config, max_epochs=3)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert trainer.lr_scheduler_configs[0].interval == "step"
    assert (scheduler.inner_every, scheduler.inner.T_max) == (STEPS_PER_EPOCH, 2)  # (12 - 2) // 4 inner epochs
    seen = [lrs[0] for lrs in module.lrs]
    assert seen[:3] == pytest.approx([0.5, 0.75, 1.0])
    assert seen[2:6] == pytest.approx([1.0] * 4) and seen[6:10] == pytest.approx([0.5] * 4)
    assert expected_lr_change(run_config.lr_scheduler, epochs=3, steps_per_epoch=STEPS_PER_EPOCH,
                              optimizer_steps=len(seen), seen_by_optimizer=True) is True


def test_fit_with_reduce_on_plateau_and_without_scheduler():
    module, trainer = _fit({"optimizer": {"name": "Adam", "lr": 0.01},
                            "lr_scheduler": {"name": "ReduceLROnPlateau", "monitor": "val_loss", "patience": 0}})
    assert trainer.lr_scheduler_configs[0].monitor == "val_loss"
    module, trainer = _fit({"optimizer": {"name": "Adam", "lr": 0.01}, "lr_scheduler": None})
    assert trainer.lr_scheduler_configs == []
    assert {lrs[0] for lrs in module.lrs} == {0.01}


def test_without_a_trainer_lengths_are_unknown():
    module = Tiny({})
    assert trainer_lengths(module) == {}
    assert isinstance(configure_optimizers(module, {"optimizer": {"name": "SGD", "lr": 0.1}}), torch.optim.SGD)
    with pytest.raises(UsageError, match=r"^lr_scheduler\.T_max: CosineAnnealingLR needs 'T_max'.*run length is "
                                         r"unknown"):
        configure_optimizers(module, {"optimizer": {"name": "SGD"}, "lr_scheduler": {"name": "CosineAnnealingLR"}})
    out = configure_optimizers(module, {"optimizer": {"name": "SGD"}, "lr_scheduler": {"name": "StepLR",
                                                                                       "step_size": 2}})
    assert set(out) == {"optimizer", "lr_scheduler"}
    assert out["lr_scheduler"]["name"] == "lr-StepLR"


@pytest.mark.parametrize(("run_config", "match"), [
    ({"lr_scheduler": None}, r"^optimizer: the run config has no 'optimizer' block; add e\.g\. optimizer: "
                             r"\{name: AdamW, lr: 1\.0e-3\}$"),
    ("adam", r"^run_config: expected a RunConfig or a mapping with 'optimizer', but got str"),
    ({"optimizer": {"name": "adamw", "lr": 1e-3, "param_groups": {"decoder.*": {}}}},
     r"^optimizer\.param_groups\['decoder\.\*'\]: matches no trainable parameter"),
])
def test_errors(run_config, match):
    with pytest.raises(UsageError, match=match):
        configure_optimizers(Tiny({}), run_config)
