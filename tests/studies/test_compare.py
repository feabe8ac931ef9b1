"""The upsampler comparison (issue 7): a real tiny study end to end, and its parts one by one."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from PIL import Image

from gan_upsample.callbacks.fid import _state_digest
from gan_upsample.studies import compare
from gan_upsample.studies.compare import (
    EvalSettings,
    StudyError,
    adapt_fragment,
    aggregate,
    main,
    plan_runs,
    preflight,
    read_test_metrics,
    resolve_upsamplers,
    run_overrides,
)
from gan_upsample.studies.evaluation import RandomCNN, ReconstructionFID

CONFIGS = Path(__file__).parents[2] / "configs"


def tiny_base(tmp_path: Path) -> Path:
    """The quickstart shrunk to seconds: 8 px, 4 channels, one epoch, small evaluation sets."""
    cfg = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    cfg["trainer"].update({"max_epochs": 1, "log_every_n_steps": 2, "enable_model_summary": False})
    grid, ckpt = cfg["trainer"]["callbacks"]
    grid["init_args"].update({"num_samples": 16, "every_n_steps": 0})
    ckpt["init_args"].update({"every_n_epochs": 1})
    gen = cfg["model"]["init_args"]["generator"]["init_args"]
    gen.update({"latent_dim": 8, "image_size": 8, "base_channels": 4})
    cfg["model"]["init_args"]["discriminator"]["init_args"].update({"image_size": 8, "base_channels": 4})
    cfg["data"]["init_args"].update({"image_size": 8, "batch_size": 16, "num_train": 256, "num_val": 32})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_study_trains_each_upsampler_then_skips_finished_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    args = [
        "--base",
        str(tiny_base(tmp_path)),
        "--upsamplers",
        "resize_conv",
        "transposed_conv_k3",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--fid_cache_dir",
        str(tmp_path / "fid"),
        "--warmup_batches",
        "1",
        "--checkerboard_images",
        "32",
        "--data.init_args.num_train=64",  # passed through to fit: 4 batches of 16
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.count("training ...") == 2 and "skipped" not in first

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["upsampler"] for r in rows] == ["resize_conv", "transposed_conv_k3"]
    for row in rows:
        for key in ("fid_32_randomcnn", "spectral_excess_db", "phase_imbalance", "train_images_per_s", "peak_rss_mb"):
            assert math.isfinite(float(row[key])), (row["upsampler"], key, row[key])
        assert float(row["train_images_per_s"]) > 0 and float(row["peak_rss_mb"]) > 100
        assert float(row["cpu_utilisation"]) > 0
        assert int(float(row["g_steps"])) == 4  # the pass-through option reached fit
    summary = (out / "summary.md").read_text()
    assert "resize_conv" in summary and "transposed_conv_k3" in summary and "RandomCNN" in summary
    assert "FID, 32 images" in summary
    for png in ("samples.png", "spectra.png"):
        width, height = Image.open(out / png).size
        assert width > 300 and height > 200
    # The real statistics were extracted once and reused by the second run.
    assert len(list((tmp_path / "fid").glob("*.pt"))) == 1

    results = sorted(out.glob("runs/*/seed0/result.json"))
    assert len(results) == 2
    stamps = [p.stat().st_mtime_ns for p in results]
    assert main(args) == 0
    second = capsys.readouterr().out
    assert second.count("skipped (finished earlier") == 2 and "training ..." not in second
    assert [p.stat().st_mtime_ns for p in results] == stamps

    # Another budget in the same folder would mix budgets in one table: refused, nothing trained.
    assert main([*args, "--max_epochs", "3"]) == 2
    assert "max_epochs" in capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in results] == stamps


def test_aggregate_mean_and_sample_sd_over_seeds() -> None:
    rows = [
        {"upsampler": "a", "seed": 0, "fid": 1.0, "x": 2.0},
        {"upsampler": "b", "seed": 0, "fid": 5.0, "x": float("nan")},
        {"upsampler": "a", "seed": 1, "fid": 3.0, "x": None},
        {"upsampler": "a", "seed": 2, "fid": 8.0},
    ]
    a, b = aggregate(rows, ["fid", "x"])
    assert a["upsampler"] == "a" and a["n_seeds"] == 3 and b["n_seeds"] == 1
    assert a["fid_mean"] == pytest.approx(4.0)
    assert a["fid_sd"] == pytest.approx(math.sqrt(((1 - 4) ** 2 + (3 - 4) ** 2 + (8 - 4) ** 2) / 2))
    assert a["x_mean"] == 2.0 and math.isnan(a["x_sd"])  # one value: no spread
    assert b["fid_mean"] == 5.0 and math.isnan(b["fid_sd"])
    assert math.isnan(b["x_mean"])  # a diverged run is not hidden
    table = compare.markdown_table([a, b], [("fid", "FID", ".2f")])
    assert "| a | 3 | 4.00 ± 3.61 |" in table and "| b | 1 | 5.00 |" in table


def test_unknown_upsampler_and_missing_base_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(StudyError, match="unknown upsampler 'nope'; choose from: .*resize_conv"):
        resolve_upsamplers(["resize_conv", "nope"])
    with pytest.raises(StudyError, match="given twice"):
        resolve_upsamplers(["resize_conv", str(CONFIGS / "upsampler" / "resize_conv.yaml")])
    assert [n for n, _ in resolve_upsamplers(None)] == sorted(p.stem for p in (CONFIGS / "upsampler").glob("*.yaml"))

    base = str(CONFIGS / "quickstart.yaml")
    assert main(["--base", base, "--upsamplers", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown upsampler 'nope'" in err and "pixel_dcl" in err
    assert main(["--base", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was written


def test_plan_skips_finished_resumes_checkpointed_and_refuses_other_settings(tmp_path: Path) -> None:
    mine = {"base": "b.yaml", "seed": 0, "max_epochs": 2, "wandb": False}
    combos = [("done", 0), ("half", 0), ("stale", 0), ("new", 0)]
    prints = {c: mine for c in combos}
    for name, files in {
        "done": {"result.json": {"settings": {**mine, "wandb": True}}},  # the logger does not change results
        "half": {"study_settings.json": mine, "checkpoints/last.ckpt": {}},
        "stale": {"study_settings.json": {**mine, "max_epochs": 9}, "checkpoints/last.ckpt": {}},
    }.items():
        for rel, content in files.items():
            path = compare.run_folder(tmp_path, name, 0) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content))
    assert [a for *_, a in plan_runs(tmp_path, combos, prints)] == ["skip", "resume", "train", "train"]
    with pytest.raises(StudyError, match=r"done/seed0 \(max_epochs\)"):
        plan_runs(tmp_path, combos, {c: {**mine, "max_epochs": 3} for c in combos})


def test_fragments_adapt_to_the_deepsim_generator_and_bad_ones_are_reported(tmp_path: Path) -> None:
    base = CONFIGS / "deepsim_autoencoder_natural.yaml"
    fragment = CONFIGS / "upsampler" / "bilinear_additive.yaml"
    adapted, notes = adapt_fragment("bilinear_additive", fragment, yaml.safe_load(base.read_text()), tmp_path)
    assert adapted != fragment and "EncoderDecoder has no output_conv" in notes[0]
    gen = yaml.safe_load(adapted.read_text())["model"]["init_args"]["generator"]["init_args"]
    assert "output_conv" not in gen and gen["upsampler"]["class_path"].endswith("BilinearAdditive")
    small = [
        "--model.init_args.generator.init_args.base_channels=4",
        "--model.init_args.generator.init_args.max_channels=16",
    ]
    assert preflight(["--config", str(base), "--config", str(adapted), *small]) == (None, None)
    # Fragments a DCGAN takes as they are.
    quick = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    assert adapt_fragment("bilinear_additive", fragment, quick, tmp_path) == (fragment, [])

    bad = tmp_path / "bad.yaml"
    up = {"class_path": "gan_upsample.nn.upsamplers.PixelDCL", "init_args": {"kernel_size": 4}}
    bad.write_text(yaml.safe_dump({"model": {"init_args": {"generator": {"init_args": {"upsampler": up}}}}}))
    error, _ = preflight(["--config", str(CONFIGS / "quickstart.yaml"), "--config", str(bad)])
    assert error is not None and "odd" in error


def test_run_overrides_group_wandb_runs_by_study(tmp_path: Path) -> None:
    base = yaml.safe_load((CONFIGS / "deepsim_autoencoder_natural.yaml").read_text())
    spec = run_overrides(base, "paired", "pixel_dcl", 3, tmp_path / "natural", EvalSettings(), 256, 2, "proj")
    csv_logger, wandb = spec["trainer"]["logger"]
    assert csv_logger["init_args"] == {
        "save_dir": str(tmp_path / "natural" / "runs"),
        "name": "pixel_dcl",
        "version": "seed3",
    }
    assert wandb["class_path"].endswith("WandbLogger")
    assert wandb["init_args"]["group"] == "natural" and wandb["init_args"]["name"] == "pixel_dcl-seed3"
    assert spec["seed_everything"] == 3 and spec["model"]["init_args"]["seed"] == 3
    assert spec["trainer"]["max_epochs"] == 2 and spec["trainer"]["limit_val_batches"] == 0
    classes = [cb["class_path"].rpartition(".")[2] for cb in spec["trainer"]["callbacks"]]
    # The base's own evaluation callbacks stay for validation but not at test; the study's are added.
    assert classes == [
        "LPIPS",
        "Checkerboard",
        "ModelCheckpoint",
        "ReconstructionFID",
        "Checkerboard",
        "LPIPS",
        "StudyRecorder",
    ]
    assert [cb["init_args"]["on_test"] for cb in spec["trainer"]["callbacks"][:2]] == [False, False]


def test_read_test_metrics_takes_the_last_test_values(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/g_loss,test/fid_8_randomcnn,test/psnr\n0,1,0.5,,\n0,4,,12.5,\n0,4,,,20.25\n")
    assert read_test_metrics(path) == {"fid_8_randomcnn": 12.5, "psnr": 20.25}
    assert read_test_metrics(tmp_path / "none.csv") == {}


def test_random_cnn_is_seeded_and_takes_any_size() -> None:
    a, b, c = RandomCNN(seed=0), RandomCNN(seed=0), RandomCNN(seed=1)
    assert _state_digest(a) == _state_digest(b) != _state_digest(c)
    torch.manual_seed(0)
    assert a(torch.rand(2, 3, 8, 8)).shape == (2, 32 + 64 + 128)
    grey = torch.rand(2, 1, 20, 20) * 2 - 1
    torch.testing.assert_close(a(grey), a(grey.expand(-1, 3, -1, -1)))
    assert not a.train().training


class _Reals:
    """A data module stand-in: fixed images served in batches of 5."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.seed, self.image_shape = images, 0, tuple(images.shape[1:])

    def test_dataloader(self) -> list[torch.Tensor]:
        return list(self.images.split(5))


