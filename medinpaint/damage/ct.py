"""CT scanner artifacts: low-dose noise, ring artifacts, streaks.

They are additive in HU, so they work the same on stored values and on HU whenever the rescale slope is
1 (true of nearly every CT series: only the intercept, which an addition does not see, differs). Rings
and streaks lie in the axial plane (the first two spatial axes) and repeat in every slice they hit.
The result goes back to the input's dtype (rounded and clipped for integers) and the mask is the set of
voxels whose stored value actually changed; ring and streak profiles end at three widths, so their
masks stay local.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medinpaint.damage.base import (
    Damage,
    RandDamage,
    cast_like,
    changed,
    check_indices,
    check_int,
    check_number,
    check_range,
    dictionary_twin,
    plane_tails,
    sample_slices,
)


def _numbers(name: str, values: Any, low: float | None = None) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {values!r}")
    return [check_number(name, v, low) for v in values]


def _add(image: np.ndarray, delta_plane: np.ndarray,
         slices: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Add an in-plane pattern to the planes hit, in the input's dtype, with the mask of changed voxels."""
    values = image.astype(np.float64)
    for tail in plane_tails(image, slices):
        index = (slice(None), slice(None), slice(None)) + tail
        values[index] += delta_plane[(None, ...) + (None,) * (values[index].ndim - 3)]
    out = cast_like(values, image.dtype)
    return out, changed(image, out)


def _profile(distance: np.ndarray, width: float) -> np.ndarray:
    """A Gaussian line profile that ends at three widths."""
    return np.where(np.abs(distance) <= 3 * width, np.exp(-0.5 * (distance / width) ** 2), 0.0)


class LowDoseNoise(Damage):
    """Low-dose CT noise: correlated Gaussian noise with the grainy texture of filtered back-projection
    (white noise band-passed by two Gaussian blurs), scaled to a standard deviation in HU.

    Args:
        sigma: noise standard deviation in image units (HU).
        grain: in-plane size of the noise grain in pixels.
        seed: seed of the noise field.
    """

    kind = "lowdose-noise"
    param_names = ("sigma", "grain", "seed")

    def __init__(self, sigma: float, grain: float = 1.0, seed: int = 0) -> None:
        self.sigma = check_number("sigma", sigma, 0.0)
        self.grain = check_number("grain", grain, 0.1, 10.0)
        self.seed = check_int("seed", seed, 0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        white = np.random.default_rng(self.seed).standard_normal(image.shape)
        # band-pass in the axial plane: the difference of two Gaussian blurs, applied in Fourier space
        fi = np.fft.fftfreq(image.shape[1])[:, None]
        fj = np.fft.rfftfreq(image.shape[2])[None, :]
        f2 = fi**2 + fj**2
        band = np.exp(-2 * (np.pi * self.grain) ** 2 * f2) - np.exp(-2 * (np.pi * 4 * self.grain) ** 2 * f2)
        band = band.reshape(band.shape + (1,) * (image.ndim - 3))
        noise = np.fft.irfft2(np.fft.rfft2(white, axes=(1, 2)) * band, s=image.shape[1:3], axes=(1, 2))
        noise *= self.sigma / max(float(noise.std()), 1e-12)
        out = cast_like(image.astype(np.float64) + noise, image.dtype)
        return out, changed(image, out)


class RandLowDoseNoise(RandDamage):
    """Random :class:`LowDoseNoise`.

    Args:
        prob: probability of damaging at all.
        sigma: (min, max) noise standard deviation in HU.
        grain: (min, max) grain size in pixels.
    """

    damage_class = LowDoseNoise

    def __init__(self, prob: float = 1.0, sigma: tuple[float, float] = (15.0, 60.0),
                 grain: tuple[float, float] = (0.7, 1.5)) -> None:
        super().__init__(prob)
        self.sigma = check_range("sigma", sigma, 0.0)
        self.grain = check_range("grain", grain, 0.1, 10.0)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"sigma": float(self.R.uniform(*self.sigma)), "grain": float(self.R.uniform(*self.grain)),
                "seed": int(self.R.randint(2**31))}


class Rings(Damage):
    """Ring artifacts: miscalibrated detector channels draw circles around the rotation centre.

    Args:
        center: (i, j) of the rotation centre in pixels.
        radii: ring radii in pixels.
        amplitudes: value added on each ring (image units, HU; negative for dark rings).
        width: ring width (Gaussian sigma) in pixels.
        slices: for a 3D image, the slices hit (None: every slice, as a bad channel stays bad).
    """

    kind = "ring-artifacts"
    param_names = ("center", "radii", "amplitudes", "width", "slices")

    def __init__(self, center: Sequence[float], radii: Sequence[float], amplitudes: Sequence[float],
                 width: float = 1.0, slices: Sequence[int] | None = None) -> None:
        self.center = _numbers("center", center)
        if len(self.center) != 2:
            raise ValueError(f"center must be an (i, j) pair, got {center!r}")
        self.radii = _numbers("radii", radii, 0.0)
        self.amplitudes = _numbers("amplitudes", amplitudes)
        if len(self.amplitudes) != len(self.radii):
            raise ValueError(f"amplitudes must have one value per ring ({len(self.radii)}), "
                             f"got {amplitudes!r}")
        self.width = check_number("width", width, 0.1)
        self.slices = check_indices("slices", slices, allow_none=True)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i, j = np.ogrid[: image.shape[1], : image.shape[2]]
        r = np.hypot(i - self.center[0], j - self.center[1])
        delta = sum(a * _profile(r - r0, self.width)
                    for r0, a in zip(self.radii, self.amplitudes, strict=True))
        return _add(image, delta, self.slices)


