"""Study v2 (issue 12, part 5): t-intervals, failed runs, placements, curves and ShapesNet features."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from gan_upsample.callbacks.fid import FID
from gan_upsample.models.shapes_net import ShapesNet
from gan_upsample.studies import runner
from gan_upsample.studies.compare import main
from gan_upsample.studies.evaluation import RandomCNN
from gan_upsample.studies.report import aggregate, failure_reason, markdown_table, t_quantile
from gan_upsample.studies.runner import (
    EvalSettings,
    StudyError,
    curve_key,
    resolve_fid_extractor,
    resolve_upsamplers,
    run_overrides,
    variants,
)

from .test_compare import tiny_base

CONFIGS = Path(__file__).parents[2] / "configs"


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


def test_t_interval_half_width_matches_a_hand_computation() -> None:
    rows = [{"upsampler": "a", "seed": s, "fid": v} for s, v in enumerate((1.0, 3.0, 8.0))]
    rows += [{"upsampler": "b", "seed": s, "fid": v} for s, v in enumerate((2.0, 4.0))]
    rows += [{"upsampler": "c", "seed": 0, "fid": 7.0}]
    a, b, c = aggregate(rows, ["fid"])
    # Student's t quantiles from a table: t_{0.975, 1} = 12.7062, t_{0.975, 2} = 4.3027.
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4) and t_quantile(2) == pytest.approx(4.3027, abs=1e-4)
    sd_a = math.sqrt((9 + 1 + 16) / 2)  # mean 4
    assert a["fid_sd"] == pytest.approx(sd_a)
    assert a["fid_ci95"] == pytest.approx(4.3027 * sd_a / math.sqrt(3), rel=1e-4)  # 8.957
    assert b["fid_ci95"] == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), rel=1e-4)  # sd sqrt(2), n 2
    assert math.isnan(c["fid_ci95"])
    table = markdown_table([a, b, c], [("fid", "FID", ".2f")])
    assert "| a | 3/3 | 4.00 ± 8.96 |" in table
    assert "| b | 2/2 | 3.00 ± 12.71 |" in table
    assert "| c | 1/1 | 7.00 |" in table  # one seed: the value only


def test_failure_reasons() -> None:
    assert failure_reason({"recall_8": 0.5, "precision_8": 0.9, "fid_8": 3.0}) is None
    assert failure_reason({"recall_8": 0.05, "recall_8_real_baseline": 0.0}) == "mode collapse: recall 0.050 < 0.1"
    assert failure_reason({"precision_8": 0.01}, garbage_precision=0.2) == "garbage: precision 0.010 < 0.2"
    assert failure_reason({"skipped_steps": 3, "recall_8": 0.5}) is None  # isolated skipped steps: listed, kept
    assert failure_reason({"rfid_8": float("nan")}) == "non-finite rfid_8"  # paired: no precision or recall
    assert failure_reason({"unfinished": "exit code 1"}) == "did not finish (exit code 1)"


def test_failed_runs_are_listed_and_left_out_of_every_mean(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A committed results.csv (no run folders) rebuilt with --report_only: flags come from the thresholds."""
    out = tmp_path / "study"
    out.mkdir()
    header = "upsampler,seed,fid_256_shapesnet,precision_256_shapesnet,recall_256_shapesnet,phase_imbalance,g_steps"
    lines = [
        "resize_conv,0,2.0,0.8,0.5,0.01,768",
        "resize_conv,1,4.0,0.7,0.6,0.03,768",
        "resize_conv,2,90.0,0.9,0.02,0.50,768",  # mode collapse: recall 0.02
        "pixel_dcl,0,10.0,0.05,0.4,0.2,768",  # garbage: precision 0.05
        "pixel_dcl,1,12.0,0.6,0.4,0.4,768",
    ]
    (out / "results.csv").write_text("\n".join([header, *lines]) + "\n")
    # A run that did not finish leaves its reason in its folder (runner.run_one).
    failure = runner.run_folder(out, "pixel_dcl", 2) / runner.FAILURE
    failure.parent.mkdir(parents=True)
    failure.write_text(json.dumps({"upsampler": "pixel_dcl", "seed": 2, "failure": "exit code 1, non-finite losses"}))
    args = ["--base", str(CONFIGS / "quickstart.yaml"), "--upsamplers", "resize_conv", "pixel_dcl"]
    args += ["--seeds", "0", "1", "2", "--out", str(out), "--report_only", "--max_epochs", "6"]
    assert main(args) == 0
    capsys.readouterr()
    summary = (out / "summary.md").read_text()
    assert "| resize_conv | 2/3 | 3 ± 13 |" in summary  # FID (.4g) of seeds 0 and 1: t_{0.975,1} * sd / sqrt 2
    assert "| pixel_dcl | 1/3 | 12 |" in summary  # one seed left: no interval
    assert "| 0.020 ± 0.127 |" in summary  # phase imbalance: the collapsed run's 0.50 is not averaged in
    assert "## Failed runs (left out of the means)" in summary
    assert "- resize_conv seed 2: mode collapse: recall 0.020 < 0.1" in summary
    assert "- pixel_dcl seed 0: garbage: precision 0.050 < 0.1" in summary
    assert "- pixel_dcl seed 2: did not finish (exit code 1, non-finite losses)" in summary
    assert "recall is below 0.1 (mode collapse) or its precision below 0.1" in summary
    assert "budget: 768 generator steps" in summary and "ShapesNet features" in summary
    with open(out / "summary.csv") as f:
        first = next(csv.DictReader(f))
    assert first["n_seeds"] == "2" and first["n_runs"] == "3"
    assert float(first["fid_256_shapesnet_mean"]) == pytest.approx(3.0)
    assert float(first["fid_256_shapesnet_ci95"]) == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), rel=1e-4)
    with open(out / "results.csv") as f:
        flags = {(r["upsampler"], r["seed"]): r["failed"] for r in csv.DictReader(f)}
    assert flags[("resize_conv", "2")].startswith("mode collapse") and flags[("resize_conv", "0")] == ""

    # Other thresholds, same results: nothing is flagged and everything is averaged.
    assert main([*args, "--collapse_recall", "0", "--garbage_precision", "0"]) == 0
    summary = (out / "summary.md").read_text()
    assert "| resize_conv | 3/3 | 32 ±" in summary and "| pixel_dcl | 2/3 |" in summary
    failed = summary.split("## Failed runs")[1].split("\n- Base")[0]
    assert "collapse" not in failed and "garbage" not in failed and "pixel_dcl seed 2: did not finish" in failed

    # Runs made before --placements are the rows of the base's own placement (rgb on the quickstart).
    assert main([*args, "--placements", "rgb"]) == 0
    assert "| upsampler | placement | learned / runs |" in (out / "summary.md").read_text()
    assert "| resize_conv | rgb | 2/3 |" in (out / "summary.md").read_text()


