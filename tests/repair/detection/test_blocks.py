"""Corrupted blocks: rectangles of garbage, found whole, also beside flips that stretch the range."""

import numpy as np

from medinpaint.damage.transmission import (
    CorruptBlocks,
)
from medinpaint.io import Volume, read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.repair.detection.scans import (
    bench_view,
    damage_copy,
    independently_damaged,
)


def test_a_corrupted_block_is_found_in_a_scan_that_also_carries_bit_errors(pydicom_files):
    """Flipped high bits stretch the scan's full range, against which garbage is judged: the blocks
    are looked for again against the range of what was not found damaged."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, block = damage_copy(clean, CorruptBlocks(blocks=[(40, 40, 16, 20)], seed=1))
    stored = damaged.array.copy()
    flips = (np.array([10, 20, 100, 110, 70]), np.array([100, 15, 30, 110, 90]), np.zeros(5, dtype=int))
    stored[flips] ^= np.int16(-32768)  # the sign bit: the full range becomes the whole int16 range
    found = detect(clean.with_array(stored)).labels
    assert (found[block] > 0).mean() >= 0.95
    assert (found[flips] > 0).all()


def test_a_corrupted_block_on_the_plane_border_is_found_whole(pydicom_files):
    """The garbage test's median is mirrored at the plane's border: reflected, the edge column was its
    own median too often, and the column of a block touching the border was trimmed off."""
    clean = read(pydicom_files / "MR_small.dcm")
    damaged, truth = damage_copy(clean, CorruptBlocks(blocks=[(8, 0, 7, 28), (10, 41, 25, 23)],
                                                      seed=890101386))
    found = detect(damaged).labels > 0
    assert found[truth].all()
    assert (found & ~truth).sum() <= 24


def test_the_edges_of_overlapping_blocks_are_not_trimmed_off(pydicom_files):
    """Four overlapping blocks on MR_small: the rectangles trimmed out of their union lose edge rows and
    columns of single blocks; rough voxels beside a block found are taken too (55 -> 25 missed)."""
    clean = read(pydicom_files / "MR_small.dcm")
    blocks = [(15, 42, 24, 14), (1, 11, 20, 29), (26, 33, 17, 29), (4, 33, 16, 18)]
    damaged, truth = damage_copy(clean, CorruptBlocks(blocks=blocks, seed=1013105928))
    visible = truth & (np.abs(damaged.array.astype(float) - clean.array) > 0.02 * np.ptp(clean.array))
    found = detect(damaged).labels > 0
    assert (visible & ~found).sum() <= 0.02 * visible.sum()


def test_a_block_of_noise_over_most_of_a_small_slice_is_found(nibabel_files):
    """nibabel's anatomical slice is 33x41: a 33x34 block of noise over the int16 range is most of it,
    and the noise sigma (a median over the slice) measured the garbage, six of it above any step the
    garbage takes. Measured again away from the busy voxels, it is the slice's own (found: 0 -> all)."""
    clean = read(nibabel_files / "anatomical.nii")
    array = np.ascontiguousarray(np.asarray(clean.array)[:, :, [clean.shape[2] // 2]])
    garbage = np.random.default_rng(0).integers(-32768, 32767, size=(33, 34), endpoint=True)
    array[:, 4:38, 0] = garbage.astype(array.dtype)
    truth = np.zeros(array.shape, dtype=bool)
    truth[:, 4:38, 0] = True
    found = detect(clean.with_array(array)).labels > 0
    assert found[truth].mean() >= 0.95
    assert (found & ~truth).sum() <= 8


def test_a_block_of_random_bytes_in_a_float_scan_is_found(pydicom_files):
    """Random bytes read as float32 hold values to 3e38, inf and NaN: the full range overflows (or is
    ~1e38) and a share of it was a limit no step passes; garbage is judged against the range of the
    values within 1024 tissue ranges of the tissue, steps capped at it (found: 312 of 756 as flips
    -> all)."""
    clean = read(pydicom_files / "CT_small.dcm")
    hu = (np.asarray(clean.array) * float(np.ravel(clean.slope)[0])
          + float(np.ravel(clean.intercept)[0])).astype(np.float32)
    for seed, (i, j, h, w) in enumerate([(77, 95, 27, 28), (20, 30, 15, 30)]):
        garbage = np.frombuffer(np.random.default_rng(seed).bytes(h * w * 4), dtype=np.float32)
        hu[i:i + h, j:j + w, 0] = garbage.reshape(h, w)
    truth = np.zeros(hu.shape, dtype=bool)
    truth[77:104, 95:123, 0] = truth[20:35, 30:60, 0] = True
    changed = truth & ~np.isnan(hu)  # a NaN of garbage is found or not, as the repair needs either way
    found = detect(Volume(hu, clean.affine)).labels > 0
    assert found[changed].mean() >= 0.95
    assert (found & ~truth).sum() <= 8


def test_random_bytes_in_a_float64_slice_leave_its_ranges_sound(pydicom_files):
    """Random bytes read as float64 reach 1e308: cast to float32 for the scan's statistics they were
    infinite, and where they held more than 0.5% of the sample (one block, 4% of a 2D slice here) its
    percentiles were too, and no detector ran (nothing found). Values 2**30 times the median magnitude
    of the non-zero values are left out of the ranges."""
    clean = read(pydicom_files / "MR_small.dcm")
    values = np.asarray(clean.array, dtype=np.float64) / 1000.0  # a float scan of small values
    i, j, h, w = 20, 25, 9, 18
    values[i:i + h, j:j + w, 0] = np.frombuffer(np.random.default_rng(1).bytes(h * w * 8),
                                                 dtype=np.float64).reshape(h, w)
    truth = np.zeros(values.shape, dtype=bool)
    truth[i:i + h, j:j + w, 0] = True
    changed = truth & ~np.isnan(values)
    found = detect(Volume(values, clean.affine)).labels > 0
    assert found[changed].mean() >= 0.95
    assert (found & ~truth).sum() <= 8


def test_a_background_of_tiny_values_is_no_reference_for_absurd_ones(sample_data):
    """A resampled float scan holds up to 1e-9 where it had 0: were the reference for absurd values the
    median non-zero magnitude, a background of such values over half the scan made its whole anatomy
    absurd (49,261 clean voxels found). The 90th percentile stands on the anatomy."""
    clean = read(sample_data / "mr_head.nii.gz")
    values = np.pad(np.asarray(clean.array, dtype=np.float32), ((60, 60), (60, 60), (0, 0)))
    background = values == 0
    values[background] = 1e-9 * np.random.default_rng(0).random(int(background.sum()))
    assert background.mean() > 0.7
    assert not detect(Volume(values, clean.affine)).labels.any()


def test_outliers_inside_a_misplaced_block_are_the_blocks():
    """cranium's 96 x 96 x 16 crop in HU float, blocks of the independent generator (seed 0): the first
    look took 391 voxels of a noise block for outliers; 55 of them, matched in the slice beside, were then
    dropped as anatomy, after the block was found around them: 55 holes, 27 dB lost to detection. An
    outlier beside a block is the block's, as where doubtful flips are dropped."""
    clean, _, changed, lost, detection = independently_damaged("cranium", True, "blocks", 0, hu_float=True)
    assert (detection.labels[changed] == CODE["corrupted-blocks"]).all()
    assert not (detection.mask.astype(bool) & ~lost).any()


def test_a_noise_block_is_found_in_a_slice_beside_none_of_the_float_garbage():
    """cranium's HU-float crop, blocks of the independent generator (seed 1): random bytes read as float
    in slice 10 (values to 1e6 within the stretched range's reach) had stretched the range the whole
    slab's garbage is judged against to 1.4e6, and a 33 x 15 block of uniform noise (-1,500..2,700, over
    tissue -125..1,273) in slice 15 went unfound. Each slice is judged against its own range there."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "blocks", 1, hu_float=True)
    block = changed[:, :, 15]
    assert block.sum() > 400
    assert (detection.labels[:, :, 15][block] == CODE["corrupted-blocks"]).all()
    assert not (detection.mask.astype(bool)[:, :, 15] & ~lost[:, :, 15]).any()


def test_a_noise_block_beside_a_block_of_float_garbage_in_its_slice_is_found():
    """cranium's HU-float crop, blocks of the independent generator (seed 42): in slice 8 a 29 x 13 block
    of uniform noise (-1,500..2,600 over tissue -125..1,273) lies beside a block of random bytes read as
    float, which stretched that slice's own range to some 2.8e6: only 55 of its 377 voxels were found
    (28.1 dB lost to detection in the crop). Once garbage is found in such a slice, what is left is
    judged again against its own range, the garbage found no measurement."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "blocks", 42, hu_float=True)
    block = changed[57:86, 37:50, 8]
    assert block.sum() > 350
    assert (detection.labels[57:86, 37:50, 8][block] == CODE["corrupted-blocks"]).all()
    assert not (detection.mask.astype(bool)[:, :, 8] & ~lost[:, :, 8]).any()


def test_the_edge_of_a_block_of_float_garbage_left_unfound_does_not_hide_a_noise_block():
    """cranium's middle slice in HU float, blocks of the independent generator (seed 241): two blocks of
    random bytes read as float and a 36 x 46 block of uniform noise (-3,700..4,300 over tissue
    -1,024..1,476). A few edge voxels of a float block left unfound (to 1e5) stretched the range of what
    was left, and the noise block (1,656 voxels, 15.6 dB) went unfound: that range is taken clear of the
    garbage found."""
    _, _, changed, lost, detection = independently_damaged("cranium", False, "blocks", 241, hu_float=True)
    block = changed[78:114, 132:178, 0]
    assert block.sum() > 1500
    assert (detection.labels[78:114, 132:178, 0][block] == CODE["corrupted-blocks"]).all()
    assert not (detection.mask.astype(bool) & ~lost).any()


def test_the_background_beside_a_block_judged_again_is_no_garbage():
    """dipy's PIESNO crop (float64), blocks of the independent generator (seed 1): the second look at a
    slice whose float garbage stretched its range finds a block of noise beside the plane's first column,
    the scan's background of 0, rough in the block's window; the rectangle took that column (17 voxels).
    Fill taken by the second look is left."""
    _, _, changed, lost, detection = independently_damaged("dipy-piesno", True, "blocks", 1)
    found = detection.mask.astype(bool)
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_nan_in_the_first_rows_of_a_block_of_float_garbage_makes_them_the_blocks():
    """cranium's HU-float crop, blocks of the independent generator (seed 52): a 30 x 18 block of random
    bytes read as float in slice 6, whose first two rows hold values near 0 (1e-36..0.7, water's HU)
    beside garbage, and one NaN. Those rows held under the garbage share (5 of 18 voxels rough in the
    second, the NaN not counted), the block was trimmed below them and 22 voxels were left, the NaN
    among them: the repair kept it (-2,905 dB). A NaN amid garbage is garbage."""
    _, damaged, changed, lost, detection = independently_damaged("cranium", True, "blocks", 52, hu_float=True)
    block = changed[64:94, 71:89, 6]
    assert block.sum() > 500 and np.isnan(damaged[64:94, 71:89, 6]).any()
    assert (detection.labels[64:94, 71:89, 6][block] == CODE["corrupted-blocks"]).all()
    assert not (detection.mask.astype(bool) & ~lost).any()


def test_values_off_the_whole_numbers_of_a_float_scan_found_damaged_are_damage():
    """cranium's HU-float crop (whole numbers stored as float32, noise sigma 5.9), blocks of the
    independent generator (seed 62): a 19 x 12 block of random bytes in slice 14 whose edge column and
    last rows held values near 0 (1e-37..1.5, water's HU) among tissue at 16-38, and a value of 1.7e7
    beside them: 28 of its 228 voxels were left. In a scan found damaged whose other values are whole
    numbers, a value that is none is damage, where it lies 2 noise sigmas from its sound neighbours."""
    clean, damaged, changed, lost, detection = independently_damaged("cranium", True, "blocks", 62,
                                                                     hu_float=True)
    found = detection.mask.astype(bool)
    off = changed & np.isfinite(damaged) & (damaged != np.round(damaged))
    assert off[:, :, 14].sum() > 100
    with np.errstate(invalid="ignore", over="ignore"):
        far = changed & ~(np.abs(damaged.astype(np.float64) - np.asarray(clean.array)) <= 20)
    assert far[:, :, 14].sum() > 150 and found[:, :, 14][far[:, :, 14]].all()  # (a shifted block elsewhere)
    assert found[off].mean() > 0.95
    assert not (found & ~lost).any()


def test_a_clean_float_scan_with_a_few_values_off_the_whole_numbers_is_left():
    """A float scan of whole numbers but for a few values of its own (a converter's rounding, a
    processed patch) holds no damage: nothing is found, so nothing off the whole numbers is taken."""
    volume = bench_view("cranium", True, hu_float=True)
    values = np.asarray(volume.array).copy()
    assert values.dtype == np.float32 and (values == np.round(values)).all()
    values[40:44, 40:44, 5] += np.float32(0.25)
    detection = detect(volume.with_array(values))
    assert not detection.mask.any()


def test_an_absurd_voxel_beside_a_block_found_is_the_blocks():
    """cranium's HU-float crop, blocks of the independent generator (seed 1): the block of random bytes
    in slice 10 was found but for its first row, where one voxel read -60,700 among tissue at 13-38 HU,
    hidden from the impulse look by the garbage beside it (27.6 dB lost to detection). Judged with the
    damage found left out of its neighbours, it is an impulse, the block's."""
    _, damaged, changed, lost, detection = independently_damaged("cranium", True, "blocks", 1, hu_float=True)
    absurd = changed & (np.abs(np.nan_to_num(damaged)) > 1e4)
    assert absurd[:, :, 10].sum() > 100
    assert (detection.labels[absurd] > 0).all()
    assert not (detection.mask.astype(bool) & ~lost).any()


def test_a_strip_of_garbage_a_blocks_trimming_left_is_found_line_by_line():
    """cranium's crop (int16), blocks of the independent generator (seed 142): a copy overwrote most of a
    block of random bytes in slice 3, leaving a strip of it 3 columns wide beside the copy found. Its
    voxels, up to -27,600 HU among tissue at 0-30 HU, hid each other from the look beside the block
    (27 voxels unfound; the repair's PSNR -3.4 dB against 35.1 with the true mask). Judged a line at a
    time, the strip's other voxels beyond the bounds left out of each one's neighbours, they are found;
    a voxel with six of its eight neighbours found is the block's too."""
    _, damaged, changed, lost, detection = independently_damaged("cranium", True, "blocks", 142)
    absurd = changed & (np.abs(damaged.astype(np.int64)) > 5000)
    assert absurd[:, :, 3].sum() > 100
    assert (detection.labels[:, :, 3][absurd[:, :, 3]] > 0).all()
    # and those whose values happen to lie within the bounds, enclosed by the damage found (7 before)
    strip = (slice(52, 92), slice(6, 9), 3)
    assert (changed[strip] & (detection.labels[strip] == 0)).sum() <= 2
    assert not (detection.mask.astype(bool) & ~lost).any()


def test_a_metal_implant_beside_a_block_is_no_strip_of_garbage():
    """A review's case: cranium's crop (int16) with a clean 12x12 implant at 8,000 HU through five
    slices, beside a block of noise in slice 8. Looked into line by line as a strip, the implant's
    voxels, each beyond the bounds with its neighbours left out, were taken (96 of 144). A strip's
    voxel like a neighbour that is also beyond the bounds is the scan's own structure."""
    clean = bench_view("cranium", True)
    stored = np.array(clean.array)
    stored[36:48, 54:66, 6:11] = 8000 + 1024
    block = np.zeros(stored.shape, dtype=bool)
    block[30:54, 30:54, 8] = True
    stored[block] = np.random.default_rng(1).integers(0, 4024, int(block.sum()))
    found = detect(clean.with_array(stored)).labels > 0
    assert found[block].all()
    assert not (found & ~block).any()


def test_absurd_values_side_by_side_are_found_where_no_neighbour_test_sees_them():
    """dipy's PIESNO crop (float64, values 0-2), blocks of the independent generator (seed 30): the left
    columns of a block of random bytes, beside a block found, held values of 1e94-1e272 side by side,
    which explain each other to every neighbour test (34 voxels left: the repair's PSNR was -2,983
    dB). No scan holds them: they are damage wherever they lie."""
    clean, damaged, changed, lost, detection = independently_damaged("dipy-piesno", True, "blocks", 30)
    assert np.asarray(clean.array).dtype == np.float64
    with np.errstate(invalid="ignore", over="ignore"):
        absurd = ~(np.abs(damaged) <= 1e6) & ~np.isnan(damaged)
    assert absurd[:, :, 5].sum() > 30
    assert (detection.labels[absurd] > 0).all()


def test_noise_below_a_clipped_floor_makes_no_lost_packets_of_it():
    """A block of uniform noise over int16's range in cranium's middle slice puts garbage below its
    air, clipped at -1024: the air was taken for a value written inside the scan's range, and its
    regions for lost packets (2,579 voxels). Only garbage lies below it; tissue repeats its values."""
    clean = bench_view("cranium", False)
    stored = np.array(clean.array)
    block = np.zeros(stored.shape, dtype=bool)
    block[57:96, 43:90] = True
    stored[block] = np.random.default_rng(10).integers(-32768, 32767, int(block.sum()), endpoint=True)
    found = detect(clean.with_array(stored)).labels > 0
    assert found[block].mean() >= 0.99
    assert not (found & ~block).any()


def test_a_nan_outside_a_masked_scan_is_no_garbage_beside_a_block():
    """ch2bet masked with NaN outside the brain (a statistics map's storage), blocks of the independent
    generator (seeds 60-62): a NaN beside another is the scan's outside, not garbage; counted rough, the
    blocks grew into it (1,010 voxels of the outside, six seeds)."""
    from medinpaint.io import Volume
    from tests.generators import storage
    from tests.generators.independent import damage

    clean = np.asarray(bench_view("ch2bet", True).array).astype(np.float32)
    masked = np.ascontiguousarray(storage.masked(clean, value=np.nan)).astype(np.float32)
    outside = np.isnan(masked)
    assert outside.mean() > 0.2
    for seed in (60, 61, 62):
        result = damage(masked, "blocks", np.random.default_rng(seed))
        found = detect(Volume(np.ascontiguousarray(result.damaged), np.eye(4), meta={"format": "nifti"})).mask
        assert not (found.astype(bool) & outside & ~np.asarray(result.mask, bool)).any()


def test_the_tissue_in_the_notch_of_two_overlapping_blocks_is_left():
    """The independent generator's seed 112 writes two blocks of random bytes that overlap in slice
    2 of cranium's crop, an L of garbage. The rectangle trimmed out of it held a 10 x 13 notch of
    tissue (130 voxels called a block); the notch continues the tissue beyond the block's sides and
    is left out, and both blocks are still found whole."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "blocks", seed=112)
    found = np.asarray(detection.labels) > 0
    assert found[:, :, 2][changed[:, :, 2]].all()
    assert not (found & ~lost)[:, :, 2].any()


def _subdural_export():
    """cranium's axial middle slice through a subdural window (75/215 HU) as an 8-bit export: bone at
    255 beside air at 0 at the skull base, which a rough block had been called (51 voxels)."""
    from medinpaint.data.sources import find_source
    from tests.generators import storage
    from tests.repair.detection.clean_forms import physical
    from tests.repair.detection.scans import require_source

    require_source("cranium")
    hu = np.moveaxis(physical(find_source("cranium").load()), 0, 2)
    k = hu.shape[2] // 2
    return storage.windowed(hu[:, :, k:k + 1], *storage.CT_WINDOWS["subdural"])


def test_anatomy_a_display_window_clipped_is_no_garbage():
    export = _subdural_export()
    detection = detect(Volume(np.ascontiguousarray(export), np.eye(4), meta={"format": "nifti"}))
    assert not detection.labels.any(), detection.counts()


def test_random_bytes_in_a_windowed_export_are_found():
    """Bytes of garbage land at 0 or 255 (the export's clip values) once in 128: a 16 x 16 block of them
    in the brain (values 40-90 there) is a block still."""
    export = _subdural_export()
    damaged = export.copy()
    damaged[64:80, 32:48, 0] = np.random.default_rng(3).integers(0, 256, (16, 16), dtype=np.uint8)
    labels = detect(Volume(np.ascontiguousarray(damaged), np.eye(4), meta={"format": "nifti"})).labels
    changed = damaged != export
    assert (labels[changed] == CODE["corrupted-blocks"]).mean() > 0.95
    assert not labels[~changed & (labels != 0)].size > 8  # (a voxel or two beside the block, rough too)
