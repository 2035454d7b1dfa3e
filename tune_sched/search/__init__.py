"""The Ray Tune wiring of a search (the only package that imports Ray), and a callable: ``tune_sched.search(space,
...)`` is :func:`tune_sched.api.search`.

Python binds ``tune_sched.search`` to this package as soon as any of its modules is imported, so the package itself
is what users call: calling it runs :func:`tune_sched.api.search` (nothing here imports Ray until then).
"""

from __future__ import annotations

import sys

import tune_sched

sys.modules[__name__].__class__ = tune_sched._SearchPackage