class RandRings(RandDamage):
    """Random :class:`Rings` around a centre near the middle of the plane.

    Args:
        prob: probability of damaging at all.
        num_rings: (min, max) number of rings.
        amplitude: (min, max) absolute amplitude in HU (the sign is drawn too).
        width: (min, max) ring width in pixels.
    """

    damage_class = Rings

    def __init__(self, prob: float = 1.0, num_rings: tuple[int, int] = (2, 8),
                 amplitude: tuple[float, float] = (20.0, 120.0),
                 width: tuple[float, float] = (0.6, 1.5)) -> None:
        super().__init__(prob)
        self.num_rings = check_range("num_rings", num_rings, 1, integer=True)
        self.amplitude = check_range("amplitude", amplitude, 0.0)
        self.width = check_range("width", width, 0.1)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        size_i, size_j = image.shape[1:3]
        center = [float(size_i / 2 + self.R.uniform(-0.05, 0.05) * size_i),
                  float(size_j / 2 + self.R.uniform(-0.05, 0.05) * size_j)]
        n = int(self.R.randint(self.num_rings[0], self.num_rings[1] + 1))
        radii = self.R.uniform(2.0, max(3.0, min(size_i, size_j) / 2), n)
        amplitudes = self.R.uniform(*self.amplitude, n) * self.R.choice([-1.0, 1.0], n)
        return {"center": center, "radii": radii.tolist(), "amplitudes": amplitudes.tolist(),
                "width": float(self.R.uniform(*self.width)), "slices": None}


class Streaks(Damage):
    """Streaks: straight bright and dark lines through a dense object (metal, dense bone), from beam
    hardening and photon starvation along the rays that cross it.

    Args:
        center: (i, j) of the dense object in pixels, where all streaks cross.
        angles: direction of each streak in radians.
        amplitudes: value added along each streak (image units, HU; negative for dark streaks).
        width: streak width (Gaussian sigma) in pixels.
        slices: for a 3D image, the slices hit (None: every slice).
    """

    kind = "streaks"
    param_names = ("center", "angles", "amplitudes", "width", "slices")

    def __init__(self, center: Sequence[float], angles: Sequence[float], amplitudes: Sequence[float],
                 width: float = 1.0, slices: Sequence[int] | None = None) -> None:
        self.center = _numbers("center", center)
        if len(self.center) != 2:
            raise ValueError(f"center must be an (i, j) pair, got {center!r}")
        self.angles = _numbers("angles", angles)
        self.amplitudes = _numbers("amplitudes", amplitudes)
        if len(self.amplitudes) != len(self.angles):
            raise ValueError(f"amplitudes must have one value per streak ({len(self.angles)}), "
                             f"got {amplitudes!r}")
        self.width = check_number("width", width, 0.1)
        self.slices = check_indices("slices", slices, allow_none=True)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i, j = np.ogrid[: image.shape[1], : image.shape[2]]
        di, dj = i - self.center[0], j - self.center[1]
        delta = sum(a * _profile(di * np.sin(t) - dj * np.cos(t), self.width)
                    for t, a in zip(self.angles, self.amplitudes, strict=True))
        return _add(image, delta, self.slices)


class RandStreaks(RandDamage):
    """Random :class:`Streaks` from a point in the middle half of the plane.

    Args:
        prob: probability of damaging at all.
        num_streaks: (min, max) number of streaks.
        amplitude: (min, max) absolute amplitude in HU (the sign is drawn too).
        width: (min, max) streak width in pixels.
        num_slices: (min, max) consecutive slices hit in a 3D image (a metal object is short).
    """

    damage_class = Streaks

    def __init__(self, prob: float = 1.0, num_streaks: tuple[int, int] = (4, 16),
                 amplitude: tuple[float, float] = (50.0, 400.0), width: tuple[float, float] = (0.5, 2.0),
                 num_slices: tuple[int, int] = (1, 8)) -> None:
        super().__init__(prob)
        self.num_streaks = check_range("num_streaks", num_streaks, 1, integer=True)
        self.amplitude = check_range("amplitude", amplitude, 0.0)
        self.width = check_range("width", width, 0.1)
        self.num_slices = check_range("num_slices", num_slices, 1, integer=True)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        size_i, size_j = image.shape[1:3]
        center = [float(self.R.uniform(0.25, 0.75) * size_i), float(self.R.uniform(0.25, 0.75) * size_j)]
        n = int(self.R.randint(self.num_streaks[0], self.num_streaks[1] + 1))
        angles = self.R.uniform(0.0, np.pi, n)
        amplitudes = self.R.uniform(*self.amplitude, n) * self.R.choice([-1.0, 1.0], n)
        return {"center": center, "angles": angles.tolist(), "amplitudes": amplitudes.tolist(),
                "width": float(self.R.uniform(*self.width)),
                "slices": sample_slices(self.R, image, self.num_slices)}


LowDoseNoised = dictionary_twin(LowDoseNoise)
RandLowDoseNoised = dictionary_twin(RandLowDoseNoise)
Ringsd = dictionary_twin(Rings)
RandRingsd = dictionary_twin(RandRings)
Streaksd = dictionary_twin(Streaks)
RandStreaksd = dictionary_twin(RandStreaks)
