"""report.md and its figures, and the verdict paragraph that opens it."""

from __future__ import annotations

import re

import pytest

from tune_sched.analysis.experiment_analysis import analyze_experiment
from tune_sched.analysis.ranking_table import format_value
from tune_sched.analysis.report import REPORT_FILE, write_report
from tune_sched.analysis.stats import iqm_ci
from tune_sched.analysis.verdict import experiment_verdict

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(analysis, tmp_path_factory):
    return write_report(analysis, tmp_path_factory.mktemp("report"), top=2)


def test_the_report_opens_with_the_verdict_and_links_existing_pngs(report):
    text = report.path.read_text()
    assert report.path.name == REPORT_FILE
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "# Analysis of experiment `main`"
    assert paragraphs[1] == report.verdict
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(report.figures) == 2 + 3  # two top configs, schedules, quality/stability, importance
    for link in links:
        assert (report.path.parent / link).read_bytes()[:8] == PNG


def test_the_report_has_every_section(report):
    text = report.path.read_text()
    for heading in ("## Ranking", "## The top configs, seed by seed", "### 1. `steady`", "### 2. `spiky`",
                    "## Learning rate and loss weights", "## Quality against stability", "## Which parameters matter",
                    "## Diverged, failed and pruned runs"):
        assert heading in text
    assert "tune-sched export" in text and "--trial steady" in text
    assert "| troubled | 1 | failed | 1 | RuntimeError: simulated worker crash |" in text
    assert "On the Pareto front of quality (IQM) and stability (spike variance): `steady` (rank 1)" in text
    assert "+ 3 x std, plus a divergence penalty of 3 x odds of divergence x level and a spike term of 0.2 x (mean + " \
        "std of spike episodes per seed) x level" in text.replace("\n", " ")
    assert "rule `robust` (k = 6, at least 2x the median before it, window 128)" in text


def test_the_verdict_names_the_best_config_its_stability_the_spikes_and_the_problems(analysis):
    verdict = experiment_verdict(analysis)
    assert verdict.startswith("**Best config: `steady`** (rank 1 of 5): IQM val_loss ")
    assert "It never diverged and had no loss spike on any seed." in verdict
    assert "intervals from 3 seeds are wide; 5 or more narrow them" in verdict
    best = analysis.runs[analysis.runs["config_id"] == "steady"]["best_metric"]
    lo, hi = iqm_ci(best.to_numpy())
    assert f"its 95% interval of the IQM is {format_value(lo)} to {format_value(hi)}, the runner-up's " in verdict
    assert "in `spiky` (" in verdict and "the largest peak was" in verdict
    assert "3 runs diverged in `blowup` (3)" in verdict and "1 run failed in `troubled` (1)" in verdict
    assert "1 run pruned early in `troubled` (1)" in verdict


def test_one_seed_says_nothing_about_variation(single_seed, tmp_path):
    analysis = analyze_experiment(single_seed, n_boot=50)
    verdict = experiment_verdict(analysis)
    assert "over 1 seed;" in verdict and "With one seed per config nothing is known about seed-to-seed" in verdict
    text = write_report(analysis, tmp_path, top=3).path.read_text()
    assert "No Pareto front: with one seed per config there is no spike variance" in text


def test_when_every_config_diverged_the_verdict_says_so(tmp_path, run_configs):
    from tune_sched.results.experiment import create_experiment, seed_dir
    from tune_sched.train.trial import run_trial

    exp = create_experiment(tmp_path / "doom", space_source={}, metric="val_loss", mode="min", seeds=[0, 1])
    for seed in (0, 1):
        run_trial(run_configs["blowup"], seed, seed_dir(exp, "blowup", seed), config_id="blowup", num_threads=1)
    analysis = analyze_experiment(exp, n_boot=50)
    verdict = experiment_verdict(analysis)
    assert verdict.startswith("No config trained stably: every seed of all 1 configs diverged or failed.")
    assert "2 runs diverged in `blowup` (2)" in verdict
    report = write_report(analysis, tmp_path / "out")
    assert "No seed finished without diverging." in report.path.read_text()
