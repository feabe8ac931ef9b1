from __future__ import annotations

from pathlib import Path

from PIL import Image

from gan_upsample.__main__ import main
from gan_upsample.studies.init_artifacts import default_variants, draw_figure, format_table, run_study


def test_study_separates_transposed_conv_from_resize_conv(tmp_path: Path) -> None:
    rows = run_study(layers=2, channels=8, input_size=8, batch_size=4, seeds=(0, 1))
    by_label = {r.label: r for r in rows}
    assert set(by_label) == {v.label for v in default_variants()}
    assert by_label["TransposedConv k3"].phase_noise > 3 * by_label["ResizeConv nearest"].phase_noise
    assert by_label["PixelShuffle"].phase_constant > 0.1
    for flat in ("ResizeConv nearest", "ResizeConv bilinear", "PixelShuffle ICNR", "BilinearAdditive"):
        assert by_label[flat].phase_constant == 0.0, flat
    table = format_table(rows, 2, 32)
    assert table.count("\n| ") == len(rows) and "TransposedConv k3" in table
    path = draw_figure(rows, tmp_path / "fig.png")
    assert Image.open(path).size[1] > Image.open(path).size[0]  # one row per upsampler


def test_checkerboard_command(tmp_path: Path, capsys) -> None:
    main(["checkerboard", "--out", str(tmp_path), "--layers", "2", "--channels", "8", "--seeds", "1"])
    assert (tmp_path / "figure.png").is_file() and (tmp_path / "table.md").is_file()
    assert "PixelDCL" in capsys.readouterr().out
