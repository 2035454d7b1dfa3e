"""The benchmark scripts run end to end on tiny sizes and write their JSON (no timings are asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=280)


def test_bench_overhead_runs_the_bare_loop_and_the_search_on_the_same_configs(tmp_path):
    out = tmp_path / "overhead.json"
    done = run_script("bench_overhead.py", "--configs", "1", "--seeds", "1", "--epochs", "8", "--repeats", "1",
                      "--methods", "bare,search", "--work", str(tmp_path / "work"), "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["summary"]) == {"bare", "search"}
    assert data["same_training"] is True  # identical work: the same final val_loss
    search = data["summary"]["search"]
    assert search["ratio_to_bare"]["n"] == 1 and search["first_result_s"]["n"] == 1
    assert data["summary"]["bare"]["first_result_s"]["n"] == 1 and search["first_result_ratio_to_bare"]["n"] == 1
    assert search["workers_per_run"] == 1 and search["worker_peak_rss_mb"] > 0
    kinds = next(r["cpu_s_by_kind"] for r in data["runs"] if r["method"] == "search")
    assert {"forkserver", "trainer"} <= set(kinds), f"the worker trained in a forked process: {kinds}"
    assert "ratio to bare" in done.stdout


def test_bench_overhead_refuses_an_unknown_method(tmp_path):
    done = run_script("bench_overhead.py", "--methods", "bare,serach")
    assert done.returncode == 2 and "unknown method(s) ['serach']" in done.stderr


def test_bench_startup_times_help_and_validate_without_heavy_imports(tmp_path):
    out = tmp_path / "startup.json"
    done = run_script("bench_startup.py", "--repeats", "1", "--search-repeats", "0", "--skip-experiment",
                      "--work", str(tmp_path / "work"), "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    commands = json.loads(out.read_text())["commands"]
    assert set(commands) == {"--help", "validate space", "validate run config"}
    for name, entry in commands.items():
        assert entry["imports"] == [], f"{name} imported {entry['imports']}"


def test_bench_decision_picks_on_a_tiny_pool_and_writes_every_rule(tmp_path):
    out = tmp_path / "decision.json"
    done = run_script("bench_decision.py", "--task", "tiny", "--configs", "3", "--seeds", "5", "--splits", "20",
                      "--epochs", "2", "--cache", str(tmp_path / "cache"), "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["rules"]) == {"score", "mean", "single", "best_seed"}
    for rule in data["rules"].values():
        assert sum(rule["picks"].values()) == 20
        for stat in ("regret", "held_out_divergence_rate", "held_out_spikes_per_run", "p_regret_below_single"):
            assert rule[stat]["lo"] <= rule[stat]["mean"] <= rule[stat]["hi"]
        assert rule["regret"]["lo"] >= 0
    assert data["runs"] == 15 and len(data["pool"]) == 3 and set(data["wins"]) == {
        "regret vs single", "held_out_divergence_rate vs single", "regret vs mean", "held_out_divergence_rate vs mean"}
    assert "held-out regret" in done.stdout and "score - single" in done.stdout
    again = run_script("bench_decision.py", "--task", "tiny", "--configs", "3", "--seeds", "5", "--splits", "20",
                       "--epochs", "2", "--cache", str(tmp_path / "cache"))
    assert again.returncode == 0 and "15 runs cached, training 0" in again.stdout  # a rerun trains nothing


def test_every_decision_pool_is_made_of_valid_run_configs():
    """Each pool's configs pass the run-config checks a user's would (the pool's own divergence rule included)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bench_decision
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from tune_sched.config.run_config import RunConfig

    for task, spec in bench_decision.TASKS.items():
        configs = bench_decision.pool_configs(task)
        assert len(configs) == len(spec["lrs"]) * len(spec["variants"]) >= 16
        assert len({bench_decision.config_key(cfg) for _, cfg in configs}) == len(configs), task
        for label, cfg in configs:
            run = RunConfig.from_dict(cfg)
            lr = float(label.split("lr=")[1].split()[0])
            assert run.task == spec["task"] and run.optimizer.kwargs["lr"] == pytest.approx(lr), label
    fno2d = dict(bench_decision.pool_configs("fno2d"))
    assert all(RunConfig.from_dict(cfg).trainer.divergence.min_improvement == 0.5 for cfg in fno2d.values())
