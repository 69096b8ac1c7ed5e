"""Lost whole slices re-created by motion-compensated interpolation between their neighbours.

Anatomy moves from slice to slice, so a linear blend of the two neighbours of a lost slice doubles
every edge that is not perpendicular to the slices. Here the motion between the neighbours is
estimated with OpenCV's DIS optical flow (Kroeger et al., ECCV 2016; its ``medium`` preset), both
ways, and each neighbour is warped part of the way towards the lost slice before they are blended.
Where the warped neighbours disagree more than the unwarped ones (the flow is unreliable there:
structures that appear or vanish between the slices), each pixel leans back towards linear
interpolation, by the ratio of the two local disagreements. Planes of fewer than ``FINE`` pixels get
their flow down to DIS's finest scale, and those of fewer than ``FINE / 4`` at twice the resolution
as well (small planes gain from it; the cost per flow stays that of a 512x512 plane's at most).

Where the next slice beyond each neighbour is intact too, the slices are curved as well as moved:
two corrections towards the cubic (Lagrange) interpolation through the four intact slices at their
true positions are added, one across the unwarped slices and one along the flow (the outer slices
warped onto their neighbours first, then moved with them). How much of each correction, and of the
flow, a volume wants depends on its noise and its slice spacing; so the weights of the four terms
(flow, its fallback, the two cubic corrections) are fitted to the volume itself: the nearest
``EXAMPLES`` intact slices (``LARGE_EXAMPLES`` on planes of ``FINE`` pixels or more) whose own
neighbours, in the same arrangement as the lost slice's, are intact are predicted from them, and a
least-squares fit, held towards fixed weights by a ridge term, gives the weights used for the lost
slice. The fit is repeated without the pixels it misses by far (damage in the example slices;
better, the caller names the damaged pixels). If it does not beat linear interpolation on the
examples, the lost slice is interpolated linearly; with no example, the fixed weights are used.

Measured on the validation subjects (every slice with two intact slices on either side of each
held-out volume, on each axis, predicted from its neighbours; bench/bench_fill_motion.py): +0.95 to
+2.4 dB over linear interpolation per volume and axis, mean +1.57 (the fixed weights alone: +1.40).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

PRESET = "medium"  # DIS preset: "ultrafast", "fast" or "medium"
MIN_SIDE = 8  # planes smaller than this on either side are interpolated linearly
WINDOW = 5  # pixels: the window over which the warped and unwarped disagreements are compared
FINE = 256 * 256  # pixels: planes smaller than this get their flow finer (see the module)
EXAMPLES = 6  # intact slices of the volume on which the weights of the terms are fitted (planes under FINE)
LARGE_EXAMPLES = 2  # the same on planes of FINE pixels or more: as good there (measured), a third of the time
RIDGE = 0.2  # pull of the fit towards PRIOR, relative to each term's energy in the examples
PASSES = 3  # fits, each without the pixels the one before missed by more than TRIM times its rms miss
TRIM = 3.0
PRIOR = (1.0, 0.0, 0.5, 0.5)  # weights: flow with fallback, flow without, cubic across, cubic along


def _flow(source: np.ndarray, target: np.ndarray, preset: str) -> np.ndarray:
    import cv2

    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    dis = cv2.DISOpticalFlow_create(presets[preset])
    if source.size >= FINE:
        return dis.calc(source, target, None)
    dis.setFinestScale(0)
    if 4 * source.size >= FINE:
        return dis.calc(source, target, None)
    h, w = source.shape

    def double(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)

    flow = dis.calc(double(source), double(target), None)
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA) / 2


def _warp(image: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``image`` sampled at (x + dx, y + dy), bilinearly, the edge repeated beyond the plane."""
    import cv2

    h, w = image.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return cv2.remap(image, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _lagrange(positions: tuple[int, ...]) -> np.ndarray:
    """Lagrange weights of the polynomial through the slices at ``positions``, evaluated at 0."""
    p = np.asarray(positions, dtype=np.float64)
    n = len(p)
    return np.array([np.prod([-p[m] / (p[i] - p[m]) for m in range(n) if m != i]) for i in range(n)])


class _Pair:
    """The neighbours ``before`` and ``after`` of a lost plane a fraction ``t`` of the way between them,
    with the flow both ways and the neighbours moved along it (see the module)."""

    def __init__(self, before: np.ndarray, after: np.ndarray, t: float, preset: str):
        self.before, self.after, self.t, self.preset = before, after, t, preset
        self.linear = (1.0 - t) * before + t * after
        low, high = np.percentile(np.concatenate([before.ravel(), after.ravel()]), [0.5, 99.5])
        self.low, self.high = float(low), float(high)
        self.usable = (min(before.shape) >= MIN_SIDE and high > low
                       and bool(np.isfinite(before).all() and np.isfinite(after).all()))
        if not self.usable:
            return
        b8, a8 = self.eight_bit(before), self.eight_bit(after)
        self.forward = _flow(b8, a8, preset)  # before(x) ~ after(x + forward(x))
        self.backward = _flow(a8, b8, preset)
        self.moved_before, self.moved_after = self.move(before, False), self.move(after, True)
        self.moved = (1.0 - t) * self.moved_before + t * self.moved_after
        disagree_moved = ndimage.uniform_filter((self.moved_before - self.moved_after) ** 2, WINDOW)
        disagree_still = ndimage.uniform_filter((before - after) ** 2, WINDOW)
        trust = disagree_still / (disagree_still + disagree_moved + 1e-12 * (high - low) ** 2)
        self.trusted = trust * self.moved + (1.0 - trust) * self.linear

    def eight_bit(self, plane: np.ndarray) -> np.ndarray:
        scale = 255.0 / (self.high - self.low)
        return np.clip(np.rint((plane - self.low) * scale), 0, 255).astype(np.uint8)

    def move(self, plane: np.ndarray, after: bool) -> np.ndarray:
        """A plane on ``before``'s grid (``after``: on ``after``'s) moved to the lost plane along the flow."""
        t, s = self.t, 1.0 - self.t
        fx, fy = self.forward[..., 0], self.forward[..., 1]
        gx, gy = self.backward[..., 0], self.backward[..., 1]
        if after:
            return 0.5 * (_warp(plane, s * fx, s * fy) + _warp(plane, -s * gx, -s * gy))
        return 0.5 * (_warp(plane, -t * fx, -t * fy) + _warp(plane, t * gx, t * gy))

    def terms(self, stencil: list[tuple[int, np.ndarray]], d1: int, d2: int) -> np.ndarray:
        """The corrections to linear interpolation, stacked on a last axis (see ``PRIOR``): the flow
        with its fallback, the flow without it, and where ``stencil`` (offset from the lost plane and
        plane, in order; ``before`` at ``-d1``, ``after`` at ``d2``) holds planes beyond the two
        neighbours, the cubic (or quadratic) corrections across and along the flow."""
        if not self.usable:
            return np.zeros((*self.linear.shape, 0), np.float32)
        terms = [self.trusted - self.linear, self.moved - self.trusted]
        if len(stencil) > 2:
            weights = _lagrange(tuple(offset for offset, _ in stencil))
            across, along = np.float32(0.0), np.float32(0.0)
            for weight, (offset, plane) in zip(weights, stencil, strict=True):
                across = across + weight * plane
                if offset == -d1:
                    moved = self.moved_before
                elif offset == d2:
                    moved = self.moved_after
                else:  # beyond a neighbour: onto the neighbour's grid, then moved with it
                    near = self.after if offset > 0 else self.before
                    to = _flow(self.eight_bit(near), self.eight_bit(plane), self.preset)
                    moved = self.move(_warp(plane, to[..., 0], to[..., 1]), offset > 0)
                along = along + weight * moved
            terms += [across - self.linear, along - self.moved]
        return np.stack(terms, axis=-1).astype(np.float32)


def interpolate_between(before: np.ndarray, after: np.ndarray, t: float = 0.5,
                        preset: str = PRESET) -> np.ndarray:
    """The plane a fraction ``t`` of the way from ``before`` to ``after`` (two parallel planes of
    physical values), interpolated along the motion between them with the fallback towards linear
    interpolation (see the module; no cubic term, no fitted weights); float32."""
    pair = _Pair(np.asarray(before, np.float32), np.asarray(after, np.float32), t, preset)
    return (pair.trusted if pair.usable else pair.linear).astype(np.float32)


def _fit(examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], count: int) -> np.ndarray | None:
    """Weights of the ``count`` terms from ``examples`` (terms, truth less linear, the pixels to use),
    ridge towards ``PRIOR``, fitted ``PASSES`` times, each time without the pixels the last fit
    missed by more than ``TRIM`` times its root-mean-square miss (damage in the example slices); None
    where they do not beat linear interpolation on the examples."""
    prior = np.asarray(PRIOR[:count], dtype=np.float64)
    if not examples:
        return prior
    x = np.concatenate([terms.reshape(-1, count) for terms, _, _ in examples]).astype(np.float64)
    y = np.concatenate([residual.ravel() for _, residual, _ in examples]).astype(np.float64)
    usable = np.concatenate([use.ravel() for _, _, use in examples])
    weights, keep = prior, usable
    for _ in range(PASSES):
        gram, right, energy = x[keep].T @ x[keep], x[keep].T @ y[keep], float(y[keep] @ y[keep])
        ridge = RIDGE * np.diag(np.diag(gram)) + 1e-9 * np.trace(gram) * np.eye(count)
        if not np.trace(gram) > 0:
            return prior
        weights = np.linalg.solve(gram + ridge, right + ridge @ prior)
        miss = np.abs(y - x @ weights)
        keep = usable & (miss <= TRIM * np.sqrt(np.mean(miss[usable] ** 2)))
    left = energy - 2 * weights @ right + weights @ gram @ weights  # squared error with the weights
    return weights if left < energy else None


