"""The gauntlet: a user's mistakes through the real entry point end in one clear line, not a traceback.

Each case runs ``gan_upsample.__main__.main`` (what ``python -m gan_upsample`` runs) in-process and asserts
the exit status (2: a wrong configuration; 1: a failure at run time), that stderr names the culprit, and
that it is one ``error:`` line without a traceback or a configuration dump. Two cases also run a real
process, and ``--debug`` brings the traceback back.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan_upsample.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
# conftest.py by path: a package named ``tests`` installed by a dependency would shadow ``tests.conftest``.
_spec = importlib.util.spec_from_file_location("_gauntlet_conftest", Path(__file__).with_name("conftest.py"))
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
TINY_QUICKSTART = _conftest.TINY_QUICKSTART
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
DEEPSIM = str(ROOT / "configs" / "deepsim_autoencoder_natural.yaml")


@pytest.fixture(autouse=True)
def _logging_to_this_tests_stderr() -> None:
    """Lightning's log handlers keep the stderr of the test that first imported it; point them at this one's."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.stream = sys.stderr  # setStream would flush the closed stream first


def quick(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        QUICKSTART,
        *TINY_QUICKSTART,
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.max_steps=2",
        "--data.init_args.num_train=32",
        "--data.init_args.num_val=8",
        "--data.init_args.batch_size=8",
        *extra,
    ]


def deepsim(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        DEEPSIM,
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.max_steps=1",
        *extra,
    ]


def fails(capsys: pytest.CaptureFixture[str], args: list[str], code: int, *culprits: str) -> str:
    """Run ``args``; assert the exit code, one ``error:`` line naming every culprit, and no traceback."""
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    assert info.value.code == code, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    # The message is the error line (an offline-weights message adds indented instructions below it).
    message = err[err.index("error:") :]
    for culprit in culprits:
        assert culprit in message, (culprit, message)
    assert "Traceback" not in err and "Given value" not in err and "usage:" not in err
    return lines[0]


CONFIG_CASES = {
    "unknown option": (["--model.init_args.generator.init_args.latent_dimm=3"], ["latent_dimm", "not accepted"]),
    "wrong type": (["--trainer.max_epochs=many"], ["max_epochs"]),
    "unreachable image size": (["--model.init_args.generator.init_args.image_size=12"], ["image_size=12", "one of 8"]),
    "discriminator size": (
        ["--model.init_args.discriminator.init_args.image_size=16"],
        ["discriminator.init_args.image_size is 16", "data.init_args.image_size"],
    ),
    "data size": (["--data.init_args.image_size=16"], ["image_size is 8", "16x16", "data.init_args.image_size"]),
    "data channels": (
        ["--data.init_args.channels=1"],
        ["generator.init_args.channels is 3", "data.init_args.channels"],
    ),
    "batch size 0": (["--data.init_args.batch_size=0"], ["batch_size", "got 0"]),
    "unknown upsampler name": (["--upsampler", "pixelshufle"], ["pixelshufle", "pixel_shuffle_icnr"]),
    "upsampler without name": (["--upsampler"], ["--upsampler needs a name"]),
    "even kernel for PixelDCL": (
        ["--upsampler", "pixel_dcl", "--model.init_args.generator.init_args.upsampler.init_args.kernel_size=4"],
        ["PixelDCL", "kernel_size", "4"],
    ),
    "bad ema decay": (["--model.init_args.ema_decay=1.5"], ["ema_decay", "1.5"]),
    "negative r1": (["--model.init_args.r1_gamma=-1"], ["r1_gamma"]),
    "unknown loss": (["--model.init_args.loss=Wasserstein"], ["loss", "Wasserstein"]),
    "missing config file": (["--config", "no_such_experiment.yaml"], ["no_such_experiment.yaml"]),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_configuration_mistakes(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra, culprits = CONFIG_CASES[case]
    fails(capsys, quick(tmp_path, *extra), 2, *culprits)


def test_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    fails(capsys, quick(tmp_path, "--config", str(broken)), 2, "broken.yaml")


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["fitt"], 2, "fitt")


def test_deepsim_without_comparator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, deepsim(tmp_path, "--model.init_args.comparator=null"), 2, "lambda_feat > 0 needs a comparator")


def test_deepsim_negative_weight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, deepsim(tmp_path, "--model.init_args.lambda_img=-1"), 2, "lambda_img")


def test_colorization_generator_with_rgb_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = deepsim(tmp_path, "--model.init_args.task=Colorization")
    fails(capsys, args, 2, "in_channels is 3", "Colorization", "in_channels: 1")


