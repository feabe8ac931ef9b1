"""PrecisionRecall beside FID/KID, and the real-vs-real baseline of all three."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from gan_upsample.callbacks import FID, KID, Convergence, PrecisionRecall
from gan_upsample.data import BrightShapesDataModule
from gan_upsample.images import to_uint8
from gan_upsample.lit import GANModule
from gan_upsample.metrics import converged, converged_from_csv, precision_recall, read_metric_curve
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator

# The FID tests' stand-ins (--import-mode=importlib: test files are not importable by name).
_spec = importlib.util.spec_from_file_location("fid_test_helpers", Path(__file__).parent / "test_fid.py")
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)
Reals, Replay, fid_of, images, tiny_extractor = _h.Reals, _h.Replay, _h.fid_of, _h.images, _h.tiny_extractor


def features(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return tiny_extractor().eval()(to_uint8(x).float() / 127.5 - 1)


def prc(real: torch.Tensor, cache: Path, **kwargs) -> PrecisionRecall:
    args = {"num_real": len(real), "num_fake": len(real), "feature_extractor": tiny_extractor(), "batch_size": 16}
    return PrecisionRecall(cache_dir=str(cache), **{**args, **kwargs})


def test_agrees_with_torch_fidelity_on_the_same_features(tmp_path: Path) -> None:
    from torch_fidelity.metric_prc import prc_features_to_metric

    real, fake = images(64, 0), images(48, 1) * 0.9 + 0.03
    got = prc(real, tmp_path, num_fake=48).evaluate(Replay(fake), Reals(real))
    ref = prc_features_to_metric(features(fake), features(real), prc_neighborhood=3, verbose=False)
    assert 0.05 < got["precision"] < 0.95 and 0.05 < got["recall"] < 0.95, got
    assert got == pytest.approx({"precision": ref["precision"], "recall": ref["recall"]}, abs=1e-6)


def test_identical_fakes_score_one_and_collapse_kills_recall(tmp_path: Path) -> None:
    real = images(48, 0)
    same = prc(real, tmp_path).evaluate(Replay(real.clone()), Reals(real))
    assert same == {"precision": 1.0, "recall": 1.0}
    collapsed = prc(real, tmp_path).evaluate(Replay(real[:1].expand(48, -1, -1, -1).clone()), Reals(real))
    assert collapsed["recall"] <= 4 / 48  # one fake point covers only its own neighbourhood
    far = prc(real, tmp_path).evaluate(Replay(torch.full_like(real, 1.0)), Reals(real))
    assert far["precision"] == 0.0  # a flat white image is like none of the reals


def test_shares_kids_cached_features_both_ways(tmp_path: Path) -> None:
    real, fake = images(32, 0), images(32, 1)
    dm = Reals(real)
    kid = KID(num_real=32, num_fake=32, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path), subset_size=8)
    kid.evaluate(Replay(fake), dm)
    assert kid.real_images_extracted == 32
    pr = prc(real, tmp_path)
    pr.evaluate(Replay(fake), dm)
    assert pr.real_images_extracted == 0 and len(list(tmp_path.iterdir())) == 1
    # Each stored its own baseline in the shared file: a fresh KID finds both and extracts nothing.
    kid2 = KID(num_real=32, num_fake=32, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path), subset_size=8)
    assert set(kid2.real_baseline_values(dm)) == {"", "_std"}
    assert set(prc(real, tmp_path).real_baseline_values(dm)) == {"precision", "recall"}
    assert kid2.real_images_extracted == 0


def test_baselines_are_the_metrics_between_the_two_halves(tmp_path: Path) -> None:
    real = images(64, 0)
    dm = Reals(real, batch=24)  # the half (32) falls inside a batch
    fid = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path), batch_size=10)
    baseline = fid.real_baseline_values(dm)
    assert fid.real_images_extracted == 64  # the baseline costs no extra image
    expected = fid_of(real[:32], real[32:], tmp_path / "direct", real_baseline=False)
    assert baseline[""] == pytest.approx(expected, rel=1e-5) and baseline[""] > 0

    feats = features(real)
    pr = prc(real, tmp_path).real_baseline_values(dm)
    assert pr == pytest.approx(precision_recall(feats[:32], feats[32:])._asdict(), abs=1e-6)

    # An older cache without the baseline: FID extracts the images again (its sums cannot be split) ...
    (path,) = [p for p in tmp_path.iterdir() if p.is_file() and p.name == f"{fid.protocol(dm).digest()}.pt"]
    blob = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in blob.items() if not k.startswith("real_baseline")}, path)
    again = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    assert again.real_baseline_values(dm) == pytest.approx(baseline)
    assert again.real_images_extracted == 64
    # ... and real_baseline=False logs none and never extracts for it.
    off = FID(
        num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path), real_baseline=False
    )
    assert off.real_baseline_values(dm) == {} and off.real_images_extracted == 0
    # Too few images for k=3 neighbourhoods in each half: no baseline, no error.
    assert prc(real[:7], tmp_path).real_baseline_values(Reals(real[:7])) == {}


def test_two_rank_feature_states_give_the_one_process_value(tmp_path: Path) -> None:
    real, fake = images(40, 0), images(40, 1) * 0.7
    single = prc(real, tmp_path).evaluate(Replay(fake), Reals(real))
    reals, fakes = [], []
    for rank in range(2):
        cb = prc(real, tmp_path)
        captured = {}
        cb._value = lambda m, c=captured: c.update(real=list(m.real_features), fake=list(m.fake_features)) or {}
        cb.evaluate(Replay(fake[20 * rank :]), Reals(real), rank=rank, world_size=2)
        reals += captured["real"]
        fakes += captured["fake"]
    merged = precision_recall(torch.cat(reals), torch.cat(fakes))  # what the gathered states compute
    assert merged._asdict() == pytest.approx(single, abs=1e-6)


def test_in_fit_every_n_steps_baselines_logged_printed_and_a_convergence_verdict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    module = GANModule(
        DCGANGenerator(latent_dim=8, image_size=8, base_channels=4), DCGANDiscriminator(image_size=8, base_channels=4)
    )
    dm = BrightShapesDataModule(image_size=8, num_train=64, num_val=32, batch_size=16)
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Conv2d(dm.image_shape[0], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    common = {"num_real": 32, "num_fake": 32, "feature_extractor": extractor, "cache_dir": str(tmp_path / "stats")}
    fid = FID(every_n_steps=1, on_validation=False, **common)
    pr = PrecisionRecall(every_n_steps=2, on_validation=False, **common)
    convergence = Convergence()
    logger = CSVLogger(tmp_path, name="run")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=8,  # 4 generator steps
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=1,
        callbacks=[convergence, fid, pr],
    )
    trainer.fit(module, dm)
    tag = "32_sequential"
    # In-training evaluations go straight to the loggers (every point) and into callback_metrics.
    assert {f"val/precision_{tag}", f"val/recall_{tag}", f"val/precision_{tag}_real_baseline"} <= set(
        trainer.callback_metrics
    )
    assert pr.real_images_extracted == 32  # once, then from the cache
    csv = Path(logger.log_dir) / "metrics.csv"
    verdict = converged_from_csv(csv)  # finds val/fid_<tag> among the baselines and verdict columns
    assert verdict.reference_step < verdict.best_step and verdict.reason  # 4 points: a verdict with numbers
    # The callback saw the same curve (Lightning repeats a value at the next step in the file: dropped).
    key, _, values = read_metric_curve(csv, f"val/fid_{tag}")
    assert convergence.values == [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
    assert len(convergence.values) == 4 and convergence.verdict == converged(convergence.steps, convergence.values)
    assert read_metric_curve(csv, f"{key}_converged")[2] == [float(convergence.verdict.converged)]
    with caplog.at_level(logging.INFO):
        trainer.test(module, dm)
    baseline = float(trainer.logged_metrics[f"test/fid_{tag}_real_baseline"])
    assert baseline == pytest.approx(fid.real_baseline_values(dm)[""])
    assert f"real-vs-real baseline {baseline:.6g}" in caplog.text
    assert f"test/recall_{tag}" in trainer.logged_metrics
