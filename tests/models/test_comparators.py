"""Frozen comparators of the DeePSiM feature loss: random weights only, no downloads."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch import nn
from torch.testing import assert_close
from torchvision import models as tvm

from gan_upsample.models.comparators import (
    AlexNetComparator,
    Comparator,
    VGGComparator,
)
from gan_upsample.models.frozen import FrozenNetwork
from gan_upsample.models.weights import WeightsUnavailableError

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE
ALEXNET_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]

# Smallest sizes that work: AlexNet's conv3-conv5 need 31 px, pool5 and the fc layers 63 px.
CONV_PX, FC_PX = 32, 63

FACTORIES: dict[str, Callable[..., Comparator]] = {
    "alexnet": lambda **kw: AlexNetComparator(**{"layers": "conv3", "weights": "random", **kw}),
    "vgg16": lambda **kw: VGGComparator(**{"layers": "relu2_2", "weights": "random", **kw}),
    "vgg19": lambda **kw: VGGComparator(**{"layers": "relu3_4", "variant": "vgg19", "weights": "random", **kw}),
}


def _images(size: int = CONV_PX, channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, channels, size, size, generator=g) * 2 - 1


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2 - MEAN) / STD


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


class _Parent(nn.Module):
    """Holds a comparator as the DeePSiM feature term does: in a FrozenNetwork, outside the module tree."""

    def __init__(self, comparator: Comparator) -> None:
        super().__init__()
        self.generator = nn.Conv2d(3, 3, 3, padding=1)
        self.comparator = FrozenNetwork(comparator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.comparator(self.generator(x))


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def ref_alexnet() -> nn.Module:
    """torchvision's AlexNet with its default initialisation under ``torch.manual_seed(3)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return tvm.alexnet().eval()