def test_lpips_on_a_gan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    callbacks = tmp_path / "lpips.yaml"
    callbacks.write_text(
        "trainer:\n  callbacks:\n    - class_path: gan_upsample.callbacks.LPIPS\n"
        "      init_args: {pretrained_backbone: false}\n"
    )
    fails(capsys, quick(tmp_path, "--config", str(callbacks)), 2, "LPIPS", "paired module", "GANModule")


def test_imagenet_weights_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from urllib.error import URLError

    import torch

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("no network in this test")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    args = deepsim(tmp_path, "--model.init_args.comparator.init_args.weights=imagenet")
    fails(capsys, args, 1, "ImageNet weights of alexnet", "fetch-weights")


def test_generate_without_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["generate", "--ckpt_path", str(tmp_path / "none.ckpt")], 2, "none.ckpt", "does not exist")


def test_fetch_weights_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["fetch-weights", "--only", "resnet"], 2, "resnet", "alexnet")


def test_study_unknown_upsampler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["study", "--upsamplers", "nope", "--out", str(tmp_path)], 2, "nope")


def test_nonfinite_losses_stop_with_the_cause(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = quick(
        tmp_path,
        "--trainer.max_steps=40",
        "--model.init_args.max_nonfinite_steps=2",
        "--model.init_args.optimizer_d=torch.optim.SGD",
        "--model.init_args.optimizer_d.init_args.lr=1e30",
    )
    fails(capsys, args, 1, "non-finite losses", "--ckpt_path")


def _process(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", **env}
    return subprocess.run(
        [sys.executable, "-m", "gan_upsample", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_real_process_prints_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    args = quick(tmp_path, "--data.init_args.image_size=16")
    plain = _process(args, tmp_path)
    assert plain.returncode == 2
    assert "error: model.init_args" in plain.stderr and "Traceback" not in plain.stderr
    debug = _process([*args, "--debug"], tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr
    env_debug = _process(args, tmp_path, GAN_UPSAMPLE_DEBUG="1")
    assert "Traceback" in env_debug.stderr


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import gan_upsample.cli

    def broken(argv: list[str] | None = None) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(gan_upsample.cli, "main", broken)
    with pytest.raises(ZeroDivisionError):
        main(["fit"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny quickstart run with checkpoints (its folder)."""
    root = tmp_path_factory.mktemp("run")
    main(quick(root, "--trainer.logger.init_args.version=v", "--trainer.max_epochs=1", "--trainer.max_steps=-1"))
    return root / "quickstart" / "v"


def test_fit_from_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: Path) -> None:
    missing = finished_run / "checkpoints" / "lats.ckpt"
    fails(capsys, quick(tmp_path, f"--ckpt_path={missing}"), 2, "lats.ckpt", "does not exist", "last.ckpt")


def test_fit_from_a_truncated_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: Path
) -> None:
    data = (finished_run / "checkpoints" / "last.ckpt").read_bytes()
    truncated = finished_run / "checkpoints" / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    try:
        fails(capsys, quick(tmp_path, f"--ckpt_path={truncated}"), 1, "truncated.ckpt", "truncated", "last.ckpt")
    finally:
        truncated.unlink()


def test_fit_from_a_checkpoint_of_another_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: Path
) -> None:
    wider = quick(tmp_path, "--model.init_args.generator.init_args.base_channels=8")
    last = finished_run / "checkpoints" / "last.ckpt"
    fails(capsys, [*wider, f"--ckpt_path={last}"], 1, "different model", "base_channels: 4 in the checkpoint, 8")


def _folder_args(tmp_path: Path, root: Path) -> list[str]:
    return quick(
        tmp_path, "--data=ImageFolderDataModule", f"--data.init_args.root={root}", "--data.init_args.image_size=8"
    )


def test_image_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, _folder_args(tmp_path, tmp_path / "nowhere"), 2, "nowhere", "does not exist", "data.init_args.root")


def test_image_folder_without_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    fails(capsys, _folder_args(tmp_path, tmp_path / "empty"), 2, "No image files", "data.init_args.root")


def _folder_with_two_broken_files(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "bad.png").write_bytes(b"not a png")
    (folder / "bad.jpg").write_bytes(b"")
    return folder


def test_image_folder_with_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_with_two_broken_files(tmp_path)
    fails(capsys, _folder_args(tmp_path, folder), 1, "2 of the 8", "bad.png", "bad.jpg", "on_corrupt")


def test_check_data_names_every_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_with_two_broken_files(tmp_path)
    config = tmp_path / "folder.yaml"
    config.write_text(f"data:\n  class_path: ImageFolderDataModule\n  init_args: {{root: {folder}, image_size: 32}}\n")
    fails(capsys, ["check-data", "--config", QUICKSTART, "--config", str(config)], 1, "bad.png", "bad.jpg")
