"""Detection's public API: each kind of transmission damage is found where it is, and a clean real
scan gives no detection at all, whatever its shape, memory map or thread count."""

import numpy as np
import pytest

from medinpaint.damage.transmission import (
    BitErrors,
    CorruptBlocks,
    LostLines,
    LostSlices,
    PacketLoss,
)
from medinpaint.data.sources import available_sources
from medinpaint.io import read
from medinpaint.repair import detect
from tests.conftest import require_source
from tests.repair.detection.scans import (
    ch2_skull_stripped,
    clean_scans,
    damage_copy,
)


def test_no_false_positives_on_clean_test_images(pydicom_files, nibabel_files, sample_data):
    for path in clean_scans(pydicom_files, nibabel_files, sample_data):
        found = detect(read(path)).counts()
        assert found == {}, f"{path.name}: {found}"


def test_no_false_positives_on_training_volumes():
    require_source("ch2")
    for source in available_sources():
        # the same subject as ch2 at 0.5 mm: 35 M voxels, checked by bench/bench_bit_errors.py
        if source.name == "ch2better":
            continue
        found = detect(source.load()).counts()
        assert found == {}, f"{source.name}: {found}"


@pytest.mark.parametrize("transform, kind, min_recall, max_outside", [
    (LostSlices(slices=[20]), "lost-slices", 1.0, 0),
    (LostSlices(slices=[0, 1]), "lost-slices", 1.0, 0),  # at the scan's edge, beside a slice full of content
    (LostLines(lines=[100, 101, 102], slices=[10]), "lost-lines", 1.0, 0),
    (PacketLoss(tile_size=16, first_tile=60, num_tiles=5, slices=[24]), "packet-loss", 0.8, 0),
    # the block's edge is found to within a row: a few sound voxels beside it are refilled too
    (CorruptBlocks(blocks=[(80, 90, 12, 20)], seed=1, slices=[30]), "corrupted-blocks", 1.0, 24),
    (CorruptBlocks(blocks=[(100, 60, 20, 5)], seed=3, slices=[20]), "corrupted-blocks", 1.0, 24),  # thin
    # over background
    (CorruptBlocks(blocks=[(3, 195, 21, 6)], seed=4, slices=[10]), "corrupted-blocks", 1.0, 24),
    # two overlapping blocks: no one rectangle fits their union
    (CorruptBlocks(blocks=[(60, 49, 16, 20), (41, 63, 21, 6)], seed=5, slices=[12]), "corrupted-blocks",
     1.0, 24),
    # flips of the top bit inside the head; one in a busy neighbourhood can pass for texture, and the
    # later looks (the scan carries flips) take a few sound voxels of texture for flips (10 beside 346)
    (BitErrors(rate=2e-4, top_bits=1, seed=2), "bit-errors", 0.8, 20),
])
def test_each_kind_is_found_where_it_is(sample_data, transform, kind, min_recall, max_outside):
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, truth = damage_copy(clean, transform)
    detection = detect(damaged)
    changed = damaged.array != clean.array
    if kind == "bit-errors":  # a flip in the empty background cannot be told from a speck of noise
        from scipy import ndimage

        changed &= ndimage.minimum_filter(clean.array, size=(3, 3, 1)) > 0
    found = detection.labels > 0
    assert (found & changed).sum() >= min_recall * changed.sum()
    assert (found & ~truth).sum() <= max_outside, "detections outside the damaged region"
    assert kind in detection.counts()


