from __future__ import annotations

import csv
import urllib.error
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from scipy import linalg
from torch import nn

from gan_upsample.callbacks.fid import FID, INCEPTION_WEIGHTS_FILE, KID, FIDProtocol
from gan_upsample.data import BrightShapesDataModule
from gan_upsample.images import to_uint8
from gan_upsample.lit import GANModule
from gan_upsample.lit.adversarial import Generated
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator


def tiny_extractor(seed: int = 0, features: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, features, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


class Reals:
    """A stand-in data module: fixed images in [-1, 1], served in batches of ``batch``."""

    def __init__(self, images: torch.Tensor, batch: int = 16, seed: int = 0) -> None:
        self.images = images
        self.batch = batch
        self.seed = seed
        self.image_shape = tuple(images.shape[1:])

    def val_dataloader(self) -> list[torch.Tensor]:
        return list(self.images.split(self.batch))

    test_dataloader = val_dataloader


def images(n: int, seed: int, size: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 1.6 - 0.8).clamp(-1, 1)


class Replay:
    """A stand-in unpaired module whose ``fakes_for`` returns ``fakes`` in order (the evaluation protocol)."""

    paired = False

    def __init__(self, fakes: torch.Tensor) -> None:
        self.fakes = fakes
        self.pos = 0

    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        n = real if isinstance(real, int) else real.shape[0]
        out = self.fakes[self.pos : self.pos + n]
        self.pos += n
        return Generated(out)


def fid_of(real: torch.Tensor, fake: torch.Tensor, tmp_path: Path, batch_size: int = 16, **kwargs) -> float:
    cb = FID(
        num_real=len(real),
        num_fake=len(fake),
        feature_extractor=tiny_extractor(),
        cache_dir=str(tmp_path),
        batch_size=batch_size,
        **kwargs,
    )
    return cb.evaluate(Replay(fake), Reals(real, batch=batch_size))[""]


def test_identical_sets_give_zero_and_shift_grows(tmp_path: Path) -> None:
    real = images(128, 0)
    assert abs(fid_of(real, real.clone(), tmp_path)) < 1e-3
    values = [fid_of(real, (real + s).clamp(-1, 1), tmp_path) for s in (0.1, 0.2, 0.4)]
    assert 0 < values[0] < values[1] < values[2], values


def test_independent_of_batch_size(tmp_path: Path) -> None:
    real, fake = images(96, 0), images(96, 1)
    a = fid_of(real, fake, tmp_path / "a", batch_size=96)
    b = fid_of(real, fake, tmp_path / "b", batch_size=7)
    c = fid_of(real, fake, tmp_path / "c", batch_size=32)
    assert a == pytest.approx(b, rel=1e-6, abs=1e-8)
    assert a == pytest.approx(c, rel=1e-6, abs=1e-8)


def test_agrees_with_scipy_frechet_distance(tmp_path: Path) -> None:
    real, fake = images(128, 0), images(128, 1) * 0.7
    value = fid_of(real, fake, tmp_path)
    net = tiny_extractor().eval()
    with torch.no_grad():
        fr = net(to_uint8(real).float() / 127.5 - 1).double().numpy()
        ff = net(to_uint8(fake).float() / 127.5 - 1).double().numpy()
    mu1, mu2 = fr.mean(0), ff.mean(0)
    s1, s2 = np.cov(fr, rowvar=False), np.cov(ff, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert expected > 1e-4
    assert value == pytest.approx(expected, rel=1e-3, abs=1e-6)
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    tf = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert value == pytest.approx(tf["frechet_inception_distance"], rel=1e-3, abs=1e-6)


def test_cache_reused_recomputed_on_new_protocol_and_corruption(tmp_path: Path) -> None:
    real, fake = images(64, 0), images(64, 1)
    dm = Reals(real)
    cb = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    first = cb.evaluate(Replay(fake), dm)
    assert cb.real_images_extracted == 64
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [f"{cb.protocol(dm).digest()}.pt"]  # no temp file left

    # A second evaluation, and a fresh callback (a later run), read the cache.
    assert cb.evaluate(Replay(fake), dm) == pytest.approx(first)
    cb2 = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    assert cb2.evaluate(Replay(fake), dm) == pytest.approx(first)
    assert cb.real_images_extracted == 64 and cb2.real_images_extracted == 0

    # Another protocol (fewer real images) recomputes into its own file.
    cb3 = FID(num_real=32, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    cb3.evaluate(Replay(fake), dm)
    assert cb3.real_images_extracted == 32
    assert len(list(tmp_path.iterdir())) == 2

    # Garbage bytes: recomputed with a warning, never trusted; and the file is repaired.
    files[0].write_bytes(b"not a torch file" * 10)
    cb4 = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="unusable"):
        assert cb4.evaluate(Replay(fake), dm) == pytest.approx(first)
    assert cb4.real_images_extracted == 64
    assert not [f for f in tmp_path.iterdir() if f.suffix == ".tmp"]
    cb5 = FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    cb5.evaluate(Replay(fake), dm)
    assert cb5.real_images_extracted == 0


def test_cache_with_wrong_protocol_inside_is_recomputed(tmp_path: Path) -> None:
    real, fake = images(32, 0), images(32, 1)
    dm = Reals(real)
    cb = FID(num_real=32, num_fake=32, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    cb.evaluate(Replay(fake), dm)
    (path,) = tmp_path.iterdir()
    blob = torch.load(path, weights_only=True)
    blob["protocol"]["split"] = "test"
    torch.save(blob, path)
    cb2 = FID(num_real=32, num_fake=32, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="protocol"):
        cb2.evaluate(Replay(fake), dm)
    assert cb2.real_images_extracted == 32


def test_kid_zero_for_identical_grows_with_shift_and_caches(tmp_path: Path) -> None:
    real = images(64, 0)
    dm = Reals(real)

    def kid(fake: torch.Tensor) -> dict[str, float]:
        cb = KID(
            num_real=64,
            num_fake=64,
            feature_extractor=tiny_extractor(),
            cache_dir=str(tmp_path),
            subsets=5,
            subset_size=32,
        )
        return cb.evaluate(Replay(fake), dm)

    same = kid(real.clone())
    assert abs(same[""]) < 0.05 * abs(kid((real + 0.4).clamp(-1, 1))[""])
    values = [kid((real + s).clamp(-1, 1))[""] for s in (0.1, 0.2, 0.4)]
    assert values[0] < values[1] < values[2], values
    assert set(same) == {"", "_std"}
    assert len(list(tmp_path.iterdir())) == 1  # one cached feature file, reused by every later callback

    # The KID cache is a different file from the FID cache of the same images.
    FID(num_real=64, num_fake=64, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path)).evaluate(
        Replay(real), dm
    )
    assert len(list(tmp_path.iterdir())) == 2


def test_kid_agrees_with_torchmetrics_on_same_features(tmp_path: Path) -> None:
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = images(48, 0), images(48, 1) * 0.5
    cb = KID(
        num_real=48,
        num_fake=48,
        feature_extractor=tiny_extractor(),
        cache_dir=str(tmp_path),
        subsets=4,
        subset_size=16,
        batch_size=5,
    )
    got = cb.evaluate(Replay(fake), Reals(real))
    net = tiny_extractor().eval()

    class F(nn.Module):
        num_features = 16

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return net(x.float() / 127.5 - 1)

    ref = KernelInceptionDistance(feature=F(), subsets=4, subset_size=16)
    ref.update(to_uint8(real), real=True)
    ref.update(to_uint8(fake), real=False)
    torch.manual_seed(0)
    mean, std = ref.compute()
    assert got[""] == pytest.approx(float(mean), rel=1e-4, abs=1e-7)
    assert got["_std"] == pytest.approx(float(std), rel=1e-4, abs=1e-7)


def test_two_rank_states_sum_to_single_process_fid(tmp_path: Path) -> None:
    """Simulates the DDP reduction: per-rank states summed (as torchmetrics does) give the 1-process FID."""
    real, fake = images(64, 0), images(96, 1) * 0.8

    class Capture(FID):
        def _value(self, metric):
            self.states = {k: getattr(metric, k).clone() for k in metric._defaults}
            return {"": float("nan")}  # without a process group rank 1 alone cannot compute

    single = FID(num_real=64, num_fake=96, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
    expected = single.evaluate(Replay(fake), Reals(real))[""]
    ranks = []
    for rank in range(2):
        cb = Capture(num_real=64, num_fake=96, feature_extractor=tiny_extractor(), cache_dir=str(tmp_path))
        cb.evaluate(Replay(fake[48 * rank :]), Reals(real), rank=rank, world_size=2)
        assert int(cb.states["fake_features_num_samples"]) == 48
        ranks.append(cb)
    metric = ranks[0]._metric
    for key in ranks[0].states:
        setattr(metric, key, ranks[0].states[key] + ranks[1].states[key])
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-6)


def test_protocol_tag_and_digest() -> None:
    p = FIDProtocol("inception", "torch-fidelity", 5000, 5000, "bilinear-299-antialias", "val", "X")
    assert p.tag == "5k"
    q = FIDProtocol("module:AlexNet", "sha256:0", 1000, 1000, "none", "val", "X")
    assert q.tag == "1k_alexnet"
    assert p.digest() != q.digest() and len(p.digest()) == 64
    assert FIDProtocol("inception", "torch-fidelity", 500, 1000, "none", "val", "X").tag == "500r1kf"


def test_dataset_identity_ignores_loader_settings() -> None:
    ext = tiny_extractor()
    a = FID(num_real=4, num_fake=4, feature_extractor=ext).protocol(BrightShapesDataModule(image_size=8, batch_size=4))
    b = FID(num_real=4, num_fake=4, feature_extractor=ext).protocol(BrightShapesDataModule(image_size=8, batch_size=8))
    c = FID(num_real=4, num_fake=4, feature_extractor=ext).protocol(BrightShapesDataModule(image_size=16, batch_size=8))
    assert a == b
    assert a != c and "BrightShapesDataModule" in a.dataset


def test_different_extractor_weights_change_protocol() -> None:
    dm = Reals(images(4, 0))
    a = FID(num_real=4, num_fake=4, feature_extractor=tiny_extractor(0)).protocol(dm)
    b = FID(num_real=4, num_fake=4, feature_extractor=tiny_extractor(1)).protocol(dm)
    assert a.tag == b.tag == "4_sequential"
    assert a.digest() != b.digest()


def test_callback_in_lightning_fit_and_validate(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = GANModule(
        DCGANGenerator(latent_dim=8, image_size=8, base_channels=4), DCGANDiscriminator(image_size=8, base_channels=4)
    )
    dm = BrightShapesDataModule(image_size=8, num_train=64, num_val=32, batch_size=16)
    channels = dm.image_shape[0]
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    fid = FID(num_real=32, num_fake=32, feature_extractor=extractor, cache_dir=str(tmp_path / "stats"), every_n_steps=2)
    kid = KID(
        num_real=32,
        num_fake=32,
        feature_extractor=extractor,
        cache_dir=str(tmp_path / "stats"),
        subsets=3,
        subset_size=16,
    )
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=8,
        logger=CSVLogger(tmp_path, name="run"),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=3,  # not a divisor of the evaluation steps: the curve must not depend on it
        callbacks=[fid, kid, ckpt],
    )
    trainer.fit(module, dm)
    key = "val/fid_32_sequential"
    assert key in trainer.callback_metrics  # from the every_n_steps evaluation during fit
    rows = list(csv.DictReader((Path(trainer.logger.log_dir) / "metrics.csv").open()))
    # Generator steps 2 and 4 (a D and a G step per batch: global steps 4 and 8), neither on a logging batch.
    assert {4, 8} <= {int(r["step"]) for r in rows if r.get(key)}  # every point of the curve is written
    assert fid.real_images_extracted == 32  # later evaluations used the cached statistics
    trainer.logged_metrics.clear()
    trainer.validate(module, dm)
    assert key in trainer.logged_metrics
    assert torch.isfinite(torch.as_tensor(trainer.logged_metrics[key]))
    assert fid.real_images_extracted == 32
    assert {"val/kid_32_sequential", "val/kid_32_sequential_std"} <= set(trainer.logged_metrics)
    trainer.test(module, dm)
    assert torch.isfinite(torch.as_tensor(trainer.logged_metrics["test/fid_32_sequential"]))
    assert "test/kid_32_sequential" in trainer.logged_metrics
    state = torch.load(ckpt.last_model_path, weights_only=False)
    assert not [k for k in state["state_dict"] if "inception" in k or "extractor" in k or "features" in k]
    # Only the generator's and the discriminator's tensors: nothing of the callbacks' feature networks.
    expected = {f"generator.{k}" for k in module.generator.state_dict()}
    expected |= {f"discriminator.{k}" for k in module.discriminator.state_dict()}
    assert set(state["state_dict"]) == expected


def test_offline_inception_error_names_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network blocked")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(fe, "load_state_dict_from_url", no_network)
    cb = FID(num_real=4, num_fake=4, cache_dir=str(tmp_path / "stats"))
    with pytest.raises(RuntimeError) as info:
        cb.evaluate(Replay(torch.zeros(4, 3, 8, 8)), Reals(images(4, 0)))
    message = str(info.value)
    assert INCEPTION_WEIGHTS_FILE in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "feature_extractor" in message
