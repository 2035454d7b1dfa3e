"""DivergenceCheck: the trial's callback that applies the divergence rule at every epoch end and stops a run that
diverged (:func:`tune_sched.config.divergence.judge_divergence` decides; this only feeds it the trial's numbers)."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl

from tune_sched.config.divergence import DivergenceRule, DivergenceVerdict, judge_divergence
from tune_sched.train.recorder import MetricsRecorder, TrialDiverged

__all__ = ["DivergenceCheck"]


class DivergenceCheck(pl.Callback):
    """Judge the run after every epoch from ``recorder``'s rows; raise :class:`TrialDiverged` when it diverged.

    The untrained model's train loss is the first optimizer step's (its loss is computed before any update); its
    metric is the validation sanity check's, over the whole validation set (the trial runs every validation batch
    there when ``rule.min_improvement`` is set). Both are saved in checkpoints, so a resumed run keeps them. Put it
    after the recorder, so the epoch's row is recorded before it is judged.
    """

    def __init__(self, recorder: MetricsRecorder, rule: DivergenceRule, *, metric: str, mode: str) -> None:
        self.recorder = recorder
        self.rule = rule
        self.metric = metric
        self.mode = mode
        self.untrained_metric = math.nan
        self._restored = False
        self._losses: list[float | None] = []  # epoch-mean train loss per recorded epoch
        self._next_step = 0  # recorder.steps already folded into _losses

    @property
    def untrained_loss(self) -> float:
        steps = self.recorder.steps
        loss = steps[0].get("train_loss") if steps and steps[0].get("step") == 0 else None
        return math.nan if loss is None else float(loss)

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.untrained(trainer.callback_metrics)

    def untrained(self, metrics: Any) -> None:
        """Take the untrained model's metric from the sanity check's ``metrics`` (not on a resumed run)."""
        value = metrics.get(self.metric)
        if not self._restored and value is not None:
            self.untrained_metric = float(value)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer.global_step - 1)

    def check(self, last_step: int) -> None:
        """At an epoch end whose last optimizer step was ``last_step``: raise :class:`TrialDiverged` if diverged."""
        verdict = self.judge(finished=False)
        if verdict.diverged:
            raise TrialDiverged(last_step, epoch=verdict.epoch, reason=verdict.reason)

    def judge(self, *, finished: bool) -> DivergenceVerdict:
        """The verdict on the epochs recorded so far (``finished``: the run trained to its end)."""
        epochs = self.recorder.epochs
        self._fold_steps(len(epochs))
        return judge_divergence(
            self._losses, [row.get(self.metric) for row in epochs], untrained_loss=self.untrained_loss,
            untrained_metric=self.untrained_metric, rule=self.rule, metric=self.metric, mode=self.mode,
            finished=finished,
        )

    def _fold_steps(self, n_epochs: int) -> None:
        steps = self.recorder.steps
        if self._next_step > len(steps) or len(self._losses) > n_epochs:  # rows were cut (a resume): start over
            self._losses, self._next_step = [], 0
        while len(self._losses) < n_epochs:
            epoch = self.recorder.epochs[len(self._losses)]["epoch"]
            values = []
            while self._next_step < len(steps) and steps[self._next_step]["epoch"] <= epoch:
                if steps[self._next_step]["epoch"] == epoch:
                    values.append(steps[self._next_step].get("train_loss"))
                self._next_step += 1
            known = [float(v) for v in values if v is not None and not math.isnan(v)]
            self._losses.append(sum(known) / len(known) if known else None)

    def state_dict(self) -> dict[str, Any]:
        return {"untrained_metric": self.untrained_metric}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.untrained_metric = float(state_dict.get("untrained_metric", math.nan))
        self._restored = True
