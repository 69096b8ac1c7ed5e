"""The training and validation datasets of a run, from ``medinpaint.data`` (split by subject).

Besides the damage presets of :mod:`medinpaint.damage`, training accepts ``"noise"``: the preset
``all`` restricted to scanner noise (Rician noise for MR, low-dose noise for CT), which is what the
blind denoiser learns to remove.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from medinpaint.train.config import TrainConfig

NOISE_KINDS = ("rician-noise", "lowdose-noise")


def _only_noise(dataset: Dataset, seed: int) -> Dataset:
    """Swap the dataset's damage step for one drawing only from :data:`NOISE_KINDS`."""
    from medinpaint.damage import KINDS
    from medinpaint.data.slices import DamageCentred

    steps = dataset.transform.transforms
    index = next(i for i, step in enumerate(steps) if isinstance(step, DamageCentred))
    noise = DamageCentred("all", exclude=tuple(k for k in KINDS if k not in NOISE_KINDS))
    noise.set_random_state(seed + 1)
    dataset.transform.transforms = (*steps[:index], noise, *steps[index + 1 :])
    return dataset


def make_dataset(config: TrainConfig, split: str, seed: int | None = None) -> Dataset:
    """One split (``"train"``: random patches; ``"val"``: whole slices with fixed damage)."""
    from medinpaint.data import SlicePairDataset

    seed = config.seed if seed is None else seed
    preset = "all" if config.preset == "noise" else config.preset
    dataset = SlicePairDataset(
        config.sources or None, preset=preset, context=config.context, split=split, seed=seed,
        patch_size=config.patch_size if split == "train" else None,
    )
    return _only_noise(dataset, seed) if config.preset == "noise" else dataset


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """Training patches and whole validation slices as ``config`` asks, and what to record about them."""
    train, val = make_dataset(config, "train"), make_dataset(config, "val")
    meta = {
        "data": {
            "train_subjects": train.subjects,
            "val_subjects": val.subjects,
            "sources": config.sources
            or "every source of docs/data.md found on the machine (medinpaint.data)",
            "axes": "slices along all three axes",
        },
        "normalisation": "medinpaint.data: CT by a HU window, MR by robust percentiles, to about [0, 1]; "
        "each sample's 'norm' record undoes it",
    }
    return train, val, meta
