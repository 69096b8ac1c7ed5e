"""Damaged/clean/mask slice pairs from volumes, split by subject: what the training loop consumes.

Every sample is a dict (the contract the networks and the training loop are built on):

- ``damaged``: float32 tensor ``(2k+1, H, W)``, the damaged centre slice in the middle channel and its
  ``k = context`` clean neighbours on either side (``(1, H, W)`` for plain 2D);
- ``clean``: float32 ``(1, H, W)``, the centre slice undamaged;
- ``mask``: float32 ``(1, H, W)``, 1.0 where the damage may have changed a value;
- ``subject`` (str), ``kind`` (the damage kind's name, str) and ``norm`` (``{"method", "low", "high"}``:
  ``physical = value * (high - low) + low``, see :mod:`medinpaint.data.normalise`).

Intensities are normalised to roughly [0, 1]. Slices come from all three axes. Training samples are
random ``patch_size`` patches with fresh damage each time; validation samples are whole slices with
damage fixed by ``seed``, so every evaluation sees the same set. Use ``monai.data.DataLoader``, which
gives each worker its own random state (a plain torch DataLoader would repeat the same damage in every
worker); validation slices differ in size, so batch them one at a time (or with a padding collate).
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.data import Dataset
from monai.transforms import Compose

from medinpaint.damage.presets import PRESETS
from medinpaint.data.slices import (
    DamageCentred,
    LoadSlabd,
    RandSlabAffined,
    RandSlabPatchd,
    ToSamplePaird,
    VolumeStore,
)
from medinpaint.data.sources import VALIDATION_SUBJECTS, Source, available_sources, find_source
from medinpaint.io import Volume

SPLITS = ("train", "val", "all")


def _subject(item: Volume | Source) -> str:
    if isinstance(item, Source):
        return item.subject
    return str(item.meta.get("subject") or item.meta.get("path") or "")


def select_split(volumes: Sequence[Volume | Source], split: str,
                 val_subjects: Sequence[str] = VALIDATION_SUBJECTS) -> list[Volume | Source]:
    """The volumes (or sources) of one split: a subject is in ``val`` exactly when it is in
    ``val_subjects``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return list(volumes)
    return [v for v in volumes if (_subject(v) in val_subjects) == (split == "val")]


class SlicePairDataset(Dataset):
    """Damaged/clean/mask slice samples (see the module docstring for the sample contract).

    Args:
        volumes: Volumes (``meta["subject"]`` names the subject, ``meta["modality"]`` picks the
            normalisation), :class:`~medinpaint.data.sources.Source` objects or source names; None: every
            source of docs/data.md found on this machine.
        preset: damage preset name (``transmission``, ``mr-artifacts``, ``ct-artifacts``, ``all``); each
            volume gets the preset's kinds for its modality, and ``lost-slices`` only when ``context > 0``.
        patch_size: edge of the square training patches (smaller planes are padded with the volume's
            padding value); None: whole slices. Validation always gives whole slices.
        context: ``k``, the neighbours on each side of the centre slice (0: plain 2D; 2: a 5-slice stack).
        split: ``"train"``, ``"val"`` (subjects in ``val_subjects``) or ``"all"``.
        seed: seed of the whole pipeline (patches and damage) and of the fixed validation damage.
        axes: volume axes to slice along (0, 1, 2: sagittal, coronal, axial for an RAS-like volume).
        min_size: smallest plane edge in pixels; thinner slices (e.g. sagittal slices of a 10-slice
            volume) are skipped.
        val_subjects: the subjects held out for validation.
        stride: use every ``stride``-th slice along each axis.
    """

    def __init__(self, volumes: Sequence[Volume | Source | str] | None = None, preset: str = "transmission",
                 patch_size: int | None = 128, context: int = 0, split: str = "train", seed: int = 0,
                 axes: Sequence[int] = (0, 1, 2), min_size: int = 32,
                 val_subjects: Sequence[str] = VALIDATION_SUBJECTS, stride: int = 1) -> None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
        if patch_size is not None and (isinstance(patch_size, bool) or not isinstance(patch_size, int)
                                       or patch_size < 1):
            raise ValueError(f"patch_size must be a positive integer or None, got {patch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not axes or any(a not in (0, 1, 2) for a in axes):
            raise ValueError(f"axes must be a non-empty subset of (0, 1, 2), got {axes!r}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
            raise ValueError(f"min_size must be a positive integer, got {min_size!r}")
        chosen = [find_source(v) if isinstance(v, str) else v
                  for v in (available_sources() if volumes is None else volumes)]
        chosen = select_split(chosen, split, val_subjects)
        loaded = [v.load() if isinstance(v, Source) else v for v in chosen]
        if not loaded:
            raise ValueError(f"volumes holds no volume for split {split!r} "
                             f"(validation subjects: {val_subjects})")
        self.store = VolumeStore(loaded)
        self.split = split
        self.preset = preset
        self.context = context
        self.patch_size = None if split == "val" else patch_size
        items = self.store.items(axes, min_size, stride)
        if split == "val":
            items = [{**item, "seed": seed * 1_000_003 + n} for n, item in enumerate(items)]
        steps = [LoadSlabd(self.store, context)]
        if self.patch_size is not None:
            steps += [RandSlabAffined(), RandSlabPatchd(self.patch_size)]
        # a lost slice cannot be restored from the slice alone: plain 2D training leaves that kind out
        steps += [DamageCentred(preset, exclude=("lost-slices",) if context == 0 else ()), ToSamplePaird()]
        transform = Compose(steps)
        transform.set_random_state(seed)
        super().__init__(data=items, transform=transform)

    @property
    def subjects(self) -> list[str]:
        """The subjects this dataset draws from."""
        return sorted({entry.subject for entry in self.store.entries})