def test_placements_name_rows_and_force_output_conv(capsys: pytest.CaptureFixture) -> None:
    quick = _load("quickstart.yaml")  # output_conv: not set (false), so rgb is its own placement
    ups = resolve_upsamplers(["resize_conv", "bilinear_additive"])
    rows, notes = variants(ups, quick, ["rgb", "conv"])
    assert [(v.name, v.placement) for v in rows] == [
        ("resize_conv", "rgb"),  # the folder name of a study without --placements: it still resumes
        ("resize_conv+conv", "conv"),
        ("bilinear_additive", "conv"),  # its fragment forces output_conv: the study without placements ran this
    ]
    assert [v.args[-1].rpartition(".")[2] for v in rows] == ["output_conv=false", "output_conv=true"] * 1 + [
        "output_conv=true"
    ]
    assert notes == [
        "bilinear_additive: its fragment sets output_conv: true, so it runs only in the conv placement; rgb left out"
    ]
    assert [v.name for v in variants(ups, quick, ["rgb"])[0]] == ["resize_conv"]
    plain, _ = variants(ups, quick)
    assert [(v.name, v.placement, v.args) for v in plain] == [
        ("resize_conv", None, ("--config", str(ups[0][1]))),
        ("bilinear_additive", None, ("--config", str(ups[1][1]))),
    ]
    # A base whose generator has no output_conv: one clear error line, nothing written.
    with pytest.raises(StudyError, match="EncoderDecoder has none"):
        variants(ups, _load("deepsim_autoencoder_natural.yaml"), ["rgb"])
    base = str(CONFIGS / "deepsim_autoencoder_natural.yaml")
    assert main(["--base", base, "--upsamplers", "resize_conv", "--placements", "conv", "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--placements needs a generator with an output_conv option" in err


@pytest.mark.slow
def test_placements_train_one_run_folder_each(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    args = ["--base", str(tiny_base(tmp_path)), "--upsamplers", "resize_conv", "--placements", "rgb", "conv"]
    args += ["--seeds", "0", "--out", str(out), "--fid_extractor", "none", "--warmup_batches", "1"]
    args += ["--checkerboard_images", "16", "--data.init_args.num_train=32"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "resize_conv+conv seed 0: training" in printed and "resize_conv seed 0: training" in printed
    for name, conv in (("resize_conv", False), ("resize_conv+conv", True)):
        saved = yaml.safe_load((out / "runs" / name / "seed0" / "config.yaml").read_text())
        assert saved["model"]["init_args"]["generator"]["init_args"]["output_conv"] is conv
    with open(out / "results.csv") as f:
        rows = {r["upsampler"]: r["placement"] for r in csv.DictReader(f)}
    assert rows == {"resize_conv": "rgb", "resize_conv+conv": "conv"}
    summary = (out / "summary.md").read_text()
    assert "| upsampler | placement | learned / runs |" in summary and "| resize_conv+conv | conv | 1/1 |" in summary


def test_auto_features_are_shapesnet_on_bright_shapes(tmp_path: Path) -> None:
    quick, natural = _load("quickstart.yaml"), _load("deepsim_autoencoder_natural.yaml")
    assert resolve_fid_extractor("auto", quick) == "shapesnet"
    assert resolve_fid_extractor("auto", natural) == "randomcnn"
    assert resolve_fid_extractor("inception", quick) == "inception"

    settings = EvalSettings(fid_extractor="shapesnet", shapesnet_weights="random", curve_every=12, curve_images=16)
    spec = run_overrides(quick, False, "resize_conv", 0, tmp_path, settings, 64)
    callbacks = [cb for cb in spec["trainer"]["callbacks"] if "init_args" in cb]
    by_class = {}
    for cb in callbacks:
        by_class.setdefault(cb["class_path"].rpartition(".")[2], []).append(cb["init_args"])
    final, curve = by_class["FID"]
    shapes = {"class_path": "gan_upsample.models.shapes_net.ShapesNet", "init_args": {"weights": "random"}}
    assert final["feature_extractor"] == curve["feature_extractor"] == shapes
    assert by_class["PrecisionRecall"][0]["feature_extractor"] == shapes
    assert (final["split"], final["num_real"], final["on_test"], final.get("every_n_steps")) == ("test", 64, True, None)
    assert (curve["split"], curve["num_real"], curve["on_test"], curve["every_n_steps"]) == ("val", 16, False, 12)
    assert curve["on_validation"] is False and spec["trainer"]["limit_val_batches"] == 0
    assert by_class["Convergence"] == [{"monitor": "val/fid_16_shapesnet"}]
    assert by_class["StudyRecorder"][0]["curve"] == "val/fid_16_shapesnet"
    # The key the study reads is the one FID logs.
    for net, name in ((ShapesNet("random"), "shapesnet"), (RandomCNN(), "randomcnn")):
        assert FID(16, 16, feature_extractor=net).protocol(SimpleNamespace()).tag == f"16_{name}"
        assert curve_key(False, EvalSettings(fid_extractor=name), 16) == f"val/fid_16_{name}"
    assert curve_key(True, EvalSettings(fid_extractor="inception"), 1000) == "val/rfid_1k"

    # Curves off (and another extractor than ShapesNet): the fingerprint of a study v1 run, so it is skipped.
    assert set(EvalSettings().fingerprint()) == {
        "fid_extractor",
        "fid_images",
        "fid_seed",
        "fid_cache_dir",
        "inception_weights",
        "checkerboard_images",
        "lpips_pretrained",
        "warmup_batches",
        "validate",
    }
    assert json.dumps(settings.fingerprint()).count("curve") == 2


def test_short_table_puts_the_real_images_floor_first(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``short.md``: the README's table, its first row the real-vs-real scores beside which every row is read."""
    out = tmp_path / "study"
    out.mkdir()
    header = (
        "upsampler,seed,fid_256_shapesnet,fid_256_shapesnet_real_baseline,precision_256_shapesnet,"
        "precision_256_shapesnet_real_baseline,recall_256_shapesnet,recall_256_shapesnet_real_baseline,"
        "spectral_excess_db,phase_imbalance,spectrum_distance,g_steps"
    )
    lines = [
        "resize_conv,1,40.0,5.0,0.7,0.9,0.6,0.85,2.5,0.03,0.3,768",
        "resize_conv,0,20.0,5.0,0.8,0.9,0.5,0.85,1.5,0.01,0.2,768",
    ]
    (out / "results.csv").write_text("\n".join([header, *lines]) + "\n")
    args = ["--base", str(CONFIGS / "quickstart.yaml"), "--upsamplers", "resize_conv", "--seeds", "0", "1"]
    assert main([*args, "--out", str(out), "--report_only", "--max_epochs", "6"]) == 0
    capsys.readouterr()
    head, rule, floor, row = (out / "short.md").read_text().splitlines()
    assert head == (
        "| upsampler | learned / runs | FID (256 images, shapesnet) ↓ | precision ↑ | recall ↑ | "
        "spectral excess p=2 (dB; 0 = as reals) | phase imbalance p=2 ↓ |"
    )
    assert floor == "| **real vs real** | – | 5 | 0.900 | 0.850 | 0 | – |"
    # Each seed's FID and spectral excess in brackets, in seed order.
    assert row.startswith(
        "| resize_conv | 2/2 | 30 ± 1.3e+02 (20, 40) | 0.750 ± 0.635 | 0.550 ± 0.635 | 2.00 ± 6.35 (1.5, 2.5) |"
    )
    assert "spectrum distance" not in head  # in summary.md only


def test_committed_results_keep_their_curves_and_each_row_gets_a_fitted_trend(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The curves travel in results.csv, so a report rebuilt from it alone redraws curves.png and fits the trends."""
    out = tmp_path / "study"
    out.mkdir()
    steps = [768 * i for i in range(1, 9)]

    def curve(level: float, rate: float) -> str:
        return ";".join(f"{level * math.exp(-rate * s):.6g}" for s in steps)

    header = "upsampler,seed,fid_256_shapesnet,recall_256_shapesnet,g_steps"
    header += ",wall_seconds,curve_key,curve_steps,curve_values,curve_floor"
    key, joined = "val/fid_256_shapesnet", ";".join(map(str, steps))
    lines = [  # resize_conv still falls 10 % a quarter (1,536 steps); pixel_dcl is flat; seed 2 of it collapsed
        f"resize_conv,0,20.0,0.5,6144,600,{key},{joined},{curve(300, 0.1 / 1536)},80",
        f"resize_conv,1,30.0,0.5,6144,900,{key},{joined},{curve(200, 0.1 / 1536)},80",
        f"pixel_dcl,0,20.0,0.5,6144,1200,{key},{joined},{curve(300, 0.001 / 1536)},80",
        f"pixel_dcl,1,30.0,0.5,6144,300,{key},{joined},{curve(200, 0.001 / 1536)},80",
        f"pixel_dcl,2,90.0,0.01,6144,1680,{key},{joined},{curve(900, -1 / 1536)},80",
    ]
    (out / "results.csv").write_text("\n".join([header, *lines]) + "\n")
    args = ["--base", str(CONFIGS / "quickstart.yaml"), "--upsamplers", "resize_conv", "pixel_dcl", "--seeds", "0", "1"]
    assert main([*args, "2", "--out", str(out), "--report_only", "--max_epochs", "48"]) == 0
    capsys.readouterr()
    short = (out / "short.md").read_text()
    assert "| FID trend, last quarter (fit, 95 % CI) |" in short
    assert "| resize_conv | 2/2 | -10% [-10, -10] improving |" in short  # exp(-0.1) - 1 = -9.5 %
    assert "| pixel_dcl | 2/3 | -0% [-0, -0] flat |" in short  # the collapsed seed's rising curve is left out
    with open(out / "summary.csv") as f:
        rows = {r["upsampler"]: r for r in csv.DictReader(f)}
    assert float(rows["resize_conv"]["trend_change"]) == pytest.approx(math.expm1(-0.1), rel=1e-4)
    assert rows["pixel_dcl"]["trend_verdict"] == "flat"
    assert "FID trend: each row's fitted trend" in (out / "summary.md").read_text()
    assert (out / "curves.png").stat().st_size > 10_000
    assert "Run time: 5 runs took 1.3 h in all (" in (out / "summary.md").read_text()  # 4,680 s
    assert "median 15.0 min a run, longest 28.0 min." in (out / "summary.md").read_text()
    with open(out / "results.csv") as f:
        kept = next(csv.DictReader(f))
    assert kept["curve_steps"] == ";".join(map(str, steps)) and kept["curve_key"] == key  # written back as read


def test_short_table_names_the_fid_of_reconstructions_rfid() -> None:
    from gan_upsample.studies.report import metric_columns, short_table

    rows = [{"upsampler": "resize_conv", "seed": s, "rfid_256_randomcnn": 1.0 + s, "psnr": 20.0} for s in (0, 1)]
    head = short_table(aggregate(rows, ["rfid_256_randomcnn", "psnr"]), metric_columns(rows), rows).splitlines()[0]
    assert head == "| upsampler | learned / runs | rFID (256 images, randomcnn) ↓ | PSNR (dB) ↑ |"


def test_late_median_of_d_of_fake_reads_the_last_half_of_generator_steps(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    rows = ["epoch,step,train/D(G(z)),train/g_steps,val/fid_8"]
    rows += [f"0,{i},{v},{g},," for i, (g, v) in enumerate([(10, 0.5), (20, 0.4), (40, 0.3), (60, 0.02), (80, 0.01)])]
    rows += ["0,9,,,120.0"]
    path.write_text("\n".join(rows) + "\n")
    assert runner.late_median(path) == pytest.approx(0.015)  # after step 40 of 80: 0.02 and 0.01, their mean
    assert runner.late_median(path, last_share=0.75) == pytest.approx(0.02)  # after step 20: 0.3, 0.02, 0.01
    assert runner.late_median(path, key="train/D(x)") is None and runner.late_median(tmp_path / "none.csv") is None
