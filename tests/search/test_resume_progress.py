"""A resumed search's progress: Tune restores the Tuner's callbacks with it, and the one it restores is the driver's
own printer (``SearchProgress.live``), so the output goes to the caller's stream and the counts continue. (The
resume of an interrupted search, through the command line: tests/reliability/test_interrupt_resume.py.)"""

from __future__ import annotations

import copy
import io

import pytest

from tests.search.experiments import run_in_process

pytestmark = pytest.mark.slow

SPACE = {
    "task": "tiny",
    "task_kwargs": {"resolution": 8, "n_train": 8, "n_val": 8},
    "seeds": [0],
    "search": {"algorithm": "random", "num_samples": 2, "max_concurrent": 2, "pruner": "none"},
    "optimizer": {"name": "Adam", "lr": {"min": 1.0e-3, "max": 3.0e-2, "log": True}},
    "trainer": {"max_epochs": 1, "batch_size": 4},
}


def test_a_resumed_search_prints_to_its_stream_and_continues_the_counts(tmp_path, ray_cluster, capsys):
    from tune_sched.config.space import SearchSpace
    from tune_sched.search.driver import run_search

    experiment, first, _ = run_in_process(SPACE, tmp_path, "exp")
    assert "configs done 2/2: 2 completed, 0 pruned" in first
    capsys.readouterr()

    stream = io.StringIO()
    run_search(SearchSpace.from_dict(copy.deepcopy(SPACE)), name="exp", storage=tmp_path, resume=True,
               stream=stream)
    resumed = stream.getvalue()
    assert "configs done 2/2: 2 completed, 0 pruned" in resumed, resumed  # the counts Tune saved, continued
    assert "top configs by robust score" in resumed
    assert "configs done" not in capsys.readouterr().out  # no copy of the printer wrote to stdout
