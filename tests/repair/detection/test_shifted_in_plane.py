"""Shifted blocks in a single slice: found from their seams and a roll undone, with no slice beside."""

import numpy as np
import pytest

from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.shifted import roll_costs
from medinpaint.repair.detection.shifted_in_plane import passes, smoother_undone
from tests.repair.detection.clean_forms import clean_cases
from tests.repair.detection.scans import independently_damaged


@pytest.mark.parametrize("name,block", [
    ("ch2", (141, 178, 68, 96)),  # over tissue
    ("mni152", (157, 194, 74, 102)),  # half over the background: its sides' typical jump is 0 undone
    ("pydicom-ct-small", (89, 126, 36, 64)),  # a CT
])
def test_a_block_shifted_in_a_single_slice_is_found(name, block):
    """The independent generator's seed 151 shifts one block of each single slice along its stream
    (by 735 pixels: 26 rows and 7 columns of a 28-pixel-wide block); nothing else is damaged. It was
    wholly unfound: the corrupted-block rule looks for garbage, and the shifted-block rule needed the
    slices beside."""
    _, damaged, changed, lost, found = independently_damaged(name, False, "blocks", 151)
    i0, i1, j0, j1 = block
    assert lost[i0:i1, j0:j1].all() and lost.sum() == (i1 - i0) * (j1 - j0)
    labels = found.labels[:, :, 0]
    assert (labels[i0:i1, j0:j1] != 0).all()
    assert (labels[i0:i1, j0:j1] == CORRUPTED_BLOCKS_CODE).mean() > 0.9
    assert not (found.mask.astype(bool) & ~lost).any()


def test_anatomy_a_roll_fits_at_its_sides_is_no_block():
    """A 13x9 rectangle of ch2better's clean sagittal slice (a cross-section through folds of cortex):
    one roll of its stream fits its sides 16 times better than it stands, but undone it is rougher
    inside (1.9 times), where a shifted block's roll undone takes its own seams away (0.18-0.75)."""
    name = "ch2better/axis0-slice/native"
    plane = next(case for label, case in clean_cases() if label == name).array[:, :, 0].astype(np.float64)
    edges = (85, 98, 212, 221)
    gain, roll, typical = roll_costs(plane, edges)
    assert gain > 8 and typical >= 4  # the sides alone would take it
    assert not smoother_undone(plane, edges, roll)
    assert passes(plane, edges) == 0


def test_a_rectangle_of_one_value_is_no_block():
    """cranium's axial slice through a brain window (8-bit): a 38x13 rectangle of air clipped to 0,
    with a few pixels of bone at its bottom edge. The roll that moves those few fits the sides (their
    typical jump is 0 as it stands and undone) and smooths the inside, but moves 7% of its voxels:
    too few to tell a block."""
    name = "cranium/axis2-slice/window-brain"
    plane = next(case for label, case in clean_cases() if label == name).array[:, :, 0].astype(np.float64)
    edges = (16, 54, 84, 97)
    gain, roll, typical = roll_costs(plane, edges)
    assert gain > 8 and np.isnan(typical)
    standing = plane[16:54, 84:97]
    undone = np.roll(standing.ravel(), -roll).reshape(standing.shape)
    assert np.mean(undone != standing) < 0.15
    assert passes(plane, edges) == 0


def test_no_block_is_taken_between_lost_lines():
    """The independent generator's seed 151 loses lines of mni152's single slice (at stored 0): each
    is a seam of its own, and a rectangle between two of them fits a roll by a line; before damage found
    was kept out of the rectangles, 4,758 voxels of tissue around the lines were called a block."""
    _, _, _, lost, found = independently_damaged("mni152", False, "lines", 151, fill="stored_zero")
    assert not (found.labels == CORRUPTED_BLOCKS_CODE).any()
    assert (found.mask.astype(bool) & ~lost).sum() < 50


