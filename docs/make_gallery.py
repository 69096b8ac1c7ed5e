"""Draw docs/damage_gallery.png: every damage kind on a real CT slice and a real MR slice, with its mask.

The CT slice is pydicom's ``CT_small.dcm``, the MR slice an axial slice of the Colin27 head (``ch2``,
Debian ``mricron-data``). Each kind is drawn by its random transform with seed 3 on the stored values,
as the datasets and ``medinpaint simulate`` apply it. Every kind is shown on both slices, although the
presets keep CT artifacts off MR volumes and MR artifacts off CT volumes.

Run: ``.venv/bin/python docs/make_gallery.py [OUT.png]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pydicom.data  # noqa: E402

from medinpaint.damage import PRESETS  # noqa: E402
from medinpaint.data.sources import find_source  # noqa: E402
from medinpaint.io import read  # noqa: E402

SEED = 3
COLUMNS = 8


def _slices() -> dict[str, tuple[np.ndarray, tuple[float, float]]]:
    """The two clean stored slices (C, I, J) and their display windows in stored units."""
    ct = read(pydicom.data.get_testdata_file("CT_small.dcm"))
    ct_slice = ct.array[:, :, 0][None]
    # a soft-tissue window (-160, 240) HU, converted to stored values
    ct_window = tuple((hu - float(ct.intercept)) / float(ct.slope) for hu in (-160.0, 240.0))
    mr = read(find_source("ch2").path())
    mr_slice = mr.array[:, :, 95][None]
    return {"CT": (ct_slice, ct_window), "MR": (mr_slice, (0.0, float(np.percentile(mr_slice, 99.5))))}


def _show(ax, image: np.ndarray, window: tuple[float, float] | None = None) -> None:
    # arrays are (i, j) = (column, row): transpose to rows down, columns across, as a viewer shows them
    low, high = window or (0, 1)
    ax.imshow(image.T, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def main(out: Path) -> None:
    slices = _slices()
    damages = [cls(**kwargs) for cls, kwargs in PRESETS["all"].items()]
    per_row = COLUMNS - 1
    groups = [damages[i:i + per_row] for i in range(0, len(damages), per_row)]
    rows = 4 * len(groups)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(COLUMNS * 1.7, rows * 1.75))
    for g, group in enumerate(groups):
        for m, (modality, (clean, window)) in enumerate(slices.items()):
            top = 4 * g + 2 * m
            _show(axes[top, 0], clean[0], window)
            axes[top, 0].set_title(f"{modality} clean", fontsize=8)
            _show(axes[top + 1, 0], np.zeros(clean.shape[1:]))
            axes[top + 1, 0].set_title("mask", fontsize=8)
            for c, damage in enumerate(group, start=1):
                damage.set_random_state(SEED)
                damaged, mask = damage(clean)
                _show(axes[top, c], damaged[0], window)
                axes[top, c].set_title(f"{modality} {damage.last_params['kind']}", fontsize=8)
                _show(axes[top + 1, c], mask[0])
            for c in range(len(group) + 1, COLUMNS):
                axes[top, c].axis("off")
                axes[top + 1, c].axis("off")
    fig.suptitle("medinpaint damage kinds (seed 3): damaged slice and mask of changed/lost voxels",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("damage_gallery.png"))
