"""The volume driver: a Siemens mosaic is scanned tile by tile, and its stream cut in its own order."""

import numpy as np

from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.repair.detection.scans import (
    mosaic_file,
    mosaics,
)


def test_a_siemens_mosaic_is_scanned_tile_by_tile():
    """A mosaic holds a volume's slices as tiles of one image: its tile borders and empty tiles are no
    lost lines or truncated stream (heudiconv's axasc35: 35 EPI slices of 64x64 in a 6x6 mosaic), and
    a lost line inside a tile is found there."""
    clean = read(mosaic_file("axasc35.dcm"))
    assert clean.shape == (384, 384, 1)
    found = detect(clean).counts()
    assert "lost-lines" not in found and "truncation" not in found
    damaged = clean.array.copy()
    damaged[64:128, 64 + 30, 0] = 0  # one line across tile 7 (second row, second column of tiles)
    detection = detect(clean.with_array(damaged))

    assert (detection.labels[64:128, 94, 0] == CODE["lost-lines"]).all()


def test_no_false_positives_on_clean_siemensmosaics():
    """heudiconv's mosaics (training sources, read one file at a time: the b0 files share their
    position) are clean. Each once fired: the b0 and b1500 diffusion and the EPI mosaic hold single
    voxels of noise that one flip explains (4-28), the last rows of the last tiles are black as in
    earlier tiles (a truncated stream, read in the tiles' order), and a short bright vessel in a b0
    tile passed for a garbage block."""
    for path in mosaics():
        found = detect(read(path)).counts()
        assert found == {}, f"{path.name}: {found}"


def test_a_truncated_mosaic_is_cut_in_the_mosaics_own_order():
    """The pixel stream of a mosaic runs along the mosaic's rows, across its tiles: a cut part way
    along a row of the image is found from there on, however it falls in the tiles."""
    clean = read(mosaic_file("axasc35.dcm"))
    stream = clean.array[:, :, 0].reshape(-1, order="F").copy()  # i fastest: the rows of the image
    cut = 384 * 300 + 100  # row 300, column 100: inside a tile of the last row of tiles
    stream[cut:] = 0
    damaged = clean.with_array(stream.reshape(clean.shape[:2], order="F")[:, :, np.newaxis])
    labels = detect(damaged).labels[:, :, 0].reshape(-1, order="F")

    assert (labels[cut:] == CODE["truncation"]).mean() > 0.95
    assert not labels[:cut - 384].any()
