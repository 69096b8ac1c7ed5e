"""MR scanner artifacts: Rician noise, Gibbs ringing, k-space spikes, motion ghosting, bias field.

Where MONAI has the operation (``RandRicianNoise``, ``GibbsNoise``, ``KSpaceSpikeNoise``,
``RandBiasField``) these transforms wrap it and add the mask; only ghosting is written here. MONAI's
random operations are driven by an explicit ``seed`` parameter, so the deterministic transform still
reproduces exactly what its random twin sampled.

The artifacts act on the whole image; the result goes back to the input's dtype (rounded and clipped
for integers) and the mask is the set of voxels whose stored value actually changed. Strengths are
relative to the image (its standard deviation or its k-space centre), so they mean the same in stored
and in physical units whenever the rescale intercept is 0, as it is for MR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.transforms import GibbsNoise, KSpaceSpikeNoise, RandBiasField, RandRicianNoise
from monai.transforms.utils import Fourier
from monai.utils import convert_data_type

from medinpaint.damage.base import (
    Damage,
    RandDamage,
    cast_like,
    changed,
    check_int,
    check_number,
    check_range,
    dictionary_twin,
)


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)


def _back(values: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A MONAI result as the input's dtype, with the mask of the voxels it changed."""
    out = cast_like(np.asarray(convert_data_type(values, np.ndarray)[0], dtype=np.float64), image.dtype)
    return out, changed(image, out)


class Rician(Damage):
    """Rician noise, the noise of magnitude MR images (wraps MONAI's ``RandRicianNoise``).

    Args:
        std: noise standard deviation as a fraction of each channel's intensity standard deviation.
        seed: seed of the noise field.
    """

    kind = "rician-noise"
    param_names = ("std", "seed")

    def __init__(self, std: float, seed: int = 0) -> None:
        self.std = check_number("std", std, 0.0)
        self.seed = check_int("seed", seed, 0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        noise = RandRicianNoise(prob=1.0, std=self.std, channel_wise=True, relative=True, sample_std=False)
        noise.set_random_state(self.seed)
        return _back(noise(_as_float(image)), image)


class RandRician(RandDamage):
    """Random :class:`Rician`.

    Args:
        prob: probability of damaging at all.
        std: (min, max) relative noise standard deviation.
    """

    damage_class = Rician

    def __init__(self, prob: float = 1.0, std: tuple[float, float] = (0.02, 0.1)) -> None:
        super().__init__(prob)
        self.std = check_range("std", std, 0.0)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"std": float(self.R.uniform(*self.std)), "seed": int(self.R.randint(2**31))}


class Gibbs(Damage):
    """Gibbs ringing from a truncated k-space (wraps MONAI's ``GibbsNoise``).

    Args:
        alpha: how much of k-space is cut, in [0, 1]; 0 leaves the image as it is.
    """

    kind = "gibbs-ringing"
    param_names = ("alpha",)

    def __init__(self, alpha: float) -> None:
        self.alpha = check_number("alpha", alpha, 0.0, 1.0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _back(GibbsNoise(alpha=self.alpha)(_as_float(image)), image)


class RandGibbs(RandDamage):
    """Random :class:`Gibbs`.

    Args:
        prob: probability of damaging at all.
        alpha: (min, max) of the k-space cut.
    """

    damage_class = Gibbs

    def __init__(self, prob: float = 1.0, alpha: tuple[float, float] = (0.4, 0.7)) -> None:
        super().__init__(prob)
        self.alpha = check_range("alpha", alpha, 0.0, 1.0)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"alpha": float(self.R.uniform(*self.alpha))}


class KSpaceSpikes(Damage):
    """Spikes (herringbone) from bright points in k-space (wraps MONAI's ``KSpaceSpikeNoise``).

    Args:
        locations: spatial k-space indices of the spikes (centred spectrum: the middle is the DC term).
        strength: spike magnitude as a fraction of the k-space centre (the image's sum), per channel.
    """

    kind = "kspace-spikes"
    param_names = ("locations", "strength")

    def __init__(self, locations: Sequence[Sequence[int]], strength: float) -> None:
        if isinstance(locations, (str, bytes)) or not isinstance(locations, Sequence) or not locations:
            raise ValueError(f"locations must be a non-empty sequence of index tuples, got {locations!r}")
        self.locations = [[check_int("locations", v, 0) for v in loc] for loc in locations]
        if len({len(loc) for loc in self.locations}) != 1 or len(self.locations[0]) not in (2, 3):
            raise ValueError(f"locations must all be 2D or all 3D index tuples, got {locations!r}")
        self.strength = check_number("strength", strength, 0.0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.locations[0]) != image.ndim - 1:
            raise ValueError(f"locations are {len(self.locations[0])}D for an image of shape {image.shape}")
        values = _as_float(image)
        out = []
        for channel in values:
            centre = abs(float(channel.sum(dtype=np.float64))) or 1.0
            intensity = float(np.log(self.strength * centre + 1e-10))
            spikes = KSpaceSpikeNoise(loc=[tuple(loc) for loc in self.locations],
                                      k_intensity=[intensity] * len(self.locations))
            out.append(convert_data_type(spikes(channel[None]), np.ndarray)[0][0])
        return _back(np.stack(out), image)


