"""Issue 19: the denoiser on CT outside the HU window, CT with white and grainy noise, MR of a large scale.

pydicom's CT_small and MR_small (validation subjects, never trained on) as stored, with an older
scanner's -3024 HU padding outside a circle, with a 6000 HU metal disc, and MR_small as float32 times
1000; white (25, 40 HU), grainy (25 HU grain 1.0, 40 HU grain 1.5) or Rician (5%) noise; each through
``repair_volume(..., denoise=True)``. Whole-image PSNR (dB, over the clean scan's 0.5-99.5 percentile
range) of the noisy input and of the result, and the slices the guard left alone.

    .venv/bin/python bench/bench_denoise_guard.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinpaint.data.sources import find_source  # noqa: E402
from medinpaint.io import Volume  # noqa: E402
from medinpaint.repair import repair_volume  # noqa: E402
from medinpaint.train.augment import grainy  # noqa: E402


def _stored(volume: Volume, physical: np.ndarray) -> Volume:
    slope, intercept = float(np.ravel(volume.slope)[0]), float(np.ravel(volume.intercept)[0])
    values = (physical - intercept) / slope
    if volume.dtype.kind in "iu":
        info = np.iinfo(volume.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return volume.with_array(values.astype(volume.dtype))


def _grain(sigma: float, size: float):
    def add(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x[..., 0].astype(np.float32))[None, None]
        noise = grainy(torch.zeros_like(t), torch.tensor([sigma]), torch.tensor([size]),
                       torch.Generator().manual_seed(1))[0, 0].numpy()
        return x + noise[..., None]
    return add


def main() -> list[dict]:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ct, mr = find_source("pydicom-ct-small").load(), find_source("pydicom-mr-small").load()
    hu = ct.physical()
    yy, xx = np.mgrid[: hu.shape[0], : hu.shape[1]]
    outside = ((yy - 64) ** 2 + (xx - 64) ** 2 > 60**2)[..., None]
    metal = ((yy - 64) ** 2 + (xx - 40) ** 2 < 36)[..., None]
    padded = _stored(ct, np.where(outside, -3024.0, hu))
    with_metal = _stored(ct, np.where(metal, 6000.0, hu))
    big_mr = Volume(mr.physical().astype(np.float32) * 1000.0, mr.affine, 1.0, 0.0, mr.meta)

    def white(s):
        return lambda x: x + rng.normal(0, s, x.shape)

    def rician(x):
        s = 0.05 * np.percentile(x, 99.5)
        return np.sqrt((x + rng.normal(0, s, x.shape)) ** 2 + rng.normal(0, s, x.shape) ** 2)

    cases = [("CT_small, white 25 HU", ct, white(25)), ("CT_small, white 40 HU", ct, white(40)),
             ("CT_small, grainy 25 HU grain 1.0", ct, _grain(25, 1.0)),
             ("CT_small, grainy 40 HU grain 1.5", ct, _grain(40, 1.5)),
             ("CT_small padded -3024 HU, white 25 HU", padded, lambda x: np.where(outside, x, white(25)(x))),
             ("CT_small padded -3024 HU, grainy 40 HU", padded,
              lambda x: np.where(outside, x, _grain(40, 1.5)(x))),
             ("CT_small with 6000 HU metal, white 25 HU", with_metal, white(25)),
             ("MR_small, Rician 5%", mr, rician), ("MR_small x1000 (float32), Rician 5%", big_mr, rician)]
    rows = []
    for name, volume, noise in cases:
        clean = volume.physical()
        noisy = _stored(volume, noise(clean))
        result = repair_volume(noisy, mask=np.zeros(noisy.shape, bool), denoise=True, device="cpu",
                               precision="float32")
        span = float(np.percentile(clean, 99.5) - np.percentile(clean, 0.5))

        def db(x: np.ndarray, clean: np.ndarray = clean, span: float = span) -> float:
            return round(float(10 * np.log10(span**2 / np.mean((x - clean) ** 2))), 2)

        rows.append({"case": name, "noisy_db": db(noisy.physical()),
                     "denoised_db": db(result.volume.physical()),
                     "left_alone": result.report.get("denoise", {}).get("slices_left_alone")})
    return rows


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
