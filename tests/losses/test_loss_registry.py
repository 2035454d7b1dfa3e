"""The loss registry: every entry resolves and behaves like a loss; unknown names; no torch at import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tune_sched.core.errors import UsageError
from tune_sched.losses.registry import LOSS_NAMES, LOSSES, LossSpec, get_loss


def test_names_are_the_documented_ones():
    assert LOSS_NAMES == ("field", "spectrum", "mse", "mae", "huber")
    assert all(isinstance(spec, LossSpec) and spec.name == name for name, spec in LOSSES.items())


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_is_zero_for_a_perfect_prediction_and_positive_otherwise(name):
    loss = get_loss(name)
    gen = torch.Generator().manual_seed(0)
    true = torch.randn(2, 2, 3, 8, 8, generator=gen)
    pred = (true + 0.5 * torch.randn(2, 2, 3, 8, 8, generator=gen)).requires_grad_()
    assert float(loss(true, true)) == 0.0
    out = loss(pred, true)
    assert out.ndim == 0 and float(out.detach()) > 0
    out.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_rejects_mismatched_shapes(name):
    with pytest.raises(ValueError, match="pred and true must have the same shape"):
        get_loss(name)(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # e = [-3, -0.5, 0, 2]
        ("mse", (9 + 0.25 + 0 + 4) / 4),
        ("mae", (3 + 0.5 + 0 + 2) / 4),
        ("huber", ((3 - 0.5) + 0.125 + 0 + (2 - 0.5)) / 4),
    ],
)
def test_pointwise_known_values(name, expected):
    true = torch.tensor([3.0, 0.5, 1.0, -2.0], dtype=torch.float64)
    pred = torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    assert float(get_loss(name)(pred, true)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (
            "spectral",
            r"^unknown loss 'spectral' \(did you mean 'spectrum'\?\); use one of: field, huber, mae, mse, spectrum$",
        ),
        ("L1", r"^unknown loss 'L1'; use one of: field, huber, mae, mse, spectrum$"),
        (None, r"^unknown loss None; use one of"),
    ],
)
def test_unknown_name(name, match):
    with pytest.raises(UsageError, match=match):
        get_loss(name)


def test_unknown_name_names_the_key_path():
    with pytest.raises(UsageError, match=r"^task_kwargs.loss: unknown loss 'Field' \(did you mean 'field'\?\)"):
        get_loss("Field", path="task_kwargs.loss")


def test_registry_and_scheduler_import_without_torch():
    code = (
        "import sys; import tune_sched.losses as L; from tune_sched.losses import registry, scheduler; "
        "L.validate_loss_scheduler_config({}); L.LossScheduler().step(0, {'val_spectrum': 1.0}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_attributes_resolve_and_unknown_ones_fail():
    import tune_sched.losses as losses
    from tune_sched.losses.field import field_error
    from tune_sched.losses.spectrum import spectrum_error

    assert losses.field_error is field_error and losses.spectrum_error is spectrum_error
    assert set(losses.__all__) <= set(dir(losses))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        losses.nope  # noqa: B018
