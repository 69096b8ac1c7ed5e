"""The summary of a batch job: ``summary.json``, ``series.csv`` and ``index.html`` with figures.

Built from the result manifest (and, for the gallery of the worst repaired slices, the results in OUT),
so it can be written again at any time. Series are named by their key only: no input path, no tag value
in any text of it.
"""

from __future__ import annotations

import collections
import csv
import html
import json
import time
from pathlib import Path
from typing import Any

from medinpaint.batch.manifest import DONE, FAILED, Manifest

CSV_COLUMNS = ("key", "kind", "files", "state", "result", "stage", "reason", "damaged_voxels", "kinds",
               "shape", "output", "attempts", "run", "seconds")
SLOWEST = 10
GALLERY = 6  # repaired series shown, the most damaged first


def summarise(manifest: Manifest, run: int | None = None) -> dict[str, Any]:
    """Counts over the archive: series screened, damaged, repaired, clean, failed; damage kinds with
    the number of series and voxels; the slowest series; the failures with their reasons; the runs."""
    rows = manifest.rows()
    states = collections.Counter(r["state"] for r in rows)
    results = collections.Counter(r["result"] for r in rows if r["state"] == DONE)
    kinds_series: collections.Counter = collections.Counter()
    kinds_voxels: collections.Counter = collections.Counter()
    for r in rows:
        for kind, voxels in (r["kinds"] or {}).items():
            kinds_series[kind] += 1
            kinds_voxels[kind] += voxels
    screened = [r for r in rows if r["shape"] is not None]
    timed = sorted((r for r in rows if r["seconds"] is not None), key=lambda r: -r["seconds"])
    runs = manifest.runs()
    this_run = [r for r in rows if run is not None and r["run"] == run]
    elapsed = None
    if runs and run is not None:
        current = next(r for r in runs if r["id"] == run)
        elapsed = round((current["finished"] or time.time()) - current["started"], 3)
    return {
        "series": len(rows),
        "states": dict(states),
        "screened": len(screened),
        "damaged": sum(1 for r in rows if (r["damaged_voxels"] or 0) > 0),
        "repaired": results.get("repaired", 0),
        "clean": results.get("clean", 0) + results.get("copied", 0),
        "skipped": results.get("skipped", 0),
        "failed": states.get(FAILED, 0),
        "pending": len(rows) - states.get(DONE, 0) - states.get(FAILED, 0),
        "damage_kinds": {k: {"series": kinds_series[k], "voxels": kinds_voxels[k]}
                         for k in sorted(kinds_series, key=lambda k: -kinds_series[k])},
        "slowest": [{"key": r["key"], "seconds": r["seconds"], "result": r["result"], "shape": r["shape"],
                     "timings": r["timings"]} for r in timed[:SLOWEST]],
        "failures": [{"key": r["key"], "kind": r["kind"], "stage": r["stage"], "reason": r["reason"]}
                     for r in rows if r["state"] == FAILED],
        "this_run": {"run": run, "series": len(this_run), "seconds": elapsed,
                     "series_per_minute": round(60 * len(this_run) / elapsed, 2) if elapsed else None},
        "runs": runs,
    }


