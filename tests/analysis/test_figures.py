"""The report's figures, drawn from the real fixture experiment and read back as SVG text (labels kept as text)."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest

from tune_sched.analysis import plots
from tune_sched.analysis.report import write_report


def svg_text(draw, *args, path) -> str:
    """Draw a figure to ``path`` (an .svg) with its text kept as text; return every text element."""
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        draw(*args, path)
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text()))


def test_the_loss_curves_label_both_axes_with_their_scale(analysis, tmp_path):
    text = svg_text(plots.plot_seed_curves, analysis, "spiky", path=tmp_path / "curves.svg")
    assert "optimizer step" in text and re.search(r"training loss \((log|linear) scale\)", text)
    assert re.search(r"val_loss \((log|linear) scale\)", text) and "epoch" in text
    assert "spiky (MultiStepLR): training loss per step" in text  # the arm in the title
    assert "spike episode" in text and "spike peak" in text  # the spiky config has episodes: shaded, in the legend


def test_the_loss_weight_panel_only_when_weights_changed(analysis, tmp_path):
    without = svg_text(plots.plot_schedules, analysis, ["steady", "spiky"], path=tmp_path / "flat.svg")
    assert "loss weight" not in without and "no loss weights recorded" not in without
    assert re.search(r"learning rate \((log|linear) scale\)", without) and "optimizer step" in without
    assert "steady (constant)" in without and "spiky (MultiStepLR)" in without
    with_weights = svg_text(plots.plot_schedules, analysis, ["decay", "steady"], path=tmp_path / "ramp.svg")
    assert "loss weights per epoch (first seed)" in with_weights and "loss weight" in with_weights


def test_quality_against_stability_labels_its_axes(analysis, tmp_path):
    text = svg_text(plots.plot_quality_stability, analysis, path=tmp_path / "qs.svg")
    assert "spike count variance over seeds (linear)" in text
    assert re.search(r"IQM of val_loss \(lower is better\) \((log|linear) scale\)", text)
    assert "#1 steady" in text


def test_outliers_are_beyond_the_fences():
    values = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 10.0, np.nan])
    assert plots._outliers(values, log=False).tolist() == [False] * 5 + [True, False]
    assert plots._outliers(np.array([1e-3, 1.1e-3, 0.9e-3, 1e-3, 1.0]), log=True)[-1]
    assert not plots._outliers(np.array([1.0, 2.0, 100.0]), log=False).any()  # too few to judge


@pytest.fixture(scope="module")
def report(analysis, tmp_path_factory):
    return write_report(analysis, tmp_path_factory.mktemp("figures"), top=1)


def test_the_configs_that_spiked_most_get_their_curves(report):
    text = report.path.read_text()
    assert "## The configs that spiked most, seed by seed" in text
    assert "### 2. `spiky`" in text and "curves_2_spiky.png" in text
    assert (report.path.parent / "figures" / "curves_2_spiky.png").exists()
    assert "Arm: optimizer Adam, lr_scheduler MultiStepLR, loss_scheduler none." in text


def test_the_importance_figure_names_the_arm(analysis, report, tmp_path):
    assert "lr_scheduler" in set(report.importance["param"]) and "optimizer" in set(report.importance["param"])
    text = svg_text(plots.plot_importance, report.importance, path=tmp_path / "importance.svg")
    assert "lr_scheduler family (cat)" in text and "share of rank variance explained (0 to 1)" in text
