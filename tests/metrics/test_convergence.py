from __future__ import annotations

import math
from pathlib import Path

import pytest

from gan_upsample.metrics.convergence import converged, converged_from_csv, read_metric_curve, trend


def test_hand_computed_verdict() -> None:
    steps = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    values = [300, 200, 120, 80, 60, 50, 45, 40, 39.5, 39, 38.5]
    v = converged(steps, values)  # window after step 75; reference 40 at step 70; best 38.5 at step 100
    assert (v.window_start, v.reference_step, v.reference_value, v.best_step, v.best_value) == (75, 70, 40, 100, 38.5)
    assert v.improvement == pytest.approx(1.5 / 40)
    assert v.converged and "converged" in v.reason
    # The same curve judged with a tighter tolerance, or over the last half: not converged.
    assert not converged(steps, values, tolerance=0.03).converged
    half = converged(steps, values, last_share=0.5)
    assert (half.reference_value, half.improvement) == (50, pytest.approx(11.5 / 50)) and not half.converged


def test_still_improving_worsening_and_unordered_input() -> None:
    steps = list(range(0, 101, 10))
    falling = [100 - s * 0.8 for s in steps]
    assert not converged(steps, falling).converged
    rising = [50 + s * 0.1 for s in steps]
    assert converged(steps, rising).converged  # worse in the window: more steps would not help
    assert converged(steps[::-1], falling[::-1]) == converged(steps, falling)


def test_no_verdict_and_non_finite_values() -> None:
    v = converged([100], [5.0])
    assert not v.converged and math.isnan(v.improvement) and "no verdict" in v.reason
    assert not converged([], []).converged
    diverged = converged([0, 50, 80, 100], [100, 40, float("nan"), 30])
    assert not diverged.converged and "non-finite" in diverged.reason
    with pytest.raises(ValueError, match="last_share"):
        converged([0, 1], [1, 1], last_share=1.0)
    with pytest.raises(ValueError, match="length"):
        converged([0, 1], [1])


def test_from_lightning_metrics_csv(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    rows = [
        "epoch,step,train/d_loss,val/fid_1k_randomcnn,val/fid_1k_randomcnn_real_baseline,val/kid_1k_std",
        "0,9,0.5,,,",
        "0,19,,80.0,1.0,0.1",
        "0,39,,40.0,1.0,0.1",
        "1,59,0.4,,,",
        "1,79,,39.0,1.0,0.1",
        "1,99,,38.9,1.0,0.1",
    ]
    path.write_text("\n".join(rows) + "\n")
    key, steps, values = read_metric_curve(path)
    assert (key, steps, values) == ("val/fid_1k_randomcnn", [19, 39, 79, 99], [80, 40, 39, 38.9])
    v = converged_from_csv(path)
    assert v.converged and (v.reference_value, v.best_value) == (40.0, 38.9)  # window after 74.25: 79 is in it
    assert not converged_from_csv(path, tolerance=0.001).converged
    with pytest.raises(ValueError, match="0 columns"):
        read_metric_curve(path, prefix="val/lpips")
    with pytest.raises(ValueError, match="no column"):
        read_metric_curve(path, key="val/fid_5k")


def test_trend_matches_a_hand_computed_fit_and_pools_seeds_with_their_own_levels() -> None:
    # Two seeds on exact exponentials with one rate and different levels: the fit recovers the rate, the interval
    # has no width, and the change over the last quarter (25 of 100 steps) is exp(-0.004 * 25) - 1 = -9.5 %.
    steps = [0, 20, 40, 60, 80, 100]
    curves = [(steps, [300 * math.exp(-0.004 * s) for s in steps]), (steps, [90 * math.exp(-0.004 * s) for s in steps])]
    fit = trend(curves)  # last half: steps 60, 80, 100 of each seed
    assert (fit.n_points, fit.n_curves, fit.horizon) == (6, 2, 25)
    assert fit.change == pytest.approx(math.expm1(-0.1)) and fit.low == pytest.approx(fit.high)
    assert fit.verdict == "improving" and not fit.converged and fit.cell() == "-10% [-10, -10] improving"
    flat = trend([(steps, [40 * math.exp(-0.0001 * s) for s in steps])])
    assert flat.verdict == "flat" and flat.converged  # -0.25 % per quarter, no noise
    rising = trend([(steps, [40 + s for s in steps])])
    assert rising.verdict == "flat" and rising.change > 0  # worse: more steps would not help


def test_trend_interval_comes_from_the_residuals() -> None:
    # One curve, last-half points (s, log v) = (60, 0), (80, -0.2), (100, -0.1): slope -0.0025, residuals
    # (+0.05, -0.1, +0.05), s^2 = 0.015 / 1, se = sqrt(0.015 / 800); t_{0.975, 1} = 12.706.
    steps = [0, 20, 40, 60, 80, 100]
    values = [5.0, 3.0, 2.0, 1.0, math.exp(-0.2), math.exp(-0.1)]
    fit = trend([(steps, values)])
    se = math.sqrt(0.015 / 800)
    assert fit.change == pytest.approx(math.expm1(-0.0025 * 25))
    assert fit.low == pytest.approx(math.expm1((-0.0025 - 12.7062 * se) * 25), rel=1e-4)
    assert fit.high == pytest.approx(math.expm1((-0.0025 + 12.7062 * se) * 25), rel=1e-4)
    assert fit.verdict == "undecided" and "undecided" in fit.reason  # the interval holds 0 and -5 %


def test_trend_without_a_verdict() -> None:
    assert trend([([0, 50, 100], [9.0, 5.0, 4.0])]).verdict == "no verdict"  # 2 points in the last half: no df
    assert trend([]).cell() == "–"
    assert "non-finite" in trend([([0, 60, 80, 100], [9.0, 5.0, float("nan"), 4.0])]).reason
    assert "non-finite or non-positive" in trend([([0, 60, 80, 100], [9.0, 5.0, 0.0, 4.0])]).reason
    with pytest.raises(ValueError, match="horizon_share"):
        trend([([0, 1], [1, 1])], horizon_share=0)
    with pytest.raises(ValueError, match="length"):
        trend([([0, 1], [1])])
