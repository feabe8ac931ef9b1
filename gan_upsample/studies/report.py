"""The study's report: ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (per upsampler,
mean ± half-width of the 95 % t-interval over the seeds that learned), and the figures
(:mod:`gan_upsample.studies.figures`).

A run *failed to learn* when its recall is below ``collapse_recall`` (mode collapse), its precision below
``garbage_precision`` (garbage), its losses or FID were non-finite, or it did not finish: it is listed under
"Failed runs" with the reason and left out of every mean (:func:`failure_reason`); the table's "learned / runs"
column counts them. Paired studies have no precision or recall, so only non-finite values flag a run there.

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
from gan_upsample.metrics.convergence import trend
from gan_upsample.studies.figures import draw_curves, draw_figures
from gan_upsample.studies.runner import EVAL_IMAGES, FAILURE, RESULT, late_median, read_json, run_folder

__all__ = [
    "aggregate",
    "failure_reason",
    "load_results",
    "markdown_table",
    "metric_columns",
    "short_table",
    "t_quantile",
    "write_report",
]

# Columns of the summary, in order: (metric key, header, format). FID columns are added from their keys.
_COLUMNS = [
    ("spectral_excess_db", "spectral excess p=2 (dB; 0 = as reals)", ".2f"),
    ("phase_imbalance", "phase imbalance p=2 ↓", ".3f"),
    ("d_of_fake_late", "D(G(z)), median over the last half (near 0: D wins)", ".3f"),
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
    "skipped_steps",
)
# Text columns of results.csv (everything else is a number); the curve's steps and values are ";"-joined numbers.
_TEXT = ("placement", "failed", "unfinished", "curve_key", "curve_steps", "curve_values")
#: Columns of results.csv that hold a run's FID curve during training (with ``curve_floor``, a number).
_CURVE = {"key": "curve_key", "steps": "curve_steps", "values": "curve_values", "floor": "curve_floor"}


def _fid_header(key: str) -> str:
    """Header of an FID column from its key, e.g. ``fid_256_randomcnn``."""
    kind, _, tag = key.partition("_")
    count, _, extractor = tag.partition("_")
    what = "FID of reconstructions (rFID)" if kind == "rfid" else "FID"
    if extractor == "randomcnn":
        features = "RandomCNN random-weight features, relative only"
    elif extractor == "shapesnet":
        features = "ShapesNet features (trained on bright shapes; offline, relative only)"
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


def t_quantile(df: int, p: float = 0.975) -> float:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom (``t_{0.975, 1}`` = 12.706)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def failure_reason(row: dict[str, Any], collapse_recall: float = 0.1, garbage_precision: float = 0.1) -> str | None:
    """Why a run failed to learn, or ``None`` when it learned.

    Args:
        row: A run's row (:func:`load_results`).
        collapse_recall: Recall below this is mode collapse.
        garbage_precision: Precision below this is garbage.

    Returns:
        ``did not finish (...)`` for a run without results (training stops itself after consecutive non-finite
        steps), ``non-finite FID``, ``mode collapse: recall ...`` or ``garbage: precision ...`` (all that apply,
        joined), else ``None``. Isolated steps skipped for non-finite losses do not fail a run: the module
        discards them and goes on; :func:`write_report` lists such runs.
    """
    if row.get("unfinished"):
        return f"did not finish ({row['unfinished']})"
    why = []
    for key, value in row.items():
        if not (isinstance(value, (int, float)) and key.startswith(("fid_", "rfid_"))) or key.endswith("_baseline"):
            continue
        if not math.isfinite(value):
            why.append(f"non-finite {key}")
    for key, value in sorted(row.items()):
        if not isinstance(value, (int, float)) or key.endswith("_real_baseline"):
            continue
        if key.startswith("recall_") and value < collapse_recall:
            why.append(f"mode collapse: recall {value:.3f} < {collapse_recall:g}")
        elif key.startswith("precision_") and value < garbage_precision:
            why.append(f"garbage: precision {value:.3f} < {garbage_precision:g}")
    return "; ".join(why) or None


def aggregate(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, standard deviation and 95 % t-interval over the seeds that learned, per row of the table.

    Args:
        rows: One dict per run with ``upsampler`` and numeric values; a run with a ``failed`` reason counts
            for ``n_runs`` only.
        keys: The numeric keys to aggregate; a run without a key does not count for it.

    Returns:
        One dict per upsampler, in order of first appearance: ``upsampler``, ``placement``, ``n_seeds``
        (runs that learned), ``n_runs``, ``<key>_mean``, ``<key>_sd`` (``n - 1``) and ``<key>_ci95`` (half-width
        of the 95 % t-interval, ``t_{0.975, n-1} sd / sqrt(n)``; ``nan`` for one value), and for a curve,
        ``n_converged``/``n_verdicts`` (the runs' own verdicts) and ``trend`` (the
        :class:`~gan_upsample.metrics.convergence.Trend` fitted to the curves of the seeds that learned, with
        ``trend_change``, ``trend_low``, ``trend_high`` and ``trend_verdict`` for ``summary.csv``), and
        ``<key>_values``, the values of the seeds that learned in seed order. A ``nan``
        value makes the mean ``nan``: it is not hidden.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["upsampler"], []).append(row)
    out = []
    for name, runs in groups.items():
        learned = [r for r in runs if not r.get("failed")]
        entry: dict[str, Any] = {
            "upsampler": name,
            "placement": runs[0].get("placement"),
            "n_seeds": len(learned),
            "n_runs": len(runs),
        }
        verdicts = [r["converged"] for r in learned if r.get("converged") is not None]
        if verdicts:
            entry["n_converged"], entry["n_verdicts"] = sum(v > 0.5 for v in verdicts), len(verdicts)
        curves = [(r["curve"]["steps"], r["curve"]["values"]) for r in learned if (r.get("curve") or {}).get("values")]
        if curves:
            fit = trend(curves)
            entry["trend"] = fit
            entry.update(trend_change=fit.change, trend_low=fit.low, trend_high=fit.high, trend_verdict=fit.verdict)
        by_seed = sorted(learned, key=lambda r: r.get("seed", 0))
        for key in keys:
            values = [float(r[key]) for r in by_seed if r.get(key) is not None]
            entry[f"{key}_values"] = values
            if not values:
                entry[f"{key}_mean"] = entry[f"{key}_sd"] = entry[f"{key}_ci95"] = None
                continue
            n = len(values)
            mean = math.fsum(values) / n
            sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
            entry[f"{key}_mean"], entry[f"{key}_sd"] = mean, sd
            entry[f"{key}_ci95"] = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
        out.append(entry)
    return out


def _cell(mean: float | None, half: float | None, fmt: str) -> str:
    if mean is None:
        return "–"
    if half is None or math.isnan(half):
        return format(mean, fmt)
    return f"{mean:{fmt}} ± {half:{fmt if fmt != '.4g' else '.2g'}}"


def _seed_value(value: float, fmt: str) -> str:
    """One seed's value beside a mean: ``fmt``, or for ``"fid"`` whole numbers from 100 and 3 digits below."""
    if fmt == "fid":
        return format(value, ".0f" if abs(value) >= 100 else ".3g")
    return format(value, fmt)


