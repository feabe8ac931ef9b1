"""Improved precision and recall of generated samples, on feature vectors.

Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models": each set
of features spans a manifold estimated as the union of balls around its points, each ball's radius the
distance to the point's k-th nearest neighbour in its own set (k = 3 in the paper). **Precision** is the
share of generated points inside the real manifold (how many fakes look real); **recall** is the share of
real points inside the generated manifold (how much of the data the generator covers). Recall near 0 is
mode collapse (every fake in one corner of the data), precision near 0 is garbage (fakes unlike any real
image).

The k-NN computation is torch-fidelity's (``torch_fidelity.metric_prc``, batched ``torch.cdist``), called
here with the real and generated sets named, since torch-fidelity's positional order (generated first) is
easy to get backwards.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["PrecisionRecallScores", "precision_recall"]


class PrecisionRecallScores(NamedTuple):
    """Improved precision and recall, each in ``[0, 1]``."""

    precision: float
    recall: float


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, batch_size: int = 1024) -> PrecisionRecallScores:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real`` features.

    Args:
        real: ``(N, F)`` features of real images.
        fake: ``(M, F)`` features of generated images.
        k: Neighbourhood size: each ball's radius is the distance to the k-th nearest other point of its set.
        batch_size: Rows of each block of pairwise distances (memory is ``batch_size x max(N, M)``).

    Returns:
        ``(precision, recall)``: the share of fakes inside the real manifold, of reals inside the generated one.

    Raises:
        ValueError: Not 2-D, different feature sizes, or a set with ``k`` points or fewer.
    """
    from torch_fidelity.metric_prc import prc_features_to_metric

    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        shapes = f"{tuple(real.shape)} and {tuple(fake.shape)}"
        raise ValueError(f"precision_recall needs (N, F) and (M, F) features, got {shapes}")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(
            f"precision_recall with k={k} needs more than {k} real and generated samples, "
            f"got {real.shape[0]} and {fake.shape[0]}"
        )
    # save_cpu_ram: blocks of batch_size rows instead of three full N x N matrices.
    out = prc_features_to_metric(
        fake, real, prc_neighborhood=k, prc_batch_size=batch_size, save_cpu_ram=True, verbose=False
    )
    return PrecisionRecallScores(float(out["precision"]), float(out["recall"]))