def test_slabs_scanned_on_threads_give_the_serial_labels(sample_data, monkeypatch):
    from medinpaint.repair.detection import slabs

    clean = read(sample_data / "mr_head.nii.gz")  # 48 slices: two slabs of 32 and 16 with slab=32
    damaged = clean.array[np.newaxis].copy()
    for transform in (LostLines(lines=[50, 51], slices=[3, 40]),
                      PacketLoss(tile_size=16, first_tile=30, num_tiles=8, slices=[10, 35]),
                      CorruptBlocks(blocks=[(60, 60, 12, 12)], seed=1, slices=[20]),
                      BitErrors(rate=0.0005, top_bits=2, seed=3)):
        damaged = np.asarray(transform(damaged)[0])
    volume = clean.with_array(np.ascontiguousarray(damaged[0]))
    monkeypatch.setattr(slabs, "WORKERS", 1)
    serial = detect(volume, slab=8).labels
    monkeypatch.setattr(slabs, "WORKERS", 4)
    threaded = detect(volume, slab=8).labels
    assert len(np.unique(serial)) >= 4  # several kinds were found, in several slabs
    assert np.array_equal(serial, threaded)


def test_a_float_scan_with_values_that_are_not_finite(sample_data):
    """NaN outside the head (as some pipelines write) and inside it: no error, and the flips are found."""
    clean = read(sample_data / "mr_head.nii.gz")
    values = clean.array.astype(np.float32)
    values[values == 0] = np.nan
    values[90, 100, 20] = np.nan
    damaged, truth = damage_copy(clean.with_array(values), BitErrors(rate=1e-3, top_bits=4, seed=1))
    # a flipped NaN has no finite neighbours
    truth &= np.isfinite(values) & (np.abs(damaged.array - values) > 20)
    found = detect(damaged).labels > 0
    assert (found & truth).sum() >= 0.9 * truth.sum()
    # and a lost rectangle off the tile grid, judged against the range of the finite values
    lost = damaged.array.copy()
    lost[61:71, 93:105, 30] = 0
    assert (detect(damaged.with_array(lost)).labels[61:71, 93:105, 30] > 0).all()


@pytest.mark.parametrize("by", [1, 2, 3, 5, 6, -3])
def test_a_3d_brain_mask_grown_or_shrunk_leaves_nothing_taken_for_damage(by):
    """ch2 masked by ch2bet's brain mask grown (or shrunk, ``by`` < 0) by a few voxels: a generous or
    a tight skull strip. Grown by 1 or 3 it leaves single voxels of tissue in otherwise empty planes,
    with tissue beside them in the next slice; two of them hold a single bit's value (16 and 64 of
    uint8), as a flip from 0 would. Grown by 2 it cuts a notch exactly one 8-pixel tile wide, walls
    on the grid lines, and shrunk by 3 a gap 8 rows high between two lobes: a lost packet would have
    tissue in the slices beside it, or two slices on; the notch and the gap are empty there. Grown by
    2, 5 or 6 it leaves strips of scalp one to three voxels thick: rough against the fill around them,
    smooth along themselves, not garbage."""
    assert detect(ch2_skull_stripped(by)).counts() == {}


def test_detection_keeps_what_was_written_to_a_mapped_scan(sample_data, tmp_path):
    """A scan read from an uncompressed NIfTI is a private copy-on-write map, whose pages detection
    lets the kernel reclaim slab by slab: values written to it before stay, and the file is unchanged."""
    import nibabel as nib

    clean = read(sample_data / "mr_head.nii.gz")
    nib.save(nib.Nifti1Image(np.asfortranarray(clean.array), clean.affine), tmp_path / "head.nii")
    mapped = read(tmp_path / "head.nii")
    assert isinstance(mapped.array.base, np.memmap) or isinstance(mapped.array, np.memmap)
    mapped.array[90, 100, 5:40] = 77  # a written line through several slabs, in tissue
    detect(mapped, slab=4)
    assert (mapped.array[90, 100, 5:40] == 77).all()
    assert (np.asarray(nib.load(tmp_path / "head.nii").dataobj)[90, 100, 5:40]
            == clean.array[90, 100, 5:40]).all()


def test_a_volume_one_voxel_thick_in_plane(sample_data):
    """A plane one voxel high (a single sagittal line of slices) is looked at without error."""
    clean = read(sample_data / "mr_head.nii.gz")
    thin = clean.with_array(np.ascontiguousarray(clean.array[90:91]))
    assert detect(thin).counts() == {}
