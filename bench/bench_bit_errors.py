"""Bit-error detection: how much of the flips' squared error detection leaves, look by look.

Each clean volume (the training volumes of `medinpaint.data.sources` and the demo MR) gets flipped
bits (`BitErrors`, rate 0.001, top 4 bits, seed 1) and is detected three ways: the first look alone,
with the second look, and with all looks (what `medinpaint repair` runs). Squared error in units of
the volume's 0.5-99.5 percentile range; "sound flagged" counts voxels taken for flips that were not.
Also runs detection on the clean volumes, ch2better (35 M voxels, left out of the tests for its
size) included: a clean scan must give no detection at all. Prints JSON, then a table. CPU only; a
few seconds per volume.

    python bench/bench_bit_errors.py [--rate 0.001] [--top-bits 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np

from medinpaint.damage.transmission import BitErrors
from medinpaint.data.sources import available_sources
from medinpaint.io import read
from medinpaint.repair.detection import detect, later_looks

SOURCES = ("ch2", "ch2bet", "mni152", "cranium", "dipy-s0", "nibabel-example4d", "nibabel-anatomical",
           "dipy-piesno")
# the looks of medinpaint.repair.detection.later_looks left out: the first look alone, with the second
# look (against the neighbours' median), and with all looks
LOOKS = {"first": ("flips_against_neighbour_median", "flips_against_linear_prediction"),
         "second": ("flips_against_linear_prediction",), "all": ()}


def volumes():
    found = {source.name: source.load() for source in available_sources() if source.name in SOURCES}
    found["demo mr_head"] = read(Path(__file__).resolve().parents[1] / "sample_data" / "mr_head.nii.gz")
    for name, volume in found.items():
        array = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
        yield name, volume.with_array(np.ascontiguousarray(array))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.001)
    parser.add_argument("--top-bits", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    clean_scans = {}
    for source in available_sources():
        if source.name == "ch2better" or source.name in SOURCES:
            clean_scans[source.name] = detect(source.load()).counts()
    for name, clean in volumes():
        flips = BitErrors(rate=args.rate, top_bits=args.top_bits, seed=args.seed)
        damaged, truth = flips(clean.array[np.newaxis])
        damaged, truth = np.ascontiguousarray(np.asarray(damaged)[0]), np.asarray(truth)[0].astype(bool)
        low, high = np.percentile(clean.array, [0.5, 99.5])
        error = ((damaged.astype(np.float64) - clean.array) / (float(high - low) or 1.0)) ** 2
        row = {"volume": name, "shape": list(clean.shape), "dtype": str(clean.array.dtype),
               "flips": int(truth.sum()), "squared_error": float(error[truth].sum())}
        for look, skipped in LOOKS.items():
            with ExitStack() as stack:
                for function in skipped:
                    stack.enter_context(mock.patch.object(later_looks, function, lambda *args: None))
                start = time.perf_counter()
                found = detect(clean.with_array(damaged)).labels > 0
                seconds = time.perf_counter() - start
            row[look] = {"missed_error": float(error[truth & ~found].sum()),
                         "found": int((found & truth).sum()),
                         "sound_flagged": int((found & ~truth).sum()), "seconds": round(seconds, 2)}
        rows.append(row)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
               f"{__import__('os').cpu_count()} cores", "rate": args.rate, "top_bits": args.top_bits,
               "seed": args.seed, "volumes": rows, "clean_detections": clean_scans}
    print(json.dumps(results, indent=2))
    print("\n| volume | flips | error | missed: first | second | all | sound flagged: first | second | all "
          "| s (all) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['volume']} | {r['flips']} | {r['squared_error']:.1f} | " + " | ".join(
            f"{r[look]['missed_error']:.2f}" for look in LOOKS) + " | " + " | ".join(
            str(r[look]["sound_flagged"]) for look in LOOKS) + f" | {r['all']['seconds']} |")
    fired = {name: found for name, found in clean_scans.items() if found}
    print(f"\nclean volumes ({', '.join(clean_scans)}): {fired or 'no detection on any'}")


if __name__ == "__main__":
    main()