@pytest.fixture(scope="module")
def ref_alexnet_file(ref_alexnet: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "alexnet_state.pth"
    torch.save(ref_alexnet.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def all_layers() -> Comparator:
    return AlexNetComparator(ALEXNET_LAYERS, weights="random-torchvision", seed=3)


def _no_network(*args: object, **kwargs: object) -> None:
    raise URLError("no network in this test")


# --- frozen, eval, gradients -------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_frozen(arch: str) -> None:
    comparator = FACTORIES[arch]()
    params = list(comparator.parameters())
    assert sum(p.numel() for p in params) > 10_000
    assert not any(p.requires_grad for p in params)


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_stays_in_eval_mode(arch: str) -> None:
    comparator = FACTORIES[arch]()
    assert not any(m.training for m in comparator.modules())
    assert comparator.train() is comparator
    assert not any(m.training for m in comparator.modules())
    parent = _Parent(comparator).train()
    assert parent.training and parent.generator.training
    assert not any(m.training for m in comparator.modules())
    comparator.train(True)
    assert not any(m.training for m in comparator.modules())


def test_gradients_flow_to_input_and_generator_while_weights_stay() -> None:
    torch.manual_seed(0)
    parent = _Parent(AlexNetComparator("conv5", weights="random"))
    before = _tensors(parent.comparator.network)
    generator_before = parent.generator.weight.detach().clone()
    optimiser = torch.optim.SGD(parent.parameters(), lr=0.1)
    x = _images().requires_grad_(True)
    target = parent.comparator(_images(seed=1))
    loss = (parent(x) - target).pow(2).mean()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert parent.generator.weight.grad is not None and parent.generator.weight.grad.abs().sum() > 0
    optimiser.step()
    assert not torch.equal(parent.generator.weight, generator_before)
    after = _tensors(parent.comparator.network)
    assert after.keys() == before.keys()
    for name in before:
        assert_close(after[name], before[name], rtol=0, atol=0)


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_absent_from_parent_state_dict_and_strict_load(arch: str) -> None:
    torch.manual_seed(0)
    source = _Parent(FACTORIES[arch]())
    state = source.state_dict()
    assert sorted(state) == ["generator.bias", "generator.weight"]
    torch.manual_seed(1)
    target = _Parent(FACTORIES[arch](seed=7))
    comparator_before = _tensors(target.comparator.network)
    result = target.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert_close(target.generator.weight, source.generator.weight)
    for name, tensor in target.comparator.network.state_dict().items():
        assert_close(tensor, comparator_before[name], rtol=0, atol=0)


def test_outside_the_module_tree_and_moved_on_first_use() -> None:
    parent = _Parent(AlexNetComparator("conv2", weights="random"))
    assert [n for n, _ in parent.named_parameters()] == ["generator.weight", "generator.bias"]
    assert not list(parent.buffers())
    parent.to(torch.float64)  # the module tree's .to() does not reach the comparator...
    assert next(parent.comparator.network.parameters()).dtype == torch.float32
    net = parent.comparator.on(torch.device("meta"))  # ...FrozenNetwork.on moves it where its input is
    assert next(net.parameters()).device.type == "meta"


# --- random weights --------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_random_weights_seeded_and_global_rng_untouched(arch: str) -> None:
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    a, b, c = FACTORIES[arch](seed=1), FACTORIES[arch](seed=1), FACTORIES[arch](seed=2)
    assert torch.equal(torch.get_rng_state(), rng_before)
    ta, tb, tc = _tensors(a), _tensors(b), _tensors(c)
    for name in ta:
        assert_close(ta[name], tb[name], rtol=0, atol=0)
    weights = [name for name in ta if name.endswith("weight")]
    assert weights and all(not torch.equal(ta[name], tc[name]) for name in weights)
    x = _images()
    assert_close(a(x), b(x), rtol=0, atol=0)


def test_random_weights_do_not_depend_on_the_kept_layers() -> None:
    x = _images()
    shallow = AlexNetComparator("conv3", weights="random", seed=4)
    deep = AlexNetComparator(["conv3", "conv5"], weights="random", seed=4)
    assert_close(deep.features(x)["conv3"], shallow(x), rtol=0, atol=0)


def test_alexnet_layers_match_torchvision(ref_alexnet: nn.Module, all_layers: Comparator) -> None:
    """``random-torchvision`` equals ``torch.manual_seed(seed); alexnet()``; every layer sits where its name says."""
    ref, comparator = ref_alexnet, all_layers
    x = _images(FC_PX)
    got = comparator.features(x)
    with torch.no_grad():
        xn = _normalised(x)
        pool5 = ref.features(xn)
        flat = torch.flatten(ref.avgpool(pool5), 1)
        expected = {
            "conv1": ref.features[:2](xn),
            "conv2": ref.features[:5](xn),
            "conv3": ref.features[:8](xn),
            "conv4": ref.features[:10](xn),
            "conv5": ref.features[:12](xn),
            "pool5": pool5,
            "fc6": ref.classifier[:3](flat),
            "fc7": ref.classifier[:6](flat),
            "fc8": ref(xn),
        }
    assert list(got) == list(expected) == list(comparator.layer_names)
    for name in expected:
        assert_close(got[name], expected[name], msg=name)
    assert (got["fc7"] >= 0).all() and (got["fc8"] < 0).any()  # fc7 after ReLU, fc8 logits


@pytest.mark.parametrize(
    ("variant", "cfg", "layer", "relu_index"),
    [("vgg16", "D", "relu3_3", 15), ("vgg19", "E", "relu5_4", 35)],
)
def test_vgg_layers_match_torchvision(variant: str, cfg: str, layer: str, relu_index: int) -> None:
    comparator = VGGComparator(layer, variant=variant, weights="random", seed=2)
    ref = tvm.vgg.make_layers(tvm.vgg.cfgs[cfg]).eval()
    assert isinstance(ref[relu_index], nn.ReLU)
    tensors = [t for name, t in comparator.named_parameters() if name.startswith("stages.")]
    params = [p for m in ref[: relu_index + 1] for p in m.parameters()]
    assert len(params) == len(tensors)
    with torch.no_grad():
        for p, t in zip(params, tensors):
            p.copy_(t)
    x = _images(CONV_PX)
    with torch.no_grad():
        expected = ref[: relu_index + 1](_normalised(x))
    assert_close(comparator(x), expected)


def test_vgg_layer_names() -> None:
    vgg16 = VGGComparator("relu1_1", weights="random").layer_names
    vgg19 = VGGComparator("relu1_1", variant="vgg19", weights="random").layer_names
    assert vgg16[:4] == ("relu1_1", "relu1_2", "relu2_1", "relu2_2")
    assert vgg16[-3:] == ("relu5_1", "relu5_2", "relu5_3") and len(vgg16) == 13
    assert vgg19[-4:] == ("relu5_1", "relu5_2", "relu5_3", "relu5_4") and len(vgg19) == 16
    with pytest.raises(ValueError, match="vgg16"):
        VGGComparator(variant="vgg11", weights="random")  # type: ignore[arg-type]


# --- weights from files --------------------------------------------------------------------------


def test_weights_from_local_state_dict(ref_alexnet: nn.Module, ref_alexnet_file: Path) -> None:
    comparator = AlexNetComparator("conv5", weights=str(ref_alexnet_file))
    assert_close(comparator.stages["conv5"][0].weight, ref_alexnet.features[10].weight, rtol=0, atol=0)
    x = _images()
    with torch.no_grad():
        expected = ref_alexnet.features[:12](_normalised(x))
    assert_close(comparator(x), expected)
    assert_close(comparator(x), AlexNetComparator("conv5", weights="random-torchvision", seed=3)(x))


def test_state_dict_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(RuntimeError, match="not a state dict of torchvision's alexnet"):
        AlexNetComparator(weights=str(path))


def test_unknown_weights_keyword_is_not_random(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'imagenet', 'random'"):
        AlexNetComparator(weights="imagenett")
    with pytest.raises(FileNotFoundError, match="no such file"):
        VGGComparator(weights=str(tmp_path / "missing.pth"))


def test_imagenet_weights_taken_from_the_cache(
    ref_alexnet: nn.Module, ref_alexnet_file: Path, empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    empty_torch_home.mkdir(parents=True)
    (empty_torch_home / ALEXNET_FILE).symlink_to(ref_alexnet_file)
    comparator = AlexNetComparator("conv2", weights="imagenet")
    assert_close(comparator.stages["conv2"][1].weight, ref_alexnet.features[3].weight, rtol=0, atol=0)


def test_corrupt_cached_file_says_so(empty_torch_home: Path) -> None:
    empty_torch_home.mkdir(parents=True)
    (empty_torch_home / ALEXNET_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="could not be read") as info:
        AlexNetComparator(weights="imagenet")
    assert str(empty_torch_home / ALEXNET_FILE) in str(info.value)


# --- offline errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("patched", ["download_url_to_file", "load_state_dict_from_url"])
def test_offline_error_says_where_to_put_the_file(
    patched: str, empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, patched, _no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        AlexNetComparator(weights="imagenet")
    message = str(info.value)
    assert str(empty_torch_home / ALEXNET_FILE) in message
    assert f"file {ALEXNET_FILE} in the folder" in message
    assert ALEXNET_URL in message
    assert "weights: random" in message and "weights: /path/to/state_dict.pth" in message
    assert isinstance(info.value.__cause__, URLError)
    assert not (empty_torch_home / ALEXNET_FILE).exists()


def test_offline_error_for_vgg(empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    with pytest.raises(WeightsUnavailableError, match="vgg19-dcbb9e9d.pth"):
        VGGComparator(variant="vgg19", weights="imagenet")


# --- normalisation, input channels ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_first_layer_sees_imagenet_statistics(arch: str) -> None:
    comparator = FACTORIES[arch]()
    first_conv = next(m for m in comparator.modules() if isinstance(m, nn.Conv2d))
    seen: list[torch.Tensor] = []
    first_conv.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    x = _images()
    comparator(x)
    assert len(seen) == 1
    x01 = (x + 1) / 2
    assert_close(seen[0], (x01 - MEAN) / STD)
    # -1 (black) and +1 (white) land on -mean/std and (1 - mean)/std per channel
    comparator(torch.stack([-torch.ones(3, CONV_PX, CONV_PX), torch.ones(3, CONV_PX, CONV_PX)]))
    assert_close(seen[1][0, :, 0, 0], (-MEAN / STD).flatten())
    assert_close(seen[1][1, :, 0, 0], ((1 - MEAN) / STD).flatten())


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_grey_input(arch: str) -> None:
    comparator = FACTORIES[arch]()
    grey = _images(channels=1)
    out = comparator(grey)
    assert_close(out, comparator(grey.repeat(1, 3, 1, 1)))
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="1 or 3 channels"):
        comparator(_images(channels=2))


# --- layers: truncation, errors, several layers, shapes ------------------------------------------------


def test_truncated_after_the_deepest_layer() -> None:
    comparator = AlexNetComparator("conv3", weights="random")
    assert list(comparator.stages) == ["conv1", "conv2", "conv3"]
    assert isinstance(list(comparator.stages["conv3"])[-1], nn.ReLU)
    convs = [m for m in comparator.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 192, 384]
    kept = [type(m) for stage in comparator.stages.values() for m in stage]
    assert kept == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU]
    expected = sum(c.weight.numel() + c.bias.numel() for c in convs)
    assert sum(p.numel() for n, p in comparator.named_parameters() if n.startswith("stages.")) == expected
    vgg = VGGComparator("relu2_1", weights="random")
    assert list(vgg.stages) == ["relu1_1", "relu1_2", "relu2_1"]
    with pytest.raises(ValueError, match="beyond the deepest kept layer"):
        comparator.feature_shape("conv4", CONV_PX)


@pytest.mark.parametrize("arch", list(FACTORIES))
def test_unknown_layer_lists_valid_names(arch: str) -> None:
    valid = FACTORIES[arch]().layer_names
    with pytest.raises(ValueError, match="conv6|relu6_1") as info:
        FACTORIES[arch](layers=[valid[0], "conv6" if arch == "alexnet" else "relu6_1"])
    assert all(repr(name) in str(info.value) for name in valid)


def test_alexnet_layer_names() -> None:
    names = AlexNetComparator("conv1", weights="random").layer_names
    assert names == ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")


@pytest.mark.parametrize(
    ("layers", "weights"), [(["conv2", "conv2"], None), (["conv2", "conv4"], [1.0]), (["conv2"], [-1.0]), ([], None)]
)
def test_bad_layer_requests(layers: list[str], weights: list[float] | None) -> None:
    with pytest.raises(ValueError):
        AlexNetComparator(layers, weights, weights="random")


def test_several_layers_with_weights() -> None:
    comparator = AlexNetComparator(["conv4", "conv2"], [2.0, 0.5], weights="random", seed=8)
    assert comparator.layer_weights == {"conv4": 2.0, "conv2": 0.5}
    a, b = _images(seed=1), _images(seed=2)
    fa, fb = comparator.features(a), comparator.features(b)
    assert list(fa) == ["conv4", "conv2"]
    assert fa["conv4"].shape == (2, 256, 1, 1) and fa["conv2"].shape == (2, 192, 3, 3)
    assert_close(fa["conv2"], AlexNetComparator("conv2", weights="random", seed=8)(a))
    out_a, out_b = comparator(a), comparator(b)
    assert out_a.shape == (2, 256 + 192 * 9)
    expected = 2.0 * (fa["conv4"] - fb["conv4"]).pow(2).sum() + 0.5 * (fa["conv2"] - fb["conv2"]).pow(2).sum()
    assert_close((out_a - out_b).pow(2).sum(), expected)
    with pytest.raises(ValueError, match="several layers"):
        comparator.feature_shape()


def test_single_layer_with_weight_is_scaled() -> None:
    plain = AlexNetComparator("conv5", weights="random")
    weighted = AlexNetComparator("conv5", [4.0], weights="random")
    x = _images()
    assert_close(weighted(x), 2.0 * plain(x))
    assert_close(weighted.features(x)["conv5"], plain(x))


@pytest.mark.parametrize(
    ("make", "layer", "shape"),
    [
        (lambda: AlexNetComparator("conv5", weights="random"), "conv5", (256, 1, 1)),
        (lambda: AlexNetComparator("conv5", weights="random"), "conv1", (64, 7, 7)),
        (lambda: VGGComparator("relu3_3", weights="random"), "relu3_3", (256, 8, 8)),
    ],
)
def test_feature_shape_and_out_channels(make: Callable[[], Comparator], layer: str, shape: tuple[int, ...]) -> None:
    comparator = make()
    assert comparator.feature_shape(layer, CONV_PX) == shape
    assert comparator.out_channels(layer) == shape[0]
    if layer in comparator.layers:
        assert comparator.feature_shape(image_size=CONV_PX) == shape
        assert comparator(_images(CONV_PX)).shape == (2, *shape)


def test_fc_feature_shapes(all_layers: Comparator) -> None:
    shapes = {"conv5": (256, 3, 3), "pool5": (256, 1, 1), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,)}
    for layer, shape in shapes.items():
        assert all_layers.feature_shape(layer, FC_PX) == shape
        assert all_layers.out_channels(layer) == shape[0]
    x = _images(FC_PX)
    assert all_layers(x).shape == (2, sum(f[0].numel() for f in all_layers.features(x).values()))


def test_alexnet_rectangular_feature_shape() -> None:
    comparator = AlexNetComparator("conv2", weights="random")
    assert comparator.feature_shape(image_size=(CONV_PX, 2 * CONV_PX)) == (192, 3, 7)
    assert math.prod(comparator.feature_shape(image_size=CONV_PX)) == 192 * 9


def _blurred(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    k = torch.arange(-4, 5, dtype=x.dtype)
    g = torch.exp(-(k**2) / (2 * sigma**2))
    g = (g / g.sum()).to(x)
    c = x.shape[1]
    x = nn.functional.conv2d(
        nn.functional.pad(x, (4, 4, 0, 0), mode="reflect"), g.view(1, 1, 1, 9).repeat(c, 1, 1, 1), groups=c
    )
    return nn.functional.conv2d(
        nn.functional.pad(x, (0, 0, 4, 4), mode="reflect"), g.view(1, 1, 9, 1).repeat(c, 1, 1, 1), groups=c
    )


@pytest.mark.parametrize(("weights", "matters"), [("random", True), ("random-torchvision", False)])
def test_random_alexnet_feature_loss_is_not_negligible_beside_the_image_loss(weights: str, matters: bool) -> None:
    """DeePSiM's configs weight both terms 1: with the He-initialised random AlexNet the feature term's gradient
    on a blurred reconstruction of natural crops outweighs the image term's, as with a trained comparator;
    with torchvision's initialisation it is about 0.4 % of it (the loss was an image loss)."""
    from gan_upsample.data.natural import NaturalCrops
    from gan_upsample.losses.deepsim import feature_loss

    crops = NaturalCrops(image_size=64, num_samples=16, seed=0)
    y = torch.stack([crops[i] for i in range(16)])
    x = _blurred(y).requires_grad_(True)
    comparator = AlexNetComparator("conv5", weights=weights, seed=0).eval()
    (g_img,) = torch.autograd.grad(nn.functional.mse_loss(x, y), x)
    (g_feat,) = torch.autograd.grad(feature_loss(comparator, x, y), x)
    ratio = float(g_feat.norm() / g_img.norm())
    features = comparator(y)
    if matters:
        assert ratio > 3.0, ratio
        assert 0.1 < float(features.pow(2).mean()) < 10.0
    else:
        assert ratio < 0.05, ratio
