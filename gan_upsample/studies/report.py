"""The study's report: ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (per upsampler,
mean ± standard deviation over seeds), and the figures (:mod:`gan_upsample.studies.figures`).

Rows come from each finished run's ``result.json`` (:mod:`gan_upsample.studies.runner`). A study folder that
holds only its report (``docs/study/*``: ``results.csv`` without the run folders) is read from
``results.csv`` instead, with the settings of the call that asks for the report, so ``--report_only`` rebuilds
the same tables from what was committed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gan_upsample.files import write_atomic
from gan_upsample.studies.figures import draw_figures
from gan_upsample.studies.runner import EVAL_IMAGES, RESULT, read_json, run_folder

__all__ = ["aggregate", "load_results", "markdown_table", "metric_columns", "write_report"]

# Columns of the summary, in order: (metric key, header, format). FID columns are added from their keys.
_COLUMNS = [
    ("spectral_excess_db", "spectral excess p=2 (dB; 0 = as reals)", ".2f"),
    ("phase_imbalance", "phase imbalance p=2 ↓", ".3f"),
    ("spectrum_distance", "spectrum distance (decades) ↓", ".3f"),
    ("lpips_alex", "LPIPS AlexNet ↓", ".4f"),
    ("lpips_alex-random", "LPIPS AlexNet, random backbone ↓", ".4f"),
    ("lpips_vgg", "LPIPS VGG ↓", ".4f"),
    ("lpips_vgg-random", "LPIPS VGG, random backbone ↓", ".4f"),
    ("normalized_error", "normalised error ↓", ".4f"),
    ("psnr", "PSNR (dB) ↑", ".2f"),
    ("ssim", "SSIM ↑", ".3f"),
    ("high_frequency_ratio", "high-freq. ratio (1 = as targets)", ".3f"),
    ("train_images_per_s", "train images/s ↑", ".0f"),
    ("peak_cuda_mb", "peak CUDA memory (MB)", ".0f"),
    ("peak_rss_mb", "peak RSS (MB)", ".0f"),
    ("peak_rss_increase_mb", "RSS growth in training (MB)", ".0f"),
]
_TRAIN_KEYS = (
    "train_images_per_s",
    "peak_rss_mb",
    "peak_rss_increase_mb",
    "peak_cuda_mb",
    "g_steps",
    "fit_seconds",
    "cpu_utilisation",
    "torch_threads",
    "steal_seconds",
)


def _fid_header(key: str) -> str:
    """Header of an FID column from its key, e.g. ``fid_256_randomcnn``."""
    kind, _, tag = key.partition("_")
    count, _, extractor = tag.partition("_")
    what = "FID of reconstructions (rFID)" if kind == "rfid" else "FID"
    if extractor == "randomcnn":
        features = "RandomCNN random-weight features, relative only"
    elif extractor:
        features = f"{extractor} features, not Inception"
    else:
        features = "Inception"
    return f"{what}, {count} images, {features} ↓"


def metric_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The summary columns present in ``rows``: each FID beside its real-vs-real baseline, precision and
    recall, then :data:`_COLUMNS` in order."""
    present = {k for row in rows for k, v in row.items() if isinstance(v, (int, float)) and v is not None}
    fids = sorted(k for k in present if k.startswith(("fid_", "rfid_")) and not k.endswith(("_std", "_real_baseline")))
    columns: list[tuple[str, str, str]] = []
    for k in fids:
        columns.append((k, _fid_header(k), ".4g"))
        if f"{k}_real_baseline" in present:
            columns.append((f"{k}_real_baseline", "FID real vs real (two halves of the reals; the floor)", ".4g"))
    for kind, header in (("precision_", "precision ↑ (0: garbage)"), ("recall_", "recall ↑ (0: mode collapse)")):
        for k in sorted(k for k in present if k.startswith(kind) and not k.endswith("_real_baseline")):
            columns.append((k, header, ".3f"))
    return columns + [c for c in _COLUMNS if c[0] in present]