def recreate_slices(plane: Callable[[int], np.ndarray], depth: int, lost: list[int],
                    preset: str = PRESET, examples: int = EXAMPLES,
                    damaged: Callable[[int], np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Physical values of the whole lost slices ``lost`` of a volume ``depth`` slices deep, from the
    intact ones (``plane(k)``: slice ``k``'s physical values). ``examples``: how many intact slices
    the weights are fitted on (at most ``LARGE_EXAMPLES`` on large planes; 0: the fixed ``PRIOR``).
    ``damaged(k)``, where given: the pixels of slice ``k`` known to be damaged, left out of the fit
    wherever they are in an example's slices. A gap at the volume's edge copies the nearest intact
    slice, as linear interpolation does."""
    gone = set(lost)
    intact = [k for k in range(depth) if k not in gone]
    if not intact:
        raise ValueError("every slice is lost; nothing to interpolate from")
    planes: dict[int, np.ndarray] = {}
    made: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def get(k: int) -> np.ndarray:
        if k not in planes:
            planes[k] = np.asarray(plane(k), dtype=np.float32)
        return planes[k]

    def predict(k: int, below: int, above: int, outer: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Linear interpolation of slice ``k`` and the terms that correct it, from ``k - below``,
        ``k + above`` and the slices at the offsets ``outer`` beyond them."""
        key = (k, below, above, *outer)
        if key not in made:
            pair = _Pair(get(k - below), get(k + above), below / (below + above), preset)
            stencil = [(d, get(k + d)) for d in sorted((-below, above, *outer))]
            made[key] = (pair.linear, pair.terms(stencil, below, above))
        return made[key]

    def whole(offsets: tuple[int, ...], k: int) -> bool:
        return all(0 <= k + d < depth and k + d not in gone for d in offsets)

    def beyond(k: int, d1: int, d2: int) -> tuple[int, ...]:
        """The offsets of the slices beyond the neighbours for the cubic term: one on each side where
        both are intact, else none (two on one side, or a quadratic through one, lost up to 13 dB on
        the training volumes' second and last but one slices)."""
        return (-d1 - 1, d2 + 1) if whole((-d1 - 1, d2 + 1), k) else ()

    out = {}
    for k in sorted(gone):
        below = max((i for i in intact if i < k), default=None)
        above = min((i for i in intact if i > k), default=None)
        if below is None or above is None:
            out[k] = get(above if below is None else below).copy()
            continue
        d1, d2 = k - below, above - k
        outer = beyond(k, d1, d2)
        offsets = (0, -d1, d2, *outer)
        linear, terms = predict(k, d1, d2, outer)
        if terms.shape[-1] == 0:
            out[k] = linear
            continue
        near = sorted((j for j in range(depth) if j != k and whole(offsets, j)),
                      key=lambda j: (abs(j - k), j))
        fitted = []
        for j in near[:examples if linear.size < FINE else min(examples, LARGE_EXAMPLES)]:
            linear_j, terms_j = predict(j, d1, d2, outer)
            if terms_j.shape[-1] == terms.shape[-1]:
                use = np.ones(linear_j.shape, bool)
                for d in offsets if damaged is not None else ():
                    use &= ~np.asarray(damaged(j + d), bool)
                fitted.append((terms_j, get(j) - linear_j, use))
        weights = _fit(fitted, terms.shape[-1])
        out[k] = linear if weights is None else linear + terms @ weights.astype(np.float32)
    return out


__all__ = ["EXAMPLES", "PRESET", "interpolate_between", "recreate_slices"]
