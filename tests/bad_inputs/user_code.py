"""User code that the bad-input cases name in ``module:`` (importable as ``tests.bad_inputs.user_code``).

It imports nothing heavy, so a case that names it fails on the class, not on the import.
"""

from __future__ import annotations

__all__ = ["NotAModule"]


class NotAModule:
    """A plain class, not a ``pytorch_lightning.LightningModule``."""
