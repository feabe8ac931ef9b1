"""Tests of the image-folder data set, on small files written into a temporary folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_upsample.data import ImageFolderDataset, UnreadableImageError
from gan_upsample.data.folder import CheckReport, check_image_folder, find_images, image_problem
from gan_upsample.errors import ConfigError, DataError


def _solid(path: Path, mode: str, size: tuple[int, int], colour: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def test_scan_is_recursive_sorted_and_case_insensitive(tmp_path: Path) -> None:
    _solid(tmp_path / "b" / "z.PNG", "RGB", (8, 8), (1, 2, 3))
    _solid(tmp_path / "a.png", "RGB", (8, 8), (1, 2, 3))
    _solid(tmp_path / "b" / "c" / "y.jpg", "RGB", (8, 8), (1, 2, 3))
    (tmp_path / "notes.txt").write_text("not an image")
    files = find_images(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.png", "b/c/y.jpg", "b/z.PNG"]


def test_grey_becomes_rgb(tmp_path: Path) -> None:
    _solid(tmp_path / "grey.png", "L", (12, 20), 64)
    x = ImageFolderDataset(tmp_path, image_size=8, channels=3)[0]
    assert x.shape == (3, 8, 8)
    torch.testing.assert_close(x, torch.full((3, 8, 8), 64 / 127.5 - 1))


def test_rgba_becomes_rgb_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red left half
    rgba[:, 4:] = (0, 0, 255, 0)  # fully transparent right half (its blue must not show)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    x = ImageFolderDataset(tmp_path, image_size=8, channels=3)[0]
    assert x.shape == (3, 8, 8)
    torch.testing.assert_close(x[:, :, :4], torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 8, 4))
    torch.testing.assert_close(x[:, :, 4:], torch.ones(3, 8, 4))


def test_palette_and_16_bit_images_and_grey_output(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (0, 255, 0)).convert("P").save(tmp_path / "a_palette.png")
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(tmp_path / "b_16bit.png")
    rgb = ImageFolderDataset(tmp_path, image_size=8, channels=3)
    torch.testing.assert_close(rgb[0], torch.tensor([-1.0, 1.0, -1.0])[:, None, None].expand(3, 8, 8))
    torch.testing.assert_close(rgb[1], torch.ones(3, 8, 8))
    grey = ImageFolderDataset(tmp_path, image_size=8, channels=1)
    assert grey[0].shape == (1, 8, 8)
    torch.testing.assert_close(grey[0], torch.full((1, 8, 8), 150 / 127.5 - 1))  # luma of pure green


def test_resize_shorter_side_and_centre_crop(tmp_path: Path) -> None:
    wide = np.zeros((16, 48, 3), dtype=np.uint8)
    wide[:, 16:32] = 255  # white middle third, black sides
    Image.fromarray(wide).save(tmp_path / "wide.png")
    x = ImageFolderDataset(tmp_path, image_size=8)[0]
    assert x.shape == (3, 8, 8)
    # 48x16 -> 24x8, centre crop keeps columns 8..15 of 24: the white third, exactly.
    torch.testing.assert_close(x[:, :, 2:6], torch.ones(3, 8, 4), atol=0.02, rtol=0)


def test_random_crop_moves_the_window(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (8, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    data = ImageFolderDataset(tmp_path, image_size=8, random_crop=True)
    torch.manual_seed(0)
    lefts = {round(float(data[0][0, 0, 0]), 4) for _ in range(20)}
    assert len(lefts) > 3
    centre = ImageFolderDataset(tmp_path, image_size=8)
    assert len({round(float(centre[0][0, 0, 0]), 4) for _ in range(5)}) == 1


def test_corrupt_file_error_names_the_path_and_how_to_skip(tmp_path: Path) -> None:
    _solid(tmp_path / "a.png", "RGB", (8, 8), (255, 0, 0))
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(UnreadableImageError) as info:
        ImageFolderDataset(tmp_path, image_size=8)  # found when the data set is built, not at data[1]
    message = str(info.value)
    assert "1 of the 2 image files" in message and "b.png" in message and str(tmp_path) in message
    assert "on_corrupt: skip" in message and "--data.init_args.on_corrupt=skip" in message
    assert isinstance(info.value, DataError) and "\n" not in message


def test_a_file_that_fails_only_when_read_is_still_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _solid(tmp_path / "a.png", "RGB", (8, 8), (255, 0, 0))
    bad = _solid(tmp_path / "b.png", "RGB", (8, 8), (0, 255, 0))
    data = ImageFolderDataset(tmp_path, image_size=8)
    bad.write_bytes(b"gone bad after the check")
    data[0]
    with pytest.raises(UnreadableImageError) as info:
        data[1]
    assert str(bad) in str(info.value)
    assert "on_corrupt='skip'" in str(info.value)


def _damaged_folder(root: Path, good: int = 3) -> list[str]:
    """``good`` + 1 good images and a damaged file of each kind; returns the damaged files' relative paths."""
    for i in range(good):
        _solid(root / f"good_{i}.png", "RGB", (16, 16), (i, 0, 0))
    _solid(root / "sub" / "good.jpg", "RGB", (64, 64), (1, 2, 3))
    noise = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    bad = ["notes.png", "empty.jpg"]
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp")):
        path = root / "sub" / f"truncated.{ext}"
        Image.fromarray(noise).save(path, fmt)
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        bad.append(f"sub/truncated.{ext}")
    (root / "notes.png").write_text("a text file with an image's name")
    (root / "empty.jpg").write_bytes(b"")
    return bad


