"""Flat patches of a lossy codec are no lost packets: JPEG keeps only the mean of a smooth 8x8 block, a
tile of one value on the codec's grid, at the value of the tissue around it; a packet lost in such a
scan is still found."""

from __future__ import annotations

import numpy as np

from medinpaint.io import read
from medinpaint.repair.detection import detect
from tests.generators import storage


def _head_as_jpeg(sample_data):
    clean = read(sample_data / "mr_head.nii.gz")
    return clean.with_array(np.asfortranarray(storage.jpeg_lossy(np.asarray(clean.array), 75)))


def test_a_scan_stored_as_lossy_jpeg_is_no_scan_of_lost_packets(sample_data):
    """mr_head as 8-bit JPEG at quality 75: 3,182 voxels of its flat patches were called lost packets."""
    assert detect(_head_as_jpeg(sample_data)).counts() == {}


def test_a_packet_lost_in_a_lossy_jpeg_scan_is_found(sample_data):
    """A burst of three 8x8 tiles on the grid lost at 0 inside the head: the tissue around stands out."""
    scan = _head_as_jpeg(sample_data)
    stored = np.array(scan.array)
    lost = np.zeros(stored.shape, dtype=bool)
    lost[64:72, 64:88, 20] = True
    stored[lost] = 0
    found = detect(scan.with_array(np.asfortranarray(stored))).labels > 0
    changed = lost & (np.asarray(scan.array) != 0)
    assert found[changed].mean() >= 0.9
    assert not (found & ~lost).any()
