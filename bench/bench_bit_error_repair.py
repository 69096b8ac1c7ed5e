"""Bit errors end to end: how far the repaired scan is from the clean one, with the true mask and with
medinpaint's own detection.

Detection trades flips missed (left in the output) against sound voxels flagged (replaced by the
network's estimate); this measures the sum, the squared error of the whole repaired scan against the
clean scan, in units of the scan's 0.5-99.5 percentile range. Training volumes only (the held-out
ones are for `bench_detection_heldout.py`), their middle 48 slices, the `transmission` preset's bit
errors (as `medinpaint evaluate` draws them) at seeds 0-2. Prints JSON, then a table. CPU; about a
minute.

    python bench/bench_bit_error_repair.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from medinpaint.damage.presets import TRANSMISSION
from medinpaint.data.sources import available_sources
from medinpaint.io import read
from medinpaint.nets import default_model_path, load_model
from medinpaint.repair import repair_volume
from medinpaint.repair.evaluate import KINDS

SOURCES = ("ch2", "ch2bet", "mni152", "cranium", "nibabel-example4d", "dipy-piesno")
DEPTH = 48


def volumes():
    found = {source.name: source.load() for source in available_sources() if source.name in SOURCES}
    found["demo mr_head"] = read(Path(__file__).resolve().parents[1] / "sample_data" / "mr_head.nii.gz")
    for name, volume in found.items():
        array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
        middle = max(array.shape[2] // 2 - DEPTH // 2, 0)
        yield name, volume.with_array(np.ascontiguousarray(array[:, :, middle:middle + DEPTH]))


def squared(array: np.ndarray, clean: np.ndarray, span: float, where: np.ndarray | None = None) -> float:
    """Squared error of ``array`` against ``clean`` in units of ``span``, summed (over ``where`` if given)."""
    error = ((array.astype(np.float64) - clean) / span) ** 2
    return float(error.sum() if where is None else error[where].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    model = load_model(default_model_path("repair"))[0]  # loaded once for every repair below
    n = next(i for i, cls in enumerate(KINDS) if cls.damage_class.kind == "bit-errors")
    transform_class = KINDS[n]
    rows = []
    started = time.perf_counter()
    for name, clean in volumes():
        stored = clean.array
        low, high = np.percentile(stored, [0.5, 99.5])
        span = float(high - low) or 1.0
        row = {"volume": name, "shape": list(stored.shape), "flips": 0, "true_mask": 0.0, "detected": 0.0,
               "missed": 0, "missed_error": 0.0, "sound_flagged": 0, "sound_error": 0.0}
        for seed in args.seeds:
            transform = transform_class(**TRANSMISSION[transform_class])
            transform.set_random_state(seed + n)  # as `medinpaint evaluate` draws them
            damaged, truth = transform(stored[np.newaxis])
            damaged, truth = np.ascontiguousarray(np.asarray(damaged)[0]), np.asarray(truth)[0].astype(bool)
            volume = clean.with_array(damaged)
            given = repair_volume(volume, mask=truth.astype(np.uint8), model=model, device="cpu").volume.array
            found = repair_volume(volume, model=model, device="cpu")
            flagged = found.mask.astype(bool)
            row["flips"] += int(truth.sum())
            row["true_mask"] += squared(given, stored, span)
            row["detected"] += squared(found.volume.array, stored, span)
            row["missed"] += int((truth & ~flagged).sum())
            row["missed_error"] += squared(damaged, stored, span, truth & ~flagged)
            row["sound_flagged"] += int((flagged & ~truth).sum())
            row["sound_error"] += squared(found.volume.array, stored, span, flagged & ~truth)
        rows.append(row)
    total = {key: sum(r[key] for r in rows) for key in ("true_mask", "detected", "sound_flagged")}
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, "
                      f"{os.cpu_count()} cores", "seeds": args.seeds, "depth": DEPTH,
                      "seconds": round(time.perf_counter() - started, 1), "volumes": rows, "total": total},
                     indent=2))
    print("\n| volume | flips | true mask | detected | missed (error) | sound flagged (error) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows + [{"volume": "all", "flips": sum(r["flips"] for r in rows), **total,
                      **{k: sum(r[k] for r in rows) for k in ("missed", "missed_error", "sound_error")}}]:
        print(f"| {r['volume']} | {r['flips']} | {r['true_mask']:.2f} | {r['detected']:.2f} | "
              f"{r['missed']} ({r['missed_error']:.2f}) | {r['sound_flagged']} ({r['sound_error']:.2f}) |")


if __name__ == "__main__":
    main()
