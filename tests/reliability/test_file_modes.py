"""Every file a run writes (tables, config.yaml, result.json) gets the mode Lightning's checkpoint gets: 0666 less
the user's umask, not the private 0600 of a temporary file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tune_sched.results.io import file_mode, write_json, write_table

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask):
    import pyarrow as pa

    old = os.umask(umask)
    try:
        assert file_mode() == 0o666 & ~umask
        write_json(tmp_path / "a.json", {"x": 1})
        write_table(tmp_path / "t.parquet", pa.table({"x": [1, 2]}))
        (tmp_path / "plain.txt").write_text("made by open()")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == dict.fromkeys(["a.json", "t.parquet", "plain.txt"],
                                                                            expected)


@pytest.mark.slow
def test_a_runs_files_share_the_checkpoints_mode(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("task: tiny\ntask_kwargs: {n_train: 16, n_val: 8}\ntrainer: {max_epochs: 1}\n")
    subprocess.run([sys.executable, "-m", "tune_sched.cli", "run", str(config), "--out", str(tmp_path / "out")],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                   preexec_fn=lambda: os.umask(0o027))
    files = {p.name: _mode(p) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert {"last.ckpt", "result.json", "config.yaml", "steps.parquet", "epochs.parquet"} <= set(files), files
    assert set(files.values()) == {0o640}, files
