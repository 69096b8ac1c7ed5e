"""Bit errors, the first look: flips in tissue and in the background, against the scan's own outliers."""

import numpy as np
import pytest

from medinpaint.damage.transmission import (
    BitErrors,
    CorruptBlocks,
)
from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.conftest import require_source
from tests.repair.detection.scans import (
    bench_view,
    ch2_skull_stripped,
    damage_copy,
    independently_damaged,
    mosaic_file,
)


def test_a_flipped_bit_in_the_empty_background_is_found(sample_data):
    """A voxel one bit away from the fill value its eight neighbours hold; the plane's border included."""
    from scipy import ndimage

    clean = read(sample_data / "mr_head.nii.gz")
    empty = ndimage.maximum_filter(clean.array, size=(3, 3, 1), mode="nearest") == 0
    where = tuple(w[::max(1, len(w) // 40)][:40] for w in np.nonzero(empty))
    damaged = clean.array.copy()
    damaged[where] = 64  # bit 6 of a stored 0
    damaged[0, 1, 28] = 32 if empty[0, 1, 28] else damaged[0, 1, 28]
    truth = damaged != clean.array

    found = detect(clean.with_array(damaged)).labels == CODE["bit-errors"]
    assert found[truth].all()
    # the scan carries flips, so the later looks also took a few peaks of texture for them (9 of 1.9 M)
    assert (found & ~truth).sum() <= 12
    assert not (found & ~truth & (ndimage.maximum_filter(clean.array, size=(3, 3, 1)) == 0)).any()


def test_a_bit_error_holding_the_image_minimum_is_not_taken_for_a_fill(pydicom_files):
    clean = read(pydicom_files / "CT_small.dcm")
    damaged = clean.array.copy()
    damaged[60, 70, 0] ^= np.int16(-32768)  # the sign bit: the voxel becomes the image minimum
    assert damaged.min() == damaged[60, 70, 0]
    detection = detect(clean.with_array(damaged))
    assert detection.counts() == {"bit-errors": 1} and detection.labels[60, 70, 0] > 0


def test_two_flips_side_by_side_are_both_found(pydicom_files):
    """Each widens the other's neighbour range; once one is found, the other is judged without it."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged = clean.array.copy()
    damaged[60, 70, 0] ^= np.int16(-32768)  # the sign bit: far below every neighbour
    damaged[61, 71, 0] ^= np.int16(16384)  # bit 14: far above them, and above its flipped neighbour's range
    detection = detect(clean.with_array(damaged))
    assert detection.counts() == {"bit-errors": 2}
    assert detection.labels[60, 70, 0] > 0 and detection.labels[61, 71, 0] > 0


def test_flips_that_all_land_on_the_image_minimum_are_not_taken_for_a_fill(nibabel_files):
    """The sign bit of a stored 0 gives -32768 every time: many voxels at the minimum, none side by side."""
    from scipy import ndimage

    clean = read(nibabel_files / "example4d.nii.gz")
    clean = clean.with_array(np.ascontiguousarray(clean.array[..., 0]))
    empty = ndimage.maximum_filter(np.abs(clean.array), size=(5, 5, 1), mode="nearest") == 0
    where = tuple(w[::max(1, len(w) // 30)][:30] for w in np.nonzero(empty))
    damaged = clean.array.copy()
    damaged[where] = np.int16(-32768)
    found = detect(clean.with_array(damaged)).labels == CODE["bit-errors"]
    assert found[where].all()


def test_a_flip_on_the_planes_border_is_found(pydicom_files):
    """A voxel on the plane's border is judged on its five neighbours inside the plane (it was never
    flagged: the first look counted it among its own neighbours)."""
    clean = read(pydicom_files / "MR_small.dcm")
    damaged = clean.array.copy()
    border = ([8, 30, 0, 63], [63, 0, 30, 30])  # the last and first column, the first and last row
    damaged[border[0], border[1], 0] ^= 4096  # 338 -> 4434 on the last column
    found = detect(clean.with_array(damaged))

    assert (found.labels[border[0], border[1], 0] == CODE["bit-errors"]).all()
    assert found.counts() == {"bit-errors": 4}


def test_flips_beyond_doubt_stand_beside_an_outlier_no_flip_explains(pydicom_files):
    """A scan with outliers that one flip does not explain may have outliers of its own, but flips of
    the sign bit (far beyond any content) and a block found because of them are not such outliers."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, block = damage_copy(clean, CorruptBlocks(blocks=[(40, 40, 16, 20)], seed=1))
    stored = damaged.array.copy()
    flips = (np.array([10, 20, 100, 110, 70]), np.array([100, 15, 30, 110, 90]), np.zeros(5, dtype=int))
    stored[flips] ^= np.int16(-32768)
    stored[80, 60, 0] += 1500  # an outlier that no single flip explains
    found = detect(clean.with_array(stored)).labels
    assert (found[block] > 0).all()
    assert (found[flips] > 0).all()


def test_flips_beyond_doubt_with_few_neighbours_of_content_are_found(pydicom_files, nibabel_files):
    """A voxel with fewer than five neighbours of content is judged where its value lies far beyond
    the content's: sign-bit flips in the plane's four corners (three neighbours each), and two flips
    side by side in an empty background (each the other's only neighbour that is not fill)."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged = clean.array.copy()
    corners = (np.array([0, 0, 127, 127]), np.array([0, 127, 0, 127]), np.zeros(4, dtype=int))
    damaged[corners] ^= np.int16(-32768)
    found = detect(clean.with_array(damaged))
    assert found.counts() == {"bit-errors": 4} and (found.labels[corners] > 0).all()

    epi = read(nibabel_files / "example4d.nii.gz")
    clean = epi.with_array(np.ascontiguousarray(epi.array[..., 0]))
    assert (clean.array[41:46, 86:91, 5] == 0).all()  # empty background around the pair
    damaged = clean.array.copy()
    damaged[42, 88, 5] ^= np.int16(-32768)
    damaged[43, 88, 5] ^= np.int16(8192)
    found = detect(clean.with_array(damaged))
    assert found.counts() == {"bit-errors": 2}
    assert found.labels[42, 88, 5] > 0 and found.labels[43, 88, 5] > 0


def test_a_bright_voxel_of_its_own_in_a_corner_is_not_taken_for_a_flip(pydicom_files):
    """A corner voxel 1.5 value ranges beyond the content, in a scan with no other flip, is too few to
    tell from the scan's own outliers (clean scans hold voxels up to 2.3 beyond): it stays; one 9
    beyond is a flip beyond doubt."""
    clean = read(pydicom_files / "CT_small.dcm")
    stored = clean.array.copy()
    low, high = np.percentile(stored, [0.5, 99.5])
    stored[0, 0, 0] ^= np.int16(4096)  # 175 -> 4271: 1.5 ranges beyond, and one flip explains it
    stored[127, 127, 0] ^= np.int16(16384)
    assert high + (high - low) < stored[0, 0, 0] < high + 2 * (high - low)
    found = detect(clean.with_array(stored))
    assert found.counts() == {"bit-errors": 1} and found.labels[127, 127, 0] > 0


def test_a_flip_in_a_corner_amid_content_is_judged_on_its_three_neighbours():
    """dipy's S0 crop (uint16, content 2-1948), bit flips of the independent generator (seed 71): bit 13
    flipped in the plane's corner took 6 to 8198, amid neighbours of 10-16. A corner has three
    neighbours; all three of content are all it can have, so it is judged as a voxel with five is
    (it had to lie four value ranges beyond, 9732, and one flip lost the case 14 dB). An outlier there
    that no flip explains is not counted among the scan's own: the field of view cuts anatomy (counted,
    cranium's crop at seed 60 had its later looks stopped, 68 of 147 flips found instead of 93)."""
    _, damaged, changed, _, detection = independently_damaged("dipy-s0", True, "bitflips", 71)
    corner = (0, 95, 9)
    assert changed[corner] and damaged[corner] == 8198
    assert detection.labels[corner] == CODE["bit-errors"]
    _, _, changed, _, detection = independently_damaged("cranium", True, "bitflips", 60)
    assert (detection.mask.astype(bool) & changed).sum() >= 90


def test_few_flips_stand_together_where_most_are_beyond_doubt():
    """pydicom's CT_small (content 128-2191), bit flips of the independent generator (seed 80): 16
    flips, 8 of them beyond its neighbours by more than the first look's threshold. Eight are too few
    to tell from a clean scan's own outliers, so only flips far beyond stood; but six of them are
    (2242 amid 213, 17421), and the two left in doubt (221 read as 733, 1098 as 1610, bit 9) are flips
    of a scan shown to carry them: with six beyond doubt against two, all stand."""
    _, damaged, changed, lost, detection = independently_damaged("pydicom-ct-small", False, "bitflips", 80)
    found = detection.mask.astype(bool)
    doubted = [(2, 45, 0), (4, 87, 0)]
    assert [int(damaged[at]) for at in doubted] == [733, 1610]
    assert all(found[at] for at in doubted)
    assert (found & changed).sum() == 8 and not (found & ~lost).any()
    assert "doubtful" not in detection.details


def test_background_flips_at_a_low_rate_stand_beside_a_masks_lone_voxels():
    """ch2 under ch2bet's brain mask grown by 1 holds 33 lone voxels of tissue that no flip explains
    (2 more hold a bit's value); 148 flips from 0 at a rate of 3e-5 outnumber them and stand."""
    from medinpaint.damage.transmission import BitErrors

    head = ch2_skull_stripped(1)
    masked = head.array
    damaged, flipped = (np.asarray(x)[0] for x in BitErrors(rate=3e-5, seed=1)(masked[np.newaxis]))
    background = flipped.astype(bool) & (masked == 0)
    found = detect(head.with_array(np.ascontiguousarray(damaged))).labels > 0
    assert background.sum() > 100 and found[background].mean() > 0.95


@pytest.mark.parametrize(("scan", "cut_off"), [("mr_head.nii.gz", 29), ("example4d.nii.gz", 470)])
def test_lone_voxels_a_noise_cut_off_leaves_are_not_flips(sample_data, nibabel_files, scan, cut_off):
    """A scan whose background below a cut-off was set to 0 (a 10th or 50th percentile here) keeps
    lone voxels of noise in it, and a few hold a single bit's value (32 of uint8, 512 of int16), as a
    flip from 0 would; far more hold values no flip explains."""
    clean = read((sample_data if scan.startswith("mr_head") else nibabel_files) / scan)
    array = clean.array if clean.array.ndim == 3 else clean.array[..., 0]
    cut = np.where(array < cut_off, 0, array).astype(array.dtype)
    assert detect(clean.with_array(cut)).counts() == {}


@pytest.mark.parametrize(("flips", "stand"), [(12, True), (3, False)])
def test_background_flips_stand_where_they_far_outnumber_its_own_lone_voxels(sample_data, flips, stand):
    """One lone voxel of tissue that no flip explains: a dozen flips from 0 still stand, three do not
    (they could be lone voxels of the scan's own that happen to hold a single bit's value)."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged = clean.array.copy()
    assert not damaged[0:5, 6:11, :].any()
    damaged[2, 8, 2] = 37  # no one bit away from 0
    damaged[2, 8, 10:10 + flips] = 64  # bit 6 of a stored 0, stacked across slices
    found = detect(clean.with_array(damaged))
    assert found.counts() == ({"bit-errors": flips} if stand else {})


def test_two_flips_stacked_across_slices_in_the_background_are_found(sample_data):
    """Each is the other's neighbour across slices, alone in its own plane: not tissue."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged = clean.array.copy()
    assert not damaged[0:5, 6:11, 19:23].any()
    damaged[2, 8, 20] = damaged[2, 8, 21] = 64  # bit 6 of a stored 0, twice
    found = detect(clean.with_array(damaged))
    assert found.counts() == {"bit-errors": 2} and found.labels[2, 8, 20] > 0 and found.labels[2, 8, 21] > 0


@pytest.mark.parametrize("k", [177, 178])
def test_one_flip_in_an_empty_slice_is_only_a_flip(k):
    """ch2's top slices beyond the head are empty: one flipped bit there makes the slice no longer
    constant, and its fill all around the flip had passed for lost packets (10,412 voxels); in the
    first empty slice, for a stream cut after the flip (151,116 voxels)."""
    from medinpaint.data.sources import SOURCES

    require_source("ch2")
    clean = SOURCES["ch2"].load()
    assert not clean.array[:, :, k].any() and clean.array[:, :, k - 1].any() == (k == 177)
    damaged = clean.array.copy()
    damaged[18, 33, k] = 128
    assert detect(clean.with_array(damaged)).counts() == {"bit-errors": 1}


def test_flips_in_a_noisy_mosaic_outnumber_its_own_outliers():
    """In the b1500 mosaic whose noise gives outliers of its own, flips at 1e-4 of the voxels are
    found: all of them are explained by one flip, against a few outliers that are not."""
    clean = read(mosaic_file("b0dwi_for_fmap+00003.dcm"))  # the b1500 mosaic
    damaged, flipped = damage_copy(clean, BitErrors(rate=1e-4, top_bits=4, seed=3))
    found = detect(damaged).labels > 0
    visible = flipped & (np.abs(damaged.array.astype(float) - clean.array) > 2000)
    assert visible.sum() > 50
    assert (found[visible]).mean() >= 0.9


def test_impulses_saturated_at_the_types_ceiling_are_found(pydicom_files):
    """CT_small stored as uint8 with its tissue up to 235 (as the MNI template is): impulses beyond the
    type's range are stored at 255, only a tenth of a range above the tissue, and are found all the
    same; the clean uint8 scan gives nothing."""
    clean = read(pydicom_files / "CT_small.dcm")
    values = np.asarray(clean.array, np.float64)
    stored = np.rint((values - values.min()) / np.ptp(values) * 235).astype(np.uint8)
    scan = type(clean)(stored, clean.affine, 1.0, 0.0, meta={"format": "nifti"})
    assert detect(scan).counts() == {}
    damaged = stored.copy()
    rng = np.random.default_rng(0)
    # lone voxels (impulses side by side hide each other, as flips do), in tissue well below the ceiling
    from scipy import ndimage

    plane = stored[:, :, 0]
    # (and where no single flipped bit of 255 lands among the neighbours: 127, 191, 223 and up)
    calm = (ndimage.minimum_filter(plane, 3) > 50) & (ndimage.maximum_filter(plane, 3) < 105)
    spaced = np.zeros_like(calm)
    spaced[1::3, 1::3] = calm[1::3, 1::3]  # two voxels apart at least
    tissue = np.argwhere(spaced)
    hit = tissue[rng.choice(len(tissue), size=min(100, len(tissue)), replace=False)]
    damaged[hit[:, 0], hit[:, 1], 0] = 255
    found = detect(scan.with_array(damaged)).labels == CODE["bit-errors"]
    truth = damaged != stored
    assert truth.sum() >= 60 and found[truth].all()
    assert not (found & ~truth).any()


def _side_by_side(changed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Changed voxels with another changed voxel beside them in their plane, and above or below."""
    from scipy import ndimage

    in_plane = ndimage.convolve(changed.astype(np.uint8), np.ones((3, 3, 1), np.uint8), mode="constant")
    across = ndimage.convolve(changed.astype(np.uint8), np.ones((1, 1, 3), np.uint8), mode="constant")
    return changed & (in_plane > 1), changed & (across > 1)


@pytest.mark.parametrize("name", ["cranium", "ch2"])
def test_impulses_side_by_side_in_a_volume_are_found(name):
    """1% impulses in a 96 x 96 x 16 crop (int16 CT; uint8 MR, whose low impulses saturate at its fill
    value 0, below tissue starting at 28): pairs and clusters in a plane and impulses one above the other
    had passed for anatomy crossing the plane or been left out; every one is found now. The clean crop
    gives nothing."""
    clean, _, changed, lost, detection = independently_damaged(name, True, "impulses")
    found = detection.labels == CODE["bit-errors"]
    in_plane, across = _side_by_side(changed)
    assert in_plane.sum() >= 20 and across.sum() >= 10
    assert found[changed].all()
    # false voxels: the later looks' texture at the crop's cut edges, a few in a hundred impulses
    assert (found & ~lost).sum() <= 0.03 * changed.sum()
    assert detect(clean).counts() == {}


def test_impulses_one_flip_explains_stand_among_many():
    """CT_small's slice with 1% impulses: 8 of its 164 impulses are explained by one flipped bit and had
    been judged as too few flips to tell from a clean scan's own outliers (39.5 dB lost); among so many
    impulses they are impulses. The clean slice gives nothing."""
    clean, _, changed, lost, detection = independently_damaged("pydicom-ct-small", False, "impulses")
    found = detection.labels == CODE["bit-errors"]
    assert found[changed].all() and not (found & ~lost).any()
    assert detect(clean).counts() == {}


def test_a_few_flips_far_beyond_the_tissue_stand():
    """Bit flips at 1e-3 of CT_small's 128 x 128 slice: of its 16, three stand out, too few to tell from
    a clean scan's own outliers, but for the one 4.6 tissue ranges beyond its tissue (bit 13: 8 -> 8200
    HU; a clean scan's own such outliers reach 1.84), which stands."""
    clean, damaged, changed, lost, detection = independently_damaged("pydicom-ct-small", False, "bitflips")
    found = detection.labels == CODE["bit-errors"]
    assert int(damaged[65, 47, 0]) - int(clean.array[65, 47, 0]) == 8192
    assert found[65, 47, 0] and not (found & ~lost).any()


def test_flips_in_tissue_stand_where_flips_stand_in_the_empty_background():
    """mni152's middle slice with bits flipped at seed 212: fewer than ten flips in its tissue, as few as
    a clean scan's own outliers, but flips stand in its background of 0 too (lone voxels at 16 to 128,
    one flip from 0 each): the slice carries flips, and those in tissue stand (215 -> 151, 224 -> 160)."""
    clean, damaged, changed, lost, detection = independently_damaged("mni152", False, "bitflips", 212)
    found = detection.labels == CODE["bit-errors"]
    assert int(clean.array[71, 105, 0]) - int(damaged[71, 105, 0]) == 64
    assert found[71, 105, 0] and found[51, 127, 0]
    assert found[changed].sum() >= 18  # 8 when tissue flips stood on their own count alone
    assert not (found & ~lost).any()


def test_impulses_saturated_at_255_among_bright_tissue_are_found():
    """MNI152's 96 x 96 x 16 crop (uint8, white matter up to 232) with 1% impulses: those stored at 255
    over tissue of 180-230 stand out by less than the first look's threshold (a fifth of the tissue's
    range), and in a scan carrying impulses they need only stand out at all. The clean crop gives
    nothing."""
    clean, damaged, changed, lost, detection = independently_damaged("mni152", True, "impulses")
    found = detection.labels == CODE["bit-errors"]
    bright = changed & (damaged == 255) & (clean.array >= 200)
    assert bright.sum() >= 20
    assert found[changed].all() and (found & ~lost).sum() <= 0.03 * changed.sum()
    assert detect(clean).counts() == {}


@pytest.mark.parametrize(("name", "seed", "where"), [("mni152", 11, None), ("ch2", 1, (76, 17, 10)),
                                                     ("ch2", 2, (95, 0, 13))])
def test_impulses_at_the_types_floor_are_found(name, seed, where):
    """Impulses in a uint8 crop stored at 0, its fill value. MNI152's crop has no background, so half of
    its impulses are 0s, and they had not counted towards the scan's impulses: it passed for a scan
    with a few doubtful flips (628 of 1,475 found). In ch2's crop one impulse at 0 was the middle of three
    in a diagonal chain (touching two others), and one sat in the plane's corner (three neighbours).
    Every one is found now."""
    clean, damaged, changed, lost, detection = independently_damaged(name, True, "impulses", seed)
    found = detection.labels == CODE["bit-errors"]
    assert (changed & (damaged == 0)).sum() >= 100
    if where is not None:
        assert changed[where] and damaged[where] == 0
    assert found[changed].all() and (found & ~lost).sum() <= 0.03 * changed.sum()


def test_impulses_at_zero_among_dark_tissue_are_found():
    """dipy's b0 crop (uint16, 0 its background) with 1% impulses: those stored at 0 over tissue beside
    dark voxels (a neighbour of 179 where the first look's threshold is 476) stood out by less than the
    threshold from their neighbours' range. In a scan carrying impulses, a voxel at a value the tissue
    does not reach needs only stand out by the tolerance, from that range or from its neighbours' median
    and the voxels above and below: every impulse at 0 over tissue brighter than 500 is found."""
    clean, damaged, changed, lost, detection = independently_damaged("dipy-s0", True, "impulses", 11)
    found = detection.labels == CODE["bit-errors"]
    over_tissue = changed & (damaged == 0) & (np.asarray(clean.array) > 500)
    assert over_tissue.sum() >= 40 and found[over_tissue].all()


def test_a_masks_own_zeros_are_no_impulses_at_the_floor():
    """ch2bet's skull-stripped crop (the clean forms' second-axis volume; its mask's 0s line thin
    pockets that run through the slices) with 1% impulses: a 0 with a 0 above and below, or the middle
    of three 0s in its plane with a 0 above or below, is the mask's, not an impulse. Counting such
    pockets as impulses had doubled the false voxels at the mask's 0s (28 -> 64 at seed 0)."""
    from tests.generators.independent import damage
    from tests.repair.detection.clean_forms import clean_cases

    require_source("ch2bet")
    volume = next(v for name, v in clean_cases() if name == "ch2bet/axis1-volume/native")
    clean = np.asarray(volume.array)
    result = damage(clean, "impulses", np.random.default_rng(0))
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels == CODE["bit-errors"]
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    assert found[changed].mean() >= 0.99
    assert (found & ~lost & (clean == 0)).sum() <= 0.025 * changed.sum()


def test_a_flipped_sign_bit_in_an_hu_float_ct_is_found():
    """Cranium's slice stored as HU float32, the generator's flips at seed 2: two of them flip the sign
    bit of air (-1000 -> +1000, -996 -> +996), values bone holds, so neither the tissue range nor an
    exponent flip explains them (26 dB of the slice's 66 flips lost to detection). The sign is one
    bit of the stored word."""
    clean, damaged, changed, lost, detection = independently_damaged("cranium", False, "bitflips", seed=2,
                                                                     hu_float=True)
    found = detection.labels == CODE["bit-errors"]
    signs = [(23, 130, 0), (27, 113, 0)]
    for where in signs:
        assert damaged[where] == -clean.array[where] and clean.array[where] < -990
        assert found[where]
    # the later looks, run once a scan carries flips, take one voxel of texture (-96 HU)
    assert (found & ~lost).sum() <= 1
    assert detect(clean).counts() == {}


def test_in_a_whole_number_float_scan_found_damaged_a_value_off_them_is_taken_beyond_the_noise_only():
    """cranium's HU-float crop (whole numbers as float32, noise sigma 5.9) with a corrupted block found:
    voxels of tissue moved off the whole numbers by 60.5 HU (ten sigmas, inside the tissue's range:
    no flip and no impulse test takes them) are damage; moved by 0.5 (a fraction bit's flip) in smooth
    tissue they lie within the noise, where the repair's estimate would miss by more than the damage:
    left."""
    clean = bench_view("cranium", True, hu_float=True)
    damaged, block = damage_copy(clean, CorruptBlocks(blocks=[(30, 30, 16, 20)], seed=1))
    from scipy import ndimage

    values = np.asarray(damaged.array).copy()
    plane = values[:, :, 4]
    smooth = np.abs(plane - ndimage.median_filter(plane, size=3)) < 3  # (within half a sigma of it)
    tissue = np.nonzero((plane > 20) & (plane < 60) & smooth)
    far = (tissue[0][::97][:20], tissue[1][::97][:20], np.full(20, 4))
    near = (tissue[0][50::97][:20], tissue[1][50::97][:20], np.full(20, 4))
    values[far] += np.float32(60.5)
    values[near] += np.float32(0.5)
    found = detect(clean.with_array(values)).labels > 0
    assert found[block].mean() > 0.9
    assert found[far].all()
    assert not found[near].any()


def test_in_a_float_scan_of_magnitudes_found_damaged_sign_and_exponent_flips_are_found():
    """dipy's PIESNO crop (float64 magnitudes, 0-2.1), bit flips of the independent generator (seed
    61): a sign bit flipped gives -0.22 where no value is negative, an exponent bit flipped down gives
    1e-78 or 5e-11 where 0.2 stood, far below any magnitude the scan holds; the bit-error looks found one
    flip of 129 (14 dB lost). In a scan found damaged, a kind of value it never takes is damage, where it
    lies beyond the noise of its neighbours."""
    clean, damaged, changed, lost, detection = independently_damaged("dipy-piesno", True, "bitflips", 61)
    found = detection.mask.astype(bool)
    tissue = changed & (np.asarray(clean.array) > 0.03)  # (a 0 of the background flipped to 1e-320 is left)
    negative = tissue & (damaged < 0)
    tiny = tissue & (damaged != 0) & (np.abs(damaged) < 1e-10)
    assert negative.sum() >= 3 and tiny.sum() >= 8
    assert found[negative | tiny].all()
    assert not (found & ~lost).any()


def test_a_fraction_bit_flipped_is_left_where_a_flip_to_a_far_whole_number_is_the_less_likely():
    """cranium's HU-float crop, bit flips of the independent generator (seed 42): 9 read as 9.0625 amid
    tissue at 14-37 (median 25) is 2.7 noise sigmas off, and one flip takes it back to 9 or on to 145,
    also a whole number of the scan's range. 9 is the likelier (nearer the neighbours): a fraction bit
    flipped, left, where the repair's estimate misses by more than 0.06 (the whole scan lost 6 dB to
    voxels like it). An exponent flip that halved 23 to 11.5 is still found."""
    clean, damaged, changed, _, detection = independently_damaged("cranium", True, "bitflips", 42,
                                                                  hu_float=True)
    found = detection.mask.astype(bool)
    values = np.asarray(clean.array)
    fraction = changed & (values == 9) & (damaged == 9.0625)
    halved = changed & (values == 23) & (damaged == 11.5)
    assert fraction.sum() == 1 and halved.sum() == 1
    assert not found[fraction].any()
    assert found[halved].all()


def test_a_fraction_bit_flipped_in_textured_tissue_of_a_whole_number_scan_is_left():
    """cranium's HU-float crop with a corrupted block found: a flip of a bit of the fraction moves a
    voxel of 64-127 HU by 0.008, far below the noise; where the voxel stands out from its neighbours'
    median by itself (bone's texture), the noise test alone had taken it, and the repair's estimate
    would miss by more than the flip. One flip back reaches a whole number next to it, and no other."""
    from scipy import ndimage

    clean = bench_view("cranium", True, hu_float=True)
    damaged, block = damage_copy(clean, CorruptBlocks(blocks=[(30, 30, 16, 20)], seed=1))
    values = np.asarray(damaged.array).copy()
    plane = values[:, :, 4]
    textured = np.abs(plane - ndimage.median_filter(plane, size=3)) > 20
    i, j = np.nonzero(textured & (plane >= 64) & (plane < 128) & (plane == np.round(plane)))
    assert len(i) >= 10
    flips = (i[:10], j[:10], np.full(10, 4))
    values[flips] = (values[flips].view(np.uint32) ^ np.uint32(1 << 10)).view(np.float32)
    found = detect(clean.with_array(values)).labels > 0
    assert found[block].mean() > 0.9
    assert not found[flips].any()
