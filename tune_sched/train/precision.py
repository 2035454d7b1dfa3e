"""Choosing what precision and accelerator a trial really runs with (16-bit on a CPU falls back, it never crashes)."""

from __future__ import annotations

import warnings

from tune_sched.core.errors import UsageError

__all__ = ["resolve_device"]

_CUDA_ONLY = {"16-mixed", "16-true"}


def resolve_device(precision: str, accelerator: str) -> tuple[str, str, str | None]:
    """The (precision, accelerator, note) Lightning gets for a requested precision on this machine.

    On a machine without CUDA, ``16-mixed`` and ``16-true`` need a GPU, so the trial trains in ``32-true`` and says
    so (``note`` and a ``UserWarning``); ``bf16-mixed`` runs on the CPU as asked. ``accelerator: gpu`` without a
    GPU is an error the caller reports.
    """
    # lazy: heavy
    import torch

    has_gpu = torch.cuda.is_available()
    if accelerator == "auto":
        accelerator = "gpu" if has_gpu else "cpu"
    if accelerator == "gpu" and not has_gpu:
        raise UsageError("is 'gpu' but this machine has no CUDA GPU", path="trainer.accelerator",
                         fix="use accelerator: auto or cpu")
    note = None
    if accelerator == "cpu" and precision in _CUDA_ONLY:
        note = (f"precision {precision} needs a CUDA GPU; training in 32-true on the CPU instead "
                "(use trainer.precision: bf16-mixed for CPU autocast)")
        warnings.warn(note, UserWarning, stacklevel=2)
        precision = "32-true"
    return precision, accelerator, note
