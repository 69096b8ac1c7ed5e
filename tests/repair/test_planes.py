"""Whole-plane repair with every step on the device (the GPU path), run here on the CPU and, where a
GPU is present, on it: same result as the crop path, stored values bit-identical outside the mask."""

import numpy as np
import pytest
import torch

from medinpaint.damage.transmission import PacketLoss
from medinpaint.io import read
from medinpaint.repair import crops as crop_path
from medinpaint.repair import planes as plane_path
from medinpaint.repair import repair_volume
from medinpaint.repair.planes import Transfer, groups


def _damaged(volume, slices):
    damage = PacketLoss(tile_size=8, first_tile=150, num_tiles=60, slices=slices)
    damaged, mask = damage(volume.array[np.newaxis])
    return np.asarray(damaged)[0], np.asarray(mask)[0].astype(bool)


def _repaired(volume, mask, **options) -> np.ndarray:
    """The stored voxels of ``volume`` repaired on the CPU where ``mask`` is set."""
    return repair_volume(volume, mask=mask, device="cpu", **options).volume.array


def test_runs_read_one_span_each_and_respect_the_batch():
    assert groups([9, 2, 3, 4, 30], context=1, batch=64) == [[2, 3, 4], [9], [30]]
    assert groups([2, 5], context=1, batch=64) == [[2, 5]]  # 3 and 4 are neighbours of one or the other
    assert groups(list(range(10)), context=1, batch=4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert groups([0, 3, 6, 9], context=1, batch=4) == [[0, 3], [6, 9]]  # spans, not counts, are bounded


@pytest.mark.parametrize("order", ["F", "C"])
def test_transfer_round_trip_in_either_memory_order(order):
    array = np.asarray(np.random.default_rng(0).integers(0, 65535, (20, 30, 9)), dtype=np.uint16, order=order)
    transfer = Transfer(torch.device("cpu"))
    span = transfer.load(array[:, :, 2:6], "volume")
    assert span.shape == (4, 20, 30)
    assert torch.equal(span[1], torch.from_numpy(array[:, :, 3].astype(np.int32)).to(span.dtype))
    out = np.zeros_like(array)
    transfer.store(out, [2, 5], span[[0, 3]].flip(0))
    assert np.array_equal(out[:, :, 2], array[:, :, 5]) and np.array_equal(out[:, :, 5], array[:, :, 2])
    assert not out[:, :, 3].any()


@pytest.mark.parametrize("scan", ["mr_head.nii.gz", "ct_head_series"])
def test_whole_planes_match_the_crop_path(sample_data, scan, monkeypatch):
    """The shipped model, float32: the device path (rescale and normalisation in float32) and the CPU
    path (float64) differ by rounding alone."""
    clean = read(sample_data / scan)
    array, mask = _damaged(clean, [1, 2, 3])
    mask[:, :, 4] = True  # a lost slice beside a damaged one
    damaged = clean.with_array(np.asarray(array, order="F" if clean.array.flags.f_contiguous else "C"))
    monkeypatch.setattr(crop_path, "WHOLE_PLANE", 0.0)  # the crop path, sending whole planes
    crops = _repaired(damaged, mask, precision="float32", whole_planes=False)
    planes = _repaired(damaged, mask, precision="float32", whole_planes=True)
    assert planes.dtype == damaged.array.dtype
    assert np.array_equal(planes[~mask], damaged.array[~mask])
    difference = np.abs(planes.astype(int) - crops.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01


@pytest.mark.parametrize("whole_planes", [False, True])
def test_a_lost_neighbour_counts_as_the_slice_that_replaced_it(sample_data, whole_planes):
    """A damaged slice beside a lost one sees the lost slice's re-created plane, not a fill of nothing."""
    clean = read(sample_data / "mr_head.nii.gz")
    array, mask = _damaged(clean, [20])
    array[:, :, 21] = 0
    mask[:, :, 21] = True
    lost = _repaired(clean.with_array(array), mask, whole_planes=whole_planes)
    rebuilt = array.copy()
    rebuilt[:, :, 21] = lost[:, :, 21]  # as if slice 21 had arrived as re-created
    only_20 = mask.copy()
    only_20[:, :, 21] = False
    direct = _repaired(clean.with_array(rebuilt), only_20, whole_planes=whole_planes)
    difference = np.abs(lost[:, :, 20].astype(int) - direct[:, :, 20].astype(int))
    assert difference.max() <= 1  # the stored rounding of the re-created plane, and a shifted MR range


# int64 near 2**60 collapses in the float32 normalisation (repaired values are then meaningless, which
# NumPy warns about; as float64 they equal the damaged ones); what matters here is that every other voxel
# comes back exact
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32, np.float64, ">i2", np.int64])
def test_whole_planes_keep_the_dtype_and_every_other_voxel(sample_data, dtype):
    clean = read(sample_data / "mr_head.nii.gz")
    array, mask = _damaged(clean, [5])
    stored = array.astype(dtype) * 200 + (0.3 if np.dtype(dtype).kind == "f" else 7)
    if np.dtype(dtype) == np.int64:
        stored += 2**60  # beyond float64's exact integers: must come back exact all the same
    stored = np.asfortranarray(stored.astype(dtype))  # ">i2": big-endian, as some files store it
    result = _repaired(clean.with_array(stored), mask, whole_planes=True)
    assert result.dtype == np.dtype(dtype) and np.array_equal(result[~mask], stored[~mask])
    assert (result[mask] != stored[mask]).any()  # it did repair (int64 near 2**60: compared as integers)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none; run on a lent GPU)")
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.float32])
def test_cuda_repairs_like_the_cpu_and_keeps_every_other_voxel(sample_data, dtype):
    clean = read(sample_data / "mr_head.nii.gz")
    array, mask = _damaged(clean, [5, 6, 30])
    damaged = clean.with_array(np.asfortranarray(array.astype(dtype)))
    cpu = repair_volume(damaged, mask=mask, device="cpu", precision="bfloat16", whole_planes=True)
    gpu = repair_volume(damaged, mask=mask, device="cuda", precision="bfloat16")
    assert gpu.report["device"] == "cuda" and gpu.volume.array.dtype == dtype
    assert np.array_equal(gpu.volume.array[~mask], damaged.array[~mask])
    difference = np.abs(gpu.volume.array[mask].astype(float) - cpu.volume.array[mask].astype(float))
    assert difference.max() <= 3 and difference.mean() < 0.3  # bf16 bodies on two kinds of hardware