def _converged_cell(s: dict[str, Any]) -> str:
    if not s.get("n_verdicts"):
        return "–"
    gain = s.get("curve_improvement_mean")
    return f"{s['n_converged']}/{s['n_verdicts']}" + (f" ({gain:.1%})" if gain is not None else "")


#: Header of the trend column (:func:`gan_upsample.metrics.convergence.trend`).
TREND_HEADER = "FID trend, last quarter (fit, 95 % CI)"


def markdown_table(
    summary: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, str]],
    per_run_verdicts: bool = True,
    per_seed: dict[str, str] | None = None,
) -> str:
    """The summary as a Markdown table: one row per upsampler (and placement), ``mean ± 95 % half-width`` cells.

    Before the metrics: the placement (when placements were studied), ``learned / runs`` and, when the runs
    had a curve, how many converged by their own verdict (with the mean last-quarter improvement; left out with
    ``per_run_verdicts=False``) and the row's fitted FID trend over the last quarter (``-8 % [-15, -1]
    improving``: 8 % lower, 95 % interval -15 % to -1 %; see :func:`~gan_upsample.metrics.convergence.trend`).
    ``per_seed`` maps metric keys to a format (``"fid"``: whole numbers from 100) for the seeds' own values,
    written in brackets after the mean in seed order when a row has more than one.
    """
    per_seed = per_seed or {}
    placements = any(s.get("placement") for s in summary)
    curves = per_run_verdicts and any(s.get("n_verdicts") for s in summary)
    trends = any(s.get("trend") for s in summary)
    head = ["upsampler", *(["placement"] if placements else []), "learned / runs"]
    head += ["converged (last-quarter FID gain)"] if curves else []
    head += [TREND_HEADER] if trends else []
    text = "| " + " | ".join([*head, *(h for _, h, _ in columns)]) + " |\n"
    text += "|" + "---|" * (len(head) + len(columns)) + "\n"
    for s in summary:
        cells = [s["upsampler"], *([s.get("placement") or "–"] if placements else []), f"{s['n_seeds']}/{s['n_runs']}"]
        cells += [_converged_cell(s)] if curves else []
        cells += [s["trend"].cell() if s.get("trend") else "–"] if trends else []
        for k, _, fmt in columns:
            cell = _cell(s.get(f"{k}_mean"), s.get(f"{k}_ci95"), fmt)
            values = s.get(f"{k}_values") or []
            if k in per_seed and len(values) > 1:
                cell += " (" + ", ".join(_seed_value(v, per_seed[k]) for v in values) + ")"
            cells.append(cell)
        text += "| " + " | ".join(cells) + " |\n"
    return text


