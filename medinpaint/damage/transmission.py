"""Transmission damage: what a broken network transfer, a bad PACS export or a failing disk leaves.

All of it happens to the stored pixel values, so these transforms work on the values they are given in
their own dtype (give them ``Volume.array``, not physical values) and fill lost pixels the way a real
failure does: stored 0, or the padding value (``"min"``, the image's smallest value). A 2D image is one
instance (one DICOM slice); in a 3D image ``(C, I, J, K)`` the planes are the slices along the last axis,
rows are the second spatial axis (``j``) and columns the first (``i``), as in :class:`~medinpaint.io.Volume`.
A pixel stream runs in raster order: along a row first, then row after row, then slice after slice.

The mask marks the damaged region (every pixel that was lost or overwritten), whether or not the
value there happens to equal the fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medinpaint.damage import kinds
from medinpaint.damage.base import (
    Damage,
    Fill,
    RandDamage,
    cast_like,
    check_fill,
    check_fills,
    check_indices,
    check_int,
    check_number,
    check_range,
    dictionary_twin,
    plane_tails,
    resolve_fill,
    sample_slices,
)


def _pick_fill(R: np.random.RandomState, fills: Sequence[Fill]) -> Fill:
    return fills[int(R.randint(len(fills)))]


def _stream_mask(shape: tuple[int, ...], start: int) -> np.ndarray:
    """Mask of the stream positions from ``start`` on, over spatial ``shape`` in raster order."""
    stream = np.zeros(shape[::-1], dtype=bool)
    stream.reshape(-1)[start:] = True
    return stream.transpose()


class LostSlices(Damage):
    """Whole instances missing from a series, their slices left at the fill value.

    Args:
        slices: indices (last axis) of the lost slices of a 3D image; a 2D image is one instance and is
            lost entirely when ``slices`` contains 0.
        fill: stored value left in the lost slices: a number, or ``"min"`` for the image's smallest value.
    """

    kind = kinds.LOST_SLICES
    param_names = ("slices", "fill")

    def __init__(self, slices: Sequence[int], fill: Fill = 0) -> None:
        self.slices = list(check_indices("slices", slices))
        self.fill = check_fill("fill", fill)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(image.shape, dtype=bool)
        if image.ndim == 3:
            mask[:] = 0 in self.slices
        else:
            for tail in plane_tails(image, self.slices):
                mask[(...,) + tail] = True
        return np.where(mask, resolve_fill(self.fill, image), image), mask


class RandLostSlices(RandDamage):
    """Random :class:`LostSlices`.

    Args:
        prob: probability of damaging at all.
        num_slices: (min, max) number of consecutive slices lost from a 3D image.
        fills: fill values to choose from (numbers or ``"min"``).
    """

    damage_class = LostSlices

    def __init__(self, prob: float = 1.0, num_slices: tuple[int, int] = (1, 3),
                 fills: Sequence[Fill] = (0, "min")) -> None:
        super().__init__(prob)
        self.num_slices = check_range("num_slices", num_slices, 1, integer=True)
        self.fills = check_fills("fills", fills)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        slices = sample_slices(self.R, image, self.num_slices)
        return {"slices": [0] if slices is None else slices, "fill": _pick_fill(self.R, self.fills)}


class LostLines(Damage):
    """Lost scan lines: whole rows of pixels left at the fill value.

    Args:
        lines: row indices (second spatial axis, ``j``) that are lost.
        fill: stored value left in the lost rows: a number, or ``"min"``.
        slices: for a 3D image, the slices whose rows are lost (None: every slice).
    """

    kind = kinds.LOST_LINES
    param_names = ("lines", "fill", "slices")

    def __init__(self, lines: Sequence[int], fill: Fill = 0, slices: Sequence[int] | None = None) -> None:
        self.lines = list(check_indices("lines", lines))
        self.fill = check_fill("fill", fill)
        self.slices = check_indices("slices", slices, allow_none=True)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = image.shape[2]
        if any(j >= rows for j in self.lines):
            raise ValueError(f"lines {self.lines} are out of range for an image with {rows} rows")
        mask = np.zeros(image.shape, dtype=bool)
        for tail in plane_tails(image, self.slices):
            mask[(slice(None), slice(None), self.lines) + tail] = True
        return np.where(mask, resolve_fill(self.fill, image), image), mask


class RandLostLines(RandDamage):
    """Random :class:`LostLines`: a few runs of consecutive rows.

    Args:
        prob: probability of damaging at all.
        num_runs: (min, max) number of runs of lost rows.
        run_length: (min, max) rows per run.
        fills: fill values to choose from.
        num_slices: (min, max) consecutive slices hit in a 3D image.
    """

    damage_class = LostLines

    def __init__(self, prob: float = 1.0, num_runs: tuple[int, int] = (1, 3),
                 run_length: tuple[int, int] = (1, 16), fills: Sequence[Fill] = (0, "min"),
                 num_slices: tuple[int, int] = (1, 1)) -> None:
        super().__init__(prob)
        self.num_runs = check_range("num_runs", num_runs, 1, integer=True)
        self.run_length = check_range("run_length", run_length, 1, integer=True)
        self.fills = check_fills("fills", fills)
        self.num_slices = check_range("num_slices", num_slices, 1, integer=True)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        rows = image.shape[2]
        lines: set[int] = set()
        for _ in range(int(self.R.randint(self.num_runs[0], self.num_runs[1] + 1))):
            length = min(int(self.R.randint(self.run_length[0], self.run_length[1] + 1)), rows)
            start = int(self.R.randint(0, rows - length + 1))
            lines.update(range(start, start + length))
        return {"lines": sorted(lines), "fill": _pick_fill(self.R, self.fills),
                "slices": sample_slices(self.R, image, self.num_slices)}


class PacketLoss(Damage):
    """A lost stretch of a tiled pixel stream: a burst of consecutive tiles in raster order.

    Args:
        tile_size: tile edge in pixels (tiles are square; edge tiles are cut by the image border).
        first_tile: raster index of the first lost tile (tiles along a row first, then the next row).
        num_tiles: number of consecutive tiles lost (the burst stops at the end of the plane).
        fill: stored value left in the lost tiles: a number, or ``"min"``.
        slices: for a 3D image, the slices that lose the burst (None: every slice).
    """

    kind = kinds.PACKET_LOSS
    param_names = ("tile_size", "first_tile", "num_tiles", "fill", "slices")

    def __init__(self, tile_size: int, first_tile: int, num_tiles: int, fill: Fill = 0,
                 slices: Sequence[int] | None = None) -> None:
        self.tile_size = check_int("tile_size", tile_size, 1)
        self.first_tile = check_int("first_tile", first_tile, 0)
        self.num_tiles = check_int("num_tiles", num_tiles, 1)
        self.fill = check_fill("fill", fill)
        self.slices = check_indices("slices", slices, allow_none=True)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.tile_size
        tiles_i = -(-image.shape[1] // t)
        tiles_j = -(-image.shape[2] // t)
        plane = np.zeros(image.shape[1:3], dtype=bool)
        for q in range(self.first_tile, min(self.first_tile + self.num_tiles, tiles_i * tiles_j)):
            ti, tj = q % tiles_i, q // tiles_i
            plane[ti * t:(ti + 1) * t, tj * t:(tj + 1) * t] = True
        mask = np.zeros(image.shape, dtype=bool)
        for tail in plane_tails(image, self.slices):
            mask[(slice(None), plane) + tail] = True
        return np.where(mask, resolve_fill(self.fill, image), image), mask


class RandPacketLoss(RandDamage):
    """Random :class:`PacketLoss`.

    Args:
        prob: probability of damaging at all.
        tile_sizes: tile edges to choose from (8x8 and 16x16 blocks are common codec and packet units).
        burst_tiles: (min, max) tiles lost in one burst.
        fills: fill values to choose from.
        num_slices: (min, max) consecutive slices hit in a 3D image.
    """

    damage_class = PacketLoss

    def __init__(self, prob: float = 1.0, tile_sizes: Sequence[int] = (8, 16),
                 burst_tiles: tuple[int, int] = (1, 32), fills: Sequence[Fill] = (0, "min"),
                 num_slices: tuple[int, int] = (1, 1)) -> None:
        super().__init__(prob)
        if isinstance(tile_sizes, (str, bytes)) or not isinstance(tile_sizes, Sequence) or not tile_sizes:
            raise ValueError(f"tile_sizes must be a non-empty sequence of tile edges, got {tile_sizes!r}")
        self.tile_sizes = tuple(check_int("tile_sizes", t, 1) for t in tile_sizes)
        self.burst_tiles = check_range("burst_tiles", burst_tiles, 1, integer=True)
        self.fills = check_fills("fills", fills)
        self.num_slices = check_range("num_slices", num_slices, 1, integer=True)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        t = self.tile_sizes[int(self.R.randint(len(self.tile_sizes)))]
        total = -(-image.shape[1] // t) * -(-image.shape[2] // t)
        burst = min(int(self.R.randint(self.burst_tiles[0], self.burst_tiles[1] + 1)), total)
        return {"tile_size": t, "first_tile": int(self.R.randint(0, total - burst + 1)), "num_tiles": burst,
                "fill": _pick_fill(self.R, self.fills),
                "slices": sample_slices(self.R, image, self.num_slices)}


class CorruptBlocks(Damage):
    """Rectangular blocks overwritten with garbage: uniform random values.

    Args:
        blocks: ``(i0, j0, size_i, size_j)`` per block: first column, first row and extent in pixels.
        seed: seed of the garbage values (the same seed writes the same garbage).
        value_range: (low, high) of the garbage in stored units; None: the image's own min and max.
        slices: for a 3D image, the slices hit (None: every slice).
    """

    kind = kinds.CORRUPTED_BLOCKS
    param_names = ("blocks", "seed", "value_range", "slices")

    def __init__(self, blocks: Sequence[Sequence[int]], seed: int,
                 value_range: tuple[float, float] | None = None, slices: Sequence[int] | None = None) -> None:
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
            raise ValueError(f"blocks must be a sequence of (i0, j0, size_i, size_j), got {blocks!r}")
        self.blocks = []
        for block in blocks:
            if not isinstance(block, Sequence) or len(block) != 4:
                raise ValueError(f"blocks must hold (i0, j0, size_i, size_j) tuples, got {block!r}")
            i0, j0, si, sj = (check_int("blocks", v, 0) for v in block)
            if si < 1 or sj < 1:
                raise ValueError(f"blocks must have sizes >= 1, got {block!r}")
            self.blocks.append([i0, j0, si, sj])
        self.seed = check_int("seed", seed, 0)
        self.value_range = None if value_range is None else check_range("value_range", value_range)
        self.slices = check_indices("slices", slices, allow_none=True)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plane = np.zeros(image.shape[1:3], dtype=bool)
        for i0, j0, si, sj in self.blocks:
            plane[i0:i0 + si, j0:j0 + sj] = True
        mask = np.zeros(image.shape, dtype=bool)
        for tail in plane_tails(image, self.slices):
            mask[(slice(None), plane) + tail] = True
        low, high = self.value_range or (float(image.min()), float(image.max()))
        garbage = np.random.default_rng(self.seed).uniform(low, high, size=int(mask.sum()))
        out = image.copy()
        out[mask] = cast_like(garbage, image.dtype)
        return out, mask


class RandCorruptBlocks(RandDamage):
    """Random :class:`CorruptBlocks`.

    Args:
        prob: probability of damaging at all.
        num_blocks: (min, max) number of blocks.
        block_size: (min, max) edge of a block in pixels (each edge drawn on its own).
        num_slices: (min, max) consecutive slices hit in a 3D image.
    """

    damage_class = CorruptBlocks

    def __init__(self, prob: float = 1.0, num_blocks: tuple[int, int] = (1, 4),
                 block_size: tuple[int, int] = (4, 32), num_slices: tuple[int, int] = (1, 1)) -> None:
        super().__init__(prob)
        self.num_blocks = check_range("num_blocks", num_blocks, 1, integer=True)
        self.block_size = check_range("block_size", block_size, 1, integer=True)
        self.num_slices = check_range("num_slices", num_slices, 1, integer=True)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        blocks = []
        for _ in range(int(self.R.randint(self.num_blocks[0], self.num_blocks[1] + 1))):
            si, sj = (min(int(self.R.randint(self.block_size[0], self.block_size[1] + 1)), n)
                      for n in image.shape[1:3])
            i0 = int(self.R.randint(0, image.shape[1] - si + 1))
            j0 = int(self.R.randint(0, image.shape[2] - sj + 1))
            blocks.append([i0, j0, si, sj])
        return {"blocks": blocks, "seed": int(self.R.randint(2**31)),
                "slices": sample_slices(self.R, image, self.num_slices)}


class BitErrors(Damage):
    """Flipped bits in the stored words: impulse outliers scattered over the image.

    For integer images one of the ``top_bits`` most significant bits of the word flips (the low bits
    flip as often on a real disk but leave no visible trace). For float images one of the ``top_bits``
    lowest exponent bits flips, scaling the value by a power of two, never to inf or NaN.

    Args:
        rate: fraction of pixels hit.
        top_bits: how many of the highest (integer) or lowest exponent (float) bits may flip.
        seed: seed of the positions and bits (the same seed flips the same bits).
    """

    kind = kinds.BIT_ERRORS
    param_names = ("rate", "top_bits", "seed")

    def __init__(self, rate: float, top_bits: int = 4, seed: int = 0) -> None:
        self.rate = check_number("rate", rate, 0.0, 1.0)
        self.top_bits = check_int("top_bits", top_bits, 1, 8)
        self.seed = check_int("seed", seed, 0)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        mask = rng.random(image.shape) < self.rate
        word_bits = 8 * image.dtype.itemsize
        if image.dtype.kind == "f":
            low = np.finfo(image.dtype).nmant
        else:
            low = word_bits - min(self.top_bits, word_bits)
        bits = rng.integers(low, low + min(self.top_bits, word_bits - low), size=int(mask.sum()))
        words = image.copy().view(f"u{image.dtype.itemsize}")
        words[mask] ^= (np.ones(1, dtype=words.dtype) << bits.astype(words.dtype))
        out = words.view(image.dtype)
        if image.dtype.kind == "f":
            out[~np.isfinite(out)] = 0
        return out, mask


class RandBitErrors(RandDamage):
    """Random :class:`BitErrors`.

    Args:
        prob: probability of damaging at all.
        rate: (min, max) fraction of pixels hit.
        top_bits: as for :class:`BitErrors`.
    """

    damage_class = BitErrors

    def __init__(self, prob: float = 1.0, rate: tuple[float, float] = (1e-4, 2e-3),
                 top_bits: int = 4) -> None:
        super().__init__(prob)
        self.rate = check_range("rate", rate, 0.0, 1.0)
        self.top_bits = check_int("top_bits", top_bits, 1, 8)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        return {"rate": float(self.R.uniform(*self.rate)), "top_bits": self.top_bits,
                "seed": int(self.R.randint(2**31))}


class Truncation(Damage):
    """The tail of a pixel stream lost: everything from a raster position on left at the fill value.

    A 2D image is one instance's stream; a 3D image is one file's stream (slices one after another), so
    its last slices go first, as in a truncated NIfTI or multi-frame file.

    Args:
        kept: pixels of each channel's stream that arrived (the rest is lost).
        fill: stored value left in the lost tail: a number, or ``"min"``.
    """

    kind = kinds.TRUNCATION
    param_names = ("kept", "fill")

    def __init__(self, kept: int, fill: Fill = 0) -> None:
        self.kept = check_int("kept", kept, 0)
        self.fill = check_fill("fill", fill)

    def damage(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.broadcast_to(_stream_mask(image.shape[1:], self.kept), image.shape)
        return np.where(mask, resolve_fill(self.fill, image), image), mask


class RandTruncation(RandDamage):
    """Random :class:`Truncation`.

    Args:
        prob: probability of damaging at all.
        kept_fraction: (min, max) fraction of the stream that arrived.
        fills: fill values to choose from.
    """

    damage_class = Truncation

    def __init__(self, prob: float = 1.0, kept_fraction: tuple[float, float] = (0.5, 0.98),
                 fills: Sequence[Fill] = (0, "min")) -> None:
        super().__init__(prob)
        self.kept_fraction = check_range("kept_fraction", kept_fraction, 0.0, 1.0)
        self.fills = check_fills("fills", fills)

    def sample(self, image: np.ndarray) -> dict[str, Any]:
        total = int(np.prod(image.shape[1:]))
        return {"kept": int(round(total * self.R.uniform(*self.kept_fraction))),
                "fill": _pick_fill(self.R, self.fills)}


LostSlicesd = dictionary_twin(LostSlices)
RandLostSlicesd = dictionary_twin(RandLostSlices)
LostLinesd = dictionary_twin(LostLines)
RandLostLinesd = dictionary_twin(RandLostLines)
PacketLossd = dictionary_twin(PacketLoss)
RandPacketLossd = dictionary_twin(RandPacketLoss)
CorruptBlocksd = dictionary_twin(CorruptBlocks)
RandCorruptBlocksd = dictionary_twin(RandCorruptBlocks)
BitErrorsd = dictionary_twin(BitErrors)
RandBitErrorsd = dictionary_twin(RandBitErrors)
Truncationd = dictionary_twin(Truncation)
RandTruncationd = dictionary_twin(RandTruncation)
