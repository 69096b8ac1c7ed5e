"""The engine: undamaged voxels bit-identical, stored dtype kept, lost slices re-created, masks honoured."""

import ast
from pathlib import Path

import numpy as np
import pytest

import medinpaint.repair
from medinpaint.damage.transmission import LostLines, LostSlices, PacketLoss
from medinpaint.errors import InputError
from medinpaint.io import read
from medinpaint.repair import crops as crop_path
from medinpaint.repair import repair_volume
from medinpaint.repair.crops import MARGIN, CropInferer, _regions
from medinpaint.repair.inferer import RepairInferer
from medinpaint.repair.planes import PlaneInferer


def _damage(volume, transform):
    damaged, mask = transform(volume.array[np.newaxis])
    return volume.with_array(np.ascontiguousarray(np.asarray(damaged)[0])), np.asarray(mask)[0].astype(bool)


def _psnr(a, b, where, peak):
    mse = float(((a[where].astype(float) - b[where].astype(float)) ** 2).mean())
    return 10 * np.log10(peak**2 / mse)


@pytest.mark.parametrize("transform", [LostLines(lines=[60, 61], slices=[5]),
                                       PacketLoss(tile_size=8, first_tile=300, num_tiles=12, slices=[7]),
                                       LostSlices(slices=[12])])
def test_outside_the_mask_nothing_changes_and_inside_it_improves(sample_data, fill_model, transform):
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, truth = _damage(clean, transform)
    result = repair_volume(damaged, model=fill_model, device="cpu")
    repaired = result.volume.array
    assert repaired.dtype == damaged.array.dtype and repaired.shape == damaged.shape
    outside = result.mask == 0
    assert np.array_equal(repaired[outside], damaged.array[outside])
    assert np.array_equal(result.mask.astype(bool), truth)
    assert _psnr(repaired, clean.array, truth, 255) > _psnr(damaged.array, clean.array, truth, 255) + 10


def test_user_mask_replaces_detection(sample_data, fill_model):
    volume = read(sample_data / "mr_head.nii.gz")
    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[90:100, 100:110, 20] = 1
    result = repair_volume(volume, mask=mask, model=fill_model, device="cpu")
    assert result.report["mask_source"] == "user" and result.report["damaged_voxels"] == 100
    assert np.array_equal(result.volume.array[mask == 0], volume.array[mask == 0])


def test_mask_of_another_shape_is_a_clear_error(sample_data, fill_model):
    volume = read(sample_data / "mr_head.nii.gz")
    with pytest.raises(InputError, match="the mask is"):
        repair_volume(volume, mask=np.zeros((3, 3, 3)), model=fill_model)


def test_clean_scan_comes_back_identical(sample_data, fill_model):
    volume = read(sample_data / "ct_head_series")
    result = repair_volume(volume, model=fill_model, device="cpu")
    assert result.report["damaged_voxels"] == 0 and np.array_equal(result.volume.array, volume.array)


def test_repaired_ct_keeps_rescale_and_stored_range(pydicom_files, fill_model):
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, truth = _damage(clean, LostLines(lines=[50, 51, 52]))
    result = repair_volume(damaged, model=fill_model, device="cpu")
    low, high = clean.meta["stored_range"]
    assert result.volume.array.min() >= low and result.volume.array.max() <= high
    assert (result.volume.slope, result.volume.intercept) == (clean.slope, clean.intercept)
    hu_error = np.abs(result.volume.physical()[truth] - clean.physical()[truth]).mean()
    assert hu_error < np.abs(damaged.physical()[truth] - clean.physical()[truth]).mean() / 4


def test_two_d_one_slice_nifti_round_trip(tmp_path, fill_model, pydicom_files):
    import nibabel as nib

    from medinpaint.repair.run import repair_file

    ct = read(pydicom_files / "CT_small.dcm").array.astype(np.int16)
    ct[:, 40:42, 0] = 0
    nib.save(nib.Nifti1Image(ct, np.eye(4)), tmp_path / "slice.nii")
    repair_file(tmp_path / "slice.nii", tmp_path / "out.nii", model=fill_model, device="cpu")
    out = nib.load(tmp_path / "out.nii")
    assert out.shape == (128, 128, 1) and out.get_data_dtype() == np.int16


def test_bfloat16_changes_only_repaired_voxels_and_only_slightly(sample_data):
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, truth = _damage(clean, PacketLoss(tile_size=16, first_tile=40, num_tiles=16, slices=[20]))
    exact = repair_volume(damaged, mask=truth, device="cpu", precision="float32")  # the shipped model
    fast = repair_volume(damaged, mask=truth, device="cpu", precision="bfloat16")
    assert (exact.report["precision"], fast.report["precision"]) == ("float32", "bfloat16")
    assert np.array_equal(fast.volume.array[~truth], damaged.array[~truth])
    difference = np.abs(fast.volume.array[truth].astype(int) - exact.volume.array[truth].astype(int))
    assert difference.max() <= 2 and difference.mean() < 0.2  # of 255; measured: 1 and 0.04
    with pytest.raises(ValueError, match="precision"):
        repair_volume(damaged, mask=truth, device="cpu", precision="half")


