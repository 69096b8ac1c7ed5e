"""Slices of volumes as MONAI dictionary items, and the transforms that make damaged/clean/mask samples.

An item names a slice, ``{"volume": v, "axis": a, "index": s}``, of a volume held in a
:class:`VolumeStore`; the chain ``LoadSlabd -> RandSlabAffined -> RandSlabPatchd -> DamageCentred ->
ToSamplePaird`` turns it into a training sample (validation skips the random rotation/zoom and the
patch). Damage is applied to the centre slice's stored values (where transmission damage happens),
then everything is converted to physical units and normalised. The neighbour slices of a 2.5D
stack stay clean: most damage hits one instance at a time, and they are the context the network repairs
from. Because the items are small and the volumes live in the store (shared by forked workers), the chain
works with MONAI's ``Dataset``, ``CacheDataset`` (which caches ``LoadSlabd``) and ``DataLoader``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, Randomizable, RandomizableTransform, Transform

from medinpaint.damage.presets import make_damage
from medinpaint.data.normalise import normalisation, normalise
from medinpaint.io import Volume

SAMPLE_KEYS = ("damaged", "clean", "mask", "subject", "kind", "norm")


@dataclass
class StoredVolume:
    """One 3D volume as stored, with its per-voxel rescale, subject and normalisation."""

    array: np.ndarray
    slope: np.ndarray  # broadcastable to array: scalar or (1, 1, K)
    intercept: np.ndarray
    subject: str
    name: str
    modality: str | None = None
    norm: dict = field(default_factory=dict)
    padding: float = 0.0  # stored value used to pad slices smaller than a patch


def _rescale_array(value: Any) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    return value.reshape(1, 1, -1) if value.ndim == 1 else value


class VolumeStore:
    """The volumes a dataset draws slices from; a 4D volume adds one entry per time point."""

    def __init__(self, volumes: Sequence[Volume]) -> None:
        self.entries: list[StoredVolume] = []
        for volume in volumes:
            subject = str(volume.meta.get("subject") or volume.meta.get("path")
                          or f"volume{len(self.entries)}")
            name = str(volume.meta.get("source") or subject)
            slope, intercept = _rescale_array(volume.slope), _rescale_array(volume.intercept)
            norm = normalisation(volume.physical(), volume.modality)
            arrays = [volume.array] if volume.array.ndim == 3 else np.moveaxis(volume.array, -1, 0)
            for t, array in enumerate(arrays):
                self.entries.append(StoredVolume(
                    np.ascontiguousarray(array), slope, intercept, subject,
                    name if volume.array.ndim == 3 else f"{name}[{t}]", volume.modality, norm,
                    float(array.min())))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> StoredVolume:
        return self.entries[index]

    def items(self, axes: Sequence[int] = (0, 1, 2), min_size: int = 32, stride: int = 1) -> list[dict]:
        """One item per slice (every ``stride``-th) along ``axes`` whose plane is at least ``min_size``
        pixels each way."""
        found = []
        for v, entry in enumerate(self.entries):
            for axis in axes:
                plane = [n for a, n in enumerate(entry.array.shape) if a != axis]
                if min(plane) < min_size:
                    continue
                for index in range(0, entry.array.shape[axis], stride):
                    found.append({"volume": v, "axis": axis, "index": index, "subject": entry.subject})
        return found


class LoadSlabd(Transform):
    """Item -> the stored slab ``(2k+1, H, W)`` around the slice (edge slices repeated at the border),
    with its rescale (``slope``, ``intercept`` of the same shape), ``norm``, ``padding``, ``subject``
    and ``modality``.

    The slab's plane keeps the volume's remaining axes in order (axis 2: ``(i, j)``)."""

    def __init__(self, store: VolumeStore, context: int = 0) -> None:
        if isinstance(context, bool) or not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a non-negative integer, got {context!r}")
        self.store = store
        self.context = context

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        entry = self.store[d["volume"]]
        axis, depth = d["axis"], entry.array.shape[d["axis"]]
        picks = np.clip(np.arange(d["index"] - self.context, d["index"] + self.context + 1), 0, depth - 1)
        d["image"] = np.moveaxis(np.take(entry.array, picks, axis=axis), axis, 0)
        full = entry.array.shape
        for key, value in (("slope", entry.slope), ("intercept", entry.intercept)):
            d[key] = value if value.ndim == 0 else np.moveaxis(
                np.take(np.broadcast_to(value, full), picks, axis=axis), axis, 0)
        d.update(norm=entry.norm, padding=entry.padding, subject=entry.subject, modality=entry.modality)
        return d


def _crop_or_pad(array: np.ndarray, corner: Sequence[int], size: int, fill: float) -> np.ndarray:
    """A ``size`` x ``size`` window of a (C, H, W) array at ``corner``, padded with ``fill`` beyond it."""
    if array.ndim == 0:
        return array
    out = np.full(array.shape[:1] + (size, size), fill, dtype=array.dtype)
    i0, j0 = corner
    src = array[:, max(i0, 0):i0 + size, max(j0, 0):j0 + size]
    out[:, max(-i0, 0):max(-i0, 0) + src.shape[1], max(-j0, 0):max(-j0, 0) + src.shape[2]] = src
    return out


class RandSlabAffined(RandomizableTransform):
    """With probability ``prob``, rotate the slab in-plane by any angle and zoom it by a factor in
    ``zoom``, about its centre, before any damage is made (a rotated bit error or lost line would no
    longer look like one). Stored values are interpolated bilinearly and rounded back to the stored
    dtype, rescale arrays follow by nearest neighbour, and what comes into view from outside the slab
    is the volume's padding value. It teaches orientations and voxel sizes the heads do not show."""

    def __init__(self, prob: float = 0.5, zoom: tuple[float, float] = (0.8, 1.25)) -> None:
        RandomizableTransform.__init__(self, prob=prob)
        if not 0 < zoom[0] <= zoom[1]:
            raise ValueError(f"zoom must be a range of positive factors, got {zoom!r}")
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self._angle, self._scale = 0.0, 1.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._angle = float(self.R.uniform(-np.pi, np.pi))
        self._scale = float(np.exp(self.R.uniform(np.log(self.zoom[0]), np.log(self.zoom[1]))))

    def _resample(self, array: np.ndarray, grid: torch.Tensor, mode: str, fill: float) -> np.ndarray:
        if array.ndim == 0:
            return array
        values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) - fill)[None]
        out = torch.nn.functional.grid_sample(values, grid, mode=mode, padding_mode="zeros",
                                              align_corners=False)
        out = out[0].numpy() + fill
        if np.issubdtype(array.dtype, np.integer):
            info = np.iinfo(array.dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        return out.astype(array.dtype)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        self.randomize()
        if not self._do_transform:
            return dict(data)
        d = dict(data)
        height, width = d["image"].shape[1:]
        cos, sin = np.cos(self._angle) / self._scale, np.sin(self._angle) / self._scale
        # grid_sample's normalised coordinates: keep the pixel aspect of non-square planes
        theta = torch.tensor([[cos, -sin * width / height, 0.0], [sin * height / width, cos, 0.0]],
                             dtype=torch.float32)
        grid = torch.nn.functional.affine_grid(theta[None], [1, 1, height, width], align_corners=False)
        d["image"] = self._resample(d["image"], grid, "bilinear", float(d["padding"]))
        d["slope"] = self._resample(d["slope"], grid, "nearest", 1.0)
        d["intercept"] = self._resample(d["intercept"], grid, "nearest", 0.0)
        return d


class RandSlabPatchd(RandomizableTransform):
    """A random ``patch_size`` square of the slab (and its rescale); a plane smaller than the patch is
    centred along that side and padded with the volume's padding value (its stored minimum)."""

    def __init__(self, patch_size: int) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
        self.patch_size = patch_size
        self._corner = (0, 0)

    def randomize(self, data: Sequence[int]) -> None:
        self._corner = tuple(int(self.R.randint(0, n - self.patch_size + 1)) if n >= self.patch_size
                             else -((self.patch_size - n) // 2) for n in data)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(d["image"].shape[1:])
        d["image"] = _crop_or_pad(d["image"], self._corner, self.patch_size, d["padding"])
        for key in ("slope", "intercept"):
            d[key] = _crop_or_pad(d[key], self._corner, self.patch_size, 1.0 if key == "slope" else 0.0)
        return d


class DamageCentred(Randomizable, MapTransform):
    """Damages the slab's centre slice with one kind of a damage preset, giving ``damaged_centre``,
    ``mask`` and ``damage`` (the applied parameters with their ``kind``). The kinds are those of the
    preset for the item's modality, less ``exclude`` (see :func:`~medinpaint.damage.presets.preset_ranges`).

    Each item is damaged from one seed: the item's ``"seed"`` key when it has one (a fixed validation
    set), else a seed drawn from this transform's random state, so ``damage["seed"]`` replays it.
    """

    def __init__(self, preset: str, exclude: tuple[str, ...] = ()) -> None:
        MapTransform.__init__(self, keys="image")
        self.preset = preset
        self.exclude = tuple(exclude)
        self._damages = {m: make_damage(preset, keys="centre", mask_key="mask", modality=m,
                                        exclude=self.exclude)
                         for m in ("CT", "MR", None)}
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        self._seed = int(self.R.randint(2**31))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if "seed" in d:
            self._seed = int(d["seed"])
        else:
            self.randomize()
        modality = (d.get("modality") or "").upper() or None
        damage = self._damages.get(modality, self._damages[None])
        damage.set_random_state(self._seed)
        centre = d["image"].shape[0] // 2
        out = damage({"centre": np.ascontiguousarray(d["image"][centre:centre + 1])})
        d.update(damaged_centre=out["centre"], mask=out["mask"], damage={**out["damage"], "seed": self._seed})
        return d


class ToSamplePaird(Transform):
    """Stored slab + damaged centre -> the sample contract: float32 tensors ``damaged`` (2k+1, H, W; the
    damaged centre in the middle channel, clean neighbours around it), ``clean`` (1, H, W) and ``mask``
    (1, H, W, 1.0 where damaged), normalised to roughly [0, 1], plus ``subject``, ``kind`` and ``norm``.

    Damaged values inside the mask are clipped to [-1, 2], so that garbage and flipped high bits stay
    moderate outliers; outside the mask ``damaged`` equals ``clean`` exactly."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[str, Any]:
        d = data
        norm = d["norm"]
        slab = normalise(d["image"] * d["slope"] + d["intercept"], norm)
        centre = slab.shape[0] // 2
        centre_slope = d["slope"] if np.ndim(d["slope"]) == 0 else d["slope"][centre:centre + 1]
        centre_intercept = (d["intercept"] if np.ndim(d["intercept"]) == 0
                            else d["intercept"][centre:centre + 1])
        damaged = slab.copy()
        hit = np.asarray(d["mask"], dtype=bool)
        damaged_centre = normalise(d["damaged_centre"] * centre_slope + centre_intercept, norm)
        damaged[centre:centre + 1] = np.where(hit, np.clip(damaged_centre, -1.0, 2.0),
                                              slab[centre:centre + 1])
        return {
            "damaged": torch.from_numpy(damaged),
            "clean": torch.from_numpy(np.ascontiguousarray(slab[centre:centre + 1])),
            "mask": torch.from_numpy(np.asarray(d["mask"], dtype=np.float32)),
            "subject": d["subject"],
            "kind": d["damage"]["kind"],
            "norm": dict(norm),
        }
