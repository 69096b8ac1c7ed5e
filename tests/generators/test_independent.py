"""The independent damage generator and the storage forms, on real clean images from pydicom and nibabel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_file, require_module
from tests.generators import storage
from tests.generators.independent import FILL_KINDS, FILLS, KINDS, TILE_SIZES, damage, resolve_fill

CT_SLOPE, CT_INTERCEPT, CT_PADDING = 1.0, -1024.0, -2000


@pytest.fixture(scope="module")
def ct_stored():
    """pydicom's CT_small.dcm: int16 stored values, intercept -1024, padding -2000."""
    pydicom = require_module("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (CT_SLOPE, CT_INTERCEPT)
    return ds.pixel_array.astype(np.int16)


def _nibabel_data(name: str) -> Path:
    nib = require_module("nibabel")
    return require_file(Path(nib.__file__).parent / "tests" / "data" / name)


@pytest.fixture(scope="module")
def mr_volume():
    """nibabel's example4d.nii.gz, first volume: int16 MR, (128, 96, 24)."""
    nib = require_module("nibabel")
    return np.asarray(nib.load(str(_nibabel_data("example4d.nii.gz"))).dataobj)[..., 0]


@pytest.fixture(scope="module")
def anatomical():
    """nibabel's anatomical.nii: big-endian int16, (33, 41, 25)."""
    nib = require_module("nibabel")
    return np.asarray(nib.load(str(_nibabel_data("anatomical.nii"))).dataobj.get_unscaled())


@pytest.fixture(scope="module")
def images(ct_stored, mr_volume, anatomical):
    hu = storage.physical_values(ct_stored, CT_SLOPE, CT_INTERCEPT)
    mr = mr_volume.astype(np.float64)
    return {
        "ct_int16": ct_stored,
        "ct_hu_float32": hu,
        "ct_hu_float64": hu.astype(np.float64),
        "mr_uint8": storage.scaled_integer(mr, np.uint8).array,
        "mr_uint16_slice": storage.scaled_integer(mr, np.uint16).array[..., 12],
        "mr_float32": mr.astype(np.float32),
        "anat_big_endian": anatomical,
    }


def _changed(before, after):
    before, after = np.asarray(before), np.asarray(after)
    if before.dtype.kind == "f":
        unsigned = f"u{before.dtype.itemsize}"
        return before.astype(before.dtype.newbyteorder("=")).view(unsigned) != \
            after.astype(after.dtype.newbyteorder("=")).view(unsigned)
    return before != after


SCANS_2D = ("ct_int16", "ct_hu_float32", "ct_hu_float64", "mr_uint16_slice")
SCANS_3D = ("mr_uint8", "mr_float32", "anat_big_endian")


@pytest.mark.parametrize("kind, name", [(kind, name) for kind in KINDS for name in SCANS_2D + SCANS_3D
                                        if kind != "slices" or name in SCANS_3D])
def test_mask_is_exactly_the_changed_voxels_and_dtype_is_kept(images, kind, name):
    clean = images[name]
    before = clean.copy()
    result = damage(clean, kind, np.random.default_rng(7))
    damaged, mask = result
    assert np.array_equal(clean, before, equal_nan=True), "the input was modified"
    assert damaged.dtype == clean.dtype and damaged.shape == clean.shape
    assert mask.dtype == bool and mask.shape == clean.shape
    assert np.array_equal(mask, _changed(clean, damaged))
    assert mask.any() or kind in FILL_KINDS  # a fill of 0 over a zero background may change nothing
    assert not (mask & ~result.lost).any(), "a changed voxel outside the lost voxels"
    if kind in FILL_KINDS:
        assert (damaged[result.lost] == result.fill).all() or np.isnan(result.fill)


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_seed_same_damage_other_seed_other_damage(mr_volume, kind):
    first = damage(mr_volume, kind, np.random.default_rng(3))
    again = damage(mr_volume, kind, np.random.default_rng(3))
    other = damage(mr_volume, kind, np.random.default_rng(4))
    assert np.array_equal(first.damaged, again.damaged) and np.array_equal(first.mask, again.mask)
    assert not np.array_equal(first.lost, other.lost)


@pytest.mark.parametrize("tile", TILE_SIZES)
@pytest.mark.parametrize("aligned", [True, False])
def test_tiles_share_and_grid(mr_volume, tile, aligned):
    result = damage(mr_volume, "tiles", np.random.default_rng(tile), share=0.08, tile=tile, aligned=aligned)
    lost = result.lost
    assert 0.08 <= lost.mean() < 0.08 + tile * tile / lost.size
    oy, ox = result.info["offset"]
    assert (oy, ox) == (0, 0) if aligned else (-tile < oy < 0 and -tile < ox < 0)
    # every tile of the (possibly offset) grid is lost whole or not at all
    padded = np.pad(lost, [(-oy, (-lost.shape[0] + oy) % tile), (-ox, (-lost.shape[1] + ox) % tile), (0, 0)])
    h, w, d = padded.shape
    valid = np.pad(np.ones(lost.shape, bool), [(-oy, h - lost.shape[0] + oy), (-ox, w - lost.shape[1] + ox),
                                               (0, 0)])
    per_tile = (padded & valid).reshape(h // tile, tile, w // tile, tile, d).sum(axis=(1, 3))
    size = valid.reshape(h // tile, tile, w // tile, tile, d).sum(axis=(1, 3))
    assert ((per_tile == 0) | (per_tile == size)).all()


def test_lines_share_runs_and_interleaving(ct_stored, mr_volume):
    width = ct_stored.shape[1]
    whole = damage(ct_stored, "lines", np.random.default_rng(1), share=0.04, axis=0, partial=0, interleaved=0)
    rows = whole.lost.all(axis=1)
    assert (whole.lost.any(axis=1) == rows).all(), "whole rows only"
    assert 0.04 <= whole.lost.mean() < 0.04 + width / ct_stored.size
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, rows.astype(int), 0])))[::2]
    assert runs.max() <= 6  # runs of 1-3, two runs may touch

    stripes = damage(ct_stored, "lines", np.random.default_rng(2), share=0.04, axis=1, partial=0,
                     interleaved=1)
    columns = np.flatnonzero(stripes.lost.all(axis=0))
    assert (stripes.lost.any(axis=0) == stripes.lost.all(axis=0)).all()
    assert (np.diff(columns) >= 2).sum() > 0 and 2 in np.diff(columns)

    partial = damage(mr_volume, "lines", np.random.default_rng(5), share=0.04, axis=0, partial=1,
                     interleaved=0)
    row_counts = partial.lost.sum(axis=1)
    assert ((row_counts > 0) & (row_counts < mr_volume.shape[1])).any(), "some rows are partly lost"
    assert 0.04 <= partial.lost.mean() < 0.04 + 3 * mr_volume.shape[1] / mr_volume.size


