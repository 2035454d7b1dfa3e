"""The table a search ends with: no two columns share a name (a frame built here; no search run)."""

from __future__ import annotations

import json

import pandas as pd

from tune_sched.search.summary import top_configs_text


def test_no_two_columns_share_a_name():
    adam = json.dumps({"optimizer": {"name": "Adam", "lr": 0.01}})
    sgd = json.dumps({"optimizer": {"name": "SGD", "lr": 0.1}, "lr_scheduler": {"name": "StepLR", "gamma": 0.5}})
    trials = pd.DataFrame({"config_id": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "status": ["completed"] * 4,
                           "best_metric": [0.1, 0.2, 0.3, 0.4], "config_json": [adam, adam, sgd, sgd],
                           "reason": [""] * 4})
    lines = top_configs_text(trials, mode="min", metric="val_loss").splitlines()
    header = lines[1].split()
    assert header == ["rank", "config", "score", "iqm", "diverged", "settings"]
    assert len(set(header)) == len(header)
    assert lines[3].split()[:2] == ["2", "b"] and lines[3].endswith("SGD lr=0.1 StepLR gamma=0.5")
