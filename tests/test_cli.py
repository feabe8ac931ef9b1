"""The command line, called in-process as users call it from the shell."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from gan_upsample import cli
from gan_upsample.__main__ import main

QUICKSTART = str(Path(__file__).parents[1] / "configs" / "quickstart.yaml")


def tiny(tmp_path: Path, *extra: str) -> list[str]:
    """Quickstart shrunk to seconds: 8 px, 4 channels, 64 images, logs under tmp_path."""
    return [
        "--config",
        QUICKSTART,
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--model.init_args.generator.init_args.image_size=8",
        "--model.init_args.generator.init_args.base_channels=4",
        "--model.init_args.discriminator.init_args.image_size=8",
        "--model.init_args.discriminator.init_args.base_channels=4",
        "--data.init_args.image_size=8",
        "--data.init_args.num_train=64",
        "--data.init_args.num_val=16",
        "--data.init_args.batch_size=16",
        *extra,
    ]


def test_help_lists_subcommands_and_own_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("fit", "validate", "test", "predict", "generate", "checkerboard"):
        assert word in out


def test_fit_help_documents_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--model.help", "GANModule"])
    out = capsys.readouterr().out
    assert "d_steps_per_g_step" in out and "Discriminator steps per generator step" in out


def test_fast_dev_run_fit(tmp_path: Path) -> None:
    main(["fit", *tiny(tmp_path, "--trainer.fast_dev_run=true")])


def test_fit_saves_config_then_generate_writes_pngs(tmp_path: Path) -> None:
    main(["fit", *tiny(tmp_path, "--trainer.max_epochs=1")])
    run = next(tmp_path.glob("quickstart/version_*"))
    assert (run / "config.yaml").is_file()
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    assert list((run / "images" / "samples").glob("step_*.png"))
    out = tmp_path / "generated"
    main(["generate", "--ckpt_path", str(ckpt), "--num", "10", "--out", str(out), "--batch_size", "4"])
    pngs = sorted(out.glob("0*.png"))
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(10)]
    assert Image.open(pngs[0]).size == (8, 8)
    # The project's grid: square (4 x 3 images of 8 px), padded black like every other grid.
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (3 * 10 + 2, 4 * 10 + 2, 3) and not grid[:2].any() and not grid[:, :2].any()

    # Deterministic: the same seed and batch size give the same images, another seed others.
    again, other = tmp_path / "again", tmp_path / "other"
    main(["generate", "--ckpt_path", str(ckpt), "--num", "10", "--out", str(again), "--batch_size", "4"])
    main(["generate", "--ckpt_path", str(ckpt), "--num", "4", "--out", str(other), "--seed", "1", "--batch_size", "4"])
    assert all(p.read_bytes() == (again / p.name).read_bytes() for p in pngs)
    assert (other / "00000.png").read_bytes() != pngs[0].read_bytes()


def test_swap_upsampler_by_short_name(tmp_path: Path) -> None:
    from gan_upsample.cli import GanUpsampleCLI
    from gan_upsample.nn.upsamplers import PixelDCL

    up = "--model.init_args.generator.init_args.upsampler"
    cli = GanUpsampleCLI(args=tiny(tmp_path, f"{up}=PixelDCL", f"{up}.init_args.kernel_size=5"), run=False)
    layers = [m for m in cli.model.generator.modules() if isinstance(m, PixelDCL)]
    assert len(layers) == 1 and layers[0].kernel_size == 5


def test_wrong_config_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny(tmp_path, "--model.init_args.generator.init_args.latent_dimm=3")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "latent_dimm" in err and "Traceback" not in err and "usage:" not in err


def test_abbreviated_option_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's prefix matching would read --trainer.max_epoch as --trainer.max_epochs without a word.
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny(tmp_path, "--trainer.max_epoch=3")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--trainer.max_epoch=3" in err and "Traceback" not in err


@pytest.mark.parametrize("section", ["model.init_args.generater", "data.init_args.batch_sise", "trainer.max_epoch"])
def test_misspelt_key_with_empty_value_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str
) -> None:
    # jsonargparse drops an empty mapping under an unknown key silently; the default would be used instead.
    tree: dict = {}
    node = tree
    for key in section.split(".")[:-1]:
        node = node.setdefault(key, {})
    node[section.split(".")[-1]] = {}
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(tree))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny(tmp_path, "--config", str(wrong))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"key '{section}' is not an option" in err and "wrong.yaml" in err and "Traceback" not in err


def test_empty_value_under_a_real_key_is_accepted() -> None:
    config = cli.GanUpsampleCLI(
        args=["--config", QUICKSTART, "--config", yaml.safe_dump({"model": {"init_args": {"generator": {}}}})],
        run=False,
    ).config
    assert config["model.init_args.generator.class_path"].endswith("DCGANGenerator")


def test_unreachable_image_size_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fit", *tiny(tmp_path, "--model.init_args.generator.init_args.image_size=48")])
    assert info.value.code == 2
    assert re.search("cannot reach image_size=48.*one of 8, 16, 32, 64", capsys.readouterr().err)


def test_generate_without_checkpoint_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "--ckpt_path", str(tmp_path / "missing.ckpt")])
    assert info.value.code == 2
    assert "missing.ckpt (--ckpt_path) does not exist" in capsys.readouterr().err


def test_shape_census_scores_a_folder_beside_reals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gan_upsample.data.shapes import BrightShapes

    folder = tmp_path / "generated"
    folder.mkdir()
    shapes = BrightShapes(32, 6, seed=5, max_shapes=1)
    for i in range(6):
        shapes.render(i)[0].save(folder / f"{i:05d}.png")
    Image.new("RGB", (100, 100), (200, 0, 0)).save(folder / "grid.png")  # generate's grid is not an image scored
    main(["shape-census", str(folder), "--num_real", "16"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| images | n | recognised")
    assert lines[0].endswith("| disc | square | triangle | stripes |")
    assert lines[2].startswith("| real bright shapes (1-2 per image) | 16 | ")
    assert lines[3].startswith(f"| {folder} | 6 | ")
    with pytest.raises(SystemExit) as info:
        main(["shape-census", str(tmp_path / "nowhere")])
    assert info.value.code == 2
    assert "nowhere is not a folder" in capsys.readouterr().err


def test_fetch_weights_lists_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    main(["fetch-weights", "--list"])
    out = capsys.readouterr().out
    for name in ("alexnet", "vgg16", "vgg19", "inception-fid"):
        assert name in out
    assert out.count("missing") == 4 and str(tmp_path) in out


def test_fetch_weights_offline_error_says_where_to_put_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from urllib.error import URLError

    import torch

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(SystemExit) as info:
        main(["fetch-weights", "--only", "alexnet"])
    assert info.value.code == 1
    message = capsys.readouterr().err
    assert "ImageNet weights of alexnet" in message and "could not be downloaded" in message
    assert (
        f"put the file alexnet-owt-7be5be79.pth in the folder\n        {tmp_path / 'hub' / 'checkpoints'}\n" in message
    )


def test_fetch_weights_skips_present_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("must not download"))
    main(["fetch-weights", "--only", "vgg16"])
    assert "present" in capsys.readouterr().out


def test_cli_trainer_writes_checkpoints_atomically(tmp_path: Path) -> None:
    from gan_upsample.cli import GanUpsampleCLI
    from gan_upsample.plugins import AtomicCheckpointIO

    cli = GanUpsampleCLI(args=tiny(tmp_path), run=False)
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)


DEEPSIM_CPU_CONFIGS = sorted(
    p.stem for p in (Path(__file__).parents[1] / "configs").glob("deepsim_*.yaml") if p.stem.endswith("_natural")
)


def test_every_cpu_deepsim_config_is_fast_dev_run() -> None:
    assert {"deepsim_autoencoder_natural", "deepsim_vae_natural", "deepsim_inversion_alexnet_natural"} <= set(
        DEEPSIM_CPU_CONFIGS
    )


@pytest.mark.parametrize("config", DEEPSIM_CPU_CONFIGS)
def test_deepsim_configs_fast_dev_run(tmp_path: Path, config: str) -> None:
    path = Path(__file__).parents[1] / "configs" / f"{config}.yaml"
    main(
        [
            "fit",
            "--config",
            str(path),
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.fast_dev_run=true",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            "--data.init_args.batch_size=4",
            "--data.init_args.num_train=8",
            "--data.init_args.num_val=4",
        ]
    )


def test_predict_writes_pngs_for_a_paired_model(tmp_path: Path) -> None:
    path = Path(__file__).parents[1] / "configs" / "deepsim_autoencoder_natural.yaml"
    common = [
        "--config",
        str(path),
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--data.init_args.batch_size=4",
        "--data.init_args.num_train=8",
        "--data.init_args.num_val=6",
    ]
    main(["fit", *common, "--trainer.max_epochs=1"])
    ckpt = next(tmp_path.rglob("last.ckpt"))
    out = tmp_path / "pred"
    main(
        [
            "predict",
            *common,
            "--trainer.callbacks=gan_upsample.callbacks.PredictionWriter",
            f"--trainer.callbacks.output_dir={out}",
            "--ckpt_path",
            str(ckpt),
        ]
    )
    assert len(list(out.glob("0*.png"))) == 6
    assert (out / "grid.png").is_file()

    # generate runs the same predict machinery on the first --num images of the data module's predict set.
    generated = tmp_path / "generated"
    main(["generate", "--ckpt_path", str(ckpt), "--num", "5", "--out", str(generated), "--batch_size", "2"])
    assert sorted(p.name for p in generated.glob("0*.png")) == [f"{i:05d}.png" for i in range(5)]
    assert all((generated / f"{i:05d}.png").read_bytes() == (out / f"{i:08d}.png").read_bytes() for i in range(5))


def test_vae_generate_writes_reconstructions_or_prior_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``generate`` on a VAE: reconstructions of the data by default, decoded N(0, I) codes with --source prior."""
    path = Path(__file__).parents[1] / "configs" / "deepsim_vae_natural.yaml"
    main(
        [
            "fit",
            "--config",
            str(path),
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=0",
            "--data.init_args.image_size=32",
            "--data.init_args.batch_size=4",
            "--data.init_args.num_train=8",
            "--data.init_args.num_val=6",
        ]
    )
    ckpt = next(tmp_path.rglob("last.ckpt"))
    outs = {}
    for source in ("data", "prior"):
        out = tmp_path / source
        main(
            [
                "generate",
                "--ckpt_path",
                str(ckpt),
                "--num",
                "5",
                "--out",
                str(out),
                "--batch_size",
                "2",
                "--source",
                source,
            ]
        )
        assert sorted(p.name for p in out.glob("0*.png")) == [f"{i:05d}.png" for i in range(5)]
        assert np.asarray(Image.open(out / "00000.png")).shape == (32, 32, 3)
        outs[source] = [(out / f"{i:05d}.png").read_bytes() for i in range(5)]
    assert outs["data"] != outs["prior"]
    default = tmp_path / "default"
    main(["generate", "--ckpt_path", str(ckpt), "--num", "5", "--out", str(default), "--batch_size", "2"])
    assert [(default / f"{i:05d}.png").read_bytes() for i in range(5)] == outs["data"]  # a VAE is paired
    again = tmp_path / "again"
    main(
        [
            "generate",
            "--ckpt_path",
            str(ckpt),
            "--num",
            "5",
            "--out",
            str(again),
            "--batch_size",
            "2",
            "--source",
            "prior",
        ]
    )
    assert [(again / f"{i:05d}.png").read_bytes() for i in range(5)] == outs["prior"]  # seeded

    # the interpolation figure: 2 rows of image, 4 codes, image
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "deepsim_vae_interpolate.py"))
    figure = script["main"](
        ["--ckpt_path", str(ckpt), "--pairs", "0:1", "2:3", "--steps", "4", "--out", str(tmp_path / "i.png")]
    )
    assert np.asarray(Image.open(figure)).shape == (2 + 2 * 34, 2 + 6 * 34, 3)


