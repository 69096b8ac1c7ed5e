"""Misplaced blocks: data from elsewhere in a rectangle of one slice, found against the slices beside."""

import numpy as np
import pytest

from medinpaint.io import read
from medinpaint.repair import detect


def _misplaced(clean, style: str):
    stored = np.array(clean.array)
    i, j, k, h, w = 60, 70, 20, 24, 30
    if style == "copy":  # the same rectangle of another place and slice (a misplaced JPEG block run)
        stored[i:i + h, j:j + w, k] = clean.array[i + 40:i + 40 + h, j - 30:j - 30 + w, k - 6]
    else:  # its own pixels moved along the stream by bytes lost inside it
        stored[i:i + h, j:j + w, k] = np.roll(clean.array[i:i + h, j:j + w, k].ravel(), 37).reshape(h, w)
    block = np.zeros(stored.shape, dtype=bool)
    block[i:i + h, j:j + w, k] = True
    return clean.with_array(stored), block


@pytest.mark.parametrize("style", ["copy", "shift"])
def test_a_misplaced_block_is_found_against_the_slices_beside(sample_data, style):
    """Its values are the head's own (no range or roughness test sees them; nothing was found), but
    neither slice beside explains them, where they explain each other, up to four straight edges."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, block = _misplaced(clean, style)
    changed = block & (damaged.array != clean.array)
    found = detect(damaged).labels > 0
    assert found[changed].mean() >= 0.9
    assert not (found & ~block).any()