def _figure(summary: dict, path: Path) -> bool:
    """A bar chart of the damage kinds over the archive (needs matplotlib, the 'eval' extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    kinds = summary["damage_kinds"]
    outcome = {"repaired": summary["repaired"], "clean": summary["clean"], "skipped": summary["skipped"],
               "failed": summary["failed"]}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].bar(list(outcome), list(outcome.values()), color=["#2a7", "#69c", "#bbb", "#c44"])
    axes[0].set_title("series by outcome")
    axes[1].barh(list(kinds) or ["none"], [v["series"] for v in kinds.values()] or [0], color="#d83")
    axes[1].set_title("damage kinds (series)")
    axes[1].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _gallery(manifest: Manifest, out: Path, folder: Path) -> list[tuple[str, str, int]]:
    """Thumbnails of the worst repaired slices: for the most damaged repaired series, the slice with the
    most repaired voxels, as found (the mask outlined) and as repaired. Best effort: a series whose images
    cannot be shown is left out. Returns ``(key, image file, slice)`` for each."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        from medinpaint.batch.work import read_item
        from medinpaint.io import read
    except ImportError:
        return []
    rows = sorted((r for r in manifest.rows() if r["result"] == "repaired" and r["output"]),
                  key=lambda r: -(r["damaged_voxels"] or 0))[:GALLERY]
    shown = []
    for r in rows:
        try:
            result = out / r["output"]
            report = json.loads((result / "report.json").read_text())
            mask = np.asarray(read(result / "mask.nii.gz").array)
            mask = mask if mask.ndim == 3 else mask[..., 0]
            k = int(np.argmax(mask.reshape(-1, mask.shape[2]).sum(axis=0)))
            before = read_item(r["kind"], r["inputs"]).physical_slice(k)
            after = read(result / report["output"]).physical_slice(k)
        except Exception:  # noqa: BLE001 - a thumbnail is not worth failing the report for
            continue
        low, high = np.percentile(after, [1, 99.5])
        fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
        for ax, image, title in ((axes[0], before, "as found"), (axes[1], after, "repaired")):
            ax.imshow(image.T, cmap="gray", vmin=low, vmax=high, origin="lower")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        axes[0].contour(mask[:, :, k].T, levels=[0.5], colors="red", linewidths=0.6, origin="lower")
        fig.suptitle(f"{r['key']}, slice {k}", fontsize=9)
        fig.tight_layout()
        name = f"gallery/{r['key']}.png"
        (folder / "gallery").mkdir(exist_ok=True)
        fig.savefig(folder / name, dpi=80)
        plt.close(fig)
        shown.append((r["key"], name, k))
    return shown


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(summary: dict, figure: bool, gallery: list[tuple[str, str, int]]) -> str:
    counts = [[name, summary[name]] for name in ("series", "screened", "damaged", "repaired", "clean",
                                                  "skipped", "failed", "pending")]
    run = summary["this_run"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>medinpaint batch</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>",
        "<h1>medinpaint batch</h1>",
        f"<p>Run {run['run']}: {run['series']} series in {run['seconds']} s "
        f"({run['series_per_minute']} series/min). Series are named by their key; the result manifest "
        "links keys to inputs.</p>",
        _table(["", "series"], counts),
        "<img src='figures.png' alt='series by outcome and damage kinds'>" if figure else "",
        "<h2>Damage kinds</h2>",
        _table(["kind", "series", "voxels"],
               [[k, v["series"], v["voxels"]] for k, v in summary["damage_kinds"].items()]),
        "<h2>Slowest series</h2>",
        _table(["key", "seconds", "result", "shape", "timings"],
               [[r["key"], r["seconds"], r["result"], r["shape"], r["timings"]] for r in summary["slowest"]]),
        "<h2>Failures</h2>",
        _table(["key", "kind", "stage", "reason"],
               [[r["key"], r["kind"], r["stage"], r["reason"]] for r in summary["failures"]]),
        "<h2>The worst repaired slices</h2>" if gallery else "",
        *(f"<img src='{html.escape(name)}' alt='series {html.escape(key)}, slice {k}'>"
          for key, name, k in gallery),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_reports(manifest: Manifest, folder: str | Path, run: int | None = None,
                  out: str | Path | None = None) -> dict[str, Any]:
    """Write ``summary.json``, ``series.csv``, ``figures.png`` and ``index.html`` into ``folder``, with a
    gallery of the worst repaired slices when ``out`` (the job's OUT) is given; returns the summary."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarise(manifest, run)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    with open(folder / "series.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in manifest.rows():
            writer.writerow([json.dumps(r[c]) if c in ("kinds", "shape") and r[c] is not None else r[c]
                             for c in CSV_COLUMNS])
    figure = _figure(summary, folder / "figures.png")
    gallery = _gallery(manifest, Path(out), folder) if out is not None else []
    (folder / "index.html").write_text(_html(summary, figure, gallery))
    return summary
