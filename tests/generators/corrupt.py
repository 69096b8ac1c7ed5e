"""Data that arrives but is wrong: corrupted blocks, impulses, bit flips.

Same conventions as ``lost``: clean 2D/3D array, seeded Generator, keyword options, a ``Result`` that
unpacks as ``(damaged, mask)``; the mask holds exactly the voxels whose stored value changed.
"""

from __future__ import annotations

import numpy as np

from .fills import check_array, finish, percentile_range

BLOCK_STYLES = ("bytes", "uniform", "copy", "shift")


def _block_content(work, clean, value_range, rng, style, z, y, x, h, w):
    """New content for the block at (y, x, z) of size (h, w), in the array's (native) dtype.

    ``clean`` is the undamaged scan (copies come from it), ``value_range`` its (min, max).
    """
    depth = work.shape[2] if work.ndim == 3 else 1
    plane = work if work.ndim == 2 else work[..., z]
    dtype = work.dtype
    if style == "bytes":
        return np.frombuffer(rng.bytes(h * w * dtype.itemsize), dtype=dtype).reshape(h, w).copy()
    if style == "uniform":
        if dtype.kind == "f":
            lo, hi = value_range
            width = max(hi - lo, 1.0)
            return rng.uniform(lo - width, hi + width, size=(h, w)).astype(dtype)
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=(h, w), endpoint=True, dtype=dtype)
    if style == "copy":
        height, width = plane.shape
        while True:
            sy, sx = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
            sz = int(rng.integers(depth))
            if (sy, sx, sz) != (y, x, z) or (height == h and width == w and depth == 1):
                break
        source = clean if clean.ndim == 2 else clean[..., sz]
        return source[sy:sy + h, sx:sx + w].copy()
    if style == "shift":
        block = plane[y:y + h, x:x + w]
        steps = int(rng.integers(1, max(2, h * w)))
        return np.roll(block.reshape(-1), steps).reshape(h, w)
    raise ValueError(f"unknown block style {style!r}; styles are {BLOCK_STYLES}")


def corrupt_blocks(array, rng, *, share=0.02, count=None, size=(8, 48), style=None):
    """Rectangles of garbage, each in one slice, until ``count`` blocks or ``share`` of the voxels are hit.

    ``size`` bounds each side (inclusive, clipped to the slice). ``style`` (drawn per block when None):

    - ``"bytes"``: random bytes read as the dtype (for floats this makes huge values, inf and NaN);
    - ``"uniform"``: uniform noise over the dtype's range (floats: over the scan's range widened by its
      width on either side, floats having no useful range of their own);
    - ``"copy"``: a block of the same size copied from elsewhere in the scan (misplaced data);
    - ``"shift"``: the block's own pixels shifted along its raster stream by 1.. pixels (bytes lost or
      inserted inside a block, the rest moved up).

    Blocks may overlap; ``share`` is reached by whole blocks (exceeded by less than one block). ``.lost``
    holds every block voxel; ``.mask`` only those whose value changed (a copied or shifted flat background
    stays the same).
    """
    work = check_array(array)
    height, width = work.shape[:2]
    depth = work.shape[2] if work.ndim == 3 else 1
    clean = work.copy()
    value_range = percentile_range(clean, 0.0, 100.0) if work.dtype.kind == "f" else None
    lost = np.zeros(work.shape, bool)
    lost3 = lost.reshape(height, width, depth)
    target = None if count is not None else max(1, round(share * lost.size))
    styles, hit = [], 0
    while (len(styles) < count) if count is not None else (hit < target):
        h = min(int(rng.integers(size[0], size[1], endpoint=True)), height)
        w = min(int(rng.integers(size[0], size[1], endpoint=True)), width)
        y, x = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        z = int(rng.integers(depth))
        chosen = str(rng.choice(BLOCK_STYLES)) if style is None else style
        content = _block_content(work, clean, value_range, rng, chosen, z, y, x, h, w)
        if work.ndim == 2:
            work[y:y + h, x:x + w] = content
        else:
            work[y:y + h, x:x + w, z] = content
        region = lost3[y:y + h, x:x + w, z]
        hit += region.size - int(np.count_nonzero(region))
        region[...] = True
        styles.append(chosen)
    return finish(array, work, lost, kind="blocks", info={"styles": styles})


