"""Real training samples for the tests: Colin27 slices (all three axes) with a hole cut into them.

A stand-in for ``medinpaint.data`` in tests of the loop alone: the hole is a plain rectangle set
to 0, which is all the loop needs to see (it never looks at how damage was made).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch
from torch.utils.data import Dataset

from tests.conftest import require_source


def load_head() -> np.ndarray:
    """Colin27 (a training source), from the data folder or where Debian installs it."""
    volume = np.asarray(nib.load(require_source("ch2")).dataobj, dtype=np.float32)
    return volume / np.percentile(volume, 99.5)


class HoleSlices(Dataset):
    """``count`` samples: a patch of a slice (axis cycles i, j, k) with a rectangular hole.

    Deterministic per index, so a test can build the same sample twice.
    """

    def __init__(self, volume: np.ndarray, count: int = 8, patch: int = 32, context: int = 1, seed: int = 0):
        self.volume, self.count, self.patch, self.context, self.seed = volume, count, patch, context, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(index)
        rng = np.random.default_rng(self.seed * 1000 + index)
        axis = index % 3
        moved = np.moveaxis(self.volume, axis, 0)
        k = int(rng.integers(moved.shape[0] // 3, 2 * moved.shape[0] // 3))
        stack = moved[k - self.context : k + self.context + 1]
        r = int(rng.integers(moved.shape[1] // 4, moved.shape[1] // 2))
        c = int(rng.integers(moved.shape[2] // 4, moved.shape[2] // 2))
        clean_stack = np.ascontiguousarray(stack[:, r : r + self.patch, c : c + self.patch])
        mask = np.zeros((1, self.patch, self.patch), np.float32)
        size = int(rng.integers(4, self.patch // 2))
        top, left = rng.integers(0, self.patch - size, size=2)
        mask[0, top : top + size, left : left + size] = 1.0
        damaged = clean_stack.copy()
        damaged[self.context] *= 1.0 - mask[0]
        return {
            "damaged": torch.from_numpy(damaged),
            "clean": torch.from_numpy(clean_stack[self.context : self.context + 1].copy()),
            "mask": torch.from_numpy(mask),
            "subject": "colin27",
            "kind": "hole",
            "norm": {"scale": 1.0},
        }
