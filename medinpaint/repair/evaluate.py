"""``medinpaint evaluate``: damage clean scans on purpose, repair them, score medinpaint against the
classical fills a user would try, and write a Markdown report with PNG figures.

For each dropout kind of the ``transmission`` preset, a few slices of each scan are damaged (stored
values, seeded), then repaired by the whole medinpaint engine (given the true mask, and again with
its own detection) and by OpenCV Telea, scikit-image biharmonic, a median fill and, for lost slices,
linear slice interpolation. Scores are on physical values scaled to the scan's normalisation range:
PSNR inside the damaged region, whole-slice PSNR and SSIM. With ``--denoise``, Rician (MR) or
low-dose (CT) noise is added and the blind denoiser is compared with BM3D told the true sigma.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from medinpaint import baselines
from medinpaint.damage.presets import TRANSMISSION
from medinpaint.data.normalise import normalisation
from medinpaint.io import Volume, read
from medinpaint.io.atomic import atomic_file
from medinpaint.nets import pick_device, resolve_model
from medinpaint.repair.engine import repair_volume

KINDS = [cls for cls in TRANSMISSION if cls.damage_class.kind != "truncation"]
METHODS = ("medinpaint", "medinpaint (detected)", "biharmonic", "telea", "median", "slice interpolation")


def _scores(repaired: np.ndarray, clean: np.ndarray, mask: np.ndarray, span: float) -> dict:
    from skimage.metrics import structural_similarity

    def psnr(a, b):
        mse = float(np.mean(((a - b) / span) ** 2)) if a.size else 0.0
        return 99.0 if mse == 0 else float(10 * np.log10(1.0 / mse))

    return {"psnr_mask": psnr(repaired[mask], clean[mask]), "psnr": psnr(repaired, clean),
            "ssim": float(structural_similarity(clean / span, repaired / span, data_range=1.0))}


def _classical(name: str, volume: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray | None:
    """A classical fill of damaged slice ``k`` of ``volume`` (physical values), or None where it does not
    apply."""
    plane = volume[:, :, k]
    if mask[:, :, k].all():  # nothing in-plane to fill from: only slice interpolation applies
        if name != "slice interpolation":
            return None
        lost = [int(i) for i in np.nonzero(mask.all(axis=(0, 1)))[0]]
        return baselines.interpolate_slices(volume, lost, axis=2)[:, :, k]
    fills = {"biharmonic": baselines.biharmonic, "telea": baselines.telea, "median": baselines.median}
    fill = fills.get(name)
    if fill is not None:
        return fill(plane, mask[:, :, k])
    if name == "slice interpolation" and 0 < k < volume.shape[2] - 1:
        stack = np.stack([volume[:, :, k - 1], plane, volume[:, :, k + 1]])
        return baselines.slice_interpolation(stack, mask[:, :, k])
    return None


def evaluate_volume(volume: Volume, name: str, seed: int, model=None,
                    figures: Path | None = None) -> list[dict]:
    """Rows of scores (one per kind and method) for one clean scan; ``group``: "2D image" for a scan of
    one slice (no neighbours to repair from), else "volume"."""
    rows = []
    group = "2D image" if volume.shape[2] == 1 else "volume"
    clean_physical = volume.physical()
    norm = normalisation(clean_physical, volume.modality)
    span = norm["high"] - norm["low"]
    for n, cls in enumerate(KINDS):
        if cls.damage_class.kind == "lost-slices" and volume.shape[2] < 3:
            continue  # a single slice cannot be re-created from its neighbours
        transform = cls(**TRANSMISSION[cls])
        transform.set_random_state(seed + n)
        damaged_stored, mask = transform(volume.array[np.newaxis])
        damaged_stored, mask = np.asarray(damaged_stored)[0], np.asarray(mask)[0].astype(bool)
        if not mask.any() or mask.all():  # nothing damaged, or nothing left to repair from (a small
            continue  # one-slice image under a long packet burst)
        damaged = volume.with_array(np.ascontiguousarray(damaged_stored))
        given = repair_volume(damaged, mask=mask.astype(np.uint8), model=model, device="auto")
        found = repair_volume(damaged, model=model, device="auto")
        damaged_physical = damaged.physical()
        slices = [int(k) for k in np.nonzero(mask.any(axis=(0, 1)))[0]]
        kind = cls.damage_class.kind
        outputs = {"medinpaint": given.volume.physical(), "medinpaint (detected)": found.volume.physical()}
        for k in slices:
            m = mask[:, :, k]
            per_method = {}
            for method in METHODS:
                if method in outputs:
                    result = outputs[method][:, :, k]
                else:
                    result = _classical(method, damaged_physical, mask, k)
                    if result is None:
                        continue
                per_method[method] = result
                rows.append({"scan": name, "kind": kind, "slice": k, "method": method, "group": group,
                             **_scores(result, clean_physical[:, :, k], m, span)})
            if figures is not None and k == slices[0]:
                _figure(figures / f"{name}_{kind}.png", clean_physical[:, :, k], damaged_physical[:, :, k],
                        per_method, norm=norm, title=f"{name}: {kind}, slice {k}")
    return rows


def _figure(path: Path, clean, damaged, results: dict, *, norm: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low, high = norm["low"], norm["high"]
    columns = 2 + len(results)
    fig, axes = plt.subplots(2, columns, figsize=(2.2 * columns, 4.6))
    panels = [("clean", clean), ("damaged", damaged)] + list(results.items())
    for ax, (label, image) in zip(axes[0], panels, strict=True):
        ax.imshow(image.T, cmap="gray", vmin=low, vmax=high, origin="lower")
        ax.set_title(label, fontsize=8)
    for ax, (_label, image) in zip(axes[1], panels, strict=True):
        ax.imshow(np.abs(image - clean).T, cmap="magma", vmin=0, vmax=0.25 * (high - low), origin="lower")
        ax.set_title("|difference|", fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_file(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def summarise(rows: list[dict], by_group: bool = False) -> dict:
    """Mean scores per kind and method; ``by_group``: 2D images and volumes apart ("lost-lines, 2D image")."""
    table: dict = {}
    for row in rows:
        empty = {"psnr_mask": [], "psnr": [], "ssim": []}
        kind = f"{row['kind']}, {row['group']}" if by_group and "group" in row else row["kind"]
        cell = table.setdefault(kind, {}).setdefault(row["method"], empty)
        for key in cell:
            cell[key].append(row[key])
    return {kind: {method: {k: float(np.mean(v)) for k, v in cell.items()} | {"n": len(cell["psnr"])}
                   for method, cell in methods.items()} for kind, methods in table.items()}


def markdown(summary: dict, scans: list[str], seconds: float) -> str:
    lines = ["# medinpaint evaluation", "",
             f"Scans: {', '.join(scans)}. PSNR in dB on the scan's normalised range; 'in mask' is inside the",
             "damaged region only. 'medinpaint (detected)' repairs what its own detection found.", "",
             "| damage | method | PSNR in mask | PSNR slice | SSIM | slices |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind, methods in summary.items():
        for method, s in sorted(methods.items(), key=lambda item: -item[1]["psnr_mask"]):
            lines.append(f"| {kind} | {method} | {s['psnr_mask']:.2f} | {s['psnr']:.2f} | {s['ssim']:.4f} "
                         f"| {s['n']} |")
    lines += ["", "Figures: `figures/<scan>_<kind>.png` (top: images, bottom: absolute difference to clean).",
              "", f"Took {seconds:.1f} s."]
    return "\n".join(lines)


def evaluate(paths: list[str | os.PathLike], out: str | os.PathLike, seed: int = 0, model=None,
             progress=None) -> dict:
    """Evaluate on clean scans and write ``out/report.md``, ``out/report.json`` and ``out/figures/``."""
    started = time.perf_counter()
    model = resolve_model(model, default="repair", device=pick_device("auto"))[0]  # once for every repair
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    names = []
    for n, path in enumerate(paths):
        volume = read(path)
        if volume.array.ndim == 4:
            volume = volume.with_array(np.ascontiguousarray(volume.array[..., 0]))
        name = Path(path).name.split(".")[0]
        names.append(name)
        rows += evaluate_volume(volume, name, seed, model, out / "figures")
        if progress:
            progress((n + 1) / len(paths), f"evaluated {name}")
    summary = summarise(rows)
    by_group = summarise(rows, by_group=True)
    seconds = time.perf_counter() - started
    with atomic_file(out / "report.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps({"summary": summary, "by_group": by_group, "rows": rows}, indent=1))
    with atomic_file(out / "report.md", overwrite=True) as tmp:
        tmp.write_text(markdown(by_group, names, seconds))
    return summary
