"""The denoiser never makes a scan worse (issue 19): CT outside the HU window and MR of any scale come
back better than their noisy input, and a slice where the denoiser would remove structure is left alone.

The scans are pydicom's CT_small and MR_small: validation subjects, never trained on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medinpaint.io import Volume, read
from medinpaint.nets.guard import CLAMP, guard, noise_sigma
from medinpaint.repair import repair_volume


def _psnr(a: np.ndarray, b: np.ndarray, span: float) -> float:
    return float(10 * np.log10(span**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def _stored(volume: Volume, physical: np.ndarray) -> Volume:
    slope, intercept = float(np.ravel(volume.slope)[0]), float(np.ravel(volume.intercept)[0])
    values = (physical - intercept) / slope
    if volume.dtype.kind in "iu":
        info = np.iinfo(volume.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return volume.with_array(values.astype(volume.dtype))


def _check_better(clean: Volume, noisy: Volume) -> dict:
    result = repair_volume(noisy, mask=np.zeros(noisy.shape, bool), denoise=True, device="cpu",
                           precision="float32")
    truth = clean.physical()
    span = float(np.percentile(truth, 99.5) - np.percentile(truth, 0.5))
    before, after = _psnr(noisy.physical(), truth, span), _psnr(result.volume.physical(), truth, span)
    assert after > before + 0.5, (before, after)
    return result.report


def test_ct_outside_the_hu_window_is_denoised_and_keeps_its_padding_and_metal(pydicom_files):
    ct = read(pydicom_files / "CT_small.dcm")
    hu = ct.physical()
    yy, xx = np.mgrid[: hu.shape[0], : hu.shape[1]]
    padding = ((yy - 64) ** 2 + (xx - 64) ** 2 > 60**2)[..., None]  # an older scanner's -3024 HU
    metal = ((yy - 64) ** 2 + (xx - 40) ** 2 < 36)[..., None]  # 6000 HU, above the 3071 HU window
    truth = np.where(padding, -3024.0, np.where(metal, 6000.0, hu))
    clean = _stored(ct, truth)
    noise = np.random.default_rng(0).normal(0, 25, truth.shape)
    noisy = _stored(ct, np.where(padding | metal, truth, truth + noise))
    report = _check_better(clean, noisy)  # the old denoiser: 41.3 dB against the input's 45.3
    assert report["denoise"]["slices_left_alone"] == []
    result = repair_volume(noisy, mask=np.zeros(noisy.shape, bool), denoise=True, device="cpu",
                           precision="float32")
    outside = padding | metal
    assert np.array_equal(result.volume.array[outside], noisy.array[outside])


def test_mr_of_a_large_scale_is_denoised(pydicom_files):
    mr = read(pydicom_files / "MR_small.dcm")
    values = mr.physical().astype(np.float32) * 1000.0
    clean = Volume(values, mr.affine, 1.0, 0.0, mr.meta)
    sigma = 0.05 * float(np.percentile(values, 99.5))
    rng = np.random.default_rng(1)
    real, imaginary = rng.normal(0, sigma, (2,) + values.shape)
    noisy = np.sqrt((values + real) ** 2 + imaginary**2)
    _check_better(clean, clean.with_array(noisy.astype(np.float32)))


def test_the_noise_level_is_estimated_from_the_image_despite_a_flat_background(pydicom_files):
    plane = read(pydicom_files / "MR_small.dcm").physical()[:, :, 0]
    noisy = plane + np.random.default_rng(2).normal(0, 40.0, plane.shape)
    padded = np.pad(noisy, 64, constant_values=0.0)  # more flat padding than image
    assert noise_sigma(noisy) == pytest.approx(40.0, rel=0.25)
    assert noise_sigma(padded) == pytest.approx(noise_sigma(noisy), rel=1e-6)
    assert noise_sigma(np.zeros((8, 8))) == 0.0


def test_a_residual_with_structure_leaves_the_slice_alone_and_big_changes_are_limited(pydicom_files):
    plane = read(pydicom_files / "MR_small.dcm").physical()[:, :, 0].astype(np.float32)
    noisy = plane + np.random.default_rng(3).normal(0, 40.0, plane.shape).astype(np.float32)
    anatomy = guard(noisy, noisy - 0.2 * (plane - plane.mean()))  # removes anatomy, not noise
    assert not anatomy.kept and np.array_equal(anatomy.output, noisy)
    blurred = guard(noisy, ndimage.gaussian_filter(noisy, 1.5))  # removes detail with the noise
    assert not blurred.kept
    good = guard(noisy, plane)  # removes exactly the noise
    assert good.kept and good.structure < 0.2 and good.edges < 0.2
    wild = plane.copy()
    wild[10:12, 10:12] += 5000.0  # one spot the "denoiser" changed far beyond the noise
    limited = guard(noisy, noisy - (noisy - wild))
    assert limited.kept
    assert np.abs(limited.output - noisy).max() <= CLAMP * limited.sigma + 1e-3