def test_every_unreadable_file_is_named_in_one_error(tmp_path: Path) -> None:
    bad = _damaged_folder(tmp_path)
    with pytest.raises(UnreadableImageError) as info:
        ImageFolderDataset(tmp_path, image_size=8)
    message = str(info.value)
    assert f"{len(bad)} of the {len(bad) + 4} image files" in message
    for name in bad:
        assert name in message
    assert "good" not in message.split("cannot be read:")[1]


def test_check_image_folder_reports_counts_and_reasons(tmp_path: Path) -> None:
    bad = _damaged_folder(tmp_path, good=2)
    report = check_image_folder(tmp_path, workers=2)
    assert isinstance(report, CheckReport) and not report.ok
    assert len(report.files) == len(bad) + 3 and report.readable == 3
    assert sorted(p.relative_to(tmp_path).as_posix() for p, _ in report.unreadable) == sorted(bad)
    reasons = {p.name: r for p, r in report.unreadable}
    assert "truncated" in reasons["truncated.jpg"] and "cannot identify" in reasons["notes.png"]
    assert report.summary().endswith(f"{len(bad) + 3} image files, 3 readable, {len(bad)} unreadable")
    pngs = check_image_folder(tmp_path, extensions=["PNG"])  # without the dot, any case
    assert len(pngs.files) == 4 and [p.name for p, _ in pngs.unreadable] == ["notes.png", "truncated.png"]
    (tmp_path / "notes.png").unlink()
    (tmp_path / "sub" / "truncated.png").unlink()
    assert check_image_folder(tmp_path, extensions=[".png"]).ok
    assert check_image_folder(tmp_path, extensions=[".png"]).error() is None


def test_many_unreadable_files_are_counted_and_ten_named(tmp_path: Path) -> None:
    _solid(tmp_path / "ok.png", "RGB", (8, 8), (0, 0, 0))
    for i in range(25):
        (tmp_path / f"bad_{i:02d}.png").write_bytes(b"garbage")
    message = str(check_image_folder(tmp_path).error())
    assert "25 of the 26 image files" in message and "and 15 more" in message
    assert "bad_09.png" in message and "bad_10.png" not in message


def test_a_progress_bar_on_large_folders_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _solid(tmp_path / "ok.png", "RGB", (8, 8), (0, 0, 0))
    check_image_folder(tmp_path)
    assert "checking images" not in capsys.readouterr().err
    check_image_folder(tmp_path, progress=True)
    assert "checking images" in capsys.readouterr().err


def test_image_problem_accepts_every_good_format(tmp_path: Path) -> None:
    for fmt, ext in (
        ("PNG", "png"),
        ("JPEG", "jpg"),
        ("GIF", "gif"),
        ("BMP", "bmp"),
        ("WEBP", "webp"),
        ("TIFF", "tif"),
    ):
        path = tmp_path / f"a.{ext}"
        Image.new("RGB", (40, 30), (5, 6, 7)).save(path, fmt)
        assert image_problem(path) is None, fmt


def test_skip_mode_warns_once_per_file_and_returns_the_next_good_image(tmp_path: Path) -> None:
    _solid(tmp_path / "a.png", "RGB", (8, 8), (255, 0, 0))
    bad = tmp_path / "b.png"
    bad.write_bytes(b"garbage")
    _solid(tmp_path / "c.png", "RGB", (8, 8), (0, 0, 255))
    data = ImageFolderDataset(tmp_path, image_size=8, on_corrupt="skip")
    with pytest.warns(UserWarning, match=r"b\.png") as record:
        x = data[1]
    assert len(record) == 1
    torch.testing.assert_close(x, data[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(data[1], data[2])  # already known: no second warning


def test_skip_mode_with_no_readable_file_raises(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"garbage")
    data = ImageFolderDataset(tmp_path, image_size=8, on_corrupt="skip")
    with pytest.warns(UserWarning), pytest.raises(UnreadableImageError, match="None of the 1 image files"):
        data[0]


def test_empty_folder_error_names_folder_extensions_and_option(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ConfigError) as info:
        ImageFolderDataset(tmp_path)
    message = str(info.value)
    assert str(tmp_path.resolve()) in message
    assert ".png" in message and ".jpg" in message
    assert "data.init_args.root" in message and info.value.exit_code == 2


def test_missing_folder_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*data\.init_args\.root"):
        ImageFolderDataset(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not exist"):
        check_image_folder(tmp_path / "nowhere")
