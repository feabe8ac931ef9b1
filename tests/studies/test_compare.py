"""The upsampler comparison (issue 7): a real tiny study end to end, and its parts one by one."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from PIL import Image

from gan_upsample.studies import report, runner
from gan_upsample.studies.compare import main
from gan_upsample.studies.evaluation import RandomCNN, ReconstructionFID
from gan_upsample.studies.figures import best_window, nyquist_energy
from gan_upsample.studies.report import aggregate
from gan_upsample.studies.runner import (
    EvalSettings,
    StudyError,
    differing_settings,
    job_environment,
    plan_runs,
    preflight,
    read_grid,
    read_test_metrics,
    resolve_upsamplers,
    run_overrides,
    upsampler_arguments,
)

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
        "--shapesnet_weights",
        "random",  # the default features on bright shapes (auto) are ShapesNet's; tests never use the shipped ones
        "--curve_images",
        "16",
        "--collapse_recall",  # four generator steps learn nothing: keep every run in the means here
        "0",
        "--garbage_precision",
        "0",
        "--data.init_args.num_train=64",  # passed through to fit: 4 batches of 16
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.count("training ...") == 2 and "skipped" not in first
    # After the first run, the time left: one run, at the median of this call's runs (the first one's time).
    seconds = float(re.search(r"done in (\d+) s \([^)]*\); 1 run left, about [\d.]+ h", first).group(1))
    assert f"1 run left, about {seconds / 3600:.1f} h at this call's median run time" in first
    assert first.count("left, about") == 1  # nothing is left after the last
    # The default curve: about eight points over the budget of 4 generator steps, i.e. every step.
    assert "FID curve: every 1 generator steps on 16 validation images (budget: 4 generator steps)" in first

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["upsampler"] for r in rows] == ["resize_conv", "transposed_conv_k3"]
    for row in rows:
        keys = ("fid_32_shapesnet", "precision_32_shapesnet", "recall_32_shapesnet", "spectral_excess_db")
        for key in (*keys, "fid_32_shapesnet_real_baseline", "phase_imbalance", "train_images_per_s", "peak_rss_mb"):
            assert math.isfinite(float(row[key])), (row["upsampler"], key, row[key])
        assert float(row["train_images_per_s"]) > 0 and float(row["peak_rss_mb"]) > 100
        assert float(row["cpu_utilisation"]) > 0
        assert int(float(row["g_steps"])) == 4  # the pass-through option reached fit
        # The convergence verdict of the FID curve during training, and no failure flag.
        assert row["converged"] in ("0", "1") and math.isfinite(float(row["curve_improvement"]))
        assert row["failed"] == "" and int(row["skipped_steps"]) == 0
        assert 0 < float(row["d_of_fake_late"]) < 1  # D(G(z)) late in training, from the run's metrics.csv
    # Validation stayed off during fit, yet the curve was evaluated at every generator step; metrics.csv (written
    # every log_every_n_steps=2 batches) has some of the points, result.json all four.
    folder = out / "runs" / "resize_conv" / "seed0"
    with open(folder / "metrics.csv") as f:
        logged = [r for r in csv.DictReader(f) if r.get("val/fid_16_shapesnet")]
    assert len(logged) >= 2
    curve = json.loads((folder / "result.json").read_text())["curve"]
    assert curve["key"] == "val/fid_16_shapesnet" and curve["steps"] == [1, 2, 3, 4]
    assert all(math.isfinite(v) for v in curve["values"]) and curve["floor"] > 0
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["trainer"]["limit_val_batches"] == 0
    summary = (out / "summary.md").read_text()
    assert "resize_conv" in summary and "transposed_conv_k3" in summary
    assert "ShapesNet features (trained on bright shapes; offline, relative only)" in summary
    assert "random weights: the numbers mean nothing" in summary
    assert "FID, 32 images" in summary and "real vs real" in summary and "recall" in summary
    assert "| learned / runs | converged (last-quarter FID gain) |" in summary and "| 1/1 | " in summary
    assert "budget: 4 generator steps" in summary and "every 1 generator steps" in summary
    for png in ("samples.png", "spectra.png", "curves.png"):
        width, height = Image.open(out / png).size
        assert width > 300 and height > 200
    # The real statistics (FID's sums, precision/recall's features, the curve's sums) were extracted once, reused
    # by the second run.
    assert len(list((tmp_path / "fid").glob("*.pt"))) == 3

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

    # A report kept without its run folders (like docs/study) is rebuilt from results.csv alone.
    tables = {name: (out / name).read_text() for name in ("results.csv", "summary.csv", "summary.md")}
    shutil.rmtree(out / "runs")
    assert main([*args, "--report_only"]) == 0
    assert {name: (out / name).read_text() for name in tables} == tables


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
    table = report.markdown_table([a, b], [("fid", "FID", ".2f")])
    # ± is the 95 % t-interval's half-width: t_{0.975, 2} = 4.3027 times sd / sqrt(3).
    assert "| a | 3/3 | 4.00 ± 8.96 |" in table and "| b | 1/1 | 5.00 |" in table


def test_unknown_upsampler_and_missing_base_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(StudyError, match="unknown upsampler 'nope'; choose from: .*resize_conv"):
        resolve_upsamplers(["resize_conv", "nope"])
    with pytest.raises(StudyError, match="given twice"):
        resolve_upsamplers(["resize_conv", str(CONFIGS / "upsampler" / "resize_conv.yaml")])

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
            path = runner.run_folder(tmp_path, name, 0) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content))
    assert [a for *_, a in plan_runs(tmp_path, combos, prints)] == ["skip", "resume", "train", "train"]
    with pytest.raises(StudyError, match=r"done/seed0 \(max_epochs\)"):
        plan_runs(tmp_path, combos, {c: {**mine, "max_epochs": 3} for c in combos})


def test_differing_settings_names_what_changes_results() -> None:
    mine = {"base": "b.yaml", "seed": 0, "max_epochs": 2, "eval": {"fid_seed": 0}, "wandb": False}
    assert differing_settings(mine, dict(mine)) == []
    assert differing_settings(mine, {**mine, "wandb": True, "fid_cache_dir": "x"}) == []  # logger, cache: no
    assert differing_settings(mine, {**mine, "max_epochs": 3, "eval": {"fid_seed": 1}}) == ["eval", "max_epochs"]
    assert differing_settings(mine, None) == ["base", "eval", "max_epochs", "seed"]


def test_the_study_and_the_sweep_share_one_grid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid = read_grid()
    sweep = yaml.safe_load((CONFIGS / "sweeps" / "upsamplers.yaml").read_text())
    assert grid.upsamplers == sweep["parameters"]["upsampler"]["values"]
    assert grid.seeds == sweep["parameters"]["seed_everything"]["values"]
    assert (CONFIGS.parent / grid.base).is_file()
    # Every upsampler of the grid is a fragment the study (and --upsampler NAME) can stack.
    assert [n for n, _ in resolve_upsamplers(grid.upsamplers)] == grid.upsamplers
    # Without --base/--upsamplers/--seeds the study takes the grid's: here it finds no runs of them.
    assert main(["--report_only", "--out", str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err
    other = tmp_path / "grid.yaml"
    other.write_text(yaml.safe_dump({**sweep, "parameters": {"upsampler": {"values": ["nope"]}}}))
    assert main(["--grid", str(other), "--out", str(tmp_path)]) == 2
    assert "seed_everything" in capsys.readouterr().err


def test_upsampler_fragments_stack_on_every_base_and_bad_ones_are_reported() -> None:
    base = CONFIGS / "deepsim_autoencoder_natural.yaml"
    fragment = CONFIGS / "upsampler" / "bilinear_additive.yaml"
    # EncoderDecoder always ends with a convolution and has no output_conv: only the upsampler is stacked.
    args, notes = upsampler_arguments(fragment, yaml.safe_load(base.read_text()))
    assert "EncoderDecoder has no output_conv" in notes[0]
    assert len(args) == 1 and "BilinearAdditive" in args[0] and "output_conv" not in args[0]
    small = [
        "--model.init_args.generator.init_args.base_channels=4",
        "--model.init_args.generator.init_args.max_channels=16",
    ]
    assert preflight(["--config", str(base), *args, *small]) == (None, None)
    # A DCGAN takes the fragment as it is.
    quick = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    assert upsampler_arguments(fragment, quick) == (["--config", str(fragment)], [])

    bad = {"class_path": "gan_upsample.nn.upsamplers.PixelDCL", "init_args": {"kernel_size": 4}}
    quickstart = ["--config", str(CONFIGS / "quickstart.yaml")]
    error, _ = preflight([*quickstart, f"--model.init_args.generator.init_args.upsampler={json.dumps(bad)}"])
    assert error is not None and "odd" in error
    error, _ = preflight([*quickstart, "--model.init_args.nope=1"])
    assert error is not None and "nope" in error


def test_run_overrides_group_wandb_runs_by_study(tmp_path: Path) -> None:
    base = yaml.safe_load((CONFIGS / "deepsim_autoencoder_natural.yaml").read_text())
    spec = run_overrides(base, True, "pixel_dcl", 3, tmp_path / "natural", EvalSettings(), 256, 2, "proj")
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
    # The base's own evaluation callbacks stay for validation but do not run at test, where the study's do.
    base_evals = [cb for cb in spec["trainer"]["callbacks"][:2]]
    assert [cb["class_path"].rpartition(".")[2] for cb in base_evals] == ["LPIPS", "Checkerboard"]
    assert all(cb["init_args"]["on_test"] is False for cb in base_evals)


def test_read_test_metrics_takes_the_last_test_values(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/g_loss,test/fid_8_randomcnn,test/psnr\n0,1,0.5,,\n0,4,,12.5,\n0,4,,,20.25\n")
    assert read_test_metrics(path) == {"fid_8_randomcnn": 12.5, "psnr": 20.25}
    assert read_test_metrics(tmp_path / "none.csv") == {}


def test_random_cnn_is_seeded_and_takes_any_size() -> None:
    a, b, c = RandomCNN(seed=0), RandomCNN(seed=0), RandomCNN(seed=1)

    def same(x: torch.nn.Module, y: torch.nn.Module) -> bool:
        return all(torch.equal(v, y.state_dict()[k]) for k, v in x.state_dict().items())

    assert same(a, b) and not same(a, c)
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
    def fakes_for(real: torch.Tensor, generator: torch.Generator | None = None) -> SimpleNamespace:
        fakes = (real + noise * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
        return SimpleNamespace(fakes=fakes, targets=real, inputs=real)

    return SimpleNamespace(
        paired=True,
        fakes_for=fakes_for,
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
        assert set(logged) == {"test/rfid_12_randomcnn", "test/rfid_12_randomcnn_real_baseline"}
        values[noise] = logged["test/rfid_12_randomcnn"]
    assert abs(values[0.0]) < 1e-3 < values[0.5]


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
    k, y, x = best_window(nyquist_energy(images, 4))
    assert k == 1 and abs(y - 9) <= 1 and abs(x - 2) <= 1  # on the patch (its border also responds)


def test_job_environment_shares_threads_and_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert job_environment(0, 1, cpus=16, gpus=4) == {}
    assert job_environment(0, 2, cpus=16, gpus=0) == {"OMP_NUM_THREADS": "8"}
    assert job_environment(5, 4, cpus=2, gpus=4) == {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "1"}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what the user set wins
    assert job_environment(1, 2, cpus=16, gpus=1) == {}


def test_parallel_jobs_train_every_run_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--jobs 2``: two runs at a time, each in its own slot, both finished and in the report."""
    out = tmp_path / "study"
    args = ["--base", str(tiny_base(tmp_path)), "--upsamplers", "resize_conv", "--seeds", "0", "1", "--out", str(out)]
    args += ["--fid_extractor", "none", "--warmup_batches", "1", "--checkerboard_images", "16", "--jobs", "2"]
    assert main([*args, "--data.init_args.num_train=32"]) == 0
    printed = capsys.readouterr().out
    assert "(job 1 of 2)" in printed and "(job 2 of 2)" in printed and printed.count("done in") == 2
    assert sorted(p.parent.name for p in out.glob("runs/resize_conv/*/result.json")) == ["seed0", "seed1"]
    assert main([*args, "--jobs", "0"]) == 2