def aggregate(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation (``n - 1``; ``nan`` for one seed) over seeds, per upsampler.

    Args:
        rows: One dict per run with ``upsampler`` and numeric values.
        keys: The numeric keys to aggregate; a run without a key does not count for it.

    Returns:
        One dict per upsampler, in order of first appearance: ``upsampler``, ``n_seeds``, ``<key>_mean``,
        ``<key>_sd``. A ``nan`` value (e.g. a diverged run) makes the mean ``nan``: it is not hidden.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["upsampler"], []).append(row)
    out = []
    for name, runs in groups.items():
        entry: dict[str, Any] = {"upsampler": name, "n_seeds": len(runs)}
        for key in keys:
            values = [float(r[key]) for r in runs if r.get(key) is not None]
            if not values:
                entry[f"{key}_mean"] = entry[f"{key}_sd"] = None
                continue
            mean = math.fsum(values) / len(values)
            sd = (
                math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
                if len(values) > 1
                else math.nan
            )
            entry[f"{key}_mean"], entry[f"{key}_sd"] = mean, sd
        out.append(entry)
    return out


def _cell(mean: float | None, sd: float | None, fmt: str) -> str:
    if mean is None:
        return "–"
    if sd is None or math.isnan(sd):
        return format(mean, fmt)
    return f"{mean:{fmt}} ± {sd:{fmt if fmt != '.4g' else '.2g'}}"