def test_a_dtype_the_device_cannot_handle_falls_back_to_crops(sample_data, monkeypatch, caplog):
    """Torch lacks some operations for some dtypes on some devices (uint16 indexing on CUDA): the
    engine then repairs by crops, with the same result as the crop path, and says so in the log."""
    clean = read(sample_data / "mr_head.nii.gz")
    array, mask = _damaged(clean, [5, 6])
    damaged = clean.with_array(np.asfortranarray(array))
    crops = _repaired(damaged, mask, precision="float32", whole_planes=False)
    real_store = plane_path.Transfer.store
    calls = []

    def store_once_then_fail(self, *args):  # the first run of planes lands, the second fails
        if calls:
            raise NotImplementedError('"index_cuda" not implemented for \'UInt16\'')
        calls.append(1)
        return real_store(self, *args)

    monkeypatch.setattr(plane_path.Transfer, "store", store_once_then_fail)
    monkeypatch.setattr(plane_path, "PIXELS_PER_BATCH_CPU", 1)  # one plane per run: slice 5, then 6 fails
    with caplog.at_level("WARNING", logger="medinpaint.repair.engine"):
        result = _repaired(damaged, mask, precision="float32", whole_planes=True)
    assert "repairing crops instead" in caplog.text
    assert np.array_equal(result, crops)
