"""medinpaint.baselines: the classical fills change only the masked pixels and fill them sensibly."""

from __future__ import annotations

import numpy as np
import pytest

from medinpaint import baselines
from tests.conftest import require_module
from tests.train.slices import load_head


@pytest.fixture(scope="module")
def head_slice() -> np.ndarray:
    return np.ascontiguousarray(load_head()[:, :, 90])


@pytest.fixture(scope="module")
def hole(head_slice) -> np.ndarray:
    mask = np.zeros(head_slice.shape, bool)
    mask[80:92, 60:100] = True
    mask[::17, :] = True
    return mask


@pytest.mark.parametrize("method", ["telea", "biharmonic", "median"])
def test_in_plane_fills_touch_only_the_mask_and_beat_a_zero_fill(method, head_slice, hole):
    require_module({"telea": "cv2", "biharmonic": "skimage", "median": "numpy"}[method])
    damaged = head_slice.copy()
    damaged[hole] = 0
    filled = getattr(baselines, method)(damaged, hole)
    assert filled.dtype == np.float32 and np.array_equal(filled[~hole], damaged[~hole])
    error = np.sqrt(np.mean((filled[hole] - head_slice[hole]) ** 2))
    assert error < 0.25 * np.sqrt(np.mean(head_slice[hole] ** 2))
    assert filled[hole].min() >= head_slice.min() - 0.2 and filled[hole].max() <= head_slice.max() + 0.2


def test_biharmonic_is_exact_on_a_plane():
    require_module("skimage")
    y, x = np.mgrid[0:40, 0:50].astype(np.float32)
    plane = 0.01 * x + 0.02 * y
    mask = np.zeros(plane.shape, bool)
    mask[10:20, 15:30] = True
    assert np.allclose(baselines.biharmonic(np.where(mask, 0, plane), mask), plane, atol=1e-4)


def test_slice_interpolation_averages_the_neighbours_inside_the_mask():
    stack = np.stack([np.full((4, 4), v, np.float32) for v in (1.0, 9.0, 3.0)])
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    out = baselines.slice_interpolation(stack, mask)
    assert out[1, 2] == 2.0 and (out[~mask] == 9.0).all()
    with pytest.raises(ValueError, match="stack"):
        baselines.slice_interpolation(stack[:2], mask)


def test_lost_slices_of_a_volume_are_interpolated_linearly_and_copied_at_the_edge():
    volume = np.stack([np.full((3, 3), float(k), np.float32) for k in range(6)], axis=2)
    lost = np.where(np.isin(np.arange(6), [2, 3, 5]), -1, volume)
    out = baselines.interpolate_slices(lost, [2, 3, 5], axis=2)
    assert np.allclose(out[0, 0], [0, 1, 2, 3, 4, 4])


def test_bm3d_with_the_true_sigma_removes_most_of_the_noise(head_slice):
    require_module("bm3d")
    crop = head_slice[40:104, 40:104]
    noisy = crop + np.random.default_rng(0).normal(0, 0.05, crop.shape).astype(np.float32)
    denoised = baselines.bm3d_denoise(noisy, 0.05)
    assert np.mean((denoised - crop) ** 2) < 0.5 * np.mean((noisy - crop) ** 2)
    with pytest.raises(ValueError, match="sigma"):
        baselines.bm3d_denoise(noisy, 0.0)


def test_a_mask_of_another_shape_is_a_value_error(head_slice):
    with pytest.raises(ValueError, match="mask shape"):
        baselines.median(head_slice, np.zeros((3, 3), bool))
