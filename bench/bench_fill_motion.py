"""Issue 19's measurements of the classical parts of repair: the exact in-plane fill against
scikit-image's biharmonic inpainting, and motion-compensated against linear re-creation of lost slices.

Fill: real slices (the Cranium CT upsampled to 512x512 as in bench_repair.py, an MNI152 axial slice,
pydicom's CT_small) damaged by the independent generator (tests/generators) with holes of every size;
PSNR inside the hole (dB, over the slice's 0.5-99.5 percentile range) and CPU milliseconds (median of 3)
of ``medinpaint.nets.biharmonic_inpaint`` and ``skimage.restoration.inpaint_biharmonic``.

Motion: every slice of each held-out validation volume (VALIDATION_SUBJECTS) on each axis, with two
intact slices on either side, re-created from its neighbours by ``medinpaint.repair.motion`` (DIS
medium and fast) and by linear interpolation; PSNR over the volume's normalisation range.

    .venv/bin/python bench/bench_fill_motion.py
"""

from __future__ import annotations

import json
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
            errors: dict[str, list[float]] = {"linear": [], "medium": [], "fast": []}
            for k in range(2, moved.shape[2] - 2):
                truth = moved[:, :, k]
                linear = 0.5 * (moved[:, :, k - 1] + moved[:, :, k + 1])
                errors["linear"].append(np.mean((linear - truth) ** 2))
                for preset in ("medium", "fast"):
                    def plane(i: int, m: np.ndarray = moved) -> np.ndarray:
                        return m[:, :, i]

                    made = motion.recreate_slices(plane, moved.shape[2], [k], preset)[k]
                    errors[preset].append(np.mean((made - truth) ** 2))
            db = {m: float(10 * np.log10(span**2 / np.mean(e))) for m, e in errors.items()}
            rows.append({"volume": source.name, "axis": axis, "slices": len(errors["linear"]),
                         "linear_db": round(db["linear"], 2),
                         "medium_gain_db": round(db["medium"] - db["linear"], 2),
                         "fast_gain_db": round(db["fast"] - db["linear"], 2)})
    return rows


if __name__ == "__main__":
    result = {"fill": bench_fill(), "motion": bench_motion()}
    print(json.dumps(result, indent=1))
