"""``tune-sched --help`` tells a user what the tool does and how a session goes, not how it is built."""

from __future__ import annotations

import subprocess
import sys

from tune_sched.cli import COMMANDS


def test_help_describes_the_tool_for_users() -> None:
    out = subprocess.run([sys.executable, "-m", "tune_sched.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "Find optimizer and learning-rate-schedule settings for PyTorch Lightning models" in out
    assert "a typical session:" in out and "tune-sched search --space" in out and "Exit codes" in out
    assert all(f"    {verb}" in out for verb in COMMANDS)
    for implementation in ("UsageError", "function per verb", "``", "torch"):
        assert implementation not in out
    assert max(len(line) for line in out.splitlines()) <= 80
