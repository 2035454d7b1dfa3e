"""The analyze, export, reproduce and compare verbs through the real command line: exit codes, one-line errors,
files written, and no torch/Ray import for analyze and export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tune_sched.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "pytorch_lightning", "optuna", "scipy")


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tune_sched.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd)


def _in_process(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; its stdout lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip().splitlines()


def test_analyze_writes_the_table_report_and_figures_without_torch_or_ray(experiment, tmp_path):
    out = tmp_path / "analysis"
    code = (f"import sys; from tune_sched.cli import main; rc = main(['analyze', {str(experiment)!r}, '--out', "
            f"{str(out)!r}, '--top', '2']); print(rc, [m for m in {HEAVY!r} if m in sys.modules])")
    lines = _in_process(code)
    assert lines[-1] == "0 []"
    assert lines[0].split()[:4] == ["rank", "config", "score", "IQM"]
    assert lines[2].split()[:2] == ["1", "steady"]
    assert "(3 more configs; all of them are in analysis.parquet)" in lines
    assert any(line.startswith("Best config: steady (rank 1 of 5)") for line in lines)
    assert lines[-4].startswith(f"wrote {out / 'analysis.parquet'}, {out / 'report.md'} (5 figures)")
    assert lines[-3:-1] == [f"next: tune-sched export {experiment} --out best.yaml   (the best config as a run config)",
                            f"next: read {out / 'report.md'}   (the ranking, the verdict, 5 figures)"]
    table = pq.read_table(out / "analysis.parquet").to_pandas()
    assert table["config_id"].tolist()[0] == "steady" and len(table) == 5
    assert (out / "report.md").read_text().startswith("# Analysis of experiment `main`")
    assert len(list((out / "figures").glob("*.png"))) == 2 + 3
    assert not (experiment / "report.md").exists()  # --out, not the experiment


def test_export_then_refuse_to_overwrite(experiment, tmp_path):
    code = (f"import sys; from tune_sched.cli import main; rc = main(['export', {str(experiment)!r}, '--out', "
            f"{str(tmp_path / 'best.yaml')!r}]); print(rc, [m for m in {HEAVY!r} if m in sys.modules])")
    assert _in_process(code)[-1] == "0 []"
    assert (tmp_path / "best.yaml").read_text().startswith("# Run config exported by tune-sched")
    again = _cli("export", experiment, "--out", tmp_path / "best.yaml")
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.strip().splitlines() == [
        f"error: --out: {tmp_path / 'best.yaml'} already exists; pass --force to overwrite it, or another --out"]
    forced = _cli("export", experiment, "--rank", "2", "--out", tmp_path / "best.yaml", "--force")
    assert forced.returncode == 0 and "config spiky (rank 2" in forced.stdout
    assert "next: tune-sched run" in forced.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyze", "{tmp}"], "error: {tmp}: is not an experiment directory (no experiment.json); pass a directory "
                               "made by 'tune-sched search'"),
        (["analyze", "{exp}", "--top", "0"], "error: --top: must be at least 1, but got 0; e.g. --top 10"),
        (["export", "{exp}"], "error: tune-sched export: the following arguments are required: --out; see "
                              "'tune-sched export --help'"),
        (["export", "{exp}", "--rank", "9", "--out", "{tmp}/x.yaml"],
         "error: --rank: must be between 1 and 5 (the experiment's configs), but got 9; pick a rank from "
         "'tune-sched analyze {exp}'"),
        (["export", "{exp}", "--trial", "stedy", "--out", "{tmp}/x.yaml"],
         "error: --trial: unknown config id 'stedy' (did you mean 'steady'?); use one of: steady, spiky, decay, "
         "troubled, blowup"),
        (["reproduce", "{exp}"], "error: --trial: is required for an experiment; name the config to reproduce, e.g. "
                                 "from 'tune-sched analyze {exp}'"),
        (["reproduce", "{exp}", "--trial", "steady", "--seeds", "a"],
         "error: --seeds: must be comma-separated integers, but got 'a'; e.g. --seeds 1,2,3"),
        (["compare", "{exp}", "{tmp}"], "error: B ({tmp}): is a directory but not an experiment; pass an experiment "
                                        "directory or a run config YAML"),
        (["compare", "{exp}", "{exp}", "--seeds", "1"],
         "error: --seeds: applies to two run configs only (experiments bring their runs); remove it"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(experiment, tmp_path, capsys, argv, message):
    fill = {"tmp": str(tmp_path), "exp": str(experiment)}
    assert main([a.format(**fill) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message.format(**fill)]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compare_two_experiments_writes_json_and_markdown(experiment, tmp_path):
    result = _cli("compare", experiment, experiment, "--config-a", "spiky", "--json", tmp_path / "ab.json",
                  "--markdown", tmp_path / "ab.md")
    assert result.returncode == 0, result.stderr
    assert "B (main:steady) looks better than A (main:spiky)" in result.stdout
    assert result.stdout.splitlines()[-3:] == [f"wrote {tmp_path / name}" for name in ("ab.json", "ab.md", "ab.png")]
    assert json.loads((tmp_path / "ab.json").read_text())["outcome"] == "b_better"


@pytest.mark.slow
def test_reproduce_exits_0_within_tolerance_and_1_beyond(experiment, copy_of):
    ok = _cli("reproduce", experiment, "--trial", "steady", "--seeds", "0")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == "reproduced: every compared value is identical (tolerance 1e-06)"
    assert ok.stdout.splitlines()[0] == "seed 0: training (1 of 1)"
    assert ok.stdout.splitlines()[1].startswith("  epoch 1/")  # each epoch's line, as run prints it

    exp = copy_of(experiment)
    run = exp / "trials" / "steady" / "seed=0"
    table = pq.read_table(run / "epochs.parquet").to_pandas()
    table.loc[table["epoch"] == 1, "val_field"] *= 1.01
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), run / "epochs.parquet")
    bad = _cli("reproduce", exp, "--trial", "steady", "--seeds", "0", "--tolerance", "1e-3")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1].startswith(
        "NOT reproduced: largest deviation val_field at epoch 2 of seed 0: recorded ")  # stored epoch 1
    assert bad.stdout.splitlines()[-1].endswith("beyond tolerance 0.001")


def test_compare_two_run_configs_prints_each_epoch_as_run_does(tmp_path):
    import yaml

    tiny = yaml.safe_load((ROOT / "run_configs" / "tiny.yaml").read_text())
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(tiny))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({**tiny, "optimizer": {**tiny["optimizer"], "lr": 0.002}}))
    result = _cli("compare", tmp_path / "a.yaml", tmp_path / "b.yaml", "--seeds", "0,1", "--max-epochs", "2",
                  "--threads", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "training A (a.yaml): seed 0 (1 of 2)"
    assert lines[1].startswith("  epoch 1/2  train_loss ") and lines[1].endswith(" s)")
    assert lines[2].startswith("  epoch 2/2  ")
    assert sum(line.startswith("  epoch ") for line in lines) == 8  # 2 arms x 2 seeds x 2 epochs


def test_analyze_fits_100_columns_and_wide_shows_what_it_leaves_out(experiment, tmp_path):
    narrow = _cli("analyze", experiment, "--out", tmp_path / "a")
    wide = _cli("analyze", experiment, "--out", tmp_path / "b", "--wide")
    assert narrow.returncode == wide.returncode == 0, narrow.stderr + wide.stderr
    ranking = narrow.stdout.split("\n\n")[0].splitlines()
    assert max(len(line) for line in ranking) <= 100, "\n".join(ranking)
    left = " ".join(ranking).split("left out to fit 100 columns:", 1)[1]
    assert all(f" {name}," in left for name in ("std", "spike var", "spike cost")), left
    prose = [line for line in narrow.stdout.splitlines() if line.startswith("Best config:")]
    assert prose and len(prose[0]) <= 100  # the verdict wrapped at spaces
    header = wide.stdout.splitlines()[0]
    assert all(name in header for name in ("std", "spike var", "spike cost", "notes")) and len(header) > 100
    assert "left out" not in wide.stdout
    assert any(len(line) > 100 and line.startswith("Best config:") for line in wide.stdout.splitlines())
