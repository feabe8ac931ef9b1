from __future__ import annotations

import math
from pathlib import Path

import pytest

from gan_upsample.metrics.convergence import converged, converged_from_csv, read_metric_curve


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
