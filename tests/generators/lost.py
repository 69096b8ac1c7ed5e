"""Lost data written over with a fill value: packets (tiles), scan lines, slices, a truncated tail.

Every function takes the clean array (2D (H, W) or 3D (H, W, D), slices on the last axis, any numeric
dtype), a seeded ``numpy.random.Generator`` and keyword options, and returns a ``Result``: it unpacks as
``(damaged, mask)``, and ``.lost`` holds every voxel lost, changed or not (see ``fills.Result``).
``share`` is the share of the voxels lost (``.lost``); damage is added unit by unit (a tile, a line) until
that share is reached, so it is exceeded by less than one unit (a tile, a line; a partial run of lines
is added whole, so by up to its 3 lines). The fill options are those of ``fills.resolve_fill``.
"""

from __future__ import annotations

import math

import numpy as np

from .fills import check_array, finish, resolve_fill

TILE_SIZES = (4, 8, 16, 32)


def _fill(work, rng, fill, on, slope, intercept, padding):
    return resolve_fill(work, fill, rng, on=on, slope=slope, intercept=intercept, padding=padding)


def _target(share: float, total: int) -> int:
    if not 0 < share <= 0.9:
        raise ValueError(f"share must be in (0, 0.9], not {share}")
    return max(1, round(share * total))


def _draw(rng, bounds) -> int:
    """An integer in the inclusive range ``bounds`` (a pair) or the integer itself."""
    if np.isscalar(bounds):
        return int(bounds)
    low, high = bounds
    return int(rng.integers(low, high, endpoint=True))


