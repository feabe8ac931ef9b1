"""Every Upsampler subclass is found automatically, so a new method is covered by these tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.metrics.checkerboard import phase_imbalance
from gan_upsample.nn import upsamplers as U


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return sorted(set(found), key=lambda c: c.__name__)


UPSAMPLERS = _all_subclasses(U.Upsampler)
ONLY_X2 = {U.PixelDCL, U.IPixelDCL}


def _build(cls: type, cin: int = 4, cout: int = 4, scale: int = 2, **kw) -> U.Upsampler:
    if cls is U.BilinearAdditive:
        cin = cout * max(1, cin // cout)
    return cls(cin, cout, scale, **kw)


def test_every_method_is_collected() -> None:
    names = {c.__name__ for c in UPSAMPLERS}
    assert {"TransposedConv", "ResizeConv", "PixelShuffle", "PixelDCL", "IPixelDCL", "BilinearAdditive"} <= names
    assert {"FilteredUpsample", "DySample"} <= names


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n,h,w", [(1, 1, 1), (2, 3, 5), (3, 8, 8), (1, 7, 4)])
def test_shape_contract(cls: type, n: int, h: int, w: int) -> None:
    torch.manual_seed(0)
    scales = [2] if cls in ONLY_X2 else [2, 3, 4]
    for s in scales:
        up = _build(cls, 8, 4, s)
        y = up(torch.randn(n, 8 if cls is not U.BilinearAdditive else up.in_channels, h, w))
        assert y.shape == (n, 4, s * h, s * w), (cls.__name__, s)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("scale,kernel_size", [(2, 2), (2, 3), (2, 4), (2, 5), (2, 6), (3, 3), (3, 4), (3, 5), (3, 6)])
def test_transposed_conv_any_kernel_at_least_scale(kernel_size: int, scale: int) -> None:
    up = U.TransposedConv(3, 2, scale, kernel_size=kernel_size)
    assert up(torch.randn(2, 3, 5, 6)).shape == (2, 2, 5 * scale, 6 * scale)


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
def test_gradients_reach_every_parameter(cls: type) -> None:
    torch.manual_seed(0)
    up = _build(cls, 8, 4)
    x = torch.randn(2, up.in_channels, 6, 6, requires_grad=True)
    up(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in up.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
def test_macs_positive_for_learned_layers(cls: type) -> None:
    up = _build(cls, 8, 4)
    macs = up.macs(5, 7)
    assert isinstance(macs, int)
    assert (macs > 0) == any(True for _ in up.parameters())


@pytest.mark.parametrize(
    "up",
    [
        U.ResizeConv(5, 3, 2),
        U.ResizeConv(5, 3, 2, mode="bilinear"),
        U.ResizeConv(5, 3, 3, kernel_size=5),
        U.PixelShuffle(5, 3, 2),
        U.PixelShuffle(5, 3, 4, kernel_size=5),
        U.PixelDCL(5, 3),
        U.PixelDCL(5, 3, kernel_size=5),
        U.IPixelDCL(5, 3),
        U.IPixelDCL(5, 3, kernel_size=5),
        U.FilteredUpsample(5, 3, 2),
        U.FilteredUpsample(5, 3, 3, filter_size=4, cutoff=0.4),
        U.FilteredUpsample(5, 3, 4, padding_mode="replicate"),
        U.DySample(5, 3, 2, groups=1),
        U.DySample(6, 3, 3, groups=2),
    ],
    ids=["resize-nearest", "resize-bilinear", "resize-x3-k5", "icnr-x2", "icnr-x4-k5"]
    + ["pixel-dcl", "pixel-dcl-k5", "ipixel-dcl", "ipixel-dcl-k5"]
    + ["filtered-x2", "filtered-x3-f4", "filtered-x4-replicate", "dysample-x2", "dysample-x3-g2"],
)
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (8, 8)])
def test_constant_input_gives_flat_output_at_init(up: U.Upsampler, size: tuple[int, int]) -> None:
    x = torch.full((2, up.in_channels, *size), 0.7)
    y = up(x)
    # Each output channel is one constant: no checkerboard and no border effect.
    assert_close(y, y[:, :, :1, :1].expand_as(y))


def test_pixel_shuffle_without_icnr_is_not_flat() -> None:
    torch.manual_seed(0)
    y = U.PixelShuffle(5, 3, 2, icnr=False)(torch.full((1, 5, 4, 4), 0.7))
    assert (y - y[:, :, :1, :1]).abs().max() > 1e-3


def test_icnr_equals_nearest_resize_then_conv() -> None:
    torch.manual_seed(0)
    up = U.PixelShuffle(4, 3, 2, kernel_size=1)
    x = torch.randn(2, 4, 5, 6)
    w = up.conv.weight[::4]
    b = up.conv.bias[::4]
    expected = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b)
    assert_close(up(x), expected)


def _stack(cls: type, layers: int = 3, channels: int = 16, **kw) -> torch.nn.Sequential:
    mods: list[torch.nn.Module] = []
    for i in range(layers):
        mods.append(cls(channels, channels, 2, **kw))
        if i < layers - 1:
            mods.append(torch.nn.LeakyReLU(0.2))
    return torch.nn.Sequential(*mods)


def test_transposed_conv_k3_shows_phase_imbalance_the_score_detects() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 16, 8, 8)
    with torch.no_grad():
        tconv = phase_imbalance(_stack(U.TransposedConv, kernel_size=3)(x), period=2)
        resize = phase_imbalance(_stack(U.ResizeConv)(x), period=2)
        icnr = phase_imbalance(_stack(U.PixelShuffle)(x), period=2)
    assert tconv > 0.15
    assert tconv > 5 * resize
    assert tconv > 5 * icnr


def _padded_phase_map(layer: U.PixelDCL, a: torch.Tensor, b: torch.Tensor, p: int) -> torch.Tensor:
    """The interleaved map of ``a`` (even, even) and ``b`` (odd, odd), zeros elsewhere, extended by ``p``
    low-resolution pixels on each side the way the layer pads: each phase map on its own (replicated, or
    zeros), so the original ``(0, 0)`` lands at ``(2p, 2p)``."""
    mode = "constant" if layer.padding_mode == "zeros" else "replicate"
    a, b = F.pad(a, (p,) * 4, mode=mode), F.pad(b, (p,) * 4, mode=mode)
    n, c, h, w = a.shape
    m = torch.zeros(n, c, 2 * h, 2 * w, dtype=a.dtype)
    for i, j in itertools.product(range(h), range(w)):
        m[:, :, 2 * i, 2 * j] = a[:, :, i, j]
        m[:, :, 2 * i + 1, 2 * j + 1] = b[:, :, i, j]
    return m


def dense_pixel_dcl_reference(layer: U.PixelDCL, x: torch.Tensor) -> torch.Tensor:
    """PixelDCL written the obvious way: build the sparse 2H x 2W map pixel by pixel (extended at the
    border phase by phase), then a dense masked convolution with explicit loops over output pixels and taps."""
    a = layer.conv_a(x)
    b = layer.conv_b(a)
    n, c, h, w = a.shape
    k = layer.kernel_size
    r = k // 2
    big = _padded_phase_map(layer, a, b, r)
    m = big[:, :, 2 * r : 2 * r + 2 * h, 2 * r : 2 * r + 2 * w]
    weight = layer.masked_weight
    out = m.clone()
    for p, q in itertools.product(range(2 * h), range(2 * w)):
        acc = torch.zeros(n, c, dtype=x.dtype)
        for ti, tj in itertools.product(range(k), range(k)):
            if (ti + tj) % 2 == 0:  # parity mask: keep taps with i + j odd; the centre is even
                continue
            acc = acc + big[:, :, 2 * r + p + ti - r, 2 * r + q + tj - r] @ weight[:, :, ti, tj].T
        out[:, :, p, q] += acc
    return out if layer.shared_bias is None else out + layer.shared_bias.view(1, -1, 1, 1)


@pytest.mark.parametrize("padding_mode", ["replicate", "zeros"])
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (5, 5)])
def test_pixel_dcl_equals_slow_reference(kernel_size: int, size: tuple[int, int], padding_mode: str) -> None:
    torch.manual_seed(kernel_size)
    layer = U.PixelDCL(3, 4, kernel_size=kernel_size, padding_mode=padding_mode).double()
    with torch.no_grad():
        layer.masked_weight.normal_()  # make every kept tap matter, not only the interpolation's
        layer.conv_b.weight.normal_()
        layer.shared_bias.normal_()
        x = torch.randn(2, 3, *size, dtype=torch.float64)
        expected = dense_pixel_dcl_reference(layer, x)
        got = layer(x)
    assert_close(got, expected)


@pytest.mark.parametrize("padding_mode", ["replicate", "zeros"])
def test_pixel_dcl_equals_dense_masked_conv(padding_mode: str) -> None:
    torch.manual_seed(1)
    layer = U.PixelDCL(4, 6, kernel_size=5, init="reference", padding_mode=padding_mode)
    with torch.no_grad():
        layer.shared_bias.normal_()
    x = torch.randn(2, 4, 7, 6)
    a = layer.conv_a(x)
    b = layer.conv_b(a)
    # pixel_shuffle of [a, 0, 0, b] is the layout of METHODS.md; padding each phase map before
    # interleaving is the layer's border rule.
    mode = "constant" if padding_mode == "zeros" else "replicate"
    a, b = F.pad(a, (1,) * 4, mode=mode), F.pad(b, (1,) * 4, mode=mode)
    m = F.pixel_shuffle(torch.stack([a, torch.zeros_like(a), torch.zeros_like(a), b], 2).flatten(1, 2), 2)
    dense = m[:, :, 2:-2, 2:-2] + F.conv2d(m, layer.masked_weight * layer.mask, layer.shared_bias)
    assert_close(layer(x), dense)


def test_pixel_dcl_mask_for_k3_is_the_cross() -> None:
    mask = U.PixelDCL(1, 1).mask
    assert_close(mask, torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))


def _interpolate2(a: torch.Tensor) -> torch.Tensor:
    """The fixed x2 interpolation the ``interpolation`` init starts from, written out with slices: ``b`` the
    2x2 average of ``a``, each empty pixel the average of its 4-neighbour cross; borders replicated per map."""
    ap = F.pad(a, (1, 1, 1, 1), mode="replicate")
    h, w = a.shape[-2:]
    b = (ap[..., 1:-1, 1:-1] + ap[..., 1:-1, 2:] + ap[..., 2:, 1:-1] + ap[..., 2:, 2:]) / 4
    bp = F.pad(b, (1, 1, 1, 1), mode="replicate")
    p01 = (a + ap[..., 1:-1, 2:] + bp[..., :-2, 1:-1] + b) / 4  # left/right: a; above/below: b
    p10 = (a + ap[..., 2:, 1:-1] + bp[..., 1:-1, :-2] + b) / 4  # above/below: a; left/right: b
    out = torch.zeros(*a.shape[:-2], 2 * h, 2 * w, dtype=a.dtype)
    out[..., 0::2, 0::2], out[..., 0::2, 1::2], out[..., 1::2, 0::2], out[..., 1::2, 1::2] = a, p01, p10, b
    return out


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_interpolation_init_is_first_map_then_fixed_interpolation(kernel_size: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 4)
    dcl = U.PixelDCL(3, 4, kernel_size=kernel_size)
    idcl = U.IPixelDCL(3, 4, kernel_size=kernel_size)
    with torch.no_grad():
        idcl.conv1.weight.copy_(dcl.conv_a.weight)
        expected = _interpolate2(dcl.conv_a(x))
        assert_close(dcl(x), expected)
        assert_close(idcl(x), expected)  # iPixelDCL starts from the same interpolation of its first map


@pytest.mark.parametrize("cls", [U.PixelDCL, U.IPixelDCL], ids=lambda c: c.__name__)
def test_every_pixel_dcl_weight_trains_from_the_interpolation_init(cls: type) -> None:
    torch.manual_seed(0)
    layer = cls(4, 3)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    layer(torch.randn(2, 4, 5, 5)).sin().mean().backward()
    opt.step()
    for name, p in layer.named_parameters():
        changed = p.detach() != before[name]
        if name == "masked_weight":
            changed = changed[:, :, layer.mask.bool()]  # taps outside the parity mask never matter
        assert changed.all(), name


def test_reference_init_is_the_reference_codes() -> None:
    torch.manual_seed(0)
    layer = U.PixelDCL(32, 32, init="reference", padding_mode="zeros", bias=False)
    assert [n for n, _ in layer.named_parameters()] == ["masked_weight", "conv_a.weight", "conv_b.weight"]
    w = layer.masked_weight
    assert w.abs().max() <= 2.0 and 0.8 < w.std() < 0.95  # N(0, 1) truncated at 2 std has std 0.88
    bound = (6 / (2 * 32 * 9)) ** 0.5  # Xavier uniform, fans k*k*C_in and k*k*C_out
    for conv in (layer.conv_a, layer.conv_b):
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.95 * bound
    ipx = U.IPixelDCL(4, 4, init="reference", bias=False)
    assert all(c.bias is None for c in (ipx.conv1, ipx.conv2, ipx.conv3)) and ipx.shared_bias is None


def test_pixel_dcl_bias_is_one_shared_output_bias() -> None:
    for layer in (U.PixelDCL(3, 4), U.IPixelDCL(3, 4)):
        biases = [n for n, _ in layer.named_parameters() if "bias" in n]
        assert biases == ["shared_bias"], biases
        with torch.no_grad():
            layer.shared_bias.fill_(0.5)
        x = torch.randn(1, 3, 4, 4)
        shifted = layer(x)
        with torch.no_grad():
            layer.shared_bias.zero_()
        assert_close(shifted - layer(x), torch.full_like(shifted, 0.5))  # the same offset on every phase


def _phase_scores(cls: type, **kw) -> tuple[float, float]:
    """Phase imbalance (p=8) of a 3-stack at init from a constant and from a noise input, mean over 3 seeds."""
    const, noise = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        stack = _stack(cls, **kw)
        with torch.no_grad():
            const.append(float(phase_imbalance(stack(torch.full((1, 16, 8, 8), 0.7)), period=8)))
            noise.append(float(phase_imbalance(stack(torch.randn(16, 16, 8, 8)), period=8)))
    return sum(const) / 3, sum(noise) / 3


@pytest.mark.parametrize("cls", [U.PixelDCL, U.IPixelDCL], ids=lambda c: c.__name__)
def test_interpolation_init_is_free_of_checkerboard_like_icnr(cls: type) -> None:
    const, noise = _phase_scores(cls)
    _, icnr_noise = _phase_scores(U.PixelShuffle)
    ref_const, ref_noise = _phase_scores(cls, init="reference", padding_mode="zeros", bias=False)
    assert const == 0.0  # constant in, exactly constant out: no phase pattern, no border
    # From noise the interpolated phases are smoother than the first map's, so not exactly ICNR's 0,
    # but within half again of ICNR's score, and far below the reference init's.
    assert noise < 1.5 * icnr_noise, (noise, icnr_noise)
    assert ref_const > 0.5 and ref_noise > 4 * noise, (ref_const, ref_noise, noise)


def test_ipixel_dcl_phases() -> None:
    torch.manual_seed(0)
    layer = U.IPixelDCL(3, 2)
    x = torch.randn(1, 3, 4, 5)
    y = layer(x)
    c1 = layer.conv1(x)
    c2 = layer.conv2(torch.cat([x, c1], 1))
    c4, c5 = layer.conv3(torch.cat([x, c1, c2], 1)).chunk(2, 1)
    assert_close(y[:, :, 0::2, 0::2], c1)
    assert_close(y[:, :, 0::2, 1::2], c5)
    assert_close(y[:, :, 1::2, 0::2], c4)
    assert_close(y[:, :, 1::2, 1::2], c2)


def test_bilinear_additive_sums_groups() -> None:
    x = torch.randn(2, 6, 3, 3)
    y = U.BilinearAdditive(6, 2)(x)
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(y[:, 0], up[:, 0:3].sum(1))
    assert_close(y[:, 1], up[:, 3:6].sum(1))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: U.PixelDCL(4, 4, kernel_size=4), "kernel_size must be odd"),
        (lambda: U.IPixelDCL(4, 4, kernel_size=2), "kernel_size must be odd"),
        (lambda: U.PixelDCL(4, 4, scale_factor=4), "upsamples by exactly 2"),
        (lambda: U.IPixelDCL(4, 4, scale_factor=3), "upsamples by exactly 2"),
        (lambda: U.PixelDCL(4, 4, init="xavier"), "init must be 'interpolation' or 'reference'"),
        (lambda: U.IPixelDCL(4, 4, padding_mode="reflect"), "padding_mode must be 'replicate' or 'zeros'"),
        (lambda: U.TransposedConv(4, 4, scale_factor=4, kernel_size=3), r"kernel_size \(3\) must be >= scale_factor"),
        (lambda: U.ResizeConv(4, 4, mode="bicubic"), "mode must be"),
        (lambda: U.BilinearAdditive(6, 4), "multiple of out_channels"),
        (lambda: U.PixelShuffle(0, 4), "in_channels must be an integer >= 1"),
        (lambda: U.ResizeConv(4, 4, scale_factor=1), "scale_factor must be an integer >= 2"),
        (lambda: U.FilteredUpsample(4, 4, cutoff=1.0), "cutoff must lie between 0 and scale_factor / 2"),
        (lambda: U.FilteredUpsample(4, 4, half_width=0), "half_width must be > 0"),
        (lambda: U.FilteredUpsample(4, 4, filter_size=0), "filter_size must be an integer >= 1"),
        (lambda: U.DySample(6, 4), r"groups must be an integer >= 1 that divides in_channels \(6\)"),
    ],
)
def test_bad_arguments_are_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# FilteredUpsample (Karras et al. 2021) and DySample (Liu et al. 2023).


def test_kaiser_taps_are_scipy_firwin() -> None:
    signal = pytest.importorskip("scipy.signal")
    designs = [(12, 0.5, 0.5, 2.0), (19, 0.5, 0.3, 3.0), (24, 0.4, 0.8, 4.0), (8, 0.3, 0.1, 1.0)]
    for numtaps, cutoff, width, fs in designs:
        expected = torch.from_numpy(signal.firwin(numtaps, cutoff, width=width, fs=fs))
        assert_close(U.kaiser_lowpass_taps(numtaps, cutoff, width, fs), expected)


def _numpy_filtered_upsample(layer: U.FilteredUpsample, x: torch.Tensor) -> np.ndarray:
    """Zero insertion and ``numpy.convolve`` with the layer's taps, one row and one column at a time.

    The input is extended by ``layer.reach`` pixels as the layer's padding mode says; output pixel ``m`` of
    the original extent is sample ``m + crop`` of the full convolution (that puts the filter's centre on
    the centre of its input pixel)."""
    s, r, crop = layer.scale_factor, layer.reach, layer.crop
    mode = {"zeros": "constant", "replicate": "edge", "reflect": "reflect"}[layer.padding_mode]
    taps = layer.taps.double().numpy()  # the gain s is in the taps: they sum to s
    a = x.double().numpy()
    n, c, h, w = a.shape
    if layer.padding_mode == "reflect" and min(h, w) <= r:
        mode = "edge"  # the layer's rule for maps too small to reflect
    a = np.pad(a, ((0, 0), (0, 0), (r, r), (r, r)), mode=mode)

    def up1d(v: np.ndarray) -> np.ndarray:
        u = np.zeros(s * len(v))
        u[::s] = v
        full = np.convolve(u, taps)
        return full[crop + s * r : crop + s * r + s * (len(v) - 2 * r)]

    rows = np.apply_along_axis(up1d, 2, a)  # along H: (N, C, s*h, w + 2r)
    return np.apply_along_axis(up1d, 3, rows)  # along W: (N, C, s*h, s*w)


@pytest.mark.parametrize("padding_mode", ["zeros", "replicate", "reflect"])
@pytest.mark.parametrize("scale,filter_size,cutoff", [(2, 6, 0.5), (2, 3, 0.35), (3, 4, 0.5), (4, 2, 0.5)])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 6)])
def test_filtered_upsample_equals_numpy_convolve(
    scale: int, filter_size: int, cutoff: float, padding_mode: str, size: tuple[int, int]
) -> None:
    torch.manual_seed(scale)
    layer = U.FilteredUpsample(3, 2, scale, filter_size=filter_size, cutoff=cutoff, padding_mode=padding_mode)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    expected = torch.from_numpy(_numpy_filtered_upsample(layer, x))
    got = layer.double().upsample(x)
    assert_close(got, expected)
    assert_close(layer(x), layer.conv(expected))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_filtered_upsample_centres_each_input_pixel_and_keeps_each_phase_gain_one(scale: int) -> None:
    layer = U.FilteredUpsample(1, 1, scale, padding_mode="zeros").double()
    x = torch.zeros(1, 1, 1, 15, dtype=torch.float64)
    x[..., 7] = 1.0
    row = layer.upsample(x)[0, 0, scale // 2]  # a middle output row of the single input row
    # The impulse response is symmetric about the centre of input pixel 7's output block.
    centre = scale * 7 + (scale - 1) / 2
    left = row[: int(centre + 0.5)].flip(0)
    right = row[int(centre) + 1 :][: left.numel()]
    assert_close(left, right)
    # Each polyphase component of the taps (gain s included) sums to 1: constant in, constant out.
    phases = torch.arange(layer.numtaps) % scale
    sums = torch.zeros(scale, dtype=torch.float64).index_add(0, phases, layer.taps.double())
    assert_close(sums, torch.ones(scale, dtype=torch.float64))


def _response_db(taps: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Magnitude response of 1-D taps at ``freqs`` (cycles per sample), in dB relative to DC."""
    n = torch.arange(taps.numel(), dtype=torch.float64)
    h = (taps.double()[None] * torch.exp(-2j * torch.pi * freqs.double()[:, None] * n)).sum(-1).abs()
    return 20 * torch.log10(h / taps.double().sum())


