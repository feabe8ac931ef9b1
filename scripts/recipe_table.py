"""Collect the recipe search's studies into one Markdown table (issue 12, part 4).

    python scripts/recipe_table.py runs/recipes > runs/recipes/table.md

Reads ``<folder>/<recipe>/results.csv`` of each recipe study (one upsampler, the same budget and evaluation) and
``<folder>/<recipe>.args`` (the fit arguments of the recipe, written by ``scripts/recipe_search.sh``), and prints
one row per recipe: final FID beside the real-vs-real floor, precision, recall, the FID curve's verdict, its fitted
trend over the last quarter (from ``summary.csv``; see ``gan_upsample.metrics.trend``) and the images/s of training.
Several seeds give mean ± sd.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path


def _fmt(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "runs/recipes")
    rows = []
    for results in sorted(folder.glob("*/results.csv")):
        name = results.parent.name
        runs = list(csv.DictReader(results.open()))
        if not runs:
            continue
        keys = runs[0].keys()
        fid = next((k for k in keys if k.startswith("fid_") and not k.endswith(("_std", "_real_baseline"))), None)

        def col(key: str | None, runs=runs) -> list[float]:
            return [float(r[key]) for r in runs if key and r.get(key) not in (None, "", "nan")]

        precision = next((k for k in keys if k.startswith("precision_") and not k.endswith("_real_baseline")), None)
        recall = next((k for k in keys if k.startswith("recall_") and not k.endswith("_real_baseline")), None)
        converged = col("converged")
        trend = "-"
        summary = results.parent / "summary.csv"
        if summary.is_file():
            first = next(csv.DictReader(summary.open()), {})
            if first.get("trend_change") not in (None, "", "nan"):
                change, low, high = (float(first[f"trend_{k}"]) for k in ("change", "low", "high"))
                trend = f"{change:+.0%} [{low * 100:+.0f}, {high * 100:+.0f}] {first['trend_verdict']}"
        args_file = folder / f"{name}.args"
        args = args_file.read_text().strip() if args_file.is_file() else ""
        rows.append(
            [
                name,
                f"`{args}`" if args else "(the base)",
                str(len(runs)),
                _fmt(col(fid), 1),
                _fmt(col(f"{fid}_real_baseline" if fid else None)[:1], 1),  # the same real images in every run
                _fmt(col(precision), 3),
                _fmt(col(recall), 3),
                f"{int(sum(converged))}/{len(converged)}" if converged else "-",
                trend,
                _fmt(col("train_images_per_s"), 0),
            ]
        )
    if not rows:
        print(
            f"error: no recipe study in {folder} (no {folder}/<recipe>/results.csv); run scripts/recipe_search.sh",
            file=sys.stderr,
        )
        return 2
    header = [
        "recipe",
        "fit arguments over the base",
        "seeds",
        "FID ↓",
        "FID real vs real (floor)",
        "precision ↑",
        "recall ↑",
        "converged",
        "FID trend, last quarter (fit, 95 % CI)",
        "train images/s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
