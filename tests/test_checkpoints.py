"""Tests of gan_upsample.checkpoints on real checkpoints of the tiny quickstart: missing, damaged, another model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from gan_upsample.checkpoints import check_checkpoint, loadable_checkpoints, read_checkpoint
from gan_upsample.cli import GanUpsampleCLI, main
from gan_upsample.errors import CheckpointError, ConfigError, find_user_error

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")
SMALL = ["--data.init_args.num_train=32", "--data.init_args.num_val=16", "--trainer.enable_progress_bar=false"]


_TRAINED: list[Path] = []


@pytest.fixture
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_quickstart: list[str]) -> Path:
    """A run folder of the tiny quickstart after two epochs: config.yaml, checkpoints/{epoch=1-step=N,last}.ckpt.

    Trained once per session (the tests work on copies).
    """
    if not _TRAINED:
        save_dir = tmp_path_factory.mktemp("runs")
        main(
            ["fit", "--config", QUICKSTART, *tiny_quickstart, *SMALL, "--trainer.max_epochs=2"]
            + [f"--trainer.logger.init_args.save_dir={save_dir}", "--trainer.logger.init_args.name=q"]
        )
        _TRAINED.append(save_dir / "q" / "version_0")
    return _TRAINED[0]


@pytest.fixture
def run(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of :func:`trained_run` with three checkpoints of known age: old.ckpt < epoch=1-step=2.ckpt < last."""
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    ckpts = run / "checkpoints"
    shutil.copy(ckpts / "last.ckpt", ckpts / "old.ckpt")
    next(ckpts.glob("epoch=*.ckpt")).rename(ckpts / "epoch=1-step=2.ckpt")  # a fixed name for the assertions
    for age, name in enumerate(["last.ckpt", "epoch=1-step=2.ckpt", "old.ckpt"]):
        os.utime(ckpts / name, (1e9 - 100 * age, 1e9 - 100 * age))
    return run


@pytest.fixture
def cli_for(tiny_quickstart: list[str]):
    """The tiny quickstart's CLI (model and parsed config) with ``overrides``, not run."""

    def build(*overrides: str) -> GanUpsampleCLI:
        return GanUpsampleCLI(args=["--config", QUICKSTART, *tiny_quickstart, *overrides], run=False)

    return build


def test_the_fixture_holds_what_the_tests_assume(run: Path) -> None:
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch=1-step=2.ckpt", "last.ckpt", "old.ckpt"]
    assert (run / "config.yaml").is_file()


def test_a_good_checkpoint_of_the_same_model_passes(run: Path, cli_for) -> None:
    cli = cli_for()
    check_checkpoint(run / "checkpoints" / "last.ckpt", cli.model, cli.config)
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] > 0


def test_missing_checkpoint_is_a_config_error_listing_the_folder_newest_first(run: Path) -> None:
    with pytest.raises(ConfigError) as info:
        check_checkpoint(run / "checkpoints" / "lats.ckpt")
    message = str(info.value)
    assert "lats.ckpt (--ckpt_path) does not exist" in message
    assert message.index("last.ckpt") < message.index("epoch=1-step=2.ckpt") < message.index("old.ckpt")
    with pytest.raises(ConfigError, match="does not exist either"):
        check_checkpoint(run / "nowhere" / "last.ckpt")


def test_lightning_keywords_are_left_to_lightning(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run)
    check_checkpoint("last")  # Lightning resolves "last", "best", ... itself


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda b: b[: len(b) // 2], "truncated (PyTorch: failed finding central directory)"),
        (lambda b: b[:-10], "truncated"),
        (lambda b: b"this is no checkpoint\n" * 10, "not a checkpoint at all"),
        (lambda b: b"", "it is empty"),
    ],
)
def test_damaged_checkpoint_lists_the_others_that_load_newest_first(run: Path, damage, words: str) -> None:
    ckpts = run / "checkpoints"
    last = ckpts / "last.ckpt"
    last.write_bytes(damage(last.read_bytes()))
    (ckpts / "epoch=1-step=2.ckpt").write_bytes(b"garbage")  # damaged too: must not be offered
    with pytest.raises(CheckpointError) as info:
        check_checkpoint(last)
    message = str(info.value)
    assert f"checkpoint {last} cannot be loaded" in message and words in message
    assert "load, newest first: " in message and str(ckpts / "old.ckpt") in message
    assert "epoch=1-step=2" not in message
    assert "\n" not in message
    assert loadable_checkpoints(ckpts) == [ckpts / "old.ckpt"]


def test_damaged_checkpoint_without_a_good_one(run: Path) -> None:
    for ckpt in (run / "checkpoints").iterdir():
        ckpt.write_bytes(b"PK\x03\x04 and then nothing")
    with pytest.raises(CheckpointError, match="truncated.*no other checkpoint of this run loads"):
        check_checkpoint(run / "checkpoints" / "last.ckpt")


def test_checkpoint_of_a_wider_model_names_the_option_not_the_tensors(run: Path, cli_for) -> None:
    cli = cli_for("--model.init_args.generator.init_args.base_channels=8")
    with pytest.raises(CheckpointError) as info:
        check_checkpoint(run / "checkpoints" / "last.ckpt", cli.model, cli.config)
    message = str(info.value)
    assert "was written by a different model" in message
    assert "model.init_args.generator.init_args.base_channels: 4 in the checkpoint, 8 in the config" in message
    assert "discriminator" not in message and "weight" not in message  # only what differs, no tensor names
    assert f"--config {run / 'config.yaml'}" in message


def test_checkpoint_of_another_upsampler_names_the_class(run: Path, cli_for) -> None:
    cli = cli_for("--model.init_args.generator.init_args.upsampler=TransposedConv")
    with pytest.raises(CheckpointError, match=r"upsampler\.class_path: 'PixelShuffle' in the checkpoint"):
        check_checkpoint(run / "checkpoints" / "last.ckpt", cli.model, cli.config.as_dict())


def test_without_the_run_config_the_differing_tensors_are_named(run: Path, cli_for) -> None:
    (run / "config.yaml").unlink()
    cli = cli_for("--model.init_args.discriminator.init_args.base_channels=8")
    with pytest.raises(CheckpointError) as info:
        check_checkpoint(run / "checkpoints" / "last.ckpt", cli.model, cli.config)
    message = str(info.value)
    assert "does not fit the model (no run config.yaml" in message
    assert "discriminator.net.0.weight: (4, 3, 4, 4) in the checkpoint, (8, 3, 4, 4) in the model" in message
    assert "in the checkpoint" in message and "generator" not in message


def test_fit_from_a_missing_checkpoint_fails_with_the_config_error(
    run: Path, tmp_path: Path, tiny_quickstart: list[str]
) -> None:
    # Through the real CLI: the trainer loads --ckpt_path through AtomicCheckpointIO (LightningCLI's own parse-time
    # torch.load skips paths that are not files).
    missing = run / "checkpoints" / "nope.ckpt"
    args = ["fit", "--config", QUICKSTART, *tiny_quickstart, *SMALL, f"--ckpt_path={missing}"]
    with pytest.raises(BaseException) as info:
        main([*args, f"--trainer.logger.init_args.save_dir={tmp_path}"])
    error = find_user_error(info.value)
    assert isinstance(error, ConfigError), info.value
    assert f"{missing} (--ckpt_path) does not exist" in str(error) and "last.ckpt" in str(error)


def test_read_checkpoint_returns_the_tensors(run: Path) -> None:
    checkpoint = read_checkpoint(run / "checkpoints" / "last.ckpt")
    assert all(isinstance(v, torch.Tensor) for v in checkpoint["state_dict"].values())