def markdown_table(summary: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """The summary as a Markdown table: one row per upsampler, ``mean ± sd`` cells."""
    head = "| upsampler | seeds | " + " | ".join(h for _, h, _ in columns) + " |\n"
    rule = "|---|---|" + "---|" * len(columns) + "\n"
    body = "".join(
        f"| {s['upsampler']} | {s['n_seeds']} | "
        + " | ".join(_cell(s.get(f"{k}_mean"), s.get(f"{k}_sd"), fmt) for k, _, fmt in columns)
        + " |\n"
        for s in summary
    )
    return head + rule + body


def _csv_text(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buffer.getvalue()


def _notes(results: Sequence[dict[str, Any]], base: str, seeds: Sequence[int]) -> str:
    first = results[0]
    settings = first.get("settings", {})
    ev = settings.get("eval", {})
    steps = sorted({r.get("g_steps") for r in results if r.get("g_steps") is not None})
    extractor = ev.get("fid_extractor", "?")
    fid = {
        "randomcnn": f"FID features: RandomCNN (3 conv stages, random weights, seed {ev.get('fid_seed', 0)}): a "
        "relative number for this table only, not comparable with Inception FIDs elsewhere.",
        "inception": "FID features: InceptionV3 with torch-fidelity's weights (the published protocol).",
        "none": "FID: not computed.",
    }.get(extractor, f"FID features: {extractor}")
    lines = [
        f"Base config `{base}`; seeds {', '.join(map(str, seeds))}; epochs per run: "
        f"{settings.get('max_epochs') or 'as the base'} ({', '.join(map(str, steps)) or '?'} generator steps); "
        f"validation during fit: {'on' if ev.get('validate') else 'off'}; extra fit arguments: "
        f"`{' '.join(settings.get('extra', [])) or 'none'}`.",
        f"{fid} Generated (or reconstructed) images against the test split, quantised to uint8 first.",
        "Checkerboard scores at period 2 (one x2 layer) on the same test images; spectral excess in dB of "
        "period-2 spectral power of fakes over reals (positive: checkerboard).",
        "± is the standard deviation over seeds (n - 1). Train images/s: training steps timed after "
        f"{ev.get('warmup_batches', '?')} warm-up batches (no data loading, validation or checkpointing). "
        "Peak RSS: peak resident memory of the run's process during training (Python, torch, model and data "
        "included); RSS growth: its increase over the resident memory at the start of training (activations, "
        "gradients, optimiser state)."
        + (
            " On this OS the peak could not be reset: it is the peak of the whole process, start-up included."
            if any(r.get("rss_peak_scope") == "process" for r in results)
            else ""
        ),
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}, "
        f"device {first.get('device', '?')}.",
    ]
    use = sorted(r["cpu_utilisation"] for r in results if r.get("cpu_utilisation"))
    if use:
        median = use[len(use) // 2]
        slow = [
            f"{r['upsampler']} seed {r['seed']} ({r['cpu_utilisation']:.2f})"
            for r in results
            if (r.get("cpu_utilisation") and r["cpu_utilisation"] < 0.75 * median)
            or (r.get("steal_seconds") or 0) > 0.1 * (r.get("fit_seconds") or math.inf)
        ]
        lines.append(
            f"CPU use during training: median {median:.2f} CPU-seconds per second."
            + (
                " Runs that shared the cores with other processes or guests (CPU use in brackets; their train "
                f"images/s are too low): {', '.join(slow)}."
                if slow
                else ""
            )
        )
    return "\n".join(f"- {line}" for line in lines) + "\n"


def load_results(
    out: Path, combos: Sequence[tuple[str, int]], settings: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The flat rows of the finished runs among ``combos`` (metrics, training record, identity).

    A run's row comes from its ``result.json``. With ``settings`` (``--report_only``), a run without one but
    with a row in ``out/results.csv`` (a report kept without its run folders, like ``docs/study/*``) gets that
    row, and ``settings`` as the settings it was made with.
    """
    committed = _read_results_csv(out / "results.csv") if settings is not None else {}
    rows = []
    for name, seed in combos:
        result = read_json(run_folder(out, name, seed) / RESULT)
        if result is None:
            if (name, seed) in committed:
                rows.append({**committed[(name, seed)], "settings": settings})
            continue
        row: dict[str, Any] = {"upsampler": name, "seed": seed}
        row.update(result.get("metrics", {}))
        train = result.get("train", {})
        row.update({k: train.get(k) for k in (*_TRAIN_KEYS, "device", "rss_peak_scope")})
        row["wall_seconds"] = result.get("wall_seconds")
        row["settings"] = result.get("settings", {})
        rows.append(row)
    return rows


def _number(text: str) -> int | float | None:
    """A ``results.csv`` cell as written: empty is ``None``, ``768`` an int, anything else a float."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _read_results_csv(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows of a ``results.csv`` by ``(upsampler, seed)``; empty when there is none."""
    if not path.is_file():
        return {}
    rows = {}
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {"upsampler": raw.pop("upsampler"), "seed": int(raw.pop("seed"))}
            row.update({k: _number(v) for k, v in raw.items()})
            # results.csv leaves the device out; a CUDA run is the one that recorded CUDA memory.
            row["device"] = "cuda" if row.get("peak_cuda_mb") is not None else "cpu"
            rows[(row["upsampler"], row["seed"])] = row
    return rows


def write_report(out: Path, rows: Sequence[dict[str, Any]], base: str, seeds: Sequence[int]) -> str:
    """Write ``results.csv``, ``summary.csv``, ``summary.md``, ``samples.png`` and ``spectra.png``; return the table.

    The figures are drawn from the runs' ``eval_images.pt``; without them (a committed report) they are left
    as they are.
    """
    columns = metric_columns(rows)
    keys = [k for k, _, _ in columns]
    skip = {"upsampler", "seed", "settings", "device", "rss_peak_scope"}
    # Columns with a value in at least one run (peak_cuda_mb stays out of a CPU study).
    extra = sorted({k for r in rows for k, v in r.items() if k not in skip and k not in keys and v is not None})
    write_atomic(out / "results.csv", _csv_text(rows, ["upsampler", "seed", *keys, *extra]))
    summary = aggregate(rows, [*keys, *(k for k in ("g_steps", "fit_seconds", "wall_seconds") if k in extra)])
    fields = ["upsampler", "n_seeds", *(f"{k}_{s}" for k in keys for s in ("mean", "sd"))]
    write_atomic(out / "summary.csv", _csv_text(summary, fields))
    table = markdown_table(summary, columns)
    write_atomic(
        out / "summary.md",
        f"# Upsampler comparison: {out.name}\n\n{table}\n{_notes(rows, base, seeds)}"
        "\nFigures: `samples.png` (samples, zoomed windows) and `spectra.png` (radial power spectra).\n",
    )
    blobs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        path = run_folder(out, row["upsampler"], row["seed"]) / EVAL_IMAGES
        if path.is_file():
            blobs.setdefault(row["upsampler"], []).append(torch.load(path, weights_only=True))
    draw_figures(out, blobs)
    return table
