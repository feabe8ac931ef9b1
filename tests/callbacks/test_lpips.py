from __future__ import annotations

import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.testing import assert_close

from gan_upsample.callbacks.lpips import LPIPS, build_lpips_network, lpips_input
from gan_upsample.data import NaturalCropsDataModule
from gan_upsample.errors import ConfigError
from gan_upsample.lit import DeePSiMModule, GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator, DeePSiMDiscriminator, EncoderDecoder
from gan_upsample.models.comparators import AlexNetComparator
from gan_upsample.models.weights import WeightsUnavailableError

lpips = pytest.importorskip("lpips")


def reference(net: str = "alex"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated `pretrained=`
        return lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()


def aligned(net: str = "alex"):
    """Our network and the lpips package's, sharing one random backbone (linear layers: both shipped)."""
    torch.manual_seed(0)
    ours = build_lpips_network(net, pretrained_backbone=False)
    ref = reference(net)
    # Both backbones are torchvision's `features` split into the same slices with the same indices.
    ours.net.load_state_dict(ref.net.state_dict())
    return ours, ref


def images(n: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_linear_layers_are_the_shipped_ones() -> None:
    ours, ref = aligned()
    for k, v in ref.state_dict().items():
        if k.startswith("lin"):
            assert torch.equal(ours.state_dict()[k], v), k


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_same_value_as_lpips_package(net: str) -> None:
    ours, ref = aligned(net)
    a, b = images(seed=1), images(seed=2)
    with torch.no_grad():
        expected = ref(a, b).flatten()
        assert_close(ours(lpips_input(a), lpips_input(b)).flatten(), expected, atol=1e-5, rtol=1e-5)
    cb = LPIPS(net=net, pretrained_backbone=False)
    cb._network = ours
    assert_close(cb.score(a, b), expected, atol=1e-5, rtol=1e-5)


def test_range_conversion() -> None:
    ours, ref = aligned()
    cb = LPIPS(pretrained_backbone=False)
    cb._network = ours
    a, b = images(seed=3), images(seed=4)
    # identical images: exactly 0
    assert_close(cb.score(a, a), torch.zeros(4), atol=1e-7, rtol=0)
    # inputs in [-1, 1] are passed unchanged: same as the package on [-1, 1], and as the package's
    # normalize=True on the same images mapped to [0, 1]
    with torch.no_grad():
        assert_close(cb.score(a, b), ref(a, b).flatten(), atol=1e-5, rtol=1e-5)
        assert_close(cb.score(a, b), ref((a + 1) / 2, (b + 1) / 2, normalize=True).flatten(), atol=1e-5, rtol=1e-5)
        # ... and not as if they had been [0, 1] images (a wrong second conversion would give this)
        wrong = ref(2 * a - 1, 2 * b - 1).flatten()
    assert (cb.score(a, b) - wrong).abs().max() > 1e-3
    # out-of-range values are clamped, grey is repeated to RGB
    assert_close(lpips_input(torch.full((1, 1, 2, 2), 3.0)), torch.ones(1, 3, 2, 2))
    # quantisation onto the uint8 grid keeps grid values
    grid = torch.arange(256.0).div(127.5).sub(1).reshape(1, 1, 16, 16)
    assert_close(lpips_input(grid, quantize=True), lpips_input(grid), atol=1e-6, rtol=0)


def test_name_says_random_backbone() -> None:
    assert LPIPS(pretrained_backbone=False).name == "lpips_alex-random"
    assert LPIPS(net="vgg").name == "lpips_vgg"
    with pytest.raises(ValueError, match="net must be one of"):
        LPIPS(net="squeeze")  # type: ignore[arg-type]


def test_missing_backbone_weights_name_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as info:
        build_lpips_network("alex", pretrained_backbone=True)
    message = str(info.value)
    assert "alexnet-owt-" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "pretrained_backbone: false" in message


def test_pretrained_backbone_is_loaded_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import models as tvm

    torch.manual_seed(5)
    state = tvm.alexnet(weights=None).state_dict()
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: state)
    net = build_lpips_network("alex", pretrained_backbone=True)
    assert torch.equal(getattr(net.net.slice1, "0").weight, state["features.0.weight"])
    assert torch.equal(getattr(net.net.slice5, "10").bias, state["features.10.bias"])


def deepsim() -> DeePSiMModule:
    torch.manual_seed(0)
    g = EncoderDecoder(in_channels=3, base_channels=4, max_channels=16, num_down=2, code_channels=4)
    return DeePSiMModule(
        generator=g,
        discriminator=DeePSiMDiscriminator(base_channels=4, hidden=16),
        comparator=AlexNetComparator(layers="conv2", weights="random", seed=0),
    )


def test_callback_logs_in_a_tiny_fit_and_is_not_checkpointed(tmp_path: Path) -> None:
    dm = NaturalCropsDataModule(image_size=32, num_train=8, num_val=8, batch_size=4)
    m = deepsim()
    cb = LPIPS(pretrained_backbone=False)
    t = pl.Trainer(
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        max_epochs=1,
        callbacks=[cb],
    )
    t.fit(m, dm)
    value = t.logged_metrics["val/lpips_alex-random"]
    assert torch.isfinite(torch.as_tensor(value)) and float(value) > 0
    # the logged value is the mean over the validation images
    dm.setup("validate")
    ys = torch.cat(list(dm.val_dataloader()))
    expected = cb.score(m.fakes_for(ys).fakes, ys).mean()
    assert_close(torch.as_tensor(value), expected, atol=1e-5, rtol=1e-5)
    path = tmp_path / "m.ckpt"
    t.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    assert not any("lpips" in k or k.startswith("lin") or "slice" in k for k in ckpt["state_dict"])
    # No tensor anywhere in the checkpoint (state dict, callback states, ...) is one of LPIPS's weights.
    lpips_weights = [t for t in cb.network.state_dict().values() if t.numel() > 1]

    def tensors(obj: object) -> list[torch.Tensor]:
        if isinstance(obj, torch.Tensor):
            return [obj]
        if isinstance(obj, dict):
            return [t for v in obj.values() for t in tensors(v)]
        if isinstance(obj, (list, tuple)):
            return [t for v in obj for t in tensors(v)]
        return []

    saved = tensors(ckpt)
    assert saved and lpips_weights
    assert not any(s.shape == w.shape and torch.equal(s, w) for s in saved for w in lpips_weights)
    # evaluating without training gives the same number
    t.validate(m, dm)
    assert_close(torch.as_tensor(t.logged_metrics["val/lpips_alex-random"]), expected, atol=1e-5, rtol=1e-5)


def test_unpaired_module_is_rejected() -> None:
    gan = GANModule(DCGANGenerator(latent_dim=4, image_size=8, base_channels=4), DCGANDiscriminator(image_size=8))
    for module in (gan, torch.nn.Linear(1, 1)):
        with pytest.raises(ConfigError, match="needs a paired module"):
            LPIPS(pretrained_backbone=False).setup(None, module, "fit")  # type: ignore[arg-type]