@pytest.mark.slow
def test_ctrl_c_of_a_parallel_study_stops_every_run_with_its_last_ckpt(tmp_path: Path) -> None:
    """Ctrl-C to the study (``--jobs 2``) reaches both running runs (each saves ``last.ckpt``); no new run starts."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "study"
    args = ["--base", str(tiny_base(tmp_path)), "--upsamplers", "resize_conv", "--seeds", "0", "1", "2", "3"]
    args += ["--out", str(out), "--fid_extractor", "none", "--jobs", "2", "--max_epochs", "100000"]
    args += ["--data.init_args.num_train=32"]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline", MPLBACKEND="Agg")
    log = open(tmp_path / "study.log", "wb")  # noqa: SIM115 - the child owns it
    with log:
        proc = subprocess.Popen([sys.executable, "-m", "gan_upsample", "study", *args], stdout=log, stderr=log, env=env)
    runs = [out / "runs" / "resize_conv" / f"seed{s}" for s in range(4)]
    try:
        deadline = time.monotonic() + 180
        while sum((r / "metrics.csv").is_file() for r in runs) < 2:  # both jobs are training
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "study.log").read_text()[-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    started = [r for r in runs if r.exists()]
    assert len(started) == 2, (tmp_path / "study.log").read_text()[-3000:]
    assert all((r / "checkpoints" / "last.ckpt").is_file() for r in started)
    assert not subprocess.run(["pgrep", "-f", str(out)], capture_output=True).stdout  # no run left behind


def test_resumed_run_counts_the_seconds_of_its_interrupted_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gan_upsample.studies.evaluation import EVAL_IMAGES, TRAIN_RECORD

    calls: list[int] = []

    def fake_fit(args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        calls.append(1)
        if len(calls) == 1:
            return 130  # interrupted (Ctrl-C): nothing written
        (tmp_path / "metrics.csv").write_text("step,test/fid\n10,1.5\n")
        (tmp_path / TRAIN_RECORD).write_text("{}")
        (tmp_path / EVAL_IMAGES).write_bytes(b"x")
        return 0

    monkeypatch.setattr(runner, "_fit_process", fake_fit)
    clock = iter([0.0, 100.0, 1000.0, 1030.0])  # first call 100 s, the resumed one 30 s
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(clock))
    failure, seconds = runner.run_one(tmp_path, [], {}, "name", 0)
    assert failure == "exit code 130" and seconds == 100.0
    assert json.loads((tmp_path / runner.FAILURE).read_text())["wall_seconds"] == 100.0
    failure, seconds = runner.run_one(tmp_path, [], {}, "name", 0)
    result = json.loads((tmp_path / runner.RESULT).read_text())
    assert failure is None and seconds == 30.0
    assert result["wall_seconds"] == 130.0 and result["calls"] == 2 and result["metrics"] == {"fid": 1.5}
    assert not (tmp_path / runner.FAILURE).exists()
