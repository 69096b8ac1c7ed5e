"""The fill of a 2D image chosen on the image itself: the network's, or biharmonic inpainting.

A single slice has no neighbours to repair from, and which in-plane fill does best there depends on the
image. On single slices of the training-listed scans (their middle slice on each axis), the shipped
network was 7.8 dB behind biharmonic inpainting in corrupted blocks and 2.2 dB in lost tiles (it was
trained with neighbours); on small, noisy held-out EPI crops it was up to 6 dB ahead (biharmonic
overshoots at noisy hole edges). So both fill trial holes, copies of the image's own holes placed
beside them on intact pixels, where the truth is known, and the one that misses the truth there less
fills the real holes. Real and trial holes go through one network pass together, so each sees the
other missing (the trial holes see the context the real holes do) and the choice costs no second pass.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from medinpaint.nets.fill import biharmonic_inpaint
from medinpaint.nets.repair import wide_holes

CLEARANCE = 3  # pixels between a trial hole and any other hole: the biharmonic stencil reaches 2
TRIAL_SHARE = 0.02  # trial holes up to this share of the image (at least MIN_TRIAL pixels) ...
MIN_TRIAL = 2048
MIN_EVIDENCE = 16  # ... and no choice (the network's repair stays) with fewer trial pixels than this


def trial_holes(mask: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
    """Copies of the holes of ``mask`` (8-connected) beside them, one hole's size plus 2 CLEARANCE away
    (below, above, right, left: the same tissue, where the truth is known), on intact pixels at least
    CLEARANCE from any hole (of ``mask`` and of ``avoid``: the image's thin holes) or other copy; round
    by round (every hole's first place, then its second) until the copies cover the trial budget. A
    hole that touches the image's edge is copied only along that edge (a band cut off the end of a
    slice has no copy beside it: see :func:`mirrored_holes`)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    budget = max(MIN_TRIAL, int(TRIAL_SHARE * mask.size))
    taken = ndimage.binary_dilation(mask if avoid is None else mask | avoid, iterations=CLEARANCE)
    trial = np.zeros_like(mask, dtype=bool)
    boxes = ndimage.find_objects(labels)
    ni, nj = mask.shape
    area = 0
    # holes taken spread over the image (a golden-ratio stride through them), not from its top down
    spread = np.argsort((np.arange(len(boxes)) * 0.6180339887498949) % 1.0, kind="stable")
    for side in range(4):
        for index in spread:
            box = boxes[index]
            hole = labels[box] == index + 1
            h, w = hole.shape
            gap_i, gap_j = h + 2 * CLEARANCE, w + 2 * CLEARANCE
            di, dj = ((gap_i, 0), (-gap_i, 0), (0, gap_j), (0, -gap_j))[side]
            # a hole at the image's edge is filled from one side only: its copy stays on that edge
            if (di and (box[0].start == 0 or box[0].stop == ni)) or (dj and (box[1].start == 0
                                                                               or box[1].stop == nj)):
                continue
            i0, j0 = box[0].start + di, box[1].start + dj
            if i0 < 0 or j0 < 0 or i0 + h > ni or j0 + w > nj:
                continue
            place = (slice(i0, i0 + h), slice(j0, j0 + w))
            if (taken[place] & hole).any():
                continue
            trial[place] |= hole
            window = tuple(slice(max(p.start - CLEARANCE, 0), p.stop + CLEARANCE) for p in place)
            local = np.zeros_like(taken[window])
            local[tuple(slice(p.start - q.start, p.stop - q.start)
                        for p, q in zip(place, window, strict=True))] = hole
            taken[window] |= ndimage.binary_dilation(local, iterations=CLEARANCE)
            area += int(hole.sum())
            if area >= budget:
                return trial
    return trial


def single_slice_trial(holes: np.ndarray) -> tuple[bool, np.ndarray | None, bool]:
    """Whether a 2D image's ``holes`` include wide ones (:func:`~medinpaint.nets.repair.wide_holes`;
    thin holes only take biharmonic inpainting, no network pass), and the trial holes
    (:func:`trial_holes`) of the wide ones, or None where fewer than MIN_EVIDENCE pixels fit: too few
    to tell the fills apart (the network's repair stays); and whether they include holes mirrored onto
    the opposite edge (:func:`mirrored_holes`), where a kept network fill is made again without them."""
    wide = wide_holes(torch.from_numpy(holes[None, None]))[0, 0].numpy()
    if not wide.any():
        return False, None, False
    trial = trial_holes(wide, holes)
    mirrored = int(trial.sum()) < MIN_EVIDENCE
    if mirrored:
        trial |= mirrored_holes(wide, holes | trial)
    return True, trial if int(trial.sum()) >= MIN_EVIDENCE else None, mirrored


def mirrored_holes(mask: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """Trial holes for an image whose holes have no copy beside them (a band cut off the end of a slice,
    a truncated stream): each hole of ``mask`` that touches one edge of a pair (top or bottom, else left
    or right), mirrored onto the opposite edge (the same cut, through other anatomy, where the truth is
    known), where that place is intact and CLEARANCE from any hole of ``mask`` or ``avoid`` (the image's
    other holes and trial holes). Whole: a band cut thinner extrapolates otherwise (cranium's cut
    slice: a mirror of 8 columns chose the network, 16 dB behind biharmonic on the band of 77); where
    the network's fill is kept, the engine makes it again without the mirror, which took context."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    taken = ndimage.binary_dilation(mask | avoid, iterations=CLEARANCE)
    trial = np.zeros_like(mask, dtype=bool)
    ni, nj = mask.shape
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        hole = np.zeros_like(mask, dtype=bool)
        hole[box] = labels[box] == index
        # across the one edge it touches of a pair (one that spans the image is its own mirror)
        if (box[0].start == 0) != (box[0].stop == ni):
            mirrored = hole[::-1]
        elif (box[1].start == 0) != (box[1].stop == nj):
            mirrored = hole[:, ::-1]
        else:
            continue
        if (mirrored & (taken | trial)).any():
            continue
        trial |= mirrored
    return trial


def network_or_biharmonic(image: np.ndarray, holes: np.ndarray, trial: np.ndarray,
                          network_filled: np.ndarray) -> tuple[bool, dict[str, float]]:
    """Whether the network's fill of a 2D image's ``holes`` should stay: True unless biharmonic
    inpainting misses the truth of the ``trial`` holes by less; with each candidate's RMS miss there.

    ``image``: the damaged image in physical values, intact at ``trial``; ``network_filled``: the
    network's repair of it with ``holes`` and ``trial`` both missing, in one pass (each kind of hole
    sees the other as a hole: the real holes' context is the trial holes' too).
    """
    truth = image[trial].astype(np.float64)
    # the trial holes alone are solved: CLEARANCE keeps them uncoupled from the real ones
    filled = {"network": network_filled, "biharmonic": biharmonic_inpaint(image, holes | trial, solve=trial)}
    misses = {name: float(np.sqrt(np.mean((fill[trial] - truth) ** 2))) for name, fill in filled.items()}
    return misses["network"] <= misses["biharmonic"], misses


__all__ = ["CLEARANCE", "MIN_EVIDENCE", "TRIAL_SHARE", "mirrored_holes", "network_or_biharmonic",
           "single_slice_trial", "trial_holes"]
