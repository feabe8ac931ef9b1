from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from gan_upsample.losses import (
    AdversarialLoss,
    DiscriminatorFreezer,
    Hinge,
    LeastSquares,
    NonSaturating,
    r1_penalty,
)


def test_nonsaturating_matches_log_formulas() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d = NonSaturating().discriminator_loss(real, fake)
    expected = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert_close(d, expected)
    assert_close(NonSaturating().generator_loss(fake), -torch.log(torch.sigmoid(fake)).mean())


def test_hinge_and_least_squares() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert_close(Hinge().discriminator_loss(real, fake), torch.tensor((0 + 0.5) / 2 + (0 + 1) / 2))
    assert_close(Hinge().generator_loss(fake), torch.tensor(1.0))
    assert_close(LeastSquares().discriminator_loss(real, fake), torch.tensor(0.5 * ((1 + 0.25) / 2 + (4 + 0) / 2)))
    assert_close(LeastSquares().generator_loss(fake), torch.tensor(0.5 * (9 + 1) / 2))


def test_only_the_nonsaturating_logits_are_probabilities() -> None:
    assert NonSaturating().logits_are_probabilities
    assert not Hinge().logits_are_probabilities and not LeastSquares().logits_are_probabilities


def test_a_new_loss_is_one_class() -> None:
    class Wasserstein(AdversarialLoss):
        def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
            return fake_logits.mean() - real_logits.mean()

        def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
            return -fake_logits.mean()

    loss = Wasserstein()
    assert_close(loss.discriminator_loss(torch.tensor([3.0]), torch.tensor([1.0])), torch.tensor(-2.0))
    with pytest.raises(TypeError, match="abstract"):
        AdversarialLoss()  # type: ignore[abstract]


def test_r1_of_linear_discriminator() -> None:
    w = torch.randn(12)
    x = torch.randn(5, 3, 2, 2, requires_grad=True)
    logits = x.flatten(1) @ w
    assert_close(r1_penalty(logits, x), w.square().sum())


def test_freezer_on_hand_made_sequence() -> None:
    f = DiscriminatorFreezer(threshold=0.1)
    # (d_loss, adv_loss): ratio 1.0, 0.05, 0.09, 0.2, 0.01
    decisions = [f.update(d, a) for d, a in [(1, 1), (0.1, 2), (0.09, 1), (0.4, 2), (0.02, 2)]]
    assert decisions == [False, True, True, False, True]
    assert f.frozen_share == pytest.approx(3 / 5)


def test_freezer_state_round_trip_and_edge_cases() -> None:
    f = DiscriminatorFreezer(0.5)
    f.update(0.1, 1.0)
    g = DiscriminatorFreezer(0.5)
    g.load_state_dict(f.state_dict())
    assert g.state_dict() == {"steps": 1, "frozen_steps": 1, "frozen": True}
    assert not g.update(-1.0, 0.0)  # no meaningful ratio: keep training D
    assert not DiscriminatorFreezer(0.0).update(0.0, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        DiscriminatorFreezer(-1)
    with pytest.raises(ValueError, match="threshold"):
        DiscriminatorFreezer(math.nan)
