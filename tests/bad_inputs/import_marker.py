"""User code with a visible side effect: importing it writes ``imported-user-code`` in the current directory.

The tests name it in a run config's ``module:`` and check that ``tune-sched validate`` imports it (the preflight
checks the user's classes before anything trains), as its help says.
"""

from __future__ import annotations

from pathlib import Path

Path("imported-user-code").write_text("imported\n", encoding="utf-8")
