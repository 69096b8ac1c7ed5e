"""MONAI transforms that repair an image inside a ``Compose``, e.g. before a segmentation model.

``Repair`` works on a channel-first image (``(C, H, W[, D])``, numpy or MetaTensor, as MONAI's loaders
give it) and returns the same type with the meta kept; ``Repaird`` is its dictionary twin and can read
the damage from ``mask_key`` and write what it repaired to ``mask_out_key``. The network is loaded once.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from medinpaint.io import Volume
from medinpaint.nets import pick_device, resolve_model
from medinpaint.repair.engine import repair_volume


class Repair(Transform):
    """Detect and repair damage in every channel of an image.

    Args:
        model: repair model file, or None for the shipped one.
        denoise: also run the blind denoiser.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, model=None, denoise: bool = False, device: str = "auto") -> None:
        self.model_path, self.denoise, self.device = model, bool(denoise), device
        self._model = None
        self.last_report: dict | None = None

    def _network(self):
        if self._model is None:
            self._model = resolve_model(self.model_path, default="repair", device=pick_device(self.device))[0]
        return self._model

    def __call__(self, img, mask=None):
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        affine = np.asarray(img.affine) if isinstance(img, MetaTensor) else np.eye(4)
        if affine.shape != (4, 4):
            affine = np.eye(4)
        spatial = array.shape[1:]
        out = np.empty_like(array)
        masks = np.zeros(array.shape, dtype=np.uint8)
        reports = []
        for c in range(array.shape[0]):
            channel = array[c] if len(spatial) == 3 else array[c][..., np.newaxis]
            given = None if mask is None else np.asarray(mask)[min(c, np.asarray(mask).shape[0] - 1)]
            if given is not None and len(spatial) == 2:
                given = given[..., np.newaxis]
            volume = Volume(np.ascontiguousarray(channel), affine, meta={"format": "array", "modality": None})
            result = repair_volume(volume, mask=given, denoise=self.denoise, model=self._network(),
                                   device=self.device)
            repaired = result.volume.array if len(spatial) == 3 else result.volume.array[..., 0]
            out[c] = repaired
            masks[c] = result.mask if len(spatial) == 3 else result.mask[..., 0]
            reports.append(result.report)
        self.last_report = {"channels": reports}
        self.last_mask = masks
        if isinstance(img, MetaTensor):
            return MetaTensor(torch.as_tensor(out), meta=dict(img.meta),
                              applied_operations=list(img.applied_operations))
        if isinstance(img, torch.Tensor):
            return torch.as_tensor(out, device=img.device)
        return out


class Repaird(MapTransform):
    """Dictionary twin of :class:`Repair`.

    Args:
        keys: images to repair.
        mask_key: optional key of a mask (non-zero = damaged) that replaces detection.
        mask_out_key: optional key to store the mask of repaired voxels under.
    """

    def __init__(self, keys, *, mask_key: str | None = None, mask_out_key: str | None = None, model=None,
                 denoise: bool = False, device: str = "auto", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.repair = Repair(model=model, denoise=denoise, device=device)
        self.mask_key, self.mask_out_key = mask_key, mask_out_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            mask = d.get(self.mask_key) if self.mask_key else None
            d[key] = self.repair(d[key], mask=None if mask is None else np.asarray(mask))
            if self.mask_out_key:
                d[self.mask_out_key] = self.repair.last_mask
        return d