def _paired_module(noise: float, logged: dict[str, float]) -> SimpleNamespace:
    def generate(x: torch.Tensor) -> torch.Tensor:
        return (x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)

    return SimpleNamespace(
        task=SimpleNamespace(inputs=lambda y: y),
        generate=generate,
        device=torch.device("cpu"),
        log=lambda name, value, **kw: logged.__setitem__(name, value),
    )


def test_reconstruction_fid_compares_reconstructions_of_the_same_images(tmp_path: Path) -> None:
    images = torch.rand(24, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    trainer = SimpleNamespace(datamodule=_Reals(images), global_rank=0, world_size=1)
    values = {}
    for noise in (0.0, 0.5):
        logged: dict[str, float] = {}
        fid = ReconstructionFID(12, 12, split="test", feature_extractor=RandomCNN(), cache_dir=str(tmp_path))
        fid._run(trainer, _paired_module(noise, logged), "test")
        ((name, values[noise]),) = logged.items()
        assert name == "test/rfid_12_randomcnn"
    assert abs(values[0.0]) < 1e-3 < values[0.5]
    # Rank 1 of 2 reconstructs the images after rank 0's share (6 of 12), across batch borders.
    take = ReconstructionFID(12, 12, split="test")._consecutive(trainer.datamodule, 6)
    torch.testing.assert_close(torch.cat([take(4), take(2)]), images[6:12])


def test_script_entry_point_shows_help() -> None:
    import subprocess

    script = Path(__file__).parents[2] / "scripts" / "compare_upsamplers.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--upsamplers" in done.stdout and "--fid_extractor" in done.stdout


def test_zoom_window_finds_a_checkerboard_patch() -> None:
    images = torch.full((3, 3, 16, 16), 100, dtype=torch.uint8)
    images[:, :, 4:12, 4:12] = 200  # an edge-free bright square: little (pi, pi) energy inside
    checker = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 * 60
    images[1, :, 9:13, 2:6] += checker.to(torch.uint8)
    k, y, x = compare._best_window(compare._nyquist_energy(images, 4))
    assert k == 1 and abs(y - 9) <= 1 and abs(x - 2) <= 1  # on the patch (its border also responds)
