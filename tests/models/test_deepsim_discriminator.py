"""DeePSiMDiscriminator: shapes, dropout, the feature input for inversion, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.models.discriminators import DeePSiMDiscriminator, Discriminator


def _tiny(**kw) -> DeePSiMDiscriminator:
    return DeePSiMDiscriminator(**{"base_channels": 4, "max_channels": 16, "hidden": 8, **kw})


@pytest.mark.parametrize("first_stride,size", [(2, 16), (2, 32), (4, 32), (2, 7)])
def test_one_logit_per_image(first_stride: int, size: int) -> None:
    d = _tiny(first_stride=first_stride)
    assert isinstance(d, Discriminator)
    y = d(torch.randn(3, 3, size, size))
    assert y.shape == (3,)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("first_stride,expected", [(2, 4), (4, 2)])
def test_five_convolutions_and_their_strides(first_stride: int, expected: int) -> None:
    d = _tiny(first_stride=first_stride)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [first_stride, 1, 2, 1, 2]
    assert [c.out_channels for c in convs] == [4, 8, 16, 16, 16]
    before_pool = d.convs[:-2](torch.randn(1, 3, 32, 32))
    assert before_pool.shape == (1, 16, expected, expected)
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 8), (8, 1)]


def test_dropout_active_in_train_and_off_in_eval() -> None:
    torch.manual_seed(0)
    d = _tiny()
    x = torch.randn(4, 3, 16, 16)
    d.train()
    assert not torch.allclose(d(x), d(x))
    d.eval()
    assert_close(d(x), d(x))
    assert len([m for m in d.modules() if isinstance(m, torch.nn.Dropout) and m.p == 0.5]) == 2


def test_no_dropout_is_deterministic_in_train() -> None:
    d = _tiny(dropout=0.0).train()
    x = torch.randn(4, 3, 16, 16)
    assert_close(d(x), d(x))


def test_feature_input_for_inversion() -> None:
    torch.manual_seed(0)
    d = _tiny(feature_dim=16).eval()
    x = torch.randn(3, 3, 16, 16)
    f = torch.randn(3, 16)
    y = d(x, f)
    assert y.shape == (3,)
    # The features matter, and a map with 16 values per sample is flattened.
    assert not torch.allclose(y, d(x, torch.randn(3, 16)))
    assert_close(d(x, f.view(3, 4, 2, 2)), y)
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 1024), (1024, 512), (16 + 512, 8), (8, 1)]


def test_features_required_when_configured_and_rejected_otherwise() -> None:
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"feature_dim=16: call it as D\(images, features\)"):
        _tiny(feature_dim=16)(x)
    with pytest.raises(ValueError, match="built without a feature input"):
        _tiny()(x, torch.randn(2, 16))
    with pytest.raises(ValueError, match=r"16 values per sample for 2 images, got shape \(2, 15\)"):
        _tiny(feature_dim=16)(x, torch.randn(2, 15))
    with pytest.raises(ValueError, match=r"16 values per sample for 2 images, got shape \(3, 16\)"):
        _tiny(feature_dim=16)(x, torch.randn(3, 16))


def test_wrong_image_channels() -> None:
    with pytest.raises(ValueError, match=r"images of shape \(N, 1, H, W\), got \(2, 3, 16, 16\)"):
        _tiny(channels=1)(torch.randn(2, 3, 16, 16))


@pytest.mark.parametrize("feature_dim", [None, 12])
def test_gradients_reach_every_parameter(feature_dim: int | None) -> None:
    torch.manual_seed(0)
    d = _tiny(feature_dim=feature_dim).eval()
    x = torch.randn(3, 3, 16, 16, requires_grad=True)
    args = (x,) if feature_dim is None else (x, torch.randn(3, feature_dim))
    d(*args).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_one_logit_equals_a_two_way_softmax() -> None:
    # The documented equivalence: softplus losses on the single logit l are the 2-way cross-entropy
    # of logits (0, l) for classes (fake, real).
    logit = _tiny().eval()(torch.randn(5, 3, 16, 16))
    two_way = torch.stack([torch.zeros_like(logit), logit], dim=1)
    real = torch.ones(5, dtype=torch.long)
    assert_close(F.cross_entropy(two_way, real), F.softplus(-logit).mean())
    assert_close(F.cross_entropy(two_way, 1 - real), F.softplus(logit).mean())


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ({"first_stride": 0}, "first_stride must be an integer >= 1"),
        ({"feature_dim": 0}, "feature_dim must be an integer >= 1"),
        ({"negative_slope": -1}, "negative_slope must be a number >= 0"),
    ],
)
def test_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _tiny(**kw)
