"""The study's figures: samples side by side with a zoom on their worst window, radial power spectra, FID curves.

Drawn from the ``eval_images.pt`` each run's :class:`~gan_upsample.studies.evaluation.StudyRecorder` writes
(fakes, reals and averaged spectra) and from the FID curve kept in each run's ``result.json``, so a report can be
redrawn without retraining.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "best_window",
    "draw_curves",
    "draw_figures",
    "draw_samples",
    "draw_spectra",
    "nyquist_energy",
    "ring_frequencies",
]


def nyquist_energy(images: torch.Tensor, window: int) -> torch.Tensor:
    """Per image, window sums of the local (pi, pi) energy, shape ``(N, H - window + 1, W - window + 1)``."""
    g = images.float().mean(dim=1, keepdim=True) / 255.0
    r = g[..., :-1, :-1] - g[..., 1:, :-1] - g[..., :-1, 1:] + g[..., 1:, 1:]
    r = torch.nn.functional.pad(r.abs(), (0, 1, 0, 1))
    return torch.nn.functional.avg_pool2d(r, window, stride=1).squeeze(1)


def best_window(energy: torch.Tensor) -> tuple[int, int, int]:
    """``(image, y, x)`` of the largest entry of an energy map ``(N, h, w)``."""
    n, h, w = energy.shape
    flat = int(energy.reshape(-1).argmax())
    return flat // (h * w), (flat % (h * w)) // w, flat % w


def draw_samples(
    columns: Sequence[tuple[str, torch.Tensor]], kind: str, path: Path, title: str, grid: int = 16
) -> Path:
    """One figure: per column a grid of ``grid`` images and, below, a nearest-neighbour zoom of one window.

    Args:
        columns: ``(label, uint8 images (N, C, H, W))``; the first is the real images. For ``paired`` tasks
            image ``i`` of every column shows the same test image, and all columns zoom on the same window.
        kind: ``gan``: each column zooms on its window with the most local energy at the (pi, pi) frequency
            (the checkerboard's); ``paired``: all zoom on the window where a reconstruction exceeds its target's
            (pi, pi) energy the most.
        path: PNG to write.
        title: Figure title.
        grid: Images per grid (a square number looks best).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from torchvision.utils import make_grid

    n = min(grid, *(imgs.shape[0] for _, imgs in columns))
    nrow = math.ceil(math.sqrt(n))
    h, w = columns[0][1].shape[-2:]
    window = max(4, min(h, w) // 4)
    energies = [nyquist_energy(imgs[:n], window) for _, imgs in columns]
    if kind == "paired":
        # Where some upsampler's reconstruction has the most (pi, pi) energy beyond its target's: an artifact,
        # not an edge of the photograph. Every column zooms on that window of the same test image.
        excess = [(e - energies[0]).clamp_min(0) for e in energies[1:]] or energies
        shared = best_window(torch.stack(excess).amax(0))
        spots = [shared] * len(columns)
    else:
        spots = [best_window(e) for e in energies]
    per_row = min(5, len(columns))
    blocks = math.ceil(len(columns) / per_row)
    fig = Figure(figsize=(2.7 * per_row, 5.6 * blocks + 0.4), dpi=120, layout="constrained")
    pad = 2
    for i, ((label, imgs), (k, y, x)) in enumerate(zip(columns, spots)):
        block, col = divmod(i, per_row)
        shown = imgs[:n]
        if shown.shape[1] == 1:
            shown = shown.expand(-1, 3, -1, -1)
        grid_img = make_grid(shown, nrow=nrow, padding=pad, pad_value=0).permute(1, 2, 0).numpy()
        ax = fig.add_subplot(2 * blocks, per_row, 2 * block * per_row + col + 1)
        ax.imshow(grid_img, interpolation="nearest")
        y0, x0 = pad + (k // nrow) * (h + pad), pad + (k % nrow) * (w + pad)
        ax.add_patch(Rectangle((x0 + x - 0.5, y0 + y - 0.5), window, window, fill=False, ec="yellow", lw=1.2))
        ax.set_title(label, fontsize=10)
        ax.set_axis_off()
        crop = shown[k, :, y : y + window, x : x + window].permute(1, 2, 0).numpy()
        ax = fig.add_subplot(2 * blocks, per_row, (2 * block + 1) * per_row + col + 1)
        ax.imshow(crop, interpolation="nearest")
        ax.set_title(f"zoom {window}x{window} px, image {k + 1}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(textwrap.fill(title, width=int(22 * per_row)), fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def ring_frequencies(h: int, w: int, bins: int) -> torch.Tensor:
    """Centre radius (cycles per pixel) of each ring of :func:`~gan_upsample.metrics.radial_power_spectrum`."""
    r_max = math.hypot(float(torch.fft.fftfreq(h).abs().max()), float(torch.fft.fftfreq(w).abs().max()))
    return (torch.arange(bins, dtype=torch.float64) + 0.5) * r_max / bins


def draw_spectra(
    spectra: Sequence[tuple[str, torch.Tensor]], real: torch.Tensor, image_size: Sequence[int], path: Path, title: str
) -> Path:
    """Averaged radial power spectra of each upsampler's fakes against the reals, and their difference.

    Args:
        spectra: ``(label, log10 spectrum)`` per upsampler (already averaged over seeds).
        real: log10 spectrum of the real images.
        image_size: ``(H, W)`` of the images (for the frequency axis).
        path: PNG to write.
        title: Figure title.
    """
    from matplotlib.figure import Figure

    freq = ring_frequencies(int(image_size[0]), int(image_size[1]), real.numel()).numpy()
    fig = Figure(figsize=(13, 4.6), dpi=120, layout="constrained")
    ax, diff = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = [f"C{i % 10}" for i in range(len(spectra))]
    styles = ["-", "--", "-.", ":"]
    ax.plot(freq, real.numpy(), color="black", lw=2.5, label="real")
    for i, ((label, spec), colour) in enumerate(zip(spectra, colours)):
        style = styles[(i // 10) % len(styles)]
        ax.plot(freq, spec.numpy(), color=colour, ls=style, lw=1.2, label=label)
        diff.plot(freq, (spec - real).numpy(), color=colour, ls=style, lw=1.2, label=label)
    diff.axhline(0.0, color="black", lw=1.5)
    ax.set_ylabel("log10 share of power")
    diff.set_ylabel("log10 (fake / real)")
    for a in (ax, diff):
        a.set_xlabel("spatial frequency (cycles / pixel)")
        a.axvline(0.5, color="grey", lw=0.8, ls=":")
        a.grid(alpha=0.3)
    ax.set_title("averaged radial power spectrum", fontsize=10)
    diff.set_title("fakes relative to reals (0 = same as reals)", fontsize=10)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside center right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def draw_figures(out: Path, by_name: dict[str, list[dict[str, Any]]]) -> None:
    """Write ``out/samples.png`` and ``out/spectra.png``.

    Args:
        out: The study folder (its name titles the figures).
        by_name: Per upsampler, the ``eval_images.pt`` contents of its runs (first seed first); nothing is
            drawn when empty.
    """
    if not by_name:
        return
    first = next(iter(by_name.values()))[0]
    kind = first["kind"]
    columns = [("real (targets)" if kind == "paired" else "real", first["reals"])]
    columns += [(name, blobs[0]["fakes"]) for name, blobs in by_name.items()]
    if kind == "paired":
        what = "reconstructions of the same test images"
        zoom = "the window where a reconstruction's (pi, pi) energy most exceeds the target's"
    else:
        what, zoom = "samples from the same latents", "each grid's window with the most (pi, pi) energy"
    title = f"{out.name}: {what}, first seed of each (zoom, nearest neighbour: {zoom})"
    draw_samples(columns, kind, out / "samples.png", title)
    spectra = [(name, torch.stack([b["spectrum_fake"] for b in blobs]).mean(0)) for name, blobs in by_name.items()]
    counts = sorted({len(b) for b in by_name.values()})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    draw_spectra(
        spectra,
        first["spectrum_real"],
        first["image_size"],
        out / "spectra.png",
        f"{out.name}: {first['spectrum_samples']} fakes per run, mean over {seeds} seed(s) per upsampler, vs "
        f"{first['spectrum_samples']} real test images",
    )


def draw_curves(
    path: Path,
    curves: dict[str, list[tuple[int, dict[str, Any], bool]]],
    title: str,
    trends: dict[str, str] | None = None,
) -> Path:
    """FID against generator steps during training: one panel per table row, all on one y-axis (log scale when
    every value is positive).

    In each panel a thin line per seed (dotted grey for a run that failed to learn), the mean of the seeds that
    learned in bold (at the steps they all have), and the real-vs-real floor of the curve's images dashed.

    Args:
        path: PNG to write.
        curves: Per row, ``(seed, curve, failed)`` with the curve as
            :func:`~gan_upsample.studies.runner.read_curve` reads it (``steps``, ``values``, ``floor``, ``key``).
        title: Figure title.
        trends: Per row, its fitted FID trend over the last quarter (``Trend.cell()``), under the panel's name.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    per_row = min(4, len(curves))
    rows = math.ceil(len(curves) / per_row)
    # At least two panels wide, so that the legend (two columns) and the title fit a one-row study.
    fig = Figure(figsize=(3.4 * max(2, per_row), 2.8 * rows + 0.5), dpi=120, layout="constrained")
    axes = fig.subplots(rows, per_row, sharex=True, sharey=True, squeeze=False).ravel()
    key = next(c["key"] for runs in curves.values() for _, c, _ in runs)
    for ax, (name, runs) in zip(axes, curves.items()):
        learned = []
        for _, curve, failed in sorted(runs, key=lambda r: r[0]):
            style = {"color": "grey", "ls": ":", "lw": 1.0} if failed else {"color": "C0", "lw": 0.8, "alpha": 0.6}
            ax.plot(curve["steps"], curve["values"], marker=".", ms=3, **style)
            if not failed:
                learned.append(dict(zip(curve["steps"], curve["values"])))
        if learned:
            steps = sorted(set.intersection(*(set(c) for c in learned)))
            mean = [sum(c[s] for c in learned) / len(learned) for s in steps]
            ax.plot(steps, mean, color="C0", lw=2.4)
        floors = [c["floor"] for _, c, _ in runs if c.get("floor") is not None]
        if floors:
            ax.axhline(sum(floors) / len(floors), color="black", ls="--", lw=1.0)
        label = name + ("" if len(learned) == len(runs) else f" ({len(runs) - len(learned)} failed)")
        if (trends or {}).get(name):
            label += f"\ntrend {trends[name]}"  # type: ignore[index]
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(curves) :]:
        ax.set_axis_off()
    for ax in axes[max(0, len(curves) - per_row) : len(curves)]:  # the lowest panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("generator step")
    values = [v for runs in curves.values() for _, c, _ in runs for v in c["values"]]
    if values and all(math.isfinite(v) and v > 0 for v in values):
        axes[0].set_yscale("log")  # shared: the trend is fitted to log FID, and curves span decades above the floor
    for ax in axes[::per_row]:
        ax.set_ylabel(key.partition("/")[2] + (" (log scale)" if axes[0].get_yscale() == "log" else ""))
    handles = [
        Line2D([], [], color="C0", lw=0.8, alpha=0.6, marker=".", ms=3, label="one seed"),
        Line2D([], [], color="grey", lw=1.0, ls=":", marker=".", ms=3, label="a seed that failed to learn"),
        Line2D([], [], color="C0", lw=2.4, label="mean of the seeds that learned"),
        Line2D([], [], color="black", lw=1.0, ls="--", label="real vs real (floor)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, 2 * per_row), fontsize=8)
    text = f"{title} (thin: one seed; bold: mean of the seeds that learned; dashed: real-vs-real floor)"
    fig.suptitle(textwrap.fill(text, width=int(48 * max(2, per_row))), fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
