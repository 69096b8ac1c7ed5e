"""Real images for the damage tests: an MR head slice (uint8), a CT slice (int16) and a 3D MR block."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom.data
import pytest

from tests.conftest import require_source


@pytest.fixture(scope="session")
def mr_volume() -> np.ndarray:
    """Colin27 (ch2) as stored: uint8, (181, 217, 181)."""
    path = require_source("ch2")
    return np.asarray(nib.load(path).dataobj)


@pytest.fixture(scope="session")
def images(mr_volume) -> dict[str, np.ndarray]:
    """Channel-first test images: 2D MR uint8, 2D CT int16, 2D MR float32 and a 3D MR block uint8."""
    ct = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm")).pixel_array.T
    mr_slice = mr_volume[:, :, 90]
    return {
        "mr2d": mr_slice[None].copy(),
        "ct2d": ct[None].astype(np.int16),
        "mr2d-float": (mr_slice[None] / 255.0).astype(np.float32),
        "mr3d": mr_volume[60:124, 70:134, 80:92][None].copy(),
    }
