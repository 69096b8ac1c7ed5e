"""Label maps: a segmentation stored as an image (a brain mask, tissue classes, a tumour's
sub-regions) holds a few whole numbers, and every lone voxel of a mask is one flipped bit from its
neighbours. Such a file is no measurement; detection leaves it alone, and a repair writes nothing
into it (an intensity network's estimate is no label). A label map damaged into more than
``MOST_LABELS`` values (garbage, many flips) is screened as a scan."""

from __future__ import annotations

import numpy as np

from medinpaint.io.volume import drop_mapped_pages

# a segmentation's labels (a mask's 2, tissue classes, a tumour's 4 sub-regions) against a scan's
# hundreds: the clean corpus's fewest outside masked forms are 25 (a single line of pydicom's MR_small)
MOST_LABELS = 16
# modalities whose scans are counts (nuclear medicine, PET), which a low-count frame keeps under
# ``MOST_LABELS`` values: never taken for a label map (a count map stored as NIfTI, with no modality, is)
COUNTED = ("NM", "PT")


def label_count(array: np.ndarray, slab: int) -> int | None:
    """How many values ``array`` holds where it holds 2 to ``MOST_LABELS`` whole numbers (NaN and
    infinities left out; one value is a constant scan, left to the lost-slice rules), read a slab at a
    time and given up on at the first slab past that; None for a scan. A slab's values are first
    sampled on every fourth voxel along each axis, which tells a scan in milliseconds."""
    seen: set = set()
    for start in range(0, array.shape[2], slab):
        part = np.asarray(array[:, :, start:start + slab])
        for values in (part[::4, ::4, ::4], part):
            found = np.unique(values)
            if found.dtype.kind == "f":
                found = found[np.isfinite(found)]
                if (found != np.round(found)).any():
                    return None
            seen.update(found.tolist())
            if len(seen) > MOST_LABELS:
                return None
        drop_mapped_pages(array, start, start + slab)
    return len(seen) if len(seen) >= 2 else None