def test_crops_hold_every_damaged_pixel_once_with_its_context(sample_data):
    clean = read(sample_data / "mr_head.nii.gz")
    _, truth = _damage(clean, PacketLoss(tile_size=8, first_tile=100, num_tiles=40, slices=[3]))
    plane = truth[:, :, 3].copy()
    plane[5, 7] = plane[-3, -2] = True  # bit errors near the plane's corners
    crops, owner = _regions(plane)
    assert len(crops) > 1 and np.array_equal(owner > 0, plane)
    for index, crop in enumerate(crops, start=1):
        i, j = np.nonzero(owner == index)
        assert len(i), "a crop that repairs nothing"
        for axis, (s, lo, hi) in enumerate(zip(crop, (i.min(), j.min()), (i.max(), j.max()), strict=True)):
            assert s.start <= max(lo - MARGIN, 0) and s.stop >= min(hi + 1 + MARGIN, plane.shape[axis])
    area = sum((a.stop - a.start) * (b.stop - b.start) for a, b in crops)
    assert area < plane.size / 2  # work follows the damage


def test_cropped_repair_matches_the_whole_plane(sample_data, monkeypatch):
    """Only crops around the damage go through the network (the shipped one): the seams must not show."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, truth = _damage(clean, PacketLoss(tile_size=8, first_tile=150, num_tiles=60, slices=[20]))
    cropped = repair_volume(damaged, mask=truth, device="cpu", precision="float32").volume.array
    monkeypatch.setattr(crop_path, "WHOLE_PLANE", 0.0)
    whole = repair_volume(damaged, mask=truth, device="cpu", precision="float32").volume.array
    difference = np.abs(cropped[truth].astype(int) - whole[truth].astype(int))
    peak = float(clean.array.max())
    gap = _psnr(whole, clean.array, truth, peak) - _psnr(cropped, clean.array, truth, peak)
    assert np.array_equal(cropped[~truth], whole[~truth])
    # measured: at most 1 of 255 apart (mean 0.07), the crops 0.06 dB ahead in PSNR inside the mask
    assert difference.max() <= 2 and difference.mean() < 0.2 and gap < 0.05


def test_options_are_keywords(sample_data, fill_model):
    volume = read(sample_data / "ct_head_series")
    with pytest.raises(TypeError):
        repair_volume(volume, np.zeros(volume.shape, dtype=np.uint8))  # a mask passed by position


def test_the_inferers_sit_below_the_engine():
    """The crop path and the whole-plane path share one base (repair/inferer.py) and never import the
    engine, nor anything of medinpaint from inside a function (where an import cycle would hide)."""
    folder = Path(medinpaint.repair.__file__).parent
    for name in ("inferer", "crops", "planes", "engine"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        top = {node for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("medinpaint"):
                assert node in top, f"{name}.py imports {node.module} inside a function"
                assert name == "engine" or node.module != "medinpaint.repair.engine"
    assert issubclass(CropInferer, RepairInferer) and issubclass(PlaneInferer, RepairInferer)


@pytest.mark.parametrize("whole_planes", [False, True])
@pytest.mark.parametrize("depth", [1, 24])
def test_garbage_under_the_mask_does_not_reach_the_repair(sample_data, whole_planes, depth):
    """Random bytes read as floats (NaN, infinity, 1e38) under a given mask: the repair there is made from
    what lies around it, finite and inside the scan's range (in a volume it had been NaN, or the 1e38
    cancelled the network's repair away; a 2D image, whose choice of fill guarded it, is kept here as
    the other path), with the shipped model and both inferers; outside the mask nothing changes."""
    clean = read(sample_data / "mr_head.nii.gz")
    values = np.ascontiguousarray(clean.array[:, :, 10:10 + depth].astype(np.float32))
    mask = np.zeros(values.shape, dtype=bool)
    mask[70:100, 80:110, depth // 2] = True
    damaged = values.copy()
    garbage = np.frombuffer(np.random.default_rng(0).bytes(4 * int(mask.sum())), dtype=np.float32).copy()
    garbage[:3] = (np.nan, np.inf, -np.inf)
    damaged[mask] = garbage
    volume = clean.with_array(damaged)
    with np.errstate(invalid="ignore", over="ignore"):
        result = repair_volume(volume, mask=mask, device="cpu", precision="float32",
                               whole_planes=whole_planes)
    repaired = result.volume.array
    assert np.array_equal(repaired[~mask], damaged[~mask])
    assert np.isfinite(repaired[mask]).all()
    assert values.min() <= repaired[mask].min() and repaired[mask].max() <= values.max()
    assert _psnr(repaired, values, mask, 255) > 20


@pytest.mark.parametrize("whole_planes", [False, True])
def test_a_nan_the_repair_leaves_never_spreads_into_what_it_repairs(sample_data, whole_planes):
    """A statistics map's NaN outside the head is no damage and stays NaN; tiles lost beside it are
    repaired from the rest. As the network's context the NaN had turned every repaired voxel into NaN
    (all 3,716 here), silently."""
    from medinpaint.io import Volume

    clean = read(sample_data / "mr_head.nii.gz")
    array = np.asarray(clean.array, np.float32)[:, :, 20:28].copy()
    outside = array <= np.percentile(array, 30)
    array[outside] = np.nan
    mask = np.zeros(array.shape, bool)
    mask[:, :, 4] = ~outside[:, :, 4] & (np.add.outer(np.arange(array.shape[0]) // 8,
                                                       np.arange(array.shape[1]) // 8) % 7 == 0)
    damaged = array.copy()
    damaged[mask] = 0.0
    result = repair_volume(Volume(damaged, clean.affine), mask=mask, device="cpu", whole_planes=whole_planes)
    repaired = result.volume.array
    assert np.isfinite(repaired[mask]).all()
    assert np.isnan(repaired[outside]).all()
    assert np.array_equal(repaired[~mask & ~outside], damaged[~mask & ~outside])