def test_generate_prior_of_a_model_without_one_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parents[1] / "configs" / "deepsim_autoencoder_natural.yaml"
    common = ["--config", str(path), f"--trainer.logger.init_args.save_dir={tmp_path}", "--trainer.callbacks=null"]
    main(
        [
            "fit",
            *common,
            "--trainer.max_steps=1",
            "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false",
            "--data.init_args.image_size=32",
            "--data.init_args.batch_size=4",
            "--data.init_args.num_train=4",
            "--data.init_args.num_val=2",
            "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.save_last=true",
        ]
    )
    ckpt = next(tmp_path.rglob("last.ckpt"))
    with pytest.raises(SystemExit) as info:
        main(["generate", "--ckpt_path", str(ckpt), "--num", "2", "--out", str(tmp_path / "g"), "--source", "prior"])
    assert info.value.code == 2
    assert "DeePSiMModule has no prior to sample" in capsys.readouterr().err


def test_upsampler_shorthand_stands_for_the_fragment(tmp_path: Path) -> None:
    from gan_upsample.cli import GanUpsampleCLI
    from gan_upsample.fragments import expand_upsampler_option
    from gan_upsample.nn.upsamplers import TransposedConv

    args = expand_upsampler_option(tiny(tmp_path, "--upsampler=transposed_conv_k3"))
    assert args[-2:] == ["--config", str(Path(QUICKSTART).parent / "upsampler" / "transposed_conv_k3.yaml")]
    assert expand_upsampler_option(["--upsampler", "pixel_dcl"])[-1].endswith("pixel_dcl.yaml")
    cli = GanUpsampleCLI(args=args, run=False)
    (layer,) = [m for m in cli.model.generator.modules() if isinstance(m, TransposedConv)]
    assert layer.kernel_size == 3