def test_slices_are_whole_and_interior(mr_volume):
    result = damage(mr_volume, "slices", np.random.default_rng(0), count=3, fill=-1024)
    per_slice = result.lost.reshape(-1, mr_volume.shape[2]).sum(axis=0)
    lost_slices = np.flatnonzero(per_slice)
    assert len(lost_slices) == 3 and (per_slice[lost_slices] == mr_volume.shape[0] * mr_volume.shape[1]).all()
    assert lost_slices.min() > 0 and lost_slices.max() < mr_volume.shape[2] - 1
    assert (result.damaged[..., lost_slices] == -1024).all()


def test_truncation_is_the_tail_of_the_stream(ct_stored, mr_volume):
    flat = damage(ct_stored, "truncation", np.random.default_rng(0), share=0.1).lost.ravel()
    assert flat.sum() == round(0.1 * flat.size) and flat[-flat.sum():].all()
    dicom = damage(mr_volume, "truncation", np.random.default_rng(0), share=0.25, order="dicom").lost
    stream = np.moveaxis(dicom, -1, 0).ravel()
    assert stream[-stream.sum():].all() and dicom[..., -1].all() and not dicom[..., 0].any()
    nifti = damage(mr_volume, "truncation", np.random.default_rng(0), share=0.25, order="nifti").lost
    stream = nifti.ravel(order="F")
    assert stream[-stream.sum():].all() and stream.sum() == round(0.25 * stream.size)