def lost_tiles(array, rng, *, share=0.08, tile=None, aligned=None, burst=(1, 8), fill="random", on="stored",
               slope=1.0, intercept=0.0, padding=None):
    """Lost packets: bursts of consecutive square tiles of a slice's tile grid, written over with the fill.

    A slice is sent as a stream of ``tile`` x ``tile`` tiles in raster order (4, 8, 16 or 32 pixels: JPEG
    blocks and MCUs, JPEG 2000 code-blocks, a packet's worth of pixels); a burst loses ``burst`` consecutive
    tiles of that stream (wrapping to the next row of tiles), starting anywhere, in one slice drawn at random.
    ``aligned=False`` offsets the grid by 1..tile-1 pixels in both directions (a tile grid that does not start
    at the image's corner; the tiles on the border are cut). ``tile`` and ``aligned`` are drawn when None.
    """
    work = check_array(array)
    value, name = _fill(work, rng, fill, on, slope, intercept, padding)
    tile = int(rng.choice(TILE_SIZES)) if tile is None else int(tile)
    aligned = bool(rng.integers(2)) if aligned is None else bool(aligned)
    height, width = work.shape[:2]
    depth = work.shape[2] if work.ndim == 3 else 1
    offset = (0, 0) if aligned else tuple(int(o) - tile for o in rng.integers(1, tile, size=2))
    rows = math.ceil((height - offset[0]) / tile)
    cols = math.ceil((width - offset[1]) / tile)
    lost = np.zeros(work.shape, bool)
    lost3 = lost.reshape(height, width, depth)
    target, count, bursts = _target(share, lost.size), 0, 0
    while count < target:
        z = int(rng.integers(depth))
        start = int(rng.integers(rows * cols))
        bursts += 1
        for index in range(start, min(start + _draw(rng, burst), rows * cols)):
            y = offset[0] + (index // cols) * tile
            x = offset[1] + (index % cols) * tile
            count += _mark(lost3[max(y, 0):y + tile, max(x, 0):x + tile, z])
            if count >= target:
                break
    work[lost] = value
    return finish(array, work, lost, kind="tiles", fill=value, fill_name=name,
                  info={"tile": tile, "aligned": aligned, "offset": offset, "bursts": bursts})


def _mark(region) -> int:
    """Set a view of the lost mask to True; the number of voxels newly lost."""
    added = region.size - int(np.count_nonzero(region))
    region[...] = True
    return added


def _line_span(lines, first, last, start, stop) -> int:
    """Mark lines ``first..last`` from ``start`` in the first line to ``stop`` in the last (stream order)."""
    if first == last:
        return _mark(lines[first, start:stop])
    return _mark(lines[first, start:]) + _mark(lines[first + 1:last]) + _mark(lines[last, :stop])


def lost_lines(array, rng, *, share=0.04, axis=None, run=(1, 3), partial=0.3, interleaved=0.2,
               stretch=(4, 16), fill="random", on="stored", slope=1.0, intercept=0.0, padding=None):
    """Lost scan lines: rows (``axis=0``) or columns (``axis=1``) of a slice, written over with the fill.

    Each event, in a slice drawn at random, is one of:

    - a run of ``run`` consecutive whole lines (1 to 3 by default);
    - with probability ``partial``, a run cut in the line's stream order: it starts at a random point of its
      first line and stops at a random point of its last (one line: a segment of at least 1/8 of it);
    - with probability ``interleaved``, every other line over a stretch of ``stretch`` lines (interleaved or
      interlaced acquisitions losing one of their passes).

    ``axis`` is drawn once per call when None. ``share`` counts voxels, so 0.04 is 4% of the rows when whole
    rows are lost.
    """
    work = check_array(array)
    value, name = _fill(work, rng, fill, on, slope, intercept, padding)
    axis = int(rng.integers(2)) if axis is None else int(axis)
    if axis not in (0, 1):
        raise ValueError("axis must be 0 (rows) or 1 (columns)")
    height, width = work.shape[:2]
    depth = work.shape[2] if work.ndim == 3 else 1
    n_lines, length = (height, width) if axis == 0 else (width, height)
    lost = np.zeros(work.shape, bool)
    lost3 = lost.reshape(height, width, depth)
    target, events = _target(share, lost.size), {"runs": 0, "partial": 0, "interleaved": 0}
    count = 0
    while count < target:
        z = int(rng.integers(depth))
        lines = lost3[..., z] if axis == 0 else lost3[..., z].T
        kind = rng.random()
        if kind < interleaved:
            span = min(_draw(rng, stretch), n_lines)
            first = int(rng.integers(n_lines - span + 1))
            for line in range(first, first + span, 2):
                if count >= target:
                    break
                count += _mark(lines[line])
            events["interleaved"] += 1
        elif kind < interleaved + partial:
            span = min(_draw(rng, run), n_lines)
            first = int(rng.integers(n_lines - span + 1))
            shortest = max(1, length // 8)
            if span == 1:
                start = int(rng.integers(length - shortest + 1))
                stop = int(rng.integers(start + shortest, length, endpoint=True))
            else:
                start, stop = int(rng.integers(length)), int(rng.integers(1, length, endpoint=True))
            count += _line_span(lines, first, first + span - 1, start, stop)
            events["partial"] += 1
        else:
            span = min(_draw(rng, run), n_lines)
            first = int(rng.integers(n_lines - span + 1))
            for line in range(first, first + span):
                if count >= target:
                    break
                count += _mark(lines[line])
            events["runs"] += 1
    work[lost] = value
    return finish(array, work, lost, kind="lines", fill=value, fill_name=name, info={"axis": axis, **events})


def lost_slices(array, rng, *, count=None, share=None, run=(1, 2), interior=True, fill="random", on="stored",
                slope=1.0, intercept=0.0, padding=None):
    """Lost slices of a volume: whole slices (last axis) at the fill, in runs of ``run`` adjacent slices.

    ``count`` slices are lost (or ``round(share * D)``, at least 1; 1 when neither is given). ``interior``
    keeps the first and last slice (so that each lost one has a neighbour on both sides).
    """
    work = check_array(array)
    if work.ndim != 3:
        raise ValueError("lost slices need a 3D (H, W, D) array")
    value, name = _fill(work, rng, fill, on, slope, intercept, padding)
    depth = work.shape[2]
    if count is None:
        count = 1 if share is None else max(1, round(share * depth))
    candidates = np.arange(1, depth - 1) if interior else np.arange(depth)
    if count > len(candidates):
        raise ValueError(f"cannot lose {count} slices of {depth} (interior={interior})")
    chosen: set[int] = set()
    while len(chosen) < count:
        first = int(rng.choice(candidates))
        for z in range(first, first + _draw(rng, run)):
            if z in candidates and len(chosen) < count:
                chosen.add(z)
    lost = np.zeros(work.shape, bool)
    lost[..., sorted(chosen)] = True
    work[lost] = value
    info = {"slices": sorted(chosen)}
    return finish(array, work, lost, kind="slices", fill=value, fill_name=name, info=info)


def truncate(array, rng, *, share=None, order="dicom", fill="random", on="stored", slope=1.0, intercept=0.0,
             padding=None):
    """A file cut short: the last ``share`` of the pixel stream (drawn in 2%..30% when None) at the fill.

    ``order`` is the stream's order: ``"dicom"`` (frame by frame, i.e. slice by slice along the last axis,
    each slice row by row) or ``"nifti"`` (the NIfTI data block: first axis fastest, so the last slices go
    first, each cut column by column of the array).
    """
    work = check_array(array)
    value, name = _fill(work, rng, fill, on, slope, intercept, padding)
    share = float(rng.uniform(0.02, 0.3)) if share is None else float(share)
    cut = work.size - _target(share, work.size)
    if order == "dicom":
        stream_shape = work.shape if work.ndim == 2 else (work.shape[2],) + work.shape[:2]
        stream = np.zeros(work.size, bool)
        stream[cut:] = True
        lost = stream.reshape(stream_shape)
        lost = lost if work.ndim == 2 else np.moveaxis(lost, 0, -1)
    elif order == "nifti":
        stream = np.zeros(work.size, bool)
        stream[cut:] = True
        lost = stream.reshape(work.shape, order="F")
    else:
        raise ValueError(f"order must be 'dicom' or 'nifti', not {order!r}")
    lost = np.ascontiguousarray(lost)
    work[lost] = value
    return finish(array, work, lost, kind="truncation", fill=value, fill_name=name,
                  info={"order": order, "cut": cut, "share": share})
