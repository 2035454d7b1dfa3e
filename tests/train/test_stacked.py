"""Stacked seeds: each seed's numbers as alone (float64 step by step, float32 by distribution), a seed that
diverges while the others go on, resume mid-run, the Lockstep interface, and what rules stacking out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tune_sched.config.run_config import RunConfig
from tune_sched.train.lockstep import Lockstep
from tune_sched.train.seed_modes import choose_seed_mode, seed_runner
from tune_sched.train.stacked import Stacked, run_stacked
from tune_sched.train.trial import run_trial

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "tiny",
        "optimizer": {"name": "AdamW", "lr": 3e-3, "weight_decay": 0.01},
        "lr_scheduler": {"name": "CosineAnnealingLR", "warmup": {"epochs": 1, "start_factor": 0.1}},
        "trainer": {"max_epochs": 3, "precision": "64-true", "gradient_clip_val": 0.5},
    }
    for key, value in overrides.items():
        config[key] = {**config[key], **value} if key == "trainer" else value  # other blocks: replaced
    return config


def _table(folder: Path, name: str) -> list[dict[str, Any]]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    return a == b


def _assert_same_run(alone: Path, stacked: Path, *, rel: float) -> None:
    """Every row and column of both tables, and every field of result.json but the mode, time and threads.

    ``grad_norm`` is compared to 1e-6 whatever ``rel``: the recorder takes gradient norms in float32.
    """
    for name in ("steps", "epochs"):
        a, b = _table(alone, name), _table(stacked, name)
        assert len(a) == len(b), name
        for row_a, row_b in zip(a, b):
            assert row_a.keys() == row_b.keys(), name
            bad = {k: (row_a[k], row_b[k]) for k in row_a
                   if not _close(row_a[k], row_b[k], max(rel, 1e-6) if k == "grad_norm" else rel)}
            assert not bad, f"{name} step {row_a.get('step')}: {bad}"
    import json

    ra, rb = (json.loads((folder / "result.json").read_text()) for folder in (alone, stacked))
    assert (ra.pop("seed_mode"), rb.pop("seed_mode")) == ("separate", "stacked")
    for key in ("wall_time_s", "num_threads"):
        ra.pop(key), rb.pop(key)
    bad = {k: (ra[k], rb[k]) for k in ra if not _close(ra[k], rb[k], rel)}
    assert not bad


def _alone_and_stacked(config: dict[str, Any], seeds: list[int], tmp_path: Path, *,
                       vectorise: bool | None = None) -> tuple[dict, dict]:
    stacked = run_stacked(config, seeds, {s: tmp_path / f"stacked{s}" for s in seeds}, raise_errors=True,
                          vectorise=vectorise)
    alone = {s: run_trial(config, s, tmp_path / f"alone{s}", raise_errors=True) for s in seeds}
    return alone, stacked


@pytest.mark.parametrize("vectorise", [True, False], ids=["vmap", "seed-by-seed"])
@pytest.mark.parametrize("task", ["tiny", "fno2d"])
def test_float64_every_step_as_alone(task: str, vectorise: bool, tmp_path: Path) -> None:
    kwargs = {"n_train": 32, "n_val": 16, "width": 4, "modes": 4, "resolution": 16} if task == "fno2d" else {}
    config = _config(task=task, task_kwargs=kwargs, trainer={"batch_size": 8})
    alone, stacked = _alone_and_stacked(config, [1, 2, 3], tmp_path, vectorise=vectorise)
    for seed in (1, 2, 3):
        assert stacked[seed].status == alone[seed].status == "completed"
        _assert_same_run(tmp_path / f"alone{seed}", tmp_path / f"stacked{seed}", rel=1e-9)


@pytest.mark.slow
def test_float64_a_few_hundred_steps_within_1e_6(tmp_path: Path) -> None:
    """300 steps (20 epochs of 15), SGD with momentum and a step schedule, clipping that bites, a fixed loss
    schedule moving weight to the spectrum error: the per-seed loss curves agree to 1e-6 relative."""
    config = _config(optimizer={"name": "SGD", "lr": 0.05, "momentum": 0.9, "nesterov": True},
                     lr_scheduler={"name": "StepLR", "step_size": 5, "gamma": 0.5},
                     loss_scheduler={"mode": "ramp", "source": "field", "target": "spectrum", "warmup_epochs": 2,
                                     "ramp_epochs": 10},
                     trainer={"max_epochs": 20, "batch_size": 4, "limit_train_batches": 15, "gradient_clip_val": 0.2})
    alone, stacked = _alone_and_stacked(config, [0, 7], tmp_path, vectorise=True)
    for seed in (0, 7):
        assert stacked[seed].steps_run == alone[seed].steps_run == 300
        _assert_same_run(tmp_path / f"alone{seed}", tmp_path / f"stacked{seed}", rel=1e-6)


def test_float32_vectorised_same_final_metrics(tmp_path: Path) -> None:
    """In float32 the vectorised kernels round differently, so seeds agree only closely; over 6 seeds the final
    metrics of both ways are paired within 1 % and not distinguishable by a two-sample test."""
    from scipy import stats

    seeds = list(range(6))
    config = _config(trainer={"precision": "32-true", "max_epochs": 4})
    alone, stacked = _alone_and_stacked(config, seeds, tmp_path, vectorise=True)
    a = [alone[s].final_metric for s in seeds]
    b = [stacked[s].final_metric for s in seeds]
    assert all(abs(x - y) <= 0.01 * abs(x) for x, y in zip(a, b)), (a, b)
    assert stats.ks_2samp(a, b).pvalue > 0.05
    assert len(set(round(x, 6) for x in b)) == len(seeds)  # the seeds really are different models


def test_float32_seed_by_seed_is_bit_for_bit_as_alone(tmp_path: Path) -> None:
    """On a CPU the seeds run the kernels a seed alone runs: float32 tables equal, bit for bit (without clipping,
    whose norm is reduced in another order)."""
    config = _config(trainer={"precision": "32-true", "max_epochs": 3, "gradient_clip_val": None})
    _alone_and_stacked(config, [1, 2], tmp_path, vectorise=False)
    for seed in (1, 2):
        _assert_same_run(tmp_path / f"alone{seed}", tmp_path / f"stacked{seed}", rel=0.0)


@pytest.mark.parametrize("vectorise", [True, False], ids=["vmap", "seed-by-seed"])
@pytest.mark.parametrize("lr, seeds", [(0.1, [4, 5]), (0.15, [0, 1, 2, 3])])
def test_a_diverging_seed_is_recorded_as_alone_and_the_others_go_on(lr: float, seeds: list[int], vectorise: bool,
                                                                     tmp_path: Path) -> None:
    """lr 0.1: seed 5's loss becomes inf at step 10, seed 4 trains on; lr 0.15: an inf loss mid-epoch, an inf
    val_loss at an epoch end, a blow-up judged at the end — each seed stops where and why it stops alone."""
    config = _config(optimizer={"name": "SGD", "lr": lr, "momentum": 0.9}, lr_scheduler=None,
                     trainer={"max_epochs": 4, "gradient_clip_val": None})
    alone, stacked = _alone_and_stacked(config, seeds, tmp_path, vectorise=vectorise)
    assert len({alone[s].status for s in seeds} | {alone[s].reason[:20] for s in seeds}) > 2  # a real mix
    for seed in seeds:
        a, b = alone[seed], stacked[seed]
        assert (b.status, b.diverged_step, b.diverged_epoch, b.reason) == (a.status, a.diverged_step,
                                                                           a.diverged_epoch, a.reason)
        _assert_same_run(tmp_path / f"alone{seed}", tmp_path / f"stacked{seed}", rel=1e-9)


def test_resume_mid_run_continues_exactly(tmp_path: Path) -> None:
    """Interrupted after epoch 2 of 5 and resumed: the same rows as a run never interrupted."""
    config = _config(trainer={"precision": "32-true", "max_epochs": 5})
    seeds = [1, 2]
    whole = run_stacked(config, seeds, {s: tmp_path / f"whole{s}" for s in seeds}, raise_errors=True)

    def interrupt(epoch: int, reports: Any) -> bool:
        if epoch == 2:
            raise KeyboardInterrupt
        return False

    dirs = {s: tmp_path / f"cut{s}" for s in seeds}
    with pytest.raises(KeyboardInterrupt):
        run_stacked(config, seeds, dirs, on_epoch=interrupt)
    assert not (dirs[1] / "result.json").exists()
    resumed = run_stacked(config, seeds, dirs, resume=True, raise_errors=True)
    for seed in seeds:
        assert resumed[seed].epochs_run == whole[seed].epochs_run == 5
        assert resumed[seed].final_metric == whole[seed].final_metric
        for name in ("steps", "epochs"):
            assert _table(dirs[seed], name) == _table(tmp_path / f"whole{seed}", name)


def test_stacked_steps_like_lockstep(tmp_path: Path) -> None:
    """The search's interface: step() reports every live seed each epoch; stop() prunes them all."""
    config = _config(trainer={"max_epochs": 4})
    stacked = Stacked(config, [1, 2], {s: tmp_path / f"s{s}" for s in (1, 2)})
    first = stacked.step()
    assert set(first) == {1, 2} and "val_loss" in first[1] and first[1]["val_loss"] != first[2]["val_loss"]
    results = stacked.stop()
    assert stacked.done and {r.status for r in results.values()} == {"pruned"}
    assert all(r.epochs_run == 1 for r in results.values())  # stopped at the end of the epoch it reported


