"""The screens that make a clean scan quick to pass give what their plain definitions give: they only
skip work that cannot find anything."""

import numpy as np
import pytest

from medinpaint.repair.detection.misplaced import MISPLACED_BLOCKS, screened
from medinpaint.repair.detection.slabs import SCAN, cells_count, is_fill_value, run_values


def _plain_run_values(block: np.ndarray, known: list[float]) -> dict[float, int]:
    """Every run of ``SCAN.run`` equal finite voxels along axis 0 or 1, at a value not in ``known``, by
    value."""
    found: dict[float, int] = {}
    for axis in (0, 1):
        lines = np.moveaxis(block, axis, 0)
        n, run = lines.shape[0], SCAN.run
        if n < run:
            continue
        same = np.isfinite(lines[:n - run + 1]) if lines.dtype.kind == "f" else np.ones(
            (n - run + 1,) + lines.shape[1:], dtype=bool)
        for d in range(1, run):
            same &= lines[d:n - run + 1 + d] == lines[:n - run + 1]
        if known:
            same &= ~is_fill_value(lines[:n - run + 1], known)
        for value, count in zip(*np.unique(lines[:n - run + 1][same], return_counts=True), strict=True):
            found[value.item()] = found.get(value.item(), 0) + int(count)
    return found


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_run_values_equal_their_definition(dtype):
    """Noise with rectangles of a constant painted on (some 16 voxels long or more, at known fills, at
    other values, and for floats NaN and +-inf, which hold no run)."""
    rng = np.random.default_rng(7)
    constants = [0, 1, 2, 3] + ([np.nan, np.inf, -np.inf] if np.dtype(dtype).kind == "f" else [])
    for _ in range(60):
        shape = tuple(int(n) for n in rng.integers(10, 60, size=2)) + (int(rng.integers(1, 4)),)
        block = rng.integers(4, 100, size=shape).astype(dtype)
        for _ in range(6):
            i, j, k = (int(rng.integers(n)) for n in shape)
            block[i:i + int(rng.integers(1, 30)), j:j + int(rng.integers(1, 30)), k] = rng.choice(constants)
        if rng.random() < 0.5:
            block = np.asfortranarray(block)
        known = [float(v) for v in rng.choice(4, size=int(rng.integers(0, 3)), replace=False)]
        with np.errstate(invalid="ignore"):
            assert run_values(block, known) == _plain_run_values(block, known)


def test_misplaced_screen_is_every_cell_of_both_grids():
    """``screened``: a 4x4 cell at offset 0 or 2 along each axis holds ``screen_count`` unexplained."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        shape = tuple(int(n) for n in rng.integers(8, 40, size=2)) + (int(rng.integers(1, 4)),)
        unexplained = np.asfortranarray(rng.random(shape) < rng.random() * 0.6)
        plain = np.zeros(shape[2], dtype=bool)
        for di in (0, 2):
            for dj in (0, 2):
                cells = cells_count(unexplained[di:, dj:], 4)
                plain |= (cells >= MISPLACED_BLOCKS.screen_count).any(axis=(0, 1))
        assert (screened(unexplained) == plain).all()


def test_counted_percentiles_equal_numpys():
    """Whole values of a 16-bit type's range, as an integer scan's float32 sample holds them: the
    percentiles by counting equal NumPy's to the bit (its linear interpolation, any quantile)."""
    from medinpaint.repair.detection.intensity import percentiles

    rng = np.random.default_rng(11)
    for _ in range(2000):
        low, high = sorted(int(v) for v in rng.integers(-32768, 32768, size=2))
        values = rng.integers(low, high + 1, size=int(rng.integers(1, 3000))).astype(np.float32)
        choices = [0.0, 0.5, 1.0, 50.0, 99.0, 99.5, 100.0, rng.uniform(0, 100)]
        q = [float(rng.choice(choices)) for _ in range(2)]
        expected = np.percentile(values, q)
        got = percentiles(values, q, whole=True)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def _plain_band_starts(fill, values, margin, thickest, contrast):
    """Where a band of exactly t fill lines starts across axis 0, with content (no fill, further than
    ``contrast`` from the band's first value) on the ``margin`` lines before and after it, as many of
    them as the plane holds, one at least."""
    n = fill.shape[0]
    found = []
    least = min(margin, 1)
    for t in range(1, thickest + 1):
        starts = np.zeros_like(fill)
        for p in range(least, n - t - least + 1):
            ok = fill[p:p + t].all(axis=0)
            for d in list(range(max(-margin, -p), 0)) + list(range(t, min(t + margin, n - p))):
                with np.errstate(invalid="ignore"):
                    ok &= ~fill[p + d] & (np.abs(values[p + d] - values[p].astype(np.float64)) > contrast)
            starts[p] = ok
        found.append(starts)
    return found


@pytest.mark.parametrize("margin", [0, 1, 2, 3])
def test_band_starts_equal_their_definition(margin):
    from medinpaint.repair.detection.partial_lines import band_starts

    rng = np.random.default_rng(margin)
    for _ in range(100):
        shape = (int(rng.integers(1, 16)), int(rng.integers(1, 5)), int(rng.integers(1, 3)))
        fill = rng.random(shape) < rng.choice([0.2, 0.5, 0.8])
        values = np.where(fill, 0.0, rng.choice([0.3, 2.0], size=shape)).astype(np.float32)
        for got, expected in zip(band_starts(fill, values, margin, 3, 0.5),
                                 _plain_band_starts(fill, values, margin, 3, 0.5), strict=True):
            assert np.array_equal(got, expected)
