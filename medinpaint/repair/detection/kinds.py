"""The kinds of damage detection tells apart, and the :class:`Detection` it returns.

The kind names are the damage transforms' own (:mod:`medinpaint.damage.kinds`): detection
finds what those transforms do, under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medinpaint.damage.kinds import (  # the transforms' ``kind``s, without importing them (and MONAI)
    BIT_ERRORS,
    CORRUPTED_BLOCKS,
    LOST_LINES,
    LOST_SLICES,
    PACKET_LOSS,
    TRUNCATION,
)
from medinpaint.repair.detection.slabs import SLAB

# label codes are 1-based positions in this order (0: intact)
KINDS: tuple[str, ...] = (LOST_SLICES, LOST_LINES, PACKET_LOSS, TRUNCATION, CORRUPTED_BLOCKS, BIT_ERRORS)
CODE: dict[str, int] = {kind: n for n, kind in enumerate(KINDS, start=1)}
# the label code of each kind, for the detectors that write them
LOST_SLICES_CODE = CODE[LOST_SLICES]
LOST_LINES_CODE = CODE[LOST_LINES]
PACKET_LOSS_CODE = CODE[PACKET_LOSS]
TRUNCATION_CODE = CODE[TRUNCATION]
CORRUPTED_BLOCKS_CODE = CODE[CORRUPTED_BLOCKS]
BIT_ERRORS_CODE = CODE[BIT_ERRORS]


@dataclass
class Detection:
    """Where the damage is: ``labels`` holds one code of ``KINDS`` (1-based) per voxel, 0 where intact.

    ``doubtful``: findings the evidence does not make certain, by kind, as an (n, 3) array of voxel
    indices; they are not in ``labels`` (so not in ``mask``, and a repair leaves them alone) and
    ``details["doubtful"]`` counts them. A clean scan may hold a voxel or two like them.
    """

    labels: np.ndarray
    details: dict = field(default_factory=dict)
    doubtful: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        return (self.labels > 0).astype(np.uint8)

    def counts(self) -> dict[str, int]:
        found = np.zeros(len(KINDS) + 1, dtype=np.int64)
        for k in range(0, self.labels.shape[2], SLAB):  # slab by slab: bincount widens to int64
            found += np.bincount(self.labels[:, :, k:k + SLAB].ravel(), minlength=len(KINDS) + 1)
        return {kind: int(found[CODE[kind]]) for kind in KINDS if found[CODE[kind]]}

    def slices(self, kind: str) -> list[int]:
        """Slice indices (along k) that hold damage of ``kind``."""
        return [int(k) for k in np.nonzero((self.labels == CODE[kind]).any(axis=(0, 1)))[0]]
