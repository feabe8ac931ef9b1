"""scripts/recipe_table.py: one row per recipe study, with its fit arguments, scores, verdict and fitted trend."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "recipe_table.py"


def test_one_row_per_recipe_with_its_arguments_and_trend(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(SCRIPT))["main"]
    head = "upsampler,seed,fid_1024_shapesnet,fid_1024_shapesnet_real_baseline,precision_1024_shapesnet,"
    head += "recall_1024_shapesnet,converged,train_images_per_s\n"
    for name, rows in {
        "adam_1e-3": ["pixel_shuffle_icnr,0,200.0,16.5,0.8,0.7,1,150", "pixel_shuffle_icnr,1,300.0,16.5,0.6,0.5,0,130"],
        "quickstart": ["pixel_shuffle_icnr,0,700.0,16.5,0.7,0.6,0,140"],
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.csv").write_text(head + "\n".join(rows) + "\n")
    (tmp_path / "adam_1e-3.args").write_text("--model.init_args.optimizer_g.init_args.lr=1e-3\n")
    (tmp_path / "adam_1e-3" / "summary.csv").write_text(
        "upsampler,trend_change,trend_low,trend_high,trend_verdict\npixel_shuffle_icnr,-0.2,-0.3,-0.1,improving\n"
    )
    assert main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| recipe | fit arguments over the base | seeds | FID ↓ |")
    assert lines[2] == (
        "| adam_1e-3 | `--model.init_args.optimizer_g.init_args.lr=1e-3` | 2 | 250.0 ± 70.7 | 16.5 | 0.700 ± 0.141 | "
        "0.600 ± 0.141 | 1/2 | -20% [-30, -10] improving | 140 ± 14 |"
    )
    assert lines[3] == "| quickstart | (the base) | 1 | 700.0 | 16.5 | 0.700 | 0.600 | 0/1 | - | 140 |"


def test_a_folder_without_recipe_studies_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(SCRIPT))["main"]
    assert main([str(tmp_path / "nowhere")]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.startswith(f"error: no recipe study in {tmp_path / 'nowhere'} (no ")
    assert printed.err.endswith("run scripts/recipe_search.sh\n") and printed.err.count("\n") == 1