def test_filtered_upsample_stop_band_is_where_the_checkerboard_image_lives() -> None:
    layer = U.FilteredUpsample(3, 3)  # s = 2: output frequencies are half the input's, in cycles per sample
    # Stop band: from cutoff + half_width = 0.75 cycles per input pixel (0.375 per output pixel) to Nyquist.
    stop = torch.linspace(0.375, 0.5, 50)
    assert _response_db(layer.taps, stop).max() < -40  # Kaiser's estimate for 12 taps: about -47 dB
    assert _response_db(layer.taps, torch.tensor([0.5])) < -120  # DC's image (the checkerboard): exactly 0
    # Nearest (taps [1, 1]) and bilinear (taps [0.5, 1, 0.5]) resize leave far more of the images.
    assert _response_db(torch.tensor([1.0, 1.0]), stop).max() > -25
    assert _response_db(torch.tensor([0.5, 1.0, 0.5]), stop).max() > -25
    # The pass band is kept: within 1 dB up to cutoff - half_width = 0.25 cycles per input pixel.
    assert _response_db(layer.taps, torch.linspace(0, 0.125, 20)).min() > -1


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("size", [(1, 1), (2, 5), (6, 7)])
def test_dysample_starts_as_bilinear_resize(scale: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    layer = U.DySample(8, 5, scale).double()
    x = torch.randn(2, 8, *size, dtype=torch.float64)
    expected = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    # Exact at the border too: grid_sample's border padding and interpolate both clamp to the outer centres.
    assert_close(layer.sample(x), expected)
    assert_close(layer(x), layer.conv(expected))


def dysample_slow_reference(layer: U.DySample, x: torch.Tensor) -> torch.Tensor:
    """DySample written per output pixel: the offsets of its input pixel and sub-pixel, its position, then
    bilinear interpolation from the four neighbouring input pixels, positions clamped to the outer centres."""
    n, c, h, w = x.shape
    s, g = layer.scale_factor, layer.groups
    # The 1x1 offset convolution, per pixel, times the static scope 0.25: channels (x|y, group, dy, dx).
    offsets = torch.einsum("oc,nchw->nohw", layer.offset_weight, x) + layer.offset_bias.view(1, -1, 1, 1)
    offsets = 0.25 * offsets
    out = torch.zeros(n, c, s * h, s * w, dtype=x.dtype)
    for b, gi, m, q in itertools.product(range(n), range(g), range(s * h), range(s * w)):
        i, dy, j, dx = m // s, m % s, q // s, q % s
        phase = gi * s * s + dy * s + dx
        px = (q + 0.5) / s - 0.5 + float(offsets[b, phase, i, j])
        py = (m + 0.5) / s - 0.5 + float(offsets[b, g * s * s + phase, i, j])
        px, py = min(max(px, 0.0), w - 1.0), min(max(py, 0.0), h - 1.0)
        x0, y0 = int(np.floor(px)), int(np.floor(py))
        x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
        ax, ay = px - x0, py - y0
        chans = slice(gi * (c // g), (gi + 1) * (c // g))
        v = x[b, chans]
        top = (1 - ax) * v[:, y0, x0] + ax * v[:, y0, x1]
        bottom = (1 - ax) * v[:, y1, x0] + ax * v[:, y1, x1]
        out[b, chans, m, q] = (1 - ay) * top + ay * bottom
    return out


@pytest.mark.parametrize("scale,groups,size", [(2, 2, (3, 4)), (2, 1, (1, 2)), (3, 4, (2, 3))])
def test_dysample_equals_slow_reference(scale: int, groups: int, size: tuple[int, int]) -> None:
    torch.manual_seed(scale + groups)
    layer = U.DySample(4, 3, scale, groups=groups).double()
    with torch.no_grad():
        layer.offset_weight.normal_(std=1.0)  # offsets of about a pixel: fractional, and beyond the border
        layer.offset_bias.normal_(std=1.0)
        x = torch.randn(2, 4, *size, dtype=torch.float64)
        expected = dysample_slow_reference(layer, x)
        assert (layer.positions(x) < 0).any()  # the border clamp is exercised
        assert_close(layer.sample(x), expected)
        assert_close(layer(x), layer.conv(expected))


def test_dysample_offsets_train_from_the_bilinear_init() -> None:
    torch.manual_seed(0)
    layer = U.DySample(8, 4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(2, 8, 5, 5)).sin().mean().backward()
    opt.step()
    assert layer.offset_weight.abs().min() > 0 and layer.offset_bias.abs().min() > 0
