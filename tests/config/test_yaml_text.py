"""safe_load_text: the fast loader for YAML tune-sched wrote itself gives yaml.safe_load's data and runs no tags."""

from __future__ import annotations

import pytest
import yaml

from tune_sched.core.yaml_io import dump_yaml, safe_load_text

CONFIG = {"task": "tiny", "seed": 3, "optimizer": {"name": "AdamW", "lr": 0.001, "betas": [0.9, 0.99]},
          "lr_scheduler": None, "trainer": {"max_epochs": 5, "precision": "32-true", "gradient_clip_val": 1.0e-8},
          "note": "a: colon, \\u00e9 and 'quotes'", "flag": True}


def test_it_reads_what_dump_yaml_writes_exactly_as_safe_load_does():
    text = dump_yaml(CONFIG)
    assert safe_load_text(text) == yaml.safe_load(text) == CONFIG


@pytest.mark.parametrize("tagged", ["!!python/object/apply:os.system ['true']", "!!python/name:os.system"])
def test_it_refuses_python_tags(tagged):
    with pytest.raises(yaml.constructor.ConstructorError):
        safe_load_text(f"optimizer: {tagged}\n")