def test_a_voxel_already_at_the_fill_is_lost_but_not_changed(ct_stored):
    clean = ct_stored.copy()
    clean[-20:] = 0  # a zero background in the last rows, as on the MR slice of issue 18
    result = damage(clean, "truncation", np.random.default_rng(0), share=0.3, fill="stored_zero")
    assert result.lost[-20:].all() and not result.mask[-20:].any()
    assert np.array_equal(result.mask, result.lost & (clean != 0))


def test_blocks_share(mr_volume):
    result = damage(mr_volume, "blocks", np.random.default_rng(0), share=0.02, size=(8, 24))
    assert 0.02 <= result.lost.mean() < 0.02 + 24 * 24 / mr_volume.size
    assert set(result.info["styles"]) == {"bytes", "uniform", "copy", "shift"}


@pytest.mark.parametrize("style", ["bytes", "uniform", "copy", "shift"])
def test_every_block_style(images, style):
    for name in ("ct_int16", "ct_hu_float32", "mr_uint8"):
        clean = images[name]
        result = damage(clean, "blocks", np.random.default_rng(1), count=3, style=style)
        assert result.info["styles"] == [style] * 3
        assert np.array_equal(result.mask, _changed(clean, result.damaged)) and result.mask.any()


@pytest.mark.parametrize("name", ["ct_int16", "ct_hu_float32", "mr_uint8", "mr_float32"])
def test_impulses_are_far_outside_the_range_both_signs(images, name):
    clean = images[name]
    result = damage(clean, "impulses", np.random.default_rng(2), share=0.01)
    lo, hi = result.info["range"]
    assert np.isclose(result.lost.mean(), 0.01, atol=1 / clean.size)
    values = result.damaged[result.lost].astype(np.float64)
    assert ((values > hi) | (values < lo)).all()
    # of any magnitude: at least half the scan's range beyond it, most much further
    beyond = np.maximum(values - hi, lo - values)
    assert (beyond >= 0.5 * (hi - lo) - 1).mean() > 0.9 or clean.dtype == np.uint8
    signed_room = clean.dtype.kind == "f" or np.iinfo(clean.dtype).min < lo
    assert (values > hi).any() and ((values < lo).any() or not signed_room)
    assert np.array_equal(result.mask, _changed(clean, result.damaged))


def test_impulses_where_the_dtype_leaves_one_side(ct_stored):
    scan = np.clip(ct_stored, 0, None).astype(np.uint16)
    scan[:10] = 0  # 8% of the scan at 0: its 0.5 percentile is 0, no room below
    values = damage(scan, "impulses", np.random.default_rng(0), share=0.02).damaged.astype(np.int64)
    assert (values >= 0).all()
    with pytest.raises(ValueError):
        damage(scan, "impulses", np.random.default_rng(0), sign=-1)


@pytest.mark.parametrize("dtype, bits", [(np.int16, None), (np.uint8, None), (np.uint16, range(12)),
                                         (np.float32, None), (np.float32, range(23, 31)),
                                         (np.float64, range(52, 63)), (np.float64, None)])
