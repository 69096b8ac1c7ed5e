"""Issue 19's measurements of the classical parts of repair: the exact in-plane fill against
scikit-image's biharmonic inpainting, and motion-compensated against linear re-creation of lost slices.

Fill: real slices (the Cranium CT upsampled to 512x512 as in bench_repair.py, an MNI152 axial slice,
pydicom's CT_small) damaged by the independent generator (tests/generators) with holes of every size;
PSNR inside the hole (dB, over the slice's 0.5-99.5 percentile range) and CPU milliseconds (median of 3)
of ``medinpaint.nets.biharmonic_inpaint`` and ``skimage.restoration.inpaint_biharmonic``.

Motion: every slice of each held-out validation volume (VALIDATION_SUBJECTS) on each axis, with two
intact slices on either side, re-created from its neighbours by ``medinpaint.repair.motion`` (as
shipped: weights fitted to the volume; with the fixed weights alone; the flow between the two
neighbours alone, no cubic term) and by linear interpolation; PSNR over the volume's normalisation
range. Speed: CPU and wall milliseconds per re-created slice of 256x256 (the Cranium CT) and 512x512
(the Cranium CT upsampled as in bench_repair.py), four lost slices each (two single, one pair), with the
load average.

    .venv/bin/python bench/bench_fill_motion.py [fill|motion|speed ...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinpaint.data.normalise import normalisation  # noqa: E402
from medinpaint.data.sources import VALIDATION_SUBJECTS, available_sources, find_source  # noqa: E402
from medinpaint.nets import biharmonic_inpaint  # noqa: E402
from medinpaint.repair import motion  # noqa: E402
from tests.generators.independent import damage  # noqa: E402

HOLES = [("impulses", {"share": 0.01}), ("lines", {"share": 0.04}), ("tiles", {"share": 0.08}),
         ("blocks", {"share": 0.02}), ("tiles", {"share": 0.25, "tile": 32}), ("truncation", {"share": 0.2})]
METHODS = ("fitted", "fixed", "flow")  # weights fitted to the volume, the fixed weights, the flow alone


def _cpu_ms(function, *args) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(3):
        start = time.process_time()
        out = function(*args)
        times.append(1000 * (time.process_time() - start))
    return float(np.median(times)), out


def bench_fill() -> list[dict]:
    from skimage.restoration import inpaint_biharmonic

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_repair import ct_volume

    slices = {"cranium CT 512": ct_volume(12).physical()[:, :, 6],
              "MNI152 axial": find_source("mni152").load().physical()[:, :, 90],
              "CT_small": find_source("pydicom-ct-small").load().physical()[:, :, 0]}
    rows = []
    for name, plane in slices.items():
        plane = plane.astype(np.float64)
        span = float(np.percentile(plane, 99.5) - np.percentile(plane, 0.5))
        for n, (kind, options) in enumerate(HOLES):
            lost = damage(plane.astype(np.float32), kind, np.random.default_rng(n), **options).lost
            image = np.where(lost, 0.0, plane)
            row = {"slice": name, "kind": kind, **options, "lost": round(float(lost.mean()), 4)}
            for method, function in (("medinpaint", biharmonic_inpaint), ("skimage", inpaint_biharmonic)):
                ms, out = _cpu_ms(function, image, lost)
                error = float(np.mean((out - plane)[lost] ** 2))
                row[f"{method}_db"] = round(float(10 * np.log10(span**2 / error)), 3)
                row[f"{method}_ms"] = round(ms, 1)
            rows.append(row)
    return rows


def bench_motion() -> list[dict]:
    rows, seen = [], set()
    for source in available_sources():
        if source.subject not in VALIDATION_SUBJECTS:
            continue
        volume = source.load()
        values = volume.physical()
        values = values[..., 0] if values.ndim == 4 else values
        if values.shape in seen or min(values.shape) < 5:
            continue
        seen.add(values.shape)
        norm = normalisation(values, volume.modality)
        span = norm["high"] - norm["low"]
        for axis in range(3):
            moved = np.moveaxis(values, axis, 2).astype(np.float32)
            errors: dict[str, list[float]] = {"linear": [], "fitted": [], "fixed": [], "flow": []}
            for k in range(2, moved.shape[2] - 2):
                truth = moved[:, :, k]
                linear = 0.5 * (moved[:, :, k - 1] + moved[:, :, k + 1])
                errors["linear"].append(np.mean((linear - truth) ** 2))

                def plane(i: int, m: np.ndarray = moved) -> np.ndarray:
                    return m[:, :, i]

                for name, examples in (("fitted", motion.EXAMPLES), ("fixed", 0)):
                    made = motion.recreate_slices(plane, moved.shape[2], [k], examples=examples)[k]
                    errors[name].append(np.mean((made - truth) ** 2))
                flow = motion.interpolate_between(moved[:, :, k - 1], moved[:, :, k + 1])
                errors["flow"].append(np.mean((flow - truth) ** 2))
            db = {m: float(10 * np.log10(span**2 / np.mean(e))) for m, e in errors.items()}
            rows.append({"volume": source.name, "axis": axis, "slices": len(errors["linear"]),
                         "linear_db": round(db["linear"], 2),
                         **{f"{m}_gain_db": round(db[m] - db["linear"], 2) for m in METHODS}})
    gains = {m: float(np.mean([r[f"{m}_gain_db"] for r in rows])) for m in METHODS}
    rows.append({"mean_gain_db": {m: round(g, 3) for m, g in gains.items()},
                 "min_gain_db": round(min(r["fitted_gain_db"] for r in rows), 2)})
    return rows


def bench_speed() -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_repair import ct_volume

    rows, lost = [], [10, 20, 30, 31]
    volumes = {"256x256": find_source("cranium").load().physical()[:, :, :40],
               "512x512": ct_volume(40).physical()}
    for name, values in volumes.items():
        values = np.ascontiguousarray(values, dtype=np.float32)
        for label, examples in (("fitted", motion.EXAMPLES), ("fixed", 0)):
            cpu, wall = time.process_time(), time.perf_counter()
            motion.recreate_slices(lambda i, v=values: v[:, :, i], values.shape[2], lost, examples=examples)
            rows.append({"plane": name, "weights": label,
                         "cpu_ms_per_slice": round(1000 * (time.process_time() - cpu) / len(lost)),
                         "wall_ms_per_slice": round(1000 * (time.perf_counter() - wall) / len(lost)),
                         "load_average": [round(x, 2) for x in os.getloadavg()]})
    return rows


if __name__ == "__main__":
    parts = {"fill": bench_fill, "motion": bench_motion, "speed": bench_speed}
    chosen = sys.argv[1:] or list(parts)
    print(json.dumps({name: parts[name]() for name in chosen}, indent=1))
