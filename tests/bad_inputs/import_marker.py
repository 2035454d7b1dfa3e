"""User code with a visible side effect: importing it writes ``imported-user-code`` in the current directory.

The safety tests name it in a run config's ``module:`` and check that ``tune-sched validate`` never imports it
(code is imported only when a run trains the module the config names).
"""

from __future__ import annotations

from pathlib import Path

Path("imported-user-code").write_text("imported\n", encoding="utf-8")