#: Metrics of the compact table (``short.md``), in order, after the FID, precision and recall.
_SHORT = (
    "normalized_error",
    "psnr",
    "lpips_alex",
    "lpips_alex-random",
    "spectral_excess_db",
    "phase_imbalance",
    "train_images_per_s",
)


def short_table(
    summary: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]], rows: Sequence[dict[str, Any]]
) -> str:
    """A compact version of :func:`markdown_table` for a README, with the real images' own scores as its first row.

    Keeps the row's FID trend over the last quarter, the FID, precision, recall, the reconstruction metrics, the
    checkerboard scores and the speed, under short headers, with each seed's FID and spectral excess in brackets
    after the mean (the runs' own convergence verdicts stay in
    ``summary.md``). The first row, *real vs real*, holds the floor of each column that has one: the FID, precision
    and recall of two halves of the real images against each other (``*_real_baseline``, the same in every run of
    a study), and 0 dB of spectral excess (the reals against themselves).
    """
    short: list[tuple[str, str, str]] = []
    for key, header, fmt in columns:
        if key.endswith("_real_baseline"):
            continue
        if key.startswith(("fid_", "rfid_")):
            kind, count, extractor = (key.split("_", 2) + ["", ""])[:3]
            name = "rFID" if kind == "rfid" else kind.upper()
            short.append((key, f"{name} ({count} images{', ' + extractor if extractor else ''}) ↓", fmt))
        elif key.startswith(("precision_", "recall_")):
            short.append((key, header.split(" (")[0], fmt))
    for key in _SHORT:
        short += [c for c in columns if c[0] == key]
    floors: dict[str, str] = {"spectral_excess_db": "0"}
    for key, _, fmt in short:
        values = [float(r[f"{key}_real_baseline"]) for r in rows if r.get(f"{key}_real_baseline") is not None]
        if values:
            floors[key] = format(math.fsum(values) / len(values), fmt)
    # The seeds' own values beside the mean of the headline scores, in seed order (the runs that learned).
    per_seed = {k: "fid" for k, _, _ in short if k.startswith(("fid_", "rfid_"))} | {"spectral_excess_db": ".1f"}
    table = markdown_table(summary, short, per_run_verdicts=False, per_seed=per_seed)
    head, rule, *body = table.splitlines()
    lead = head.count("|") - 1 - len(short)  # upsampler, placement, learned / runs, trend
    floor = ["**real vs real**", *["–"] * (lead - 1), *(floors.get(k, "–") for k, _, _ in short)]
    return "\n".join([head, rule, "| " + " | ".join(floor) + " |", *body]) + "\n"


