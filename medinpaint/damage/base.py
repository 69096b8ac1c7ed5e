"""What every damage transform shares: input handling, the mask, parameter records, dictionary twins.

A damage transform is called like a MONAI array transform on a channel-first image, ``(C, H, W)`` or
``(C, H, W, D)``, given as a numpy array, a torch tensor or a MetaTensor, and returns the pair
``(damaged, mask)``: the damaged image in the input's type, dtype and device (a MetaTensor keeps its
meta and gets one more entry in ``applied_operations``), and a mask of the same shape, ``uint8`` (numpy)
or ``torch.uint8`` (tensors), 1 where the transform may have changed a value. Every value outside the
mask is bit-identical to the input.

The work is split as in TorchIO: a deterministic transform (:class:`Damage`) applies explicit
parameters; its random twin (:class:`RandDamage`, a MONAI ``RandomizableTransform``) only samples those
parameters on ``self.R`` in ``randomize()`` and hands them over, so ``set_random_state(seed)`` makes a
pipeline reproducible and ``last_params`` says exactly what was done. Dictionary twins
(:func:`dictionary_twin`) write the image back under its key, the mask under ``mask_key`` (joined with a
mask already there, so chained damages accumulate) and the parameters under ``params_key``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from typing import Any, ClassVar

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import TraceKeys, TransformBackends

from medinpaint.io.volume import cast_to_dtype

ImageLike = np.ndarray | torch.Tensor

# A fill value is a number in the image's units, or "min": the smallest value in the image (what a
# padding value or an air-filled background looks like in the stored pixels).
Fill = float | str


# --- argument checks (ValueError naming the argument, raised in __init__) -------------------------


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is not a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return float(value)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, or a ValueError naming ``name`` when it is not an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return int(value)


def check_range(name: str, value: Any, low: float | None = None, high: float | None = None,
                integer: bool = False) -> tuple:
    """A ``(min, max)`` pair with low <= min <= max <= high, or a ValueError naming ``name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
    check = check_int if integer else check_number
    pair = (check(name, value[0], low, high), check(name, value[1], low, high))
    if pair[0] > pair[1]:
        raise ValueError(f"{name} must be (min, max) with min <= max, got {value!r}")
    return pair


def check_fill(name: str, value: Any) -> Fill:
    """A fill value: a finite number or ``"min"``."""
    if isinstance(value, str):
        if value != "min":
            raise ValueError(f"{name} must be a number or 'min', got {value!r}")
        return value
    return check_number(name, value)


