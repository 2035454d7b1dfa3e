"""Which way a config's seeds train (``trainer.seed_mode``), what rules stacking out, and the one entry point.

Stacked training needs every seed to do exactly what the others do apart from its numbers: an optimizer that
updates each element on its own, LR and loss-weight schedules that depend only on the step or epoch, and a module
whose step is a pure function of its parameters and batch (docs/seeds.md). Anything that decides per seed
(ReduceLROnPlateau, early stopping, the adaptive loss scheduler) or writes per-seed logs trains the seeds
separately, in lockstep, and :func:`seed_runner` says why in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tune_sched.train.lockstep import Lockstep
from tune_sched.train.modules import build_module
from tune_sched.train.precision import resolve_device
from tune_sched.train.trial import coerce_run_config

__all__ = ["ELEMENTWISE_OPTIMIZERS", "choose_seed_mode", "module_blocker", "seed_runner", "stacking_blocker"]

ELEMENTWISE_OPTIMIZERS = frozenset({
    "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop",
})
"""Optimizers whose update of a parameter element depends on that element's history alone (so K stacked copies
update exactly as K separate ones). Not: LBFGS (a line search over all parameters), Adafactor (factored moments),
Muon (orthogonalised matrices), SparseAdam."""


def _plateau(block: Any) -> bool:
    if isinstance(block, Mapping):
        return block.get("name") == "ReduceLROnPlateau" or any(_plateau(v) for v in block.values())
    if isinstance(block, list):
        return any(_plateau(v) for v in block)
    return False


def stacking_blocker(config: Any, seeds: int) -> str | None:
    """Why ``config``'s seeds cannot train stacked (one line), or None when they can (the config alone decides)."""
    trainer = config.trainer
    if seeds < 2:
        return "one seed"
    name = config.optimizer.get("name")
    if name not in ELEMENTWISE_OPTIMIZERS:
        return f"optimizer {name} is not elementwise (stacked: {', '.join(sorted(ELEMENTWISE_OPTIMIZERS))})"
    if _plateau(config.lr_scheduler):
        return "ReduceLROnPlateau decides per seed"
    if trainer.early_stopping is not None:
        return "trainer.early_stopping decides per seed"
    if config.loss_scheduler is not None and config.loss_scheduler.get("mode") == "adaptive":
        return "the adaptive loss scheduler decides per seed"
    if trainer.logger:
        return "trainer.logger writes one log per seed"
    return None


def module_blocker(module: Any) -> str | None:
    """Why this built module cannot train stacked (one line), or None."""
    cls = type(module).__name__
    if not callable(getattr(module, "loss_terms", None)):
        return f"{cls} has no loss_terms(batch) method (docs/seeds.md)"
    if not module.automatic_optimization:
        return f"{cls} uses manual optimization"
    buffers = [name for name, _ in module.named_buffers()]
    if buffers:
        return (f"{cls} has buffers ({', '.join(buffers[:3])}{', ...' if len(buffers) > 3 else ''}), e.g. "
                "batch-norm running statistics, which a vectorised step cannot update")
    return None


def choose_seed_mode(config: Any, seeds: int) -> tuple[str, str | None]:
    """``("stacked" | "separate", why not stacked)``: ``trainer.seed_mode`` applied to this config."""
    mode = config.trainer.seed_mode
    if mode == "separate":
        return "separate", None
    reason = stacking_blocker(config, seeds)
    return ("separate", reason) if reason else ("stacked", None)


def seed_runner(config: Any, seeds: Sequence[int], out_dirs: Mapping[int, str | Path] | None = None, *,
                say: Callable[[str], Any] | None = print, **trial_kwargs: Any) -> Any:
    """A :class:`~tune_sched.train.stacked.Stacked` or :class:`~tune_sched.train.lockstep.Lockstep` for the
    config's seeds, as ``trainer.seed_mode`` and the config allow; when stacking was possible in principle but is
    ruled out, ``say`` gets one line saying why."""
    config = coerce_run_config(config)
    mode, reason = choose_seed_mode(config, len(seeds))
    if mode == "stacked":
        reason = _module_reason(config, seeds[0])
        mode = "separate" if reason else mode
    if reason and len(seeds) > 1 and say is not None:
        say(f"seeds {','.join(map(str, seeds))} train separately: {reason}")
    if mode == "stacked":
        # lazy: heavy
        from tune_sched.train.stacked import Stacked

        return Stacked(config, seeds, out_dirs, **trial_kwargs)
    return Lockstep(config, seeds, out_dirs, **trial_kwargs)


def _module_reason(config: Any, seed: int) -> str | None:
    """:func:`module_blocker` of one freshly built module (the global RNG is left as it was)."""
    # lazy: heavy
    from tune_sched.train.rng import rng_state, set_rng_state

    state = rng_state()
    try:
        module, _ = build_module(config.with_overrides(seed=seed))
    finally:
        set_rng_state(state)
    return module_blocker(module)