def _csv_text(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buffer.getvalue()


def _notes(
    results: Sequence[dict[str, Any]], base: str, seeds: Sequence[int], collapse_recall: float, garbage_precision: float
) -> str:
    first = next((r for r in results if r.get("settings")), results[0])
    settings = first.get("settings") or {}
    ev = settings.get("eval", {})
    steps = sorted({int(r["g_steps"]) for r in results if r.get("g_steps") is not None})
    # The features the FID columns name (a committed results.csv may come from another protocol than this call).
    named = {
        (k.split("_") + ["inception"])[2]  # fid_256_randomcnn, fid_5k (Inception)
        for r in results
        for k in r
        if k.startswith(("fid_", "rfid_")) and not k.endswith(("_real_baseline", "_std"))
    }
    extractor = named.pop() if len(named) == 1 else ev.get("fid_extractor", "?")
    weights = ev.get("shapesnet_weights", "shipped")
    fid = {
        "randomcnn": f"FID features: RandomCNN (3 conv stages, random weights, seed {ev.get('fid_seed', 0)}): a "
        "relative number for this table only, not comparable with Inception FIDs elsewhere.",
        "shapesnet": "FID features: ShapesNet features (trained on bright shapes; offline, relative only): "
        + (
            "the package's shipped weights"
            if weights == "shipped"
            else ("**random weights: the numbers mean nothing**" if weights == "random" else f"weights `{weights}`")
        )
        + "; a number for this table only, not comparable with Inception FIDs elsewhere.",
        "inception": "FID features: InceptionV3 with torch-fidelity's weights (the published protocol).",
        "none": "FID: not computed.",
    }.get(extractor, f"FID features: {extractor}")
    paired = any(k.startswith("rfid_") for r in results for k in r)
    lines = [
        f"Base config `{base}`; seeds {', '.join(map(str, seeds))}; epochs per run: "
        f"{settings.get('max_epochs') or 'as the base'}; budget: {', '.join(map(str, steps)) or '?'} generator "
        f"steps per run; validation during fit: {'on' if ev.get('validate') else 'off'}; extra fit arguments: "
        f"`{' '.join(settings.get('extra', [])) or 'none'}`.",
        f"{fid} Generated (or reconstructed) images against the test split, quantised to uint8 first.",
        "Checkerboard scores at period 2 (one x2 layer) on the same test images; spectral excess in dB of "
        "period-2 spectral power of fakes over reals (positive: checkerboard).",
        "± is the half-width of the 95 % t-interval of the mean over the seeds that learned "
        "(t_{0.975, n-1} · sd / √n, sd with n - 1); one seed: the value alone. Train images/s: training steps "
        f"timed after {ev.get('warmup_batches', '?')} warm-up batches (no data loading, validation or "
        "checkpointing). Peak RSS: peak resident memory of the run's process during training (Python, torch, "
        "model and data included); RSS growth: its increase over the resident memory at the start of training "
        "(activations, gradients, optimiser state)."
        + (
            " On this OS the peak could not be reset: it is the peak of the whole process, start-up included."
            if any(r.get("rss_peak_scope") == "process" for r in results)
            else ""
        ),
        "Failed runs: a run failed to learn when "
        + (
            ""
            if paired
            else f"its recall is below {collapse_recall:g} (mode collapse) or its precision below "
            f"{garbage_precision:g} (garbage; improved precision and recall, k = 3, on the FID's features and "
            "images), or when "
        )
        + "its FID is non-finite or it did not finish (training stops itself after consecutive steps with "
        "non-finite losses; an isolated skipped step is discarded and the run goes on). Such runs "
        "are listed under the table and left out of every mean; *learned / runs* counts them.",
    ]
    skipped = [
        f"{r['upsampler']} seed {r['seed']} ({int(r['skipped_steps'])})" for r in results if r.get("skipped_steps")
    ]
    if skipped:
        lines.append(f"Runs that skipped steps with non-finite losses (kept; steps in brackets): {', '.join(skipped)}.")
    every = sorted({int(r["curve_every"]) for r in results if r.get("curve_every")})
    images = sorted({int(r["curve_images"]) for r in results if r.get("curve_images")})
    if every:
        lines.append(
            f"Convergence: FID on {', '.join(map(str, images))} validation images every "
            f"{', '.join(map(str, every))} generator steps during training (`curves.png`); a run converged when "
            "the best FID in the last 25 % of its steps is less than 5 % below the FID at the start of that "
            "window (`gan_upsample.metrics.convergence.converged`; a curve that got worse counts as converged). "
            "The column gives converged / learned runs with a verdict and the mean relative improvement over "
            "the last quarter. That rule compares single evaluations, which move by 5-20 % between latent draws "
            "of one generator (`scripts/fid_noise.py`)."
        )
    if any(r.get("curve") for r in results):
        lines.append(
            "FID trend: each row's fitted trend, a line through log FID over the last half of training of all its "
            "seeds that learned (one level per seed, one slope), read as the change over the last quarter with "
            "its 95 % interval (`gan_upsample.metrics.convergence.trend`): *flat* when the whole interval is "
            "above -5 % (converged), *improving* when it is below 0 (train longer), *undecided* when the curves "
            "are too noisy to tell."
        )
    lines.append(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}, "
        f"device {first.get('device', '?')}."
    )
    walls = sorted(float(r["wall_seconds"]) for r in results if r.get("wall_seconds"))
    if walls:
        lines.append(
            f"Run time: {len(walls)} runs took {math.fsum(walls) / 3600:.1f} h in all (each run's wall time, fit and "
            f"test, summed; runs made side by side with `--jobs` overlap), median {walls[len(walls) // 2] / 60:.1f} "
            f"min a run, longest {walls[-1] / 60:.1f} min."
        )
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
    out: Path,
    combos: Sequence[tuple[str, int]],
    settings: dict[str, Any] | None = None,
    placements: dict[str, str | None] | None = None,
) -> list[dict[str, Any]]:
    """The flat rows of the runs among ``combos`` that finished, or failed and said why (metrics, identity).

    A run's row comes from its ``result.json``; a run that did not finish has a row with only its reason
    (``unfinished``, from its ``failure.json``). With ``settings`` (``--report_only``), a run without either
    but with a row in ``out/results.csv`` (a report kept without its run folders, like ``docs/study/*``) gets
    that row, and ``settings`` as the settings it was made with. ``placements`` (row name to placement) fills
    in the placement of runs recorded without one (made before ``--placements``, in the base's own placement).
    """
    committed = _read_results_csv(out / "results.csv") if settings is not None else {}
    rows = []
    for name, seed in combos:
        folder = run_folder(out, name, seed)
        result = read_json(folder / RESULT)
        if result is None:
            failure = read_json(folder / FAILURE)
            if failure is not None:
                rows.append({"upsampler": name, "seed": seed, "unfinished": failure.get("failure", "?")})
            elif (name, seed) in committed:
                rows.append({**committed[(name, seed)], "settings": settings})
            continue
        row: dict[str, Any] = {"upsampler": name, "seed": seed}
        if result.get("placement"):
            row["placement"] = result["placement"]
        row.update(result.get("metrics", {}))
        train = result.get("train", {})
        row.update({k: train.get(k) for k in (*_TRAIN_KEYS, "device", "rss_peak_scope")})
        curve = result.get("curve")
        if curve:
            row["converged"] = int(curve["converged"]) if curve.get("converged") is not None else None
            row["curve_improvement"] = curve.get("improvement")
            row["curve"] = curve
        row.update({k: v for k, v in (result.get("resolved") or {}).items() if v is not None})
        d_of_fake = late_median(folder / "metrics.csv")
        if d_of_fake is not None:
            row["d_of_fake_late"] = d_of_fake
        row["wall_seconds"] = result.get("wall_seconds")
        row["settings"] = result.get("settings", {})
        rows.append(row)
    for row in rows:
        if not row.get("placement") and (placements or {}).get(row["upsampler"]):
            row["placement"] = placements[row["upsampler"]]  # type: ignore[index]
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
            row.update({k: (v or None) if k in _TEXT else _number(v) for k, v in raw.items()})
            # results.csv leaves the device out; a CUDA run is the one that recorded CUDA memory.
            row["device"] = "cuda" if row.get("peak_cuda_mb") is not None else "cpu"
            if row.get("curve_values"):
                row["curve"] = {
                    "key": row.get("curve_key"),
                    "steps": [float(v) for v in row["curve_steps"].split(";")],
                    "values": [float(v) for v in row["curve_values"].split(";")],
                    "floor": row.get("curve_floor"),
                }
            rows[(row["upsampler"], row["seed"])] = row
    return rows


