"""What detection costs on the subject-held-out validation scans: `medinpaint evaluate` on them at
several damage seeds, PSNR inside the damaged region with the true mask and with medinpaint's own
detection, per dropout kind (mean over seeds, and the worst seed's loss). Prints JSON, then a table.

    python bench/bench_detection_heldout.py [--seeds 0 1 2 3 4 5 6]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from medinpaint.data.sources import SOURCES
from medinpaint.repair.evaluate import evaluate

# one scan per held-out subject (VALIDATION_SUBJECTS): nipy's anatomical is nibabel's, and its
# functional run is the same subject again
HELD_OUT = ("pydicom-ct-small", "pydicom-mr-small", "nibabel-anatomical", "dipy-s0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(7)))
    args = parser.parse_args()
    scans = [SOURCES[name].path() for name in HELD_OUT]
    scores: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            out = Path(folder) / str(seed)
            evaluate(scans, out, seed=seed)
            summary = json.loads((out / "report.json").read_text())["summary"]
            for kind, methods in summary.items():
                for method in ("medinpaint", "medinpaint (detected)"):
                    scores.setdefault(kind, {}).setdefault(method, []).append(methods[method]["psnr_mask"])
    rows = {}
    for kind, methods in scores.items():
        true, found = np.array(methods["medinpaint"]), np.array(methods["medinpaint (detected)"])
        rows[kind] = {"true_mask_db": float(true.mean()), "detected_db": float(found.mean()),
                      "loss_db": float(true.mean() - found.mean()),
                      "worst_seed_loss_db": float((true - found).max())}
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "scans": [str(p) for p in scans],
                      "seeds": args.seeds, "seconds": round(time.perf_counter() - started, 1), "kinds": rows},
                     indent=2))
    print("\n| kind | true mask (dB) | detected (dB) | loss | worst seed's loss |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, r in rows.items():
        print(f"| {kind} | {r['true_mask_db']:.2f} | {r['detected_db']:.2f} | {r['loss_db']:.2f} "
              f"| {r['worst_seed_loss_db']:.2f} |")


if __name__ == "__main__":
    main()