def test_bit_flips_change_exactly_one_bit(ct_stored, dtype, bits):
    clean = np.clip(ct_stored, 0, None).astype(dtype)
    result = damage(clean, "bitflips", np.random.default_rng(9), share=0.01, bits=bits)
    unsigned = np.dtype(f"u{np.dtype(dtype).itemsize}")
    xor = clean.view(unsigned) ^ result.damaged.view(unsigned)
    ones = np.unpackbits(xor.view(np.uint8)).reshape(*xor.shape, -1).sum(axis=-1)
    assert (ones[result.mask] == 1).all() and (ones[~result.mask] == 0).all()
    assert np.array_equal(result.mask, result.lost) and result.mask.sum() == round(0.01 * clean.size)
    flipped = np.log2(xor[result.mask].astype(np.float64)).astype(int)
    allowed = set(range(8 * unsigned.itemsize) if bits is None else bits)
    assert set(flipped) <= allowed and len(set(flipped)) > min(len(allowed), 8) // 2


def test_every_fill_value_on_stored_and_physical_values(ct_stored):
    hu = storage.physical_values(ct_stored, CT_SLOPE, CT_INTERCEPT)
    rescale = dict(slope=CT_SLOPE, intercept=CT_INTERCEPT, padding=CT_PADDING)
    expected_stored = {"stored_zero": 0, "physical_zero": 1024, "minimum": ct_stored.min(), "padding": -2000,
                       -1024: -1024, -2000: -2000, "dtype_min": -32768, 123: 123}
    expected_physical = {"stored_zero": -1024, "physical_zero": 0, "minimum": hu.min(), "padding": -3024,
                         -1024: -1024, -2000: -2000, "dtype_min": np.finfo(np.float32).min, "nan": np.nan}
    for fill, value in expected_stored.items():
        result = damage(ct_stored, "tiles", np.random.default_rng(0), fill=fill, on="stored", **rescale)
        assert result.fill == value and result.damaged.dtype == np.int16
        assert (result.damaged[result.lost] == value).all()
        assert np.array_equal(result.mask, result.lost & (ct_stored != value))
    for fill, value in expected_physical.items():
        result = damage(hu, "lines", np.random.default_rng(0), fill=fill, on="physical", **rescale)
        assert np.array_equal(result.damaged[result.lost], np.full(result.lost.sum(), value, np.float32),
                              equal_nan=True)
        assert np.array_equal(result.mask, _changed(hu, result.damaged))
    with pytest.raises(ValueError):
        damage(ct_stored, "tiles", np.random.default_rng(0), fill="nan")
    with pytest.raises(ValueError):
        damage(ct_stored, "tiles", np.random.default_rng(0), fill="padding")
    with pytest.raises(ValueError):
        damage(ct_stored.clip(0).astype(np.uint8), "tiles", np.random.default_rng(0), fill=-1024)


def test_random_fill_draws_every_option_that_applies(ct_stored):
    names = {resolve_fill(ct_stored, "random", np.random.default_rng(seed), padding=CT_PADDING,
                          intercept=CT_INTERCEPT)[1] for seed in range(60)}
    assert names == set(FILLS) - {"nan"}
    names = {resolve_fill(ct_stored, "random", np.random.default_rng(seed))[1] for seed in range(60)}
    assert names == set(FILLS) - {"nan", "padding"}


def test_stored_and_physical_damage_agree(ct_stored):
    """The same damage on the stored int16 and on its HU values, told which they are, gives the same scan."""
    hu = storage.physical_values(ct_stored, CT_SLOPE, CT_INTERCEPT)
    for fill in ("stored_zero", "physical_zero", "padding"):
        for kind in FILL_KINDS[:2]:
            kw = dict(fill=fill, slope=CT_SLOPE, intercept=CT_INTERCEPT, padding=CT_PADDING)
            on_stored = damage(ct_stored, kind, np.random.default_rng(1), on="stored", **kw)
            on_physical = damage(hu, kind, np.random.default_rng(1), on="physical", **kw)
            assert np.array_equal(storage.physical_values(on_stored.damaged, CT_SLOPE, CT_INTERCEPT),
                                  on_physical.damaged)
            assert np.array_equal(on_stored.mask, on_physical.mask)