def test_study_commands_point_to_the_entry_point() -> None:
    with pytest.raises(SystemExit, match="python -m gan_upsample checkerboard"):
        cli.main(["checkerboard"])


def test_entry_point_runs_the_cli_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from gan_upsample.__main__ import main as entry_point

    with pytest.raises(SystemExit) as info:
        entry_point(["--help"])
    assert info.value.code == 0
    assert "fetch-weights" in capsys.readouterr().out


def test_cli_imports_nothing_from_the_studies() -> None:
    """The studies build their runs with GanUpsampleCLI: the CLI must not import them back."""
    import subprocess
    import sys

    code = (
        "import sys, gan_upsample.cli, gan_upsample.__main__; "
        "print([m for m in sys.modules if m.startswith('gan_upsample.studies')])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_unknown_upsampler_shorthand_lists_the_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fit", *tiny(tmp_path, "--upsampler=pixelshuffle")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "pixelshuffle" in err and "pixel_shuffle_icnr" in err


def test_study_subcommand_reaches_the_upsampler_study(capsys: pytest.CaptureFixture[str]) -> None:
    from gan_upsample.__main__ import main as entry_point

    with pytest.raises(SystemExit) as info:
        entry_point(["study", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "python -m gan_upsample study" in out and "--base" in out and "--seeds" in out