def test_user_module_with_dropout_and_its_own_loaders(tmp_path: Path) -> None:
    """A user's module following the protocol trains stacked; dropout draws differ per seed, so runs differ from
    alone but learn as well."""
    config = {"module": "tests.train.user_modules:Stackable", "module_kwargs": {"dropout": 0.2},
              "optimizer": {"name": "Adam", "lr": 0.05}, "trainer": {"max_epochs": 6}}
    alone, stacked = _alone_and_stacked(config, [1, 2, 3], tmp_path)
    for seed in (1, 2, 3):
        assert stacked[seed].status == "completed"
        assert stacked[seed].best_metric < 0.5 * stacked[seed].untrained_metric
        assert stacked[seed].final_metric != alone[seed].final_metric


def _mode(config: dict[str, Any], seeds: int = 3) -> tuple[str, str | None]:
    return choose_seed_mode(RunConfig.from_dict(config), seeds)


@pytest.mark.parametrize("change, reason", [
    ({"lr_scheduler": {"name": "ReduceLROnPlateau", "monitor": "val_loss"}}, "ReduceLROnPlateau decides per seed"),
    ({"trainer": {"early_stopping": {"monitor": "val_loss"}}}, "trainer.early_stopping decides per seed"),
    ({"loss_scheduler": {"mode": "adaptive", "source": "field", "target": "spectrum"}},
     "the adaptive loss scheduler decides per seed"),
    ({"optimizer": {"name": "LBFGS", "lr": 0.1}}, "optimizer LBFGS is not elementwise"),
    ({"trainer": {"logger": "csv"}}, "trainer.logger writes one log per seed"),
])
def test_per_seed_decisions_train_separately(change: dict[str, Any], reason: str) -> None:
    mode, why = _mode(_config(**change))
    assert mode == "separate" and why.startswith(reason)


def test_modes() -> None:
    assert _mode(_config()) == ("stacked", None)
    assert _mode(_config(), seeds=1) == ("separate", "one seed")
    assert _mode(_config(trainer={"seed_mode": "separate"})) == ("separate", None)


def test_fallback_says_why_in_one_line(tmp_path: Path) -> None:
    lines: list[str] = []
    config = {"module": "tests.train.user_modules:WithBatchNorm", "trainer": {"max_epochs": 1}}
    runner = seed_runner(config, [1, 2], {s: tmp_path / f"s{s}" for s in (1, 2)}, say=lines.append)
    assert isinstance(runner, Lockstep)
    runner.stop()
    assert lines == ["seeds 1,2 train separately: WithBatchNorm has buffers (norm.running_mean, norm.running_var, "
                     "norm.num_batches_tracked), e.g. batch-norm running statistics, which a vectorised step "
                     "cannot update"]
    lines.clear()
    runner = seed_runner({"module": "tests.train.user_modules:NaNAt", "trainer": {"max_epochs": 1}}, [1, 2],
                         say=lines.append)
    assert isinstance(runner, Lockstep)
    runner.stop()
    assert lines == ["seeds 1,2 train separately: NaNAt has no loss_terms(batch) method (docs/seeds.md)"]