class RandKSpaceSpikes(RandDamage):
    """Random :class:`KSpaceSpikes`, placed away from the k-space centre.

    Args:
        prob: probability of damaging at all.
        num_spikes: (min, max) number of spikes.
        strength: (min, max) relative spike magnitude.
    """

    damage_class = KSpaceSpikes

    def __init__(self, prob: float = 1.0, num_spikes: tuple[int, int] = (1, 2),
                 strength: tuple[float, float] = (0.02, 0.15)) -> None:
        super().__init__(prob)
        self.num_spikes = check_range("num_spikes", num_spikes, 1, integer=True)
        self.strength = check_range("strength", strength, 0.0)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        shape = image.shape[1:]
        locations = []
        for _ in range(int(self.R.randint(self.num_spikes[0], self.num_spikes[1] + 1))):
            # between 1/16 and 1/3 of the way out from the centre along each axis
            loc = []
            for n in shape:
                offset = int(round(self.R.uniform(n / 16, n / 3))) * (1 if self.R.rand() < 0.5 else -1)
                loc.append(int(np.clip(n // 2 + offset, 0, n - 1)))
            locations.append(loc)
        return {"locations": locations, "strength": float(self.R.uniform(*self.strength))}


class Ghosting(Damage):
    """Motion ghosting: periodic motion during the acquisition modulates every n-th phase-encoding line,
    which repeats the anatomy as faint shifted copies along the phase-encoding axis.

    Args:
        num_ghosts: period of the modulated lines; the ghosts lie ``size / num_ghosts`` apart.
        intensity: how much the modulated lines are weakened, in [0, 1].
        axis: spatial phase-encoding axis (0: ``i``, 1: ``j``; 2 only for 3D images).
    """

    kind = "motion-ghosting"
    param_names = ("num_ghosts", "intensity", "axis")

    def __init__(self, num_ghosts: int, intensity: float, axis: int = 1) -> None:
        self.num_ghosts = check_int("num_ghosts", num_ghosts, 2)
        self.intensity = check_number("intensity", intensity, 0.0, 1.0)
        self.axis = check_int("axis", axis, 0, 2)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        spatial = image.ndim - 1
        if self.axis >= spatial:
            raise ValueError(f"axis {self.axis} does not exist in an image of shape {image.shape}")
        k = Fourier.shift_fourier(_as_float(image), spatial)
        n = image.shape[1 + self.axis]
        lines = np.arange(n) - n // 2
        weights = np.where((lines % self.num_ghosts == 0) & (lines != 0), 1.0 - self.intensity, 1.0)
        shape = [1] * image.ndim
        shape[1 + self.axis] = n
        out = Fourier.inv_shift_fourier(k * weights.reshape(shape), spatial)
        return _back(out, image)


class RandGhosting(RandDamage):
    """Random :class:`Ghosting` along an in-plane axis.

    Args:
        prob: probability of damaging at all.
        num_ghosts: (min, max) period of the modulated lines.
        intensity: (min, max) weakening of the modulated lines.
    """

    damage_class = Ghosting

    def __init__(self, prob: float = 1.0, num_ghosts: tuple[int, int] = (2, 6),
                 intensity: tuple[float, float] = (0.3, 0.8)) -> None:
        super().__init__(prob)
        self.num_ghosts = check_range("num_ghosts", num_ghosts, 2, integer=True)
        self.intensity = check_range("intensity", intensity, 0.0, 1.0)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"num_ghosts": int(self.R.randint(self.num_ghosts[0], self.num_ghosts[1] + 1)),
                "intensity": float(self.R.uniform(*self.intensity)), "axis": int(self.R.randint(2))}


class Bias(Damage):
    """A smooth multiplicative bias field (coil inhomogeneity; wraps MONAI's ``RandBiasField``).

    Args:
        strength: the polynomial coefficients lie in [-strength, strength]; the field is their exponential.
        degree: polynomial degree of the field.
        seed: seed of the coefficients.
    """

    kind = "bias-field"
    param_names = ("strength", "degree", "seed")

    def __init__(self, strength: float, degree: int = 3, seed: int = 0) -> None:
        self.strength = check_number("strength", strength, 0.0)
        self.degree = check_int("degree", degree, 1)
        self.seed = check_int("seed", seed, 0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        field = RandBiasField(degree=self.degree, coeff_range=(-self.strength, self.strength), prob=1.0)
        field.set_random_state(self.seed)
        return _back(field(_as_float(image)), image)


class RandBias(RandDamage):
    """Random :class:`Bias`.

    Args:
        prob: probability of damaging at all.
        strength: (min, max) coefficient bound.
        degree: polynomial degree of the field.
    """

    damage_class = Bias

    def __init__(self, prob: float = 1.0, strength: tuple[float, float] = (0.1, 0.3),
                 degree: int = 3) -> None:
        super().__init__(prob)
        self.strength = check_range("strength", strength, 0.0)
        self.degree = check_int("degree", degree, 1)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"strength": float(self.R.uniform(*self.strength)), "degree": self.degree,
                "seed": int(self.R.randint(2**31))}


Riciand = dictionary_twin(Rician)
RandRiciand = dictionary_twin(RandRician)
Gibbsd = dictionary_twin(Gibbs)
RandGibbsd = dictionary_twin(RandGibbs)
KSpaceSpikesd = dictionary_twin(KSpaceSpikes)
RandKSpaceSpikesd = dictionary_twin(RandKSpaceSpikes)
Ghostingd = dictionary_twin(Ghosting)
RandGhostingd = dictionary_twin(RandGhosting)
Biasd = dictionary_twin(Bias)
RandBiasd = dictionary_twin(RandBias)