def write_report(
    out: Path,
    rows: Sequence[dict[str, Any]],
    base: str,
    seeds: Sequence[int],
    collapse_recall: float = 0.1,
    garbage_precision: float = 0.1,
) -> str:
    """Write ``results.csv``, ``summary.csv``, ``summary.md``, ``short.md`` (:func:`short_table`) and the figures;
    return the table.

    Each run is judged by :func:`failure_reason` first: the failed ones are listed and left out of the means.
    ``samples.png`` and ``spectra.png`` are drawn from the runs' ``eval_images.pt`` (without them, in a committed
    report, they are left as they are), ``curves.png`` from the curves in their ``result.json`` or, in a
    committed report, in ``results.csv`` (``curve_steps``, ``curve_values``).
    """
    rows = [{**r, "failed": failure_reason(r, collapse_recall, garbage_precision)} for r in rows]
    for row in rows:  # the curve goes into results.csv too, so a committed report keeps its curves and trends
        curve = row.get("curve") or {}
        if curve.get("values"):
            row["curve_key"], row["curve_floor"] = curve.get("key"), curve.get("floor")
            row["curve_steps"] = ";".join(f"{float(v):g}" for v in curve["steps"])
            row["curve_values"] = ";".join(f"{float(v):.6g}" for v in curve["values"])
    columns = metric_columns(rows)
    keys = [k for k, _, _ in columns]
    skip = {"upsampler", "seed", "settings", "device", "rss_peak_scope", "curve", *_TEXT}
    # Columns with a value in at least one run (peak_cuda_mb stays out of a CPU study).
    extra = sorted({k for r in rows for k, v in r.items() if k not in skip and k not in keys and v is not None})
    text = [k for k in _TEXT if k == "failed" or any(r.get(k) for r in rows)]
    write_atomic(out / "results.csv", _csv_text(rows, ["upsampler", "seed", *text, *keys, *extra]))
    more = [k for k in ("curve_improvement", "g_steps", "fit_seconds", "wall_seconds") if k in extra]
    summary = aggregate(rows, [*keys, *more])
    placements = ["placement"] if any(s.get("placement") for s in summary) else []
    verdicts = ["n_converged", "n_verdicts"] if any(s.get("n_verdicts") for s in summary) else []
    if any(s.get("trend") for s in summary):
        verdicts += ["trend_change", "trend_low", "trend_high", "trend_verdict"]
    fields = ["upsampler", *placements, "n_seeds", "n_runs", *verdicts]
    fields += [f"{k}_{s}" for k in [*keys, *more] for s in ("mean", "sd", "ci95")]
    write_atomic(out / "summary.csv", _csv_text(summary, fields))
    table = markdown_table(summary, columns)
    write_atomic(out / "short.md", short_table(summary, columns, rows))
    failed = [r for r in rows if r["failed"]]
    failures = (
        "\n## Failed runs (left out of the means)\n\n"
        + "".join(f"- {r['upsampler']} seed {r['seed']}: {r['failed']}\n" for r in failed)
        if failed
        else ""
    )
    write_atomic(
        out / "summary.md",
        f"# Upsampler comparison: {out.name}\n\n{table}{failures}\n"
        f"{_notes(rows, base, seeds, collapse_recall, garbage_precision)}"
        "\nFigures: `samples.png` (samples, zoomed windows), `spectra.png` (radial power spectra)"
        + (", `curves.png` (FID during training)" if any(r.get("curve_every") for r in rows) else "")
        + ".\n",
    )
    blobs: dict[str, list[dict[str, Any]]] = {}
    curves: dict[str, list[tuple[int, dict[str, Any], bool]]] = {}
    for row in rows:
        path = run_folder(out, row["upsampler"], row["seed"]) / EVAL_IMAGES
        if path.is_file():
            blobs.setdefault(row["upsampler"], []).append(torch.load(path, weights_only=True))
        if row.get("curve"):
            curves.setdefault(row["upsampler"], []).append((row["seed"], row["curve"], bool(row["failed"])))
    draw_figures(out, blobs)
    if curves:
        trends = {s["upsampler"]: s["trend"].cell() for s in summary if s.get("trend")}
        draw_curves(out / "curves.png", curves, f"{out.name}: FID during training", trends)
    return table
