"""export: the chosen config as a loadable run config with its best seed and a header saying where it came from."""

from __future__ import annotations

import pytest
import yaml

from tune_sched.analysis.export import export_config
from tune_sched.config.run_config import RunConfig, load_run_config
from tune_sched.core.errors import UsageError


def test_the_best_config_is_exported_with_its_best_seed(analysis, tmp_path):
    out = tmp_path / "best.yaml"
    result = export_config(analysis, out)
    best = analysis.ranking.iloc[0]
    assert (result.config_id, result.rank, result.seed, result.best_seed) == ("steady", 1, int(best["best_seed"]), True)
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert header[0] == f"# Run config exported by tune-sched from experiment 'main' ({analysis.path.resolve()})"
    assert header[1].startswith("# config_id: steady, rank 1 of 5 by robust score ")
    assert header[1].endswith("(val_loss, lower is better)")
    assert header[3].startswith(f"# seed: {result.seed}, the config's best seed (best val_loss ")
    assert header[4] == "# train it with: tune-sched run best.yaml"
    config = load_run_config(out)
    assert config.seed == result.seed and config.optimizer == {"name": "Adam", "lr": 0.01}
    assert config == RunConfig.from_dict({**analysis.config("steady"), "seed": result.seed})


def test_plain_values_only_no_distributions(analysis, tmp_path):
    out = tmp_path / "decay.yaml"
    export_config(analysis, out, config_id="decay")
    data = yaml.safe_load(out.read_text())
    assert data["lr_scheduler"] == {"name": "StepLR", "step_size": 1, "gamma": 0.5}
    assert data["loss_scheduler"]["mode"] == "ramp" and data["trainer"]["max_epochs"] == 3


def test_a_config_that_always_diverged_gets_seed_0_and_says_why(analysis, tmp_path):
    result = export_config(analysis, tmp_path / "worst.yaml", rank=5)
    assert (result.config_id, result.seed, result.best_seed) == ("blowup", 0, False)
    assert "# seed: 0, a default: no seed of this config finished without diverging" in result.text
    assert "# no IQM, 3 of 3 seeds diverged or failed" in result.text
    assert load_run_config(result.path).seed == 0


def test_an_existing_file_is_kept_unless_forced(analysis, tmp_path):
    out = tmp_path / "best.yaml"
    out.write_text("keep me\n")
    with pytest.raises(UsageError, match=r"^--out: .*best.yaml already exists; pass --force to overwrite it, or "
                                         r"another --out$"):
        export_config(analysis, out)
    assert out.read_text() == "keep me\n"
    export_config(analysis, out, force=True)
    assert load_run_config(out).optimizer["name"] == "Adam"


def test_a_directory_is_no_output_file(analysis, tmp_path):
    with pytest.raises(UsageError, match=r"^--out: is a directory; give a file name, e.g. --out best.yaml$"):
        export_config(analysis, tmp_path)


def test_a_bad_rank_writes_nothing(analysis, tmp_path):
    with pytest.raises(UsageError, match=r"^--rank: must be between 1 and 5"):
        export_config(analysis, tmp_path / "x.yaml", rank=6)
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.slow
def test_the_exported_config_trains_its_recorded_best_seed_again(analysis, tmp_path):
    """Round trip: export, load, train; the best seed's recorded metric comes back (same threads as recorded)."""
    from tune_sched.train.trial import run_trial

    result = export_config(analysis, tmp_path / "best.yaml")
    trained = run_trial(load_run_config(result.path), out_dir=tmp_path / "run", num_threads=1)
    best = analysis.ranking.iloc[0]
    assert trained.status == "completed" and trained.seed == result.seed
    assert trained.best_metric == pytest.approx(float(best["best_seed_metric"]), rel=1e-6)
