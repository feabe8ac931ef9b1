"""Checkerboard artifacts at random initialisation, before any training.

Odena et al. 2016 ("Deconvolution and Checkerboard Artifacts") observe that a stack of transposed
convolutions shows a checkerboard pattern already at initialisation, while resize-convolution does
not; Aitken et al. 2017 show the same for sub-pixel convolution without ICNR. This study builds a
small stack of each upsampler with random weights, feeds a constant and a random input, measures
the phase imbalance and the Nyquist peak ratio (:mod:`gan_upsample.metrics.checkerboard`) and draws
the outputs side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan_upsample.metrics.checkerboard import nyquist_peak_ratio, phase_imbalance
from gan_upsample.nn import upsamplers as U


@dataclass(frozen=True)
class Variant:
    """One upsampler configuration of the study."""

    label: str
    factory: Callable[[int, int], U.Upsampler]


def default_variants() -> list[Variant]:
    """The upsamplers compared by default, with the options that matter for artifacts."""
    return [
        Variant("TransposedConv k3", lambda i, o: U.TransposedConv(i, o, kernel_size=3)),
        Variant("TransposedConv k4", lambda i, o: U.TransposedConv(i, o, kernel_size=4)),
        Variant("ResizeConv nearest", lambda i, o: U.ResizeConv(i, o, mode="nearest")),
        Variant("ResizeConv bilinear", lambda i, o: U.ResizeConv(i, o, mode="bilinear")),
        Variant("PixelShuffle", lambda i, o: U.PixelShuffle(i, o, icnr=False)),
        Variant("PixelShuffle ICNR", lambda i, o: U.PixelShuffle(i, o, icnr=True)),
        Variant("PixelDCL", lambda i, o: U.PixelDCL(i, o)),
        # The authors' layer (Gao et al. 2017, HongyangGao/PixelDCN): random phase mixing, zero padding.
        Variant(
            "PixelDCL reference", lambda i, o: U.PixelDCL(i, o, init="reference", padding_mode="zeros", bias=False)
        ),
        Variant("iPixelDCL", lambda i, o: U.IPixelDCL(i, o)),
        Variant(
            "iPixelDCL reference", lambda i, o: U.IPixelDCL(i, o, init="reference", padding_mode="zeros", bias=False)
        ),
        Variant("BilinearAdditive", lambda i, o: U.BilinearAdditive(i, o)),
        Variant("FilteredUpsample", lambda i, o: U.FilteredUpsample(i, o)),
        Variant("DySample", lambda i, o: U.DySample(i, o)),
    ]


def build_stack(
    factory: Callable[[int, int], U.Upsampler], layers: int, channels: int, out_channels: int = 3
) -> nn.Module:
    """``layers`` x2 upsamplers with leaky ReLU between them, then a 1x1 projection to RGB.

    The projection is the same kind of layer for every method so that only the upsamplers differ.
    """
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [factory(channels, channels), nn.LeakyReLU(0.2)]
    mods.append(nn.Conv2d(channels, out_channels, 1))
    return nn.Sequential(*mods)


@dataclass
class Row:
    """Scores of one variant, averaged over seeds (``*_sd``: their standard deviation)."""

    label: str
    phase_constant: float
    phase_constant_sd: float
    phase_noise: float
    phase_noise_sd: float
    phase_noise_layer: float
    phase_noise_layer_sd: float
    nyquist_noise: float
    nyquist_noise_sd: float
    images: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std(correction=0))


@torch.no_grad()
def run_study(
    variants: Sequence[Variant] | None = None,
    layers: int = 3,
    channels: int = 64,
    input_size: int = 8,
    batch_size: int = 8,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> list[Row]:
    """Measure every variant at random initialisation.

    Args:
        variants: Upsamplers to compare (default: :func:`default_variants`).
        layers: Number of x2 layers in each stack (the total factor is ``2 ** layers``).
        channels: Channels of the stack.
        input_size: Side of the input map.
        batch_size: Random inputs per seed.
        seeds: One set of random weights (and inputs) per seed; scores are averaged over them.

    Returns:
        One :class:`Row` per variant; ``images`` holds the first seed's outputs for drawing.
    """
    period = 2**layers
    rows = []
    for variant in variants or default_variants():
        pc, pn, pl, nq = [], [], [], []
        images: dict[str, torch.Tensor] = {}
        for seed in seeds:
            torch.manual_seed(seed)
            stack = build_stack(variant.factory, layers, channels).eval()
            constant = torch.ones(1, channels, input_size, input_size)
            noise = torch.randn(batch_size, channels, input_size, input_size)
            y_const, y_noise = stack(constant), stack(noise)
            pc.append(float(phase_imbalance(y_const, period)))
            pn.append(float(phase_imbalance(y_noise, period)))
            pl.append(float(phase_imbalance(y_noise, 2)))
            nq.append(float(nyquist_peak_ratio(y_noise, period).mean()))
            if not images:
                images = {"constant": y_const[0], "noise": y_noise[0]}
        rows.append(Row(variant.label, *_mean_sd(pc), *_mean_sd(pn), *_mean_sd(pl), *_mean_sd(nq), images=images))
    return rows


def white_noise_nyquist(size: int, period: int) -> float:
    """The Nyquist peak ratio of white noise: the share of frequency bins the score counts."""
    return ((period * period) - 1) / (size * size - 1)


def format_table(rows: Sequence[Row], layers: int, size: int) -> str:
    """A Markdown table of the scores."""
    p = 2**layers
    head = (
        f"| upsampler | phase imbalance, constant input (p={p}) | phase imbalance, noise input (p={p}) "
        f"| phase imbalance, noise input (p=2) | Nyquist peak ratio, noise input (p={p}) |\n|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r.label} | {r.phase_constant:.3f} ± {r.phase_constant_sd:.3f} "
        f"| {r.phase_noise:.3f} ± {r.phase_noise_sd:.3f} | {r.phase_noise_layer:.3f} ± {r.phase_noise_layer_sd:.3f} "
        f"| {r.nyquist_noise:.4f} ± {r.nyquist_noise_sd:.4f} |\n"
        for r in rows
    )
    foot = f"\nWhite noise would give a Nyquist peak ratio of {white_noise_nyquist(size, p):.4f} at {size}x{size}.\n"
    return head + body + foot


def _to_display(img: torch.Tensor) -> torch.Tensor:
    """Min-max scale each channel of one (C, H, W) output to [0, 1] for display.

    Per channel, so the spatial pattern shows rather than the offsets between channels; an exactly
    flat channel shows mid-grey.
    """
    lo = img.amin(dim=(1, 2), keepdim=True)
    hi = img.amax(dim=(1, 2), keepdim=True)
    flat = (hi - lo) <= 1e-6 * hi.abs().clamp_min(1.0)
    return torch.where(flat, torch.full_like(img, 0.5), (img - lo) / (hi - lo).clamp_min(1e-12))


def draw_figure(rows: Sequence[Row], path: str | Path, zoom: int = 16) -> Path:
    """One PNG: a row per upsampler with the constant-input output, a zoomed corner of it, and the
    noise-input output. Each channel is min-max scaled on its own, so even a faint pattern shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.4 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        const = _to_display(row.images["constant"]).permute(1, 2, 0).numpy()
        noise = _to_display(row.images["noise"]).permute(1, 2, 0).numpy()
        h, w = const.shape[:2]
        crop = const[h // 2 - zoom // 2 : h // 2 + zoom // 2, w // 2 - zoom // 2 : w // 2 + zoom // 2]
        for ax, img, title in zip(
            ax_row,
            (const, crop, noise),
            (f"{row.label}\nconstant input", f"centre {zoom}x{zoom}", "noise input"),
        ):
            ax.imshow(img, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(f"PI {row.phase_constant:.2f}", fontsize=8)
    fig.suptitle("Outputs at random initialisation (each channel min-max scaled)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.4 * len(rows))))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out_dir: str | Path = "runs/checkerboard_at_init", layers: int = 3, channels: int = 64, seeds: int = 5) -> str:
    """Run the study, write ``figure.png`` and ``table.md`` to ``out_dir`` and return the table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    input_size = 8
    rows = run_study(layers=layers, channels=channels, input_size=input_size, seeds=range(seeds))
    table = format_table(rows, layers, input_size * 2**layers)
    (out / "table.md").write_text(table)
    draw_figure(rows, out / "figure.png")
    return table