def impulses(array, rng, *, share=0.01, excess=(0.5, 8.0), sign=None):
    """Isolated voxels set far outside the scan's 0.5..99.5 percentile range [lo, hi].

    A bad detector element, an overflowing converter or a corrupted compressed stream: the value is
    ``hi + k * (hi - lo)`` or ``lo - k * (hi - lo)``, ``k`` drawn log-uniform in ``excess`` (0.5 to 8 times
    the scan's range by default: any magnitude, not one bit's worth), clipped to the dtype (an integer
    impulse beyond the dtype saturates at its limit). ``sign`` is +1, -1 or None (each voxel's side drawn
    among the sides the dtype leaves room for: a uint8 scan reaching 255 gets only low impulses).
    ``share`` of the voxels are hit, drawn without replacement.
    """
    work = check_array(array)
    lo, hi = percentile_range(work)
    spread = hi - lo
    if spread <= 0:
        spread = 1.0 if work.dtype.kind in "iu" else max(abs(hi), 1.0)
    if work.dtype.kind == "f":
        top, bottom = float(np.finfo(work.dtype).max), float(np.finfo(work.dtype).min)
    else:
        top, bottom = float(np.iinfo(work.dtype).max), float(np.iinfo(work.dtype).min)
    sides = [s for s, room in ((1, top > hi), (-1, bottom < lo)) if room and sign in (None, s)]
    if not sides:
        raise ValueError(f"{work.dtype} leaves no room outside the scan's range [{lo}, {hi}] (sign={sign})")
    n = max(1, round(share * work.size))
    index = rng.choice(work.size, size=n, replace=False)
    signs = np.asarray(sides)[rng.integers(len(sides), size=n)]
    k = np.exp(rng.uniform(np.log(excess[0]), np.log(excess[1]), size=n))
    values = np.where(signs > 0, hi + k * spread, lo - k * spread)
    values = np.clip(values, bottom, top)
    if work.dtype.kind in "iu":
        values = np.where(signs > 0, np.ceil(values), np.floor(values))
    flat = work.reshape(-1)
    flat[index] = values.astype(work.dtype)
    lost = np.zeros(work.size, bool)
    lost[index] = True
    return finish(array, work, lost.reshape(work.shape), kind="impulses",
                  info={"range": (lo, hi), "index": index, "signs": signs})


def bit_flips(array, rng, *, share=0.001, bits=None):
    """One flipped bit in each of ``share`` of the voxels (drawn without replacement).

    The bit is drawn per voxel from ``bits`` (default: every bit of the stored value, 0 = least
    significant; for float32/float64 that includes the sign and exponent bits, so a flip can make inf or
    NaN, or turn 0.0 into -0.0, which the mask counts as changed: its bit pattern is). Use e.g.
    ``bits=range(12)`` for a DICOM image with 12 bits stored. Flips act on the array as given, whatever
    its units. ``.info["bits"]`` is the bit flipped at each ``.info["index"]`` (flat, C order).
    """
    work = check_array(array)
    n_bits = 8 * work.dtype.itemsize
    bits = np.arange(n_bits) if bits is None else np.asarray(list(bits))
    if bits.size == 0 or bits.min() < 0 or bits.max() >= n_bits:
        raise ValueError(f"bits must lie in 0..{n_bits - 1}")
    n = max(1, round(share * work.size))
    index = rng.choice(work.size, size=n, replace=False)
    chosen = bits[rng.integers(bits.size, size=n)]
    unsigned = np.dtype(f"u{work.dtype.itemsize}")
    flat = work.reshape(-1).view(unsigned)
    flat[index] ^= (np.ones(n, unsigned) << chosen.astype(unsigned))
    lost = np.zeros(work.size, bool)
    lost[index] = True
    info = {"index": index, "bits": chosen}
    return finish(array, work, lost.reshape(work.shape), kind="bitflips", info=info)
