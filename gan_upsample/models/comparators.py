"""Frozen comparator networks for the DeePSiM perceptual (feature) loss and for feature inversion.

A comparator ``C`` is a fixed network whose features define the feature loss
``||C(G(x)) - C(y)||^2`` of Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity
Metrics based on Deep Networks" (METHODS.md section 3). The paper compares in the space of AlexNet
(Krizhevsky et al. 2012, "ImageNet Classification with Deep Convolutional Neural Networks") conv3 or
conv5 features, pretrained on ImageNet or with random weights; :class:`VGGComparator` adds the VGG
networks of Simonyan & Zisserman 2015 ("Very Deep Convolutional Networks for Large-Scale Image
Recognition"), the usual choice of later perceptual losses. The same features are the *input* of
the feature-inversion task (``x = C'(y)``, reconstruct ``y``).

Every comparator

- is frozen at construction and stays in eval mode even after ``.train()`` (as torchmetrics' FID
  Inception does);
- keeps only the layers up to the deepest requested one;
- takes images in ``[-1, 1]`` (1 or 3 channels) and normalises them to its own input statistics;
- has ``requires_grad=False`` on every weight; gradients still flow through it to its input.

The modules that use one (the DeePSiM feature term, the inversion task) hold it in a
:class:`~gan_upsample.models.frozen.FrozenNetwork`, outside their module tree: it never appears in a
checkpoint (loading rebuilds it from the configuration), an optimiser or DDP.

Pretrained weights are torchvision's ImageNet weights, taken from the torch hub cache
(``torch.hub.get_dir()/checkpoints``) or downloaded into it by :mod:`gan_upsample.models.weights`. Without
network and without a cached file, :class:`~gan_upsample.models.weights.WeightsUnavailableError` says which
file to put where, or which option to pass instead; a comparator never falls back silently to random weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision import models as tvm

from gan_upsample.errors import ConfigError
from gan_upsample.models.weights import imagenet_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _file_state_dict(weights: str | os.PathLike[str], arch: str) -> dict[str, Tensor]:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights must be 'imagenet', 'random', 'random-torchvision' or the path of a state dict file of "
            f"torchvision's {arch}; "
            f"{str(weights)!r} is neither keyword and no such file exists"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds a {type(state).__name__}, not a state dict of torchvision's {arch}")
    return state


def _load_into(model: nn.Module, state: dict[str, Tensor], source: str, arch: str) -> None:
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise RuntimeError(f"{source} is not a state dict of torchvision's {arch}: {err}") from err


class Comparator(nn.Module):
    """Base of the frozen feature networks: images in ``[-1, 1]`` to the features of named layers.

    Subclasses build the network as an ordered list of named *stages* (stage ``k`` maps the output of
    stage ``k - 1`` to the features of layer ``k``) and pass it here. This base keeps the stages up to
    the deepest requested layer, freezes them (``requires_grad=False``) and pins the module to eval mode.

    Args:
        stages: ``(layer_name, module)`` pairs in network order; ``layer_names`` are their names.
        layers: Name of the layer whose features :meth:`forward` returns, or several names.
        layer_weights: One non-negative weight per entry of ``layers`` (default: all 1).
        mean: Per-channel mean of the network's input statistics (images scaled to ``[0, 1]``).
        std: Per-channel standard deviation of the network's input statistics.
        init_weights: If given, the kept stages are still uninitialised (e.g. built on the meta
            device): they are allocated on the CPU and passed to this function to initialise them.
        weights_source: A description of where the weights come from, shown in ``repr``.

    Raises:
        ValueError: An unknown or repeated layer name, or weights that do not match ``layers``.
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, nn.Module]],
        layers: str | Sequence[str],
        layer_weights: Sequence[float] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        init_weights: Callable[[nn.Module], None] | None = None,
        weights_source: str = "",
    ) -> None:
        super().__init__()
        self.layer_names: tuple[str, ...] = tuple(name for name, _ in stages)
        requested = [layers] if isinstance(layers, str) else list(layers)
        if not requested:
            raise ConfigError(f"{type(self).__name__}: no layer requested; valid layers: {list(self.layer_names)}")
        unknown = [name for name in requested if name not in self.layer_names]
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: unknown layer(s) {unknown}; valid layers: {list(self.layer_names)}"
            )
        if len(set(requested)) != len(requested):
            raise ConfigError(f"{type(self).__name__}: repeated layer in {requested}")
        weights = [1.0] * len(requested) if layer_weights is None else [float(w) for w in layer_weights]
        if len(weights) != len(requested) or any(w < 0 for w in weights):
            raise ConfigError(
                f"{type(self).__name__}: layer_weights must hold one non-negative weight per layer "
                f"({len(requested)} for {requested}), got {layer_weights}"
            )
        self.layers: tuple[str, ...] = tuple(requested)
        self.layer_weights: dict[str, float] = dict(zip(requested, weights))
        self._weighted = layer_weights is not None
        self.weights_source = weights_source

        deepest = max(self.layer_names.index(name) for name in requested)
        self.stages = nn.ModuleDict(list(stages)[: deepest + 1])
        if init_weights is not None:
            self.stages.to_empty(device="cpu")
            init_weights(self.stages)
        if any(t.is_meta for t in self.stages.parameters()):
            raise RuntimeError(f"{type(self).__name__}: some comparator weights were never loaded or initialised")
        self.requires_grad_(False)
        channels = len(mean)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1), persistent=False)
        self.in_channels = channels
        self.train(False)

    def train(self, mode: bool = True) -> Comparator:
        """Keep the comparator in eval mode whatever ``mode`` is (a parent's ``.train()`` calls this)."""
        return super().train(False)

    def extra_repr(self) -> str:
        weights = list(self.layer_weights.values())
        return f"layers={list(self.layers)}, layer_weights={weights}, weights={self.weights_source}"

    def normalise(self, x: Tensor) -> Tensor:
        """Map images in ``[-1, 1]`` to the network's input statistics: ``((x + 1) / 2 - mean) / std``.

        A 1-channel (grey) image is repeated to the network's channels first.
        """
        if x.ndim != 4:
            raise ConfigError(f"{type(self).__name__}: expected images (N, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] == 1 and self.in_channels != 1:
            x = x.expand(-1, self.in_channels, -1, -1)
        elif x.shape[1] != self.in_channels:
            raise ConfigError(
                f"{type(self).__name__}: expected 1 or {self.in_channels} channels, got {x.shape[1]} channels"
            )
        return ((x + 1) / 2 - self.mean) / self.std

    def _check_kept(self, wanted: Sequence[str]) -> None:
        unknown = [name for name in wanted if name not in self.layer_names]
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: unknown layer(s) {unknown}; valid layers: {list(self.layer_names)}"
            )
        missing = [name for name in wanted if name not in self.stages]
        if missing:
            raise ConfigError(
                f"{type(self).__name__}: layer(s) {missing} are beyond the deepest kept layer "
                f"{list(self.stages)[-1]!r}; request them in `layers`"
            )

    def _run(self, x: Tensor, wanted: Sequence[str]) -> dict[str, Tensor]:
        self._check_kept(wanted)
        out: dict[str, Tensor] = {}
        h = self.normalise(x)
        for name, stage in self.stages.items():
            h = stage(h)
            if name in wanted:
                out[name] = h
                if len(out) == len(set(wanted)):
                    break
        return {name: out[name] for name in wanted}

    def features(self, x: Tensor) -> dict[str, Tensor]:
        """The unweighted features of every requested layer.

        Args:
            x: Images ``(N, C, H, W)`` in ``[-1, 1]`` with ``C`` 1 (grey) or 3.

        Returns:
            ``{layer: features}`` in the order of ``layers``: ``(N, C_l, H_l, W_l)`` for convolutional
            layers, ``(N, D_l)`` for fully connected ones.
        """
        return self._run(x, self.layers)

    def forward(self, x: Tensor) -> Tensor:
        """The comparator's features of ``x``, ready for a squared Euclidean feature loss.

        With one layer and no ``layer_weights``, its features as they are. Otherwise each layer's
        features, flattened, are scaled by ``sqrt(weight)`` and concatenated to ``(N, sum_l D_l)`` (one
        layer with a weight keeps its shape), so that ``||C(a) - C(b)||^2 = sum_l w_l ||f_l(a) - f_l(b)||^2``.
        Use :meth:`features` and ``layer_weights`` for a per-layer normalisation instead.

        Args:
            x: Images ``(N, C, H, W)`` in ``[-1, 1]`` with ``C`` 1 (grey) or 3.
        """
        feats = self.features(x)
        if len(self.layers) == 1:
            (name,) = self.layers
            return feats[name] * self.layer_weights[name] ** 0.5 if self._weighted else feats[name]
        return torch.cat([f.flatten(1) * self.layer_weights[n] ** 0.5 for n, f in feats.items()], dim=1)

    def _single(self, layer: str | None) -> str:
        if layer is not None:
            return layer
        if len(self.layers) != 1:
            raise ConfigError(f"{type(self).__name__}: several layers {list(self.layers)}; name the one you mean")
        return self.layers[0]

    def feature_shape(self, layer: str | None = None, image_size: int | tuple[int, int] = 64) -> tuple[int, ...]:
        """Per-sample shape of a layer's features for a given image size (one dummy forward, no grad).

        Args:
            layer: A kept layer; ``None`` for the requested layer when there is only one.
            image_size: Side of a square image, or ``(height, width)``.

        Returns:
            ``(C, H, W)`` for convolutional layers, ``(D,)`` for fully connected ones.
        """
        name = self._single(layer)
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        x = torch.zeros(1, self.in_channels, h, w, device=self.mean.device, dtype=self.mean.dtype)
        with torch.no_grad():
            return tuple(self._run(x, [name])[name].shape[1:])

    def out_channels(self, layer: str | None = None) -> int:
        """Channels (convolutional layers) or length (fully connected layers) of a layer's features.

        Args:
            layer: A kept layer; ``None`` for the requested layer when there is only one.
        """
        name = self._single(layer)
        self._check_kept([name])
        channels = 0
        for stage_name, stage in self.stages.items():
            for module in stage.modules():
                if isinstance(module, nn.Conv2d):
                    channels = module.out_channels
                elif isinstance(module, nn.Linear):
                    channels = module.out_features
            if stage_name == name:
                return channels
        raise AssertionError("unreachable")


