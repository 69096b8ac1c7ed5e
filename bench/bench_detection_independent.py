"""Detection judged on damage it was not tuned on (issue 18): the independent generator of
tests/generators on every source of the data list, 2D single slices and volumes reported apart.

For every case: recall (changed voxels found) and false voxels (found, but not lost) per kind and per fill
value, and the dB lost by repairing with detection instead of the true mask (PSNR of the physical values
inside the changed voxels, peak = the clean view's 0.5..99.5 percentile range). Then the clean-corpus
check: every clean view of every source in every storage form of tests/repair/detection/clean_forms.py,
and the voxels detection finds there (there should be none).

    PYTHONPATH=. .venv/bin/python bench/bench_detection_independent.py [--seeds 0] [--fills all|few]
        [--json out.json] [--no-repair] [--no-clean] [--kinds lines tiles ...]

Prints JSON, then markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

from medinpaint.data.sources import available_sources
from medinpaint.errors import MedinpaintError
from medinpaint.io import Volume
from medinpaint.repair import repair_volume
from medinpaint.repair.detection import detect
from tests.generators import storage
from tests.generators.independent import FILL_KINDS, damage
from tests.repair.detection.clean_forms import clean_cases, middle, physical

SLICE_SIDE = 256  # a 2D slice is cropped to at most this in-plane
VOLUME_SIDE, VOLUME_SLICES = 96, 16
FILLS_ALL = ("stored_zero", "physical_zero", "minimum", "padding", -1024, -2000, "dtype_min", "nan")
FILLS_FEW = ("stored_zero", "minimum", -1024)
KINDS_2D = ("tiles", "lines", "truncation", "blocks", "impulses", "bitflips")
KINDS_3D = ("slices",) + KINDS_2D


def views():
    """(name, kind "2d"/"3d", Volume, storage options for the generator) of every source."""
    for source in available_sources():
        volume = source.load()
        stored = np.asarray(volume.array)
        stored = stored[..., 0] if stored.ndim == 4 else stored
        values = physical(volume)
        ct = volume.modality == "CT"
        meta = {key: value for key, value in volume.meta.items() if key != "dicom"}
        header = next((h for h in (volume.meta.get("dicom") or {}).get("slices", []) if h is not None), None)
        padded = header is not None and "PixelPaddingValue" in header
        padding = int(header.PixelPaddingValue) if padded else None
        k = stored.shape[2] // 2
        plane = (middle(stored.shape[0], SLICE_SIDE), middle(stored.shape[1], SLICE_SIDE), slice(k, k + 1))
        box = (middle(stored.shape[0], VOLUME_SIDE), middle(stored.shape[1], VOLUME_SIDE),
               middle(stored.shape[2], VOLUME_SLICES))
        parts = [("2d", plane)] + ([("3d", box)] if stored.shape[2] >= 8 else [])
        for dim, part in parts:
            slope = float(np.ravel(volume.slope)[0])
            intercept = float(np.ravel(volume.intercept)[0])
            native = volume.with_array(np.ascontiguousarray(stored[part]))
            if native.shape[2] != stored.shape[2]:
                native = Volume(native.array, volume.affine, slope, intercept, meta=dict(volume.meta))
            options = {"on": "stored", "slope": slope, "intercept": intercept, "padding": padding}
            yield f"{source.name}/native", dim, native, options
            if ct:
                hu = Volume(np.ascontiguousarray(values[part].astype(np.float32)), volume.affine, meta=meta)
                yield (f"{source.name}/hu-float32", dim, hu,
                       {"on": "physical", "slope": 1.0, "intercept": -1024.0, "padding": -2000})
                if intercept != -1024.0:
                    as_int16 = storage.rescaled_integer(values[part], np.int16, intercept=-1024.0)
                    rescaled = Volume(np.ascontiguousarray(as_int16.array), volume.affine, 1.0, -1024.0,
                                      meta=meta)
                    yield (f"{source.name}/int16-rescaled", dim, rescaled,
                           {"on": "stored", "slope": 1.0, "intercept": -1024.0, "padding": -2000})


def physical_of(volume: Volume, array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64) * np.asarray(volume.slope, np.float64) + np.asarray(volume.intercept,
                                                                                        np.float64)


def psnr(clean: np.ndarray, repaired: np.ndarray, where: np.ndarray, peak: float) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.nan_to_num(repaired[where] - clean[where], nan=1e300, posinf=1e300, neginf=1e300)
        mse = float(np.mean(np.minimum(error.astype(np.float64) ** 2, 1e300)))
    return float(10 * np.log10(peak ** 2 / max(mse, 1e-12)))


def run_case(volume: Volume, kind: str, fill, seed: int, options: dict, repair: bool) -> dict | None:
    rng = np.random.default_rng(seed)
    kwargs = dict(options, fill=fill) if kind in FILL_KINDS else {}
    if kind == "truncation":
        kwargs["order"] = "nifti"  # the array's own stream order (first index fastest)
    try:
        result = damage(np.asarray(volume.array), kind, rng, **kwargs)
    except ValueError:  # a fill the dtype cannot hold, or no padding value
        return None
    changed = np.asarray(result.mask, bool)
    if not changed.any():
        return None
    damaged = volume.with_array(np.ascontiguousarray(result.damaged))
    found = detect(damaged).mask.astype(bool)
    row = {"changed": int(changed.sum()), "found": int((found & changed).sum()),
           "false": int((found & ~np.asarray(result.lost, bool)).sum()), "fill_name": str(result.fill_name)}
    if repair:
        clean = physical_of(volume, np.asarray(volume.array))
        low, high = np.nanpercentile(clean, [0.5, 99.5])
        peak = float(high - low) or 1.0
        try:
            with_truth = repair_volume(damaged, mask=changed, device="cpu").volume
            with_detection = repair_volume(damaged, device="cpu").volume
        except MedinpaintError as error:  # e.g. every slice of a thin scan lost: nothing to repair from
            row["repair_error"] = str(error).split(": ")[-1]
            return row
        row["true_db"] = psnr(clean, physical_of(volume, with_truth.array), changed, peak)
        row["detected_db"] = psnr(clean, physical_of(volume, with_detection.array), changed, peak)
    return row


def summarise(rows: list[dict], key) -> dict:
    groups: dict = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    out = {}
    for name, members in sorted(groups.items(), key=lambda item: str(item[0])):
        changed = sum(r["changed"] for r in members)
        entry = {"cases": len(members), "recall": sum(r["found"] for r in members) / max(changed, 1),
                 "false_voxels": sum(r["false"] for r in members),
                 "cases_with_false": sum(r["false"] > 0 for r in members)}
        repaired = [r for r in members if "true_db" in r]
        if repaired:
            true = np.array([r["true_db"] for r in repaired])
            found = np.array([r["detected_db"] for r in repaired])
            entry.update(true_db=float(true.mean()), detected_db=float(found.mean()),
                         loss_db=float((true - found).mean()), median_loss_db=float(np.median(true - found)),
                         worst_loss_db=float((true - found).max()))
        out[" / ".join(map(str, name)) if isinstance(name, tuple) else str(name)] = entry
    return out


def clean_check() -> dict:
    found, cases, started = {}, 0, time.perf_counter()
    for name, volume in clean_cases():
        cases += 1
        counts = detect(volume).counts()
        if counts:
            found[name] = counts
    return {"cases": cases, "with_detections": len(found), "seconds": round(time.perf_counter() - started, 1),
            "detections": found}


def table(title: str, summary: dict) -> str:
    lines = [f"\n{title}\n", "| group | cases | recall | false voxels (cases) | true mask dB | detection dB "
             "| loss dB (mean / median / worst) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, e in summary.items():
        db = (f"{e['true_db']:.2f} | {e['detected_db']:.2f} | {e['loss_db']:.2f} / {e['median_loss_db']:.2f}"
              f" / {e['worst_loss_db']:.2f}") if "true_db" in e else "| |"
        lines.append(f"| {name} | {e['cases']} | {e['recall']:.3f} | {e['false_voxels']} "
                     f"({e['cases_with_false']}) | {db} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--fills", choices=("all", "few"), default="all")
    parser.add_argument("--json", default=None)
    parser.add_argument("--no-repair", action="store_true")
    parser.add_argument("--no-clean", action="store_true")
    parser.add_argument("--kinds", nargs="+", choices=KINDS_3D, default=list(KINDS_3D),
                        help="only these kinds (default: all)")
    args = parser.parse_args()
    fills = FILLS_ALL if args.fills == "all" else FILLS_FEW
    started = time.perf_counter()
    rows = []
    for name, dim, volume, options in views():
        for kind in [k for k in (KINDS_3D if dim == "3d" else KINDS_2D) if k in args.kinds]:
            for fill in fills if kind in FILL_KINDS else (None,):
                for seed in args.seeds:
                    row = run_case(volume, kind, fill if fill is not None else "random", seed, options,
                                   not args.no_repair)
                    if row is not None:
                        rows.append(dict(row, scan=name, dim=dim, kind=kind, seed=seed,
                                         fill=str(fill) if fill is not None else "-"))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "seeds": args.seeds, "fills": [str(f) for f in fills],
              "seconds": round(time.perf_counter() - started, 1),
              "per_kind": summarise(rows, lambda r: (r["dim"], r["kind"])),
              "per_fill": summarise([r for r in rows if r["kind"] in FILL_KINDS],
                                    lambda r: (r["dim"], r["kind"], r["fill"])),
              "per_scan": summarise(rows, lambda r: (r["dim"], r["scan"])),
              "cases": rows}
    if not args.no_clean:
        report["clean"] = clean_check()
    text = json.dumps(report, indent=1)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text)
    else:
        print(text)
    print(table("Per kind (2D single slices and volumes apart)", report["per_kind"]))
    print(table("Per kind and fill value", report["per_fill"]))
    print(table("Per scan and storage form", report["per_scan"]))
    if "clean" in report:
        clean = report["clean"]
        print(f"\nClean corpus: {clean['cases']} cases, {clean['with_detections']} with detections "
              f"({clean['seconds']} s)")
        for name, counts in clean["detections"].items():
            print(f"- {name}: {counts}")


if __name__ == "__main__":
    main()
