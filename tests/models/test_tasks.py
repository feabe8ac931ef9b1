from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from gan_upsample.models.tasks import Colorization, Inversion, Reconstruction, to_grey


def test_reconstruction_is_identity() -> None:
    y = torch.rand(2, 3, 4, 4) * 2 - 1
    assert Reconstruction().inputs(y) is y
    assert Reconstruction().condition(y) is None


def test_colorization_uses_luma_and_keeps_range() -> None:
    y = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # pure red
    x = Colorization().inputs(y)
    assert x.shape == (1, 1, 2, 2)
    assert_close(x, torch.full((1, 1, 2, 2), 0.299 * 1 - 0.587 - 0.114))
    white = torch.ones(1, 3, 2, 2)
    assert_close(to_grey(white), torch.ones(1, 1, 2, 2))
    assert Colorization().display(x).shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="needs RGB targets"):
        Colorization().inputs(torch.zeros(1, 1, 2, 2))


def test_inversion_uses_the_encoder_without_gradients() -> None:
    enc = torch.nn.Conv2d(3, 5, 2, stride=2)
    task = Inversion(enc)
    y = torch.randn(2, 3, 4, 4)
    x = task.inputs(y)
    assert_close(x, enc(y).detach())
    assert not x.requires_grad
    assert task.condition(x).shape == (2, 5 * 2 * 2)
    assert task.display(x) is None