def _split_at_relus(modules: Sequence[nn.Module]) -> list[list[nn.Module]]:
    """Group a feature stack into runs that each end with a ReLU (plus a trailing run without one)."""
    groups: list[list[nn.Module]] = [[]]
    for module in modules:
        groups[-1].append(module)
        if isinstance(module, nn.ReLU):
            groups.append([])
    return groups


def _state_dict_for(weights: str | os.PathLike[str], arch: str) -> dict[str, Tensor] | None:
    """The state dict named by ``weights``, or ``None`` for random weights."""
    if weights in ("random", "random-torchvision"):
        return None
    if weights == "imagenet":
        return imagenet_state_dict(arch)
    return _file_state_dict(weights, arch)


def _seeded(seed: int, init: Callable[[nn.Module], None]) -> Callable[[nn.Module], None]:
    """``init`` run on a CPU RNG seeded with ``seed``; the global RNG state is restored afterwards."""

    def run(module: nn.Module) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            init(module)

    return run


def _source(weights: str | os.PathLike[str], seed: int) -> str:
    return f"{weights}(seed={seed})" if weights in ("random", "random-torchvision") else str(weights)


class AlexNetComparator(Comparator):
    """AlexNet comparator (Krizhevsky et al. 2012) on torchvision's ``alexnet``, as in DeePSiM.

    Layer names: ``conv1`` ... ``conv5`` are the convolutions' outputs **after their ReLU** (as the
    paper takes them; before the max pooling that follows conv1, conv2 and conv5), ``pool5`` is the
    max-pooled conv5, ``fc6`` and ``fc7`` are the fully connected layers after their ReLU (dropout is
    dropped), and ``fc8`` are the 1000 class logits (before softmax). torchvision's AlexNet pads conv1,
    so conv3 to conv5 need images of at least 31 px and pool5/fc6-fc8 at least 63 px.

    Args:
        layers: Layer whose features :meth:`forward` returns (``conv5`` by default), or several.
        layer_weights: One non-negative weight per entry of ``layers`` (default: all 1).
        weights: ``imagenet`` (torchvision's ``AlexNet_Weights.IMAGENET1K_V1``, from the torch hub cache
            or downloaded into it), ``random`` (the paper's random-weight AlexNet, He-initialised: normal
            weights of variance ``2 / fan_in`` (``1 / fan_in`` for the fc8 logits), zero biases, so each
            layer keeps its input's scale and the features are about as large as a trained network's),
            ``random-torchvision`` (torchvision's default initialisation, equal to
            ``torch.manual_seed(seed); alexnet()``; its scale shrinks about 6-fold per layer, so its conv5
            features are some 4,000 times weaker in mean square and a feature loss on them is
            negligible beside the image loss), or the path of a state dict file (``.pth``) of torchvision's
            ``alexnet``. Random weights are seeded by ``seed`` and do not depend on which layers are kept.
        seed: Seed of the random weights (ignored otherwise). The global RNG is left untouched.

    Raises:
        WeightsUnavailableError: ``imagenet`` weights neither cached nor downloadable (the message says
            which file to put where, and the alternatives).
        FileNotFoundError: ``weights`` is neither keyword nor an existing file.
    """

    def __init__(
        self,
        layers: str | list[str] = "conv5",
        layer_weights: list[float] | None = None,
        weights: str = "imagenet",
        seed: int = 0,
    ) -> None:
        with torch.device("meta"):
            model = tvm.alexnet(weights=None)
        state = _state_dict_for(weights, "alexnet")
        if state is not None:
            _load_into(model, state, str(weights), "alexnet")
        groups = _split_at_relus(list(model.features))
        stages: list[tuple[str, nn.Module]] = [(f"conv{i + 1}", nn.Sequential(*g)) for i, g in enumerate(groups[:-1])]
        (pool5,) = groups[-1]
        classifier = [m for m in model.classifier if not isinstance(m, nn.Dropout)]
        fc6, fc7, fc8 = _split_at_relus(classifier)
        stages += [
            ("pool5", pool5),
            ("fc6", nn.Sequential(model.avgpool, nn.Flatten(1), *fc6)),
            ("fc7", nn.Sequential(*fc7)),
            ("fc8", nn.Sequential(*fc8)),
        ]

        he = weights == "random"

        def init(module: nn.Module) -> None:
            # Drawn in module order. torchvision's AlexNet keeps PyTorch's default initialisation; He's keeps
            # the scale through the ReLUs (the logits layer, without one, gets gain 1).
            for sub in module.modules():
                if not isinstance(sub, nn.Conv2d | nn.Linear):
                    continue
                if not he:
                    sub.reset_parameters()
                    continue
                logits = isinstance(sub, nn.Linear) and sub.out_features == 1000
                nn.init.kaiming_normal_(sub.weight, mode="fan_in", nonlinearity="linear" if logits else "relu")
                nn.init.zeros_(sub.bias)

        super().__init__(
            stages,
            layers,
            layer_weights,
            init_weights=_seeded(seed, init) if state is None else None,
            weights_source=_source(weights, seed),
        )