def test_no_block_is_taken_with_a_band_of_lost_lines_for_its_side():
    """CT_small's single slice with lines lost at seed 210 (at stored 0): rows 0-2 and 74-76, the upper
    band unfound at the plane's border. The rows between, with the lower band, fit a roll: their outer
    edges are seams the lost lines make, and nothing found lay outside them. A side whose line inside
    is damage found all along keeps it out too (9,088 voxels of tissue had been called a block)."""
    _, _, _, lost, found = independently_damaged("pydicom-ct-small", False, "lines", 210, fill="stored_zero")
    assert not (found.labels == CORRUPTED_BLOCKS_CODE).any()
    assert found.mask.astype(bool)[74:77].all()
    assert not (found.mask.astype(bool) & ~lost).any()


def test_no_block_is_taken_with_a_burst_found_along_a_side():
    """ch2better's single slice with tiles lost at seed 212 (at stored 0): between a burst of tiles found
    along rows 92-95 and another along rows 116-119 (unfound: it runs into the background), the tissue
    fits a roll with the upper burst inside it. Damage found along 80% of the line just inside a side
    keeps the rectangle out (576 voxels of tissue had been called a block)."""
    _, _, _, lost, found = independently_damaged("ch2better", False, "tiles", 212, fill="stored_zero")
    assert not (found.labels == CORRUPTED_BLOCKS_CODE).any()
    assert not (found.mask.astype(bool) & ~lost).any()


def _head_with_block(at: tuple[int, int], dtype=np.int16) -> tuple[np.ndarray, np.ndarray]:
    """A textured disc of tissue (800 +- 100, noise 10) in a background of exact 0, 256 x 256, with a
    40 x 40 block at ``at`` rolled along its stream by 600 pixels; and where the block is."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:256, 0:256]
    head = (yy - 128) ** 2 + (xx - 128) ** 2 < 90**2
    image = np.zeros((256, 256), dtype)
    texture = 800 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0) + rng.normal(0, 10, (256, 256))
    image[head] = texture[head].astype(dtype)
    i0, j0 = at
    image[i0:i0 + 40, j0:j0 + 40] = np.roll(image[i0:i0 + 40, j0:j0 + 40].ravel(), 600).reshape(40, 40)
    block = np.zeros((256, 256), dtype=bool)
    block[i0:i0 + 40, j0:j0 + 40] = True
    return image, block


def _detected(image: np.ndarray) -> np.ndarray:
    from medinpaint.io import Volume
    from medinpaint.repair.detection import detect

    volume = Volume(np.asfortranarray(image[:, :, None]), np.eye(4), meta={"format": "nifti"})
    return detect(volume).labels[:, :, 0]


def test_a_block_at_the_anatomys_edge_is_not_grown_into_the_background():
    """A block whose sides run into even background fits a roll as well with a side moved out into it,
    but for the rounding of the FFTs: the climb had taken those rounding gains and grown the block into
    640 voxels of background (the review)."""
    image, block = _head_with_block((30, 60))
    labels = _detected(image)
    assert (labels[block] != 0).all()
    assert not (labels[~block] != 0).any()


def test_damage_inside_a_block_does_not_veto_it():
    """Half over the background, the roll carries background in over tissue, and the packet rules take
    it for lost packets (308 voxels): damage inside a block is its own doing, and only damage across
    its sides (a lost line) keeps a rectangle out. 1,292 of the block's 1,600 voxels were unfound."""
    image, block = _head_with_block((25, 120))
    labels = _detected(image)
    assert (labels[block] != 0).mean() > 0.95
    assert not (labels[~block] != 0).any()


def test_a_value_that_is_not_finite_leaves_the_rest_of_the_slice_judged():
    """A float slice with NaN outside a circular field of view: one NaN had switched the rule off for
    the whole slice (the review)."""
    image, block = _head_with_block((100, 60), np.float32)
    yy, xx = np.mgrid[0:256, 0:256]
    image[(yy - 128) ** 2 + (xx - 128) ** 2 > 140**2] = np.nan
    labels = _detected(image)
    assert (labels[block] != 0).mean() > 0.95
    assert not (labels[~block] != 0).any()
