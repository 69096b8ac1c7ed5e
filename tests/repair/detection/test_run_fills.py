"""Constants held in runs: values written over data, or the scan's own plateaus. A bone-window 8-bit
export of a CT (600/2800 HU: 11 HU a level) holds soft tissue at a few levels in runs of 16 and more;
its commonest level (75) had been taken for a fill written over data, and 1,273 voxels of soft tissue
for lost packets."""

import numpy as np

from medinpaint.io import Volume
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from medinpaint.repair.detection.run_fills import tissue_plateau
from tests.generators import storage
from tests.repair.detection.clean_forms import physical
from tests.repair.detection.scans import require_source


def _bone_window_export() -> np.ndarray:
    """cranium's sagittal planes (its first axis as slices), the middle 16, 128 x 108 of each, as a
    bone-window 8-bit export."""
    from medinpaint.data.sources import find_source

    require_source("cranium")
    hu = np.moveaxis(physical(find_source("cranium").load()), 0, 2)
    k = hu.shape[2] // 2
    return storage.windowed(hu[:128, :128, k - 8:k + 8], *storage.CT_WINDOWS["bone"])


def _nifti(array: np.ndarray) -> Volume:
    return Volume(np.ascontiguousarray(array), np.eye(4), meta={"format": "nifti"})


def test_a_bone_window_export_is_clean():
    export = _bone_window_export()
    assert np.count_nonzero(export == 75) > 10_000  # soft tissue's commonest level
    detection = detect(_nifti(export))
    assert not detection.labels.any(), detection.counts()
    assert 75.0 not in detection.details["fill_values"]


def test_a_tile_written_over_the_export_at_a_level_of_its_own_is_lost():
    """A tile of one slice written at 128 (a level the export holds, 600 HU of bone): it cuts through
    soft tissue, and is found."""
    export = _bone_window_export()
    damaged = export.copy()
    written = np.zeros(export.shape, dtype=bool)
    written[64:96, 32:64, 8] = True
    damaged[written] = 128
    labels = detect(_nifti(damaged)).labels
    assert (labels[written] == CODE["packet-loss"]).all()
    assert not labels[~written].any()


def test_a_plateau_ends_on_the_levels_beside_and_a_written_value_does_not():
    tissue = np.full((64, 64, 1), 75, dtype=np.uint8)
    tissue[::5] = 74  # runs of 4 rows of 75 between rows of 74, and columns of 75 ending on 76
    tissue[:, ::20] = 76
    assert tissue_plateau(tissue, 75)
    written = np.random.default_rng(0).integers(0, 256, (64, 64, 1)).astype(np.uint8)
    written[16:48, 16:48, 0] = 75  # a tile written at 75 through noise: its runs end on the noise
    assert not tissue_plateau(written, 75)
    halves = tissue.astype(np.float32) / 2  # not whole numbers: no levels to step to
    assert not tissue_plateau(halves, 37.5)
