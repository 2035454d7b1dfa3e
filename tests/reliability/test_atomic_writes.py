"""A writer SIGKILLed at random moments never leaves a half-written table or result file: the file under its
name is always a whole old or new version (tune_sched.results.io writes to a temporary name, then renames)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys, pyarrow as pa
from tune_sched.results.io import write_json, write_table
out, n = sys.argv[1], 0
big = list(range(200_000))
tables = [pa.table({"version": [v] * len(big), "x": big}) for v in (0, 1)]  # built once: the loop mostly writes
print("ready", flush=True)
while True:
    n += 1
    write_table(out + "/table.parquet", tables[n % 2])
    write_json(out + "/result.json", {"version": n, "x": big[:20_000]})
"""


@pytest.mark.parametrize("kill", range(4))
def test_a_killed_writer_leaves_whole_files(tmp_path, kill):
    import pyarrow.parquet as pq

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while not (tmp_path / "result.json").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.Random(kill).uniform(0.05, 0.6))  # somewhere in the middle of a write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    table = pq.read_table(tmp_path / "table.parquet")
    assert table.num_rows == 200_000 and len(set(table["version"].to_pylist())) == 1
    result = json.loads((tmp_path / "result.json").read_text())
    assert len(result["x"]) == 20_000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert all(p.startswith((".table.parquet.", ".result.json.")) for p in leftovers), leftovers