def check_fills(name: str, value: Any) -> tuple[Fill, ...]:
    """A non-empty sequence of fill values to choose from."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of fill values, got {value!r}")
    return tuple(check_fill(name, v) for v in value)


def check_indices(name: str, value: Any, allow_none: bool = False) -> tuple[int, ...] | None:
    """A sequence of non-negative indices (or None where allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of non-negative integers, got {value!r}")
    return tuple(check_int(name, v, 0) for v in value)


# --- images in and out ---------------------------------------------------------------------------


def to_numpy(img: ImageLike) -> np.ndarray:
    """The image's values as a channel-first numpy array (a view where possible), checked for 2D/3D."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim not in (3, 4):
        raise ValueError(f"image must be channel-first (C, H, W) or (C, H, W, D), got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"image must hold integers or floats, got dtype {arr.dtype}")
    return arr


def like_input(values: np.ndarray, img: ImageLike, operation: dict | None = None) -> ImageLike:
    """``values`` in the type of ``img``: numpy, tensor on its device, or MetaTensor with its meta."""
    if not isinstance(img, torch.Tensor):
        return values
    tensor = torch.as_tensor(np.ascontiguousarray(values), device=img.device)
    if isinstance(img, MetaTensor):
        operations = list(img.applied_operations) + ([operation] if operation else [])
        return MetaTensor(tensor, meta=dict(img.meta), applied_operations=operations)
    return tensor


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results back to the image's dtype: rounded and clipped for integers, as a file stores them."""
    return cast_to_dtype(np.nan_to_num(values, nan=0.0), dtype)


def resolve_fill(fill: Fill, image: np.ndarray) -> np.ndarray:
    """A fill value as a scalar of the image's dtype."""
    value = float(image.min()) if fill == "min" else float(fill)
    return cast_like(np.asarray(value), image.dtype)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Where two arrays of one dtype differ bit for bit."""
    return before.view(f"u{before.dtype.itemsize}") != after.view(f"u{after.dtype.itemsize}")


def plane_tails(image: np.ndarray, slices: Sequence[int] | None) -> list[tuple]:
    """Index tails that pick the 2D planes a transmission damage hits: the image itself when it is 2D,
    the listed slices (last axis) of a 3D image, or every slice when ``slices`` is None."""
    if image.ndim == 3:
        return [()]
    if slices is None:
        return [(slice(None),)]
    depth = image.shape[-1]
    bad = [k for k in slices if k >= depth]
    if bad:
        raise ValueError(f"slices {bad} are out of range for an image with {depth} slices")
    return [(k,) for k in slices]


# --- the two halves of a damage ------------------------------------------------------------------


class Damage(Transform):
    """A deterministic damage: explicit parameters in, ``(damaged, mask)`` out.

    Subclasses set ``kind`` (the damage's name in presets and samples), ``param_names`` (the ``__init__``
    arguments that define it, recorded in ``last_params``) and implement :meth:`damage`.
    """

    backend = [TransformBackends.NUMPY]
    kind: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()

    @property
    def last_params(self) -> dict[str, Any]:
        """The damage's name and parameters, as recorded with every output."""
        return {"kind": self.kind, **{name: getattr(self, name) for name in self.param_names}}

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Damaged copy of a channel-first numpy image and the boolean mask of what may have changed."""
        raise NotImplementedError

    def __call__(self, img: ImageLike) -> tuple[ImageLike, ImageLike]:
        image = to_numpy(img)
        damaged, mask = self.damage(image)
        # the promise "nothing changes outside the mask" is kept here once, for every kind
        damaged = np.where(mask, damaged, image).astype(image.dtype, copy=False)
        operation = {TraceKeys.CLASS_NAME: type(self).__name__, TraceKeys.ID: id(self),
                     TraceKeys.EXTRA_INFO: self.last_params}
        return like_input(damaged, img, operation), like_input(mask.astype(np.uint8), img)


class RandDamage(RandomizableTransform):
    """A random damage: samples the parameters of ``damage_class`` on ``self.R`` and applies them.

    Args:
        prob: probability of damaging the image at all; when no damage is done the image comes back
            unchanged with an all-zero mask and ``last_params == {"kind": "none"}``.
    """

    backend = [TransformBackends.NUMPY]
    damage_class: ClassVar[type[Damage]]

    def __init__(self, prob: float = 1.0) -> None:
        RandomizableTransform.__init__(self, check_number("prob", prob, 0.0, 1.0))
        self._params: dict[str, Any] | None = None
        self.last_params: dict[str, Any] = {"kind": "none"}

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        """Parameters of ``damage_class`` for this image, drawn from ``self.R``."""
        raise NotImplementedError

    def randomize(self, data: ImageLike) -> None:
        super().randomize(None)
        self._params = self.sample(to_numpy(data)) if self._do_transform else None

    def __call__(self, img: ImageLike, randomize: bool = True) -> tuple[ImageLike, ImageLike]:
        if randomize:
            self.randomize(img)
        if self._params is None:
            image = to_numpy(img)
            self.last_params = {"kind": "none"}
            return like_input(image.copy(), img), like_input(np.zeros(image.shape, np.uint8), img)
        transform = self.damage_class(**self._params)
        self.last_params = transform.last_params
        return transform(img)


def sample_slices(R: np.random.RandomState, image: np.ndarray, count: tuple[int, int]) -> list[int] | None:
    """A run of consecutive slices of a 3D image (``count`` = (min, max) slices), None for 2D."""
    if image.ndim == 3:
        return None
    depth = image.shape[-1]
    n = min(int(R.randint(count[0], count[1] + 1)), depth)
    start = int(R.randint(0, depth - n + 1))
    return list(range(start, start + n))


# --- dictionary twins ----------------------------------------------------------------------------


class _DamageDict(MapTransform):
    """Applies one array damage to every key; masks go to ``mask_key``, parameters to ``params_key``."""

    def __init__(self, keys: KeysCollection, mask_key: str | Sequence[str] = "mask",
                 params_key: str = "damage", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        mask_keys = (mask_key,) if isinstance(mask_key, str) else tuple(mask_key)
        if len(mask_keys) not in (1, len(self.keys)):
            raise ValueError(f"mask_key must name one key or one per key in keys, got {mask_key!r}")
        self.mask_keys = mask_keys * len(self.keys) if len(mask_keys) == 1 else mask_keys
        if not isinstance(params_key, str):
            raise ValueError(f"params_key must be a string, got {params_key!r}")
        self.params_key = params_key

    def _apply(self, data: Mapping[Hashable, Any], call) -> dict[Hashable, Any]:
        d = dict(data)
        for key, mask_key in self.key_iterator(d, self.mask_keys):
            d[key], mask = call(d[key])
            previous = d.get(mask_key)
            if previous is not None and tuple(previous.shape) == tuple(mask.shape):
                mask = mask | previous
            d[mask_key] = mask
        d[self.params_key] = self.transform.last_params
        return d


class DamageDict(_DamageDict):
    """Dictionary twin of a deterministic :class:`Damage` (built by :func:`dictionary_twin`)."""

    array_class: ClassVar[type[Damage]]

    def __init__(self, keys: KeysCollection, mask_key: str | Sequence[str] = "mask",
                 params_key: str = "damage", allow_missing_keys: bool = False, **kwargs: Any) -> None:
        super().__init__(keys, mask_key, params_key, allow_missing_keys)
        self.transform = self.array_class(**kwargs)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        return self._apply(data, self.transform)


class RandDamageDict(RandomizableTransform, _DamageDict):
    """Dictionary twin of a :class:`RandDamage`: one draw of parameters, applied to every key."""

    array_class: ClassVar[type[RandDamage]]

    def __init__(self, keys: KeysCollection, mask_key: str | Sequence[str] = "mask",
                 params_key: str = "damage", allow_missing_keys: bool = False, **kwargs: Any) -> None:
        _DamageDict.__init__(self, keys, mask_key, params_key, allow_missing_keys)
        self.transform = self.array_class(**kwargs)
        RandomizableTransform.__init__(self, self.transform.prob)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data: Any) -> None:
        self.transform.randomize(data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        first = next(self.key_iterator(dict(data)), None)
        if first is None:
            return dict(data)
        self.randomize(data[first])
        return self._apply(data, lambda img: self.transform(img, randomize=False))


@cache
def dictionary_twin(array_class: type[Damage] | type[RandDamage]) -> type[_DamageDict]:
    """The ``...d`` twin of an array damage: same keyword arguments plus ``keys``, ``mask_key``
    (default ``"mask"``), ``params_key`` (default ``"damage"``) and ``allow_missing_keys``. One class per
    array class (cached), so the twin pickles by name as the module-level ``...d`` of the array class's
    module."""
    base = RandDamageDict if issubclass(array_class, RandDamage) else DamageDict
    name = f"{array_class.__name__}d"
    doc = (f"Dictionary twin of :class:`{array_class.__name__}`: damages ``data[key]`` for every key, "
           f"puts the mask under ``mask_key`` and the applied parameters under ``params_key``; other "
           f"keyword arguments as for :class:`{array_class.__name__}`.")
    return type(name, (base,), {"array_class": array_class, "__doc__": doc,
                                "__module__": array_class.__module__, "__qualname__": name})
