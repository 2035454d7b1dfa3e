"""The Ray Tune trainable: one Tune trial is one sampled config, trained on every seed in lockstep.

The work itself is a :class:`~tune_sched.search.config_runner.ConfigRunner`; the trainable runs it in a process
forked by the search's fork server when one serves this worker (:mod:`tune_sched.search.forkserver`), in its own
process otherwise. ``reset_config`` lets Tune reuse the worker, and its training process, for the next config,
keeping imports and the tasks' data caches warm.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from tune_sched.search.config_runner import SearchContext
from tune_sched.search.forkserver import open_host

__all__ = ["ConfigTrainable", "SearchContext"]


class ConfigTrainable(tune.Trainable):
    """Tune class trainable; ``config`` is ``{"run_config": {...}, ...}`` or ``{"grid_index": i}`` for grids."""

    def setup(self, config: dict[str, Any], ctx: SearchContext) -> None:  # type: ignore[override]
        self.ctx = ctx
        self.host = open_host(ctx)
        self.host.start(ctx, config, self.trial_id)

    def step(self) -> dict[str, Any]:
        return self.host.step()

    def cleanup(self) -> None:
        host = getattr(self, "host", None)
        if host is not None:
            try:
                host.finish()
            finally:
                host.close()

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.host.finish()
        self.host.start(self.ctx, new_config, self.trial_id)
        return True

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        # Each seed keeps its own Lightning checkpoint in the experiment; a restarted trial resumes from those.
        return {}

    def load_checkpoint(self, checkpoint: Any) -> None:
        return None
