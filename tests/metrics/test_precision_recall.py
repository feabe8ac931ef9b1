from __future__ import annotations

import pytest
import torch

from gan_upsample.metrics.precision_recall import precision_recall


def brute_force(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """The paper's definition, written out: a point is covered if it lies in some ball of the other set."""

    def radii(x: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(x, x)
        return d.sort(dim=1).values[:, k]  # column 0 is the point itself

    def covered(points: torch.Tensor, centres: torch.Tensor) -> float:
        return float((torch.cdist(points, centres) <= radii(centres)[None]).any(dim=1).double().mean())

    return covered(fake, real), covered(real, fake)


def test_identical_sets_give_one_and_far_apart_sets_zero() -> None:
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_real_and_fake_are_not_swapped() -> None:
    # Reals in two far clusters, fakes copy one of them: every fake looks real (precision 1), half the data is
    # covered (recall 0.5). Swapped arguments would give (0.5, 1).
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g) + 50.0
    scores = precision_recall(torch.cat([a, b]), a.clone())
    assert (scores.precision, scores.recall) == (1.0, 0.5)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_agrees_with_the_definition_and_torch_fidelity_full_mode(k: int) -> None:
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    g = torch.Generator().manual_seed(2)
    real = torch.randn(61, 8, generator=g, dtype=torch.float64)
    fake = torch.randn(47, 8, generator=g, dtype=torch.float64) + 1.2
    got = precision_recall(real, fake, k=k, batch_size=10)  # several blocks of rows
    assert 0.05 < got.precision < 0.95 and 0.05 < got.recall < 0.95, got  # a case that tells values apart
    # torch-fidelity takes the mean in float32: equal to the exact share to 1e-7.
    assert got == pytest.approx(brute_force(real, fake, k), abs=1e-7)
    assert got == calculate_precision_recall_full(fake, real, k)


def test_rejects_too_few_samples_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="more than 3"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))
    with pytest.raises(ValueError, match="features"):
        precision_recall(torch.randn(10, 2), torch.randn(10, 3))
