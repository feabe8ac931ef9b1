"""Has a run converged? A plain rule on a logged FID curve, and a reader for Lightning's ``metrics.csv``.

The rule (:func:`converged`): with ``T`` the last logged step, the last ``last_share`` of training is the
window ``(T - last_share * T, T]`` (training starts at step 0). The *reference* is the value logged last at
or before the window's start ``T - last_share * T``; *best* is the lowest value logged inside the window.
The relative improvement is ``(reference - best) / |reference|``; the run is converged when it is below
``tolerance`` (e.g. FID 40 at the start of the last quarter, best 39 after it: improvement 0.025 < 0.05).
A curve that got worse over the window counts as converged (more steps would not help); a non-finite value
in the window (a diverged run) or a curve without a point before and inside the window is not converged,
and :attr:`ConvergenceVerdict.reason` says why. Mode collapse is a different failure, seen in recall
(:mod:`gan_upsample.metrics.precision_recall`), not in this rule.

That rule compares single evaluations, and an FID on a few hundred images moves by 5-20 % between two draws of
the same generator's latents (``scripts/fid_noise.py``), so it cannot resolve a 5 % tolerance. :func:`trend` asks
the same question with an interval: it fits a straight line to ``log(FID)`` over the last half of one or several
curves (the seeds of one study row, each with its own level, one common slope), turns the slope into the relative
change over the last quarter of training with its 95 % interval, and says *flat* (the whole interval is an
improvement smaller than the tolerance, or a worsening: converged), *improving* (the whole interval is an
improvement: train longer) or *undecided* (the noise between evaluations is too large to tell).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Sequence

__all__ = ["ConvergenceVerdict", "Trend", "converged", "converged_from_csv", "read_metric_curve", "trend"]

#: Endings of columns beside a curve that share its prefix: baselines, KID's spread, the Convergence callback's verdict.
NOT_CURVES = ("_real_baseline", "_std", "_converged", "_last_share_improvement")


@dataclasses.dataclass(frozen=True)
class ConvergenceVerdict:
    """What :func:`converged` found.

    Attributes:
        converged: The relative improvement over the last share of training is below the tolerance.
        improvement: ``(reference_value - best_value) / |reference_value|`` (``nan`` when not computable).
        reference_step: Step of the reference value (the last one at or before the window's start).
        reference_value: The value at the start of the window.
        best_step: Step of the best value in the window.
        best_value: The lowest value logged in the window.
        window_start: First step of the window is after this step: ``(1 - last_share) * last step``.
        last_share: Share of training the window covers.
        tolerance: Relative improvement below which the run is converged.
        reason: One line for people: the numbers, or why there was no verdict.
    """

    converged: bool
    improvement: float
    reference_step: float
    reference_value: float
    best_step: float
    best_value: float
    window_start: float
    last_share: float
    tolerance: float
    reason: str


def converged(
    steps: Sequence[float], values: Sequence[float], last_share: float = 0.25, tolerance: float = 0.05
) -> ConvergenceVerdict:
    """Whether a curve to minimise (FID) improved by less than ``tolerance`` over the last ``last_share`` of steps.

    Args:
        steps: Training steps of the values (any order; training starts at step 0).
        values: The logged values (lower is better).
        last_share: Share of training at the end that is judged, in ``(0, 1)``.
        tolerance: Relative improvement below which the run counts as converged.

    Returns:
        The verdict with its numbers (see the module docstring for the rule).

    Raises:
        ValueError: ``steps`` and ``values`` differ in length, or ``last_share`` is outside ``(0, 1)``.
    """
    if len(steps) != len(values):
        raise ValueError(f"steps and values differ in length ({len(steps)} and {len(values)})")
    if not 0 < last_share < 1:
        raise ValueError(f"last_share must be in (0, 1), got {last_share}")
    nan = float("nan")
    points = sorted((float(s), float(v)) for s, v in zip(steps, values, strict=True))
    last = points[-1][0] if points else nan
    start = (1 - last_share) * last

    def verdict(ok: bool, improvement: float, ref: tuple[float, float], best: tuple[float, float], why: str):
        return ConvergenceVerdict(ok, improvement, *ref, *best, start, last_share, tolerance, why)

    before = [p for p in points if p[0] <= start]
    inside = [p for p in points if p[0] > start]
    if not before or not inside:
        why = f"no verdict: {len(points)} points, none at or before or none after step {start:g}"
        return verdict(False, nan, (nan, nan), (nan, nan), why)
    if not all(math.isfinite(v) for _, v in inside):
        return verdict(False, nan, before[-1], (nan, nan), f"not converged: non-finite values after step {start:g}")
    ref = before[-1]
    best = min(inside, key=lambda p: p[1])
    if ref[1] != 0 and math.isfinite(ref[1]):
        improvement = (ref[1] - best[1]) / abs(ref[1])
    else:
        improvement = 0.0 if best[1] >= ref[1] else math.inf
    ok = improvement < tolerance
    why = (
        f"{'converged' if ok else 'not converged'}: best {best[1]:.4g} (step {best[0]:g}) in the last "
        f"{last_share:.0%} vs {ref[1]:.4g} at step {ref[0]:g}: improvement {improvement:.1%} "
        f"{'<' if ok else '>='} {tolerance:.1%}"
    )
    return verdict(ok, improvement, ref, best, why)


def read_metric_curve(
    path: str | os.PathLike[str], key: str | None = None, prefix: str = "val/fid_"
) -> tuple[str, list[float], list[float]]:
    """The ``(step, value)`` rows of one metric in a Lightning ``CSVLogger`` ``metrics.csv``.

    Args:
        path: The ``metrics.csv`` file (``<save_dir>/<name>/version_N/metrics.csv``).
        key: Column to read, e.g. ``val/fid_1k_randomcnn``; ``None`` takes the only column starting with
            ``prefix`` (real-vs-real baselines, ``_std`` and verdict columns excluded).
        prefix: Start of the column name looked for when ``key`` is ``None``.

    Returns:
        ``(key, steps, values)`` for the rows where the column has a value.

    Raises:
        ValueError: The column is missing, or ``key`` is ``None`` and not exactly one column matches.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        columns = list(rows[0]) if rows else []
    if key is None:
        found = [c for c in columns if c.startswith(prefix) and not c.endswith(NOT_CURVES)]
        if len(found) != 1:
            raise ValueError(
                f"{path}: {len(found)} columns start with {prefix!r} ({found}); pass key= (columns: {columns})"
            )
        key = found[0]
    if key not in columns or "step" not in columns:
        raise ValueError(f"{path} has no column {key!r} or 'step'; its columns: {columns}")
    pairs = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    return key, [s for s, _ in pairs], [v for _, v in pairs]


def converged_from_csv(
    path: str | os.PathLike[str], key: str | None = None, last_share: float = 0.25, tolerance: float = 0.05
) -> ConvergenceVerdict:
    """:func:`converged` applied to a finished run's ``metrics.csv`` (column ``key`` against ``step``).

    ``step`` is the logger's step (Lightning counts training batches there, not optimiser steps); the rule uses
    shares of it, so the unit does not matter. See :func:`read_metric_curve` for ``key``.
    """
    _, steps, values = read_metric_curve(path, key)
    return converged(steps, values, last_share, tolerance)


@dataclasses.dataclass(frozen=True)
class Trend:
    """What :func:`trend` found.

    Attributes:
        verdict: ``"flat"`` (the whole interval is an improvement smaller than the tolerance, or a worsening:
            converged), ``"improving"`` (the whole interval is an improvement, some of it larger than the
            tolerance: not converged), ``"undecided"`` (the interval holds no change and one larger than the
            tolerance) or ``"no verdict"`` (too few points, or non-finite values).
        change: Fitted relative change of the curve over ``horizon`` steps (``-0.12``: 12 % lower at the end of
            the horizon than at its start; ``nan`` without a verdict).
        low: Lower end of the ``level`` interval of ``change``.
        high: Upper end of the ``level`` interval of ``change``.
        horizon: Steps the change is over: ``horizon_share`` of the (median) last step.
        n_points: Points the fit used (all curves together).
        n_curves: Curves with at least two points in the window.
        tolerance: Relative improvement below which the curve counts as flat.
        reason: One line for people: the numbers, or why there was no verdict.
    """

    verdict: str
    change: float
    low: float
    high: float
    horizon: float
    n_points: int
    n_curves: int
    tolerance: float
    reason: str

    @property
    def converged(self) -> bool:
        """The curve is flat: the whole interval is an improvement smaller than the tolerance (or a worsening)."""
        return self.verdict == "flat"

    def cell(self) -> str:
        """The trend for a table cell, e.g. ``-8 % [-15, -1] improving``; ``–`` without a verdict."""
        if not math.isfinite(self.change):
            return "–"
        return f"{self.change:+.0%} [{self.low * 100:+.0f}, {self.high * 100:+.0f}] {self.verdict}"


def trend(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]],
    last_share: float = 0.5,
    horizon_share: float = 0.25,
    tolerance: float = 0.05,
    level: float = 0.95,
) -> Trend:
    """The fitted relative change of positive curves to minimise (FID) over the last ``horizon_share`` of training.

    Each curve's points after ``(1 - last_share) * T`` (``T`` its last step) enter a least-squares fit of
    ``log(value) = a_curve + b * step``: one level per curve, one slope shared by all (the seeds of one study row).
    The change over ``h = horizon_share * T`` steps is ``exp(b h) - 1`` and its interval
    ``exp((b ± t se(b)) h) - 1``, with Student's ``t`` on ``n - curves - 1`` degrees of freedom and ``se(b)`` from
    the residuals, so an oscillating or noisy curve gets a wide interval. The verdict: *flat* when the whole interval
    lies above ``-tolerance``, else *improving* when it lies below 0, else *undecided*.

    Args:
        curves: ``(steps, values)`` per curve (any order; training starts at step 0; values > 0).
        last_share: Share of training at the end that is fitted, in ``(0, 1)``.
        horizon_share: Share of training the change is reported over (the last quarter by default).
        tolerance: Relative improvement over the horizon below which the curve counts as flat.
        level: Coverage of the interval.

    Returns:
        The :class:`Trend`.

    Raises:
        ValueError: A curve's steps and values differ in length, or a share or ``level`` is outside ``(0, 1)``.
    """
    for name, share in (("last_share", last_share), ("horizon_share", horizon_share), ("level", level)):
        if not 0 < share < 1:
            raise ValueError(f"{name} must be in (0, 1), got {share}")
    nan = float("nan")

    def none(why: str, n: int = 0, k: int = 0) -> Trend:
        return Trend("no verdict", nan, nan, nan, nan, n, k, tolerance, f"no verdict: {why}")

    groups: list[list[tuple[float, float]]] = []
    ends = []
    for steps, values in curves:
        if len(steps) != len(values):
            raise ValueError(f"steps and values differ in length ({len(steps)} and {len(values)})")
        points = sorted((float(s), float(v)) for s, v in zip(steps, values, strict=True))
        if not points:
            continue
        start = (1 - last_share) * points[-1][0]
        inside = [p for p in points if p[0] > start]
        if not all(math.isfinite(v) and v > 0 for _, v in inside):
            return none(f"non-finite or non-positive values after step {start:g}")
        if len(inside) >= 2:
            groups.append([(s, math.log(v)) for s, v in inside])
            ends.append(points[-1][0])
    n, k = sum(len(g) for g in groups), len(groups)
    if k == 0 or n - k - 1 < 1:
        return none(f"{n} points in the last {last_share:.0%} of {k} curve(s); a fit needs at least {k + 2}", n, k)
    sxx = sxy = 0.0
    centred = []
    for group in groups:
        ms = math.fsum(s for s, _ in group) / len(group)
        my = math.fsum(y for _, y in group) / len(group)
        centred += [(s - ms, y - my) for s, y in group]
    sxx = math.fsum(s * s for s, _ in centred)
    sxy = math.fsum(s * y for s, y in centred)
    if sxx == 0:
        return none("all points of a curve are at one step", n, k)
    slope = sxy / sxx
    df = n - k - 1
    se = math.sqrt(math.fsum((y - slope * s) ** 2 for s, y in centred) / df / sxx)
    from scipy.stats import t as student_t

    q = float(student_t.ppf(0.5 + level / 2, df))
    horizon = horizon_share * sorted(ends)[len(ends) // 2]
    change, low, high = (math.expm1(b * horizon) for b in (slope, slope - q * se, slope + q * se))
    verdict = "flat" if low > -tolerance else "improving" if high < 0 else "undecided"
    reason = (
        f"{verdict}: fitted change over the last {horizon_share:.0%} ({horizon:g} steps) {change:+.1%}, "
        f"{level:.0%} interval [{low:+.1%}, {high:+.1%}] against a tolerance of -{tolerance:.0%} "
        f"({n} points of {k} curve(s) in the last {last_share:.0%})"
    )
    return Trend(verdict, change, low, high, horizon, n, k, tolerance, reason)