class VGGComparator(Comparator):
    """VGG comparator (Simonyan & Zisserman 2015) on torchvision's ``vgg16`` / ``vgg19`` (no batch norm).

    Layer names are the ReLU outputs ``relu<block>_<conv>``: ``relu1_1, relu1_2, relu2_1, relu2_2,
    relu3_1 ... relu3_3, relu4_1 ... relu4_3, relu5_1 ... relu5_3`` for vgg16; vgg19 has a fourth
    convolution in blocks 3 to 5 (``relu3_4, relu4_4, relu5_4``). Block ``b`` has stride ``2^(b-1)``.

    Args:
        layers: Layer whose features :meth:`forward` returns (``relu3_3`` by default), or several.
        layer_weights: One non-negative weight per entry of ``layers`` (default: all 1).
        variant: ``vgg16`` or ``vgg19``.
        weights: ``imagenet`` (torchvision's ``VGG16_Weights.IMAGENET1K_V1`` / ``VGG19_Weights.IMAGENET1K_V1``,
            from the torch hub cache or downloaded into it), ``random`` (torchvision's VGG
            initialisation, seeded by ``seed``), or the path of a state dict file (``.pth``) of
            torchvision's ``vgg16`` / ``vgg19``.
        seed: Seed of the random weights (ignored otherwise). The global RNG is left untouched.

    Raises:
        WeightsUnavailableError: ``imagenet`` weights neither cached nor downloadable.
        FileNotFoundError: ``weights`` is neither keyword nor an existing file.
    """

    def __init__(
        self,
        layers: str | list[str] = "relu3_3",
        layer_weights: list[float] | None = None,
        variant: Literal["vgg16", "vgg19"] = "vgg16",
        weights: str = "imagenet",
        seed: int = 0,
    ) -> None:
        builders = {"vgg16": tvm.vgg16, "vgg19": tvm.vgg19}
        if variant not in builders:
            raise ConfigError(f"VGGComparator: variant must be 'vgg16' or 'vgg19', got {variant!r}")
        with torch.device("meta"):
            model = builders[variant](weights=None)
        state = _state_dict_for(weights, variant)
        if state is not None:
            _load_into(model, state, str(weights), variant)
        stages: list[tuple[str, nn.Module]] = []
        block, conv = 1, 0
        for group in _split_at_relus(list(model.features))[:-1]:  # the last group is the final pooling
            if any(isinstance(m, nn.MaxPool2d) for m in group):
                block, conv = block + 1, 0
            conv += 1
            stages.append((f"relu{block}_{conv}", nn.Sequential(*group)))

        def init(module: nn.Module) -> None:
            # torchvision's VGG initialisation of its convolutions, in module order.
            for sub in module.modules():
                if isinstance(sub, nn.Conv2d):
                    nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(sub.bias)

        super().__init__(
            stages,
            layers,
            layer_weights,
            init_weights=_seeded(seed, init) if state is None else None,
            weights_source=_source(weights, seed),
        )