def test_bad_requests_are_errors(ct_stored):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        damage(ct_stored, "smudge", rng)
    with pytest.raises(ValueError):
        damage(ct_stored, "impulses", rng, fill=0)
    with pytest.raises(ValueError):
        damage(ct_stored, "slices", rng)
    with pytest.raises(ValueError):
        damage(ct_stored[None, None], "tiles", rng)


def test_storage_round_trips_through_nifti(tmp_path, ct_stored, mr_volume):
    hu = storage.physical_values(ct_stored, CT_SLOPE, CT_INTERCEPT, np.float64)
    dtypes = {"hu_float32": np.float32, "hu_float64": np.float64, "int16_rescaled": np.int16,
              "int16_hu": np.int16}
    for name, form in storage.ct_forms(hu).items():
        path = storage.write_nifti(tmp_path / f"{name}.nii.gz", form, np.diag([0.7, 0.7, 5.0, 1.0]))
        back = storage.read_nifti(path)
        assert back.array.dtype == dtypes[name]
        assert (back.slope, back.intercept) == (form.slope, form.intercept)
        assert np.array_equal(back.physical(), hu)
    assert storage.ct_forms(hu)["int16_rescaled"].array.min() == ct_stored.min() and \
        storage.ct_forms(hu)["int16_rescaled"].intercept == -1024
    mr = mr_volume.astype(np.float64)
    for name, form in storage.mr_forms(mr).items():
        back = storage.read_nifti(storage.write_nifti(tmp_path / f"mr_{name}.nii", form))
        assert back.array.dtype == np.dtype(name) and np.array_equal(back.array, form.array)
        assert np.abs(back.physical() - mr).max() <= back.slope / 2 + 1e-3
    nib = require_module("nibabel")
    path = storage.write_physical_nifti(tmp_path / "f64.nii.gz", hu, dtype=np.float64)
    assert nib.load(str(path)).get_data_dtype() == np.float64
    assert np.array_equal(nib.load(str(path)).get_fdata(), hu)


def test_damaged_scan_written_as_a_file_keeps_its_damage(tmp_path, ct_stored):
    nib = require_module("nibabel")
    result = damage(ct_stored, "lines", np.random.default_rng(0), fill="physical_zero",
                    intercept=CT_INTERCEPT)
    path = storage.write_nifti(tmp_path / "damaged.nii.gz", storage.Stored(result.damaged, 1.0, CT_INTERCEPT))
    image = nib.load(str(path))
    assert (image.get_fdata()[result.lost] == 0).all()
    dicom = storage.write_dicom(tmp_path / "damaged.dcm", result.damaged, intercept=CT_INTERCEPT,
                                padding=-2000)
    ds = require_module("pydicom").dcmread(dicom)
    assert np.array_equal(ds.pixel_array, result.damaged) and float(ds.RescaleIntercept) == CT_INTERCEPT
    assert ds.PixelPaddingValue == -2000


def test_geometry_and_background_forms(ct_stored, mr_volume):
    cropped = storage.crop(mr_volume, margins=(3, 4, 5, 6))
    assert cropped.shape == (128 - 7, 96 - 11, 24) and np.array_equal(cropped, mr_volume[3:-4, 5:-6])
    drawn = storage.crop(ct_stored, np.random.default_rng(0))
    assert drawn.shape[0] <= 128 and drawn.shape[1] <= 128 and drawn.dtype == ct_stored.dtype
    padded = storage.pad(mr_volume, 8)
    assert padded.shape == (144, 112, 24) and (padded[:8] == storage.background_value(mr_volume)).all()
    assert (storage.pad(ct_stored, 4, value=-2000)[:4] == -2000).all()
    skull_stripped = storage.masked(mr_volume)
    inside = storage.body_mask(mr_volume)
    assert 0.05 < inside.mean() < 0.95 and (skull_stripped[~inside] == 0).all()
    assert np.array_equal(skull_stripped[inside], mr_volume[inside])
    cut = storage.thresholded(mr_volume)
    assert cut.dtype == mr_volume.dtype and (cut == 0).sum() > (mr_volume == 0).sum()
