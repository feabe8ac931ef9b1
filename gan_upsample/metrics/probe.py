"""Linear probe: how much of a label a fixed representation keeps, as a linear classifier's test accuracy.

Dosovitskiy & Brox 2016 ("Generating Images with Perceptual Similarity Metrics based on Deep Networks", section
4.1, "Classification") train a linear SVM on the 8-channel codes of autoencoders trained with different losses
and compare the test accuracies: codes trained with the image loss alone keep less of what identifies the class
than codes trained with DeePSiM. :func:`linear_probe_accuracy` is that classifier: scikit-learn's ``LinearSVC``
(L2-regularised squared hinge, one-vs-rest) on features standardised with the training set's statistics.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["linear_probe_accuracy"]


def linear_probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    regularization: float = 1.0,
    max_iter: int = 5000,
) -> float:
    """Test accuracy of a linear SVM trained on ``train_features``.

    Features are flattened per sample and standardised (mean 0, standard deviation 1 per dimension, from the
    training features; constant dimensions are left centred), then scikit-learn's ``LinearSVC`` (``C =
    regularization``, ``random_state=0``, deterministic) is fitted. A solver that stops at ``max_iter`` without
    converging is accepted silently: its classifier is still linear, and the budget is the same for every code.

    Args:
        train_features: ``(N, ...)`` features of the training samples.
        train_labels: ``(N,)`` integer class labels.
        test_features: ``(M, ...)`` features of the test samples, the same shape per sample.
        test_labels: ``(M,)`` integer class labels.
        regularization: The SVM's ``C`` (larger: weaker regularisation).
        max_iter: Iterations of the solver at most.

    Returns:
        The share of test samples classified correctly, in ``[0, 1]``.

    Raises:
        ValueError: Mismatched lengths or feature shapes, or fewer than two classes among the training labels.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    x_train = train_features.detach().flatten(1).double().cpu().numpy()
    x_test = test_features.detach().flatten(1).double().cpu().numpy()
    y_train = train_labels.detach().cpu().numpy().astype(np.int64)
    y_test = test_labels.detach().cpu().numpy().astype(np.int64)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(
            f"features and labels differ in length: train {len(x_train)} vs {len(y_train)}, "
            f"test {len(x_test)} vs {len(y_test)}"
        )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train and test features differ in size: {x_train.shape[1]} vs {x_test.shape[1]}")
    if len(np.unique(y_train)) < 2:
        raise ValueError("a linear probe needs at least two classes among the training labels")
    mean, std = x_train.mean(0), x_train.std(0)
    std[std < 1e-12] = 1.0
    svm = LinearSVC(C=regularization, max_iter=max_iter, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        svm.fit((x_train - mean) / std, y_train)
    return float((svm.predict((x_test - mean) / std) == y_test).mean())
