"""The dropout-repair network: a learned correction on top of classical fills.

Biharmonic-like fills are nearly exact on smooth tissue, so a network that must produce every
masked pixel from scratch starts far below them. ``RepairNet`` instead starts from fills it
computes itself (in-plane: push-pull refined by biharmonic relaxation; across slices: linear
interpolation between the neighbours when it is given a 2.5D stack), learns per pixel how to blend
them, and adds a correction that starts at zero, so training begins at the classical fill's quality.
Pixels outside the mask are passed through untouched.

A multiplicative gate on the correction (sigmoid(g) * c, both starting at zero) was tried first: it
closed during the first epoch, after which neither factor received a gradient and the network
stayed exactly at the between-slice interpolation. The correction is therefore left ungated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from medinpaint.nets.fill import classical_fill, exact_fill
from medinpaint.nets.unet import SmallUNet

# normalised values (times the scan's robust range) beyond which a masked centre voxel is garbage
_UNDER_MASK_BOUND = 64.0
THIN = 2  # holes no deeper than this (pixels to the nearest intact one): lines, impulses, small tiles


_DEEP = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 2)[None]  # the 13 pixels within 2
_ONE_PLANE = np.pad(np.ones((1, 3, 3), bool), ((1, 1), (0, 0), (0, 0)))  # 8-connected within a plane only


def wide_holes(mask: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: the pixels of ``mask`` in holes deeper than :data:`THIN` (with a pixel that
    has no intact one within 2 pixels). Holes within 3 pixels of each other count as one, as
    :func:`~medinpaint.nets.fill.biharmonic_inpaint` solves them together, so the thin ones can be
    solved alone. The batch is one array for SciPy, each plane on its own (structures one plane deep)."""
    holes = mask.detach().cpu().numpy()[:, 0] > 0.5
    deep = ndimage.binary_erosion(holes, _DEEP, border_value=1)
    if not deep.any():
        return torch.zeros(mask.shape, dtype=torch.bool)
    # a hole pixel within 3 pixels (either way) of a deep one is in its group: where every hole pixel is,
    # every hole is wide, and the labelling is not needed (lost packets: 16x16 tiles)
    if not (holes & ~ndimage.maximum_filter(deep, size=(1, 7, 7))).any():
        return torch.from_numpy(holes[:, None].copy())
    labels, _ = ndimage.label(ndimage.binary_dilation(holes, _ONE_PLANE[1:2]), _ONE_PLANE)
    found = np.zeros(labels.max() + 1, bool)
    found[labels[deep]] = True
    found[0] = False
    return torch.from_numpy((found[labels] & holes)[:, None])


class RepairNet(nn.Module):
    """Mask-aware repair of dropouts (lost packets, lines, slices, corrupted blocks, bit errors).

    Input ``(B, 2k+2, H, W)``: the damaged 2.5D stack (``2k+1`` slices, the damaged one in the
    middle) followed by the centre slice's mask (1 where damaged). Output ``(B, 1, H, W)``: the
    repaired centre slice, equal to the input wherever the mask is 0.

    Args:
        context: ``k``, the neighbours on each side of the centre slice (0: a single slice; lost
            whole slices need ``k >= 1``).
        features: channels per U-Net level, finest first.
        fill_levels: depth of the push-pull pyramid of the in-plane fill.
        relax_steps: biharmonic relaxation sweeps after the push-pull fill (0: push-pull alone, as
            in models trained before these sweeps existed).
        isolated_fill: a damaged pixel whose eight neighbours are all intact (a bit error) takes the
            in-plane fill as it is. There that fill is as exact as biharmonic inpainting, which sits
            near the noise floor; on every training and validation source it beat the between-slice
            interpolation, and the learned blend and correction did not generalise to held-out scans
            (27.7 dB against the fill's 28.3 dB), so the network is not asked to improve on it.
        single_slice_fill: at inference (not in training mode), a sample whose every neighbour is a
            copy of the centre's in-plane fill (a 2D image: the repair engine stands the fill in for
            neighbours that do not exist) has nothing to work from but the slice itself. Its thin
            holes (no pixel more than :data:`THIN` from an intact one: lines, impulses, small tiles)
            take the exact biharmonic fill (:func:`~medinpaint.nets.fill.biharmonic_inpaint`,
            scikit-image's equations solved on the host), where the network, trained with
            neighbours, was 0.2-0.5 dB behind it; wider holes keep the network's repair, which was
            0.6-1.4 dB ahead of it there (held-out slices, bench/RESULTS.md). Only with ``context >= 1``.
    """

    def __init__(
        self,
        context: int = 1,
        features: Sequence[int] = (16, 32, 64, 64),
        fill_levels: int = 8,
        relax_steps: int = 5,
        isolated_fill: bool = True,
        single_slice_fill: bool = True,
    ):
        super().__init__()
        if context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        self.context = int(context)
        self.fill_levels = int(fill_levels)
        self.relax_steps = int(relax_steps)
        self.isolated_fill = bool(isolated_fill)
        self.single_slice_fill = bool(single_slice_fill)
        stack = 2 * self.context + 1
        # fill, mask, the neighbours and (with context) their mean
        in_channels = 2 + (stack - 1) + (1 if self.context else 0)
        out_channels = 2 if self.context else 1  # correction, (blend between in-plane and between-slice)
        self.body = SmallUNet(in_channels, out_channels, features)
        nn.init.zeros_(self.body.head.weight)
        nn.init.zeros_(self.body.head.bias)

    @property
    def in_channels(self) -> int:
        return 2 * self.context + 2

    def in_plane_fill(self, centre: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The classical in-plane fill this network starts from, in float32 (``(B, 1, H, W)`` each)."""
        with torch.autocast(centre.device.type, enabled=False):
            return classical_fill(centre.float(), mask.float(), self.fill_levels, self.relax_steps)

    def forward(self, x: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        """``fill``: :meth:`in_plane_fill` of the centre slice, when the caller has computed it
        already (the repair engine also needs it in place of missing neighbours); None: computed here."""
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} channels (stack + mask), got {x.shape[1]}")
        centre_index = self.context
        x = x.float()
        # one-channel views of a channels-last input are strided: pooling them is several times slower
        centre = x[:, centre_index : centre_index + 1].contiguous()
        mask = x[:, -1:].contiguous()
        # what lies under the mask is ignored, garbage too: a NaN, or a 1e38 of random bytes in a float
        # scan, would reach the composite below as NaN or cancel the repair away (bounded so that a
        # scan's own values keep their arithmetic, bit for bit)
        centre = torch.where((mask > 0.5) & ~(centre.abs() <= _UNDER_MASK_BOUND), 0.0, centre)
        # the classical fills and the composite stay in float32 under autocast: only the U-Net body
        # may run in bfloat16 (its output is a correction, where bf16's 3 significant digits suffice)
        fill = self.in_plane_fill(centre, mask) if fill is None else fill.float()
        inputs = [fill, mask]
        neighbours = None
        if self.context:
            neighbours = torch.cat([x[:, :centre_index], x[:, centre_index + 1 : -1]], dim=1)
            before, after = x[:, centre_index - 1 : centre_index], x[:, centre_index + 1 : centre_index + 2]
            between = 0.5 * (before + after)
            inputs += [neighbours, between]
        single = self._single_slices(neighbours, fill)
        thin = None
        if single is not None and bool(single.any()):
            wide = wide_holes(mask[single]).to(mask.device)
            thin = (mask[single] > 0.5) & ~wide
        if thin is not None and bool(single.all()) and not bool(mask.masked_fill(thin, 0).any()):
            # 2D images whose every damaged pixel lies in a thin hole (lost lines, impulses): the exact
            # fill below takes them all, and the body's repair would be used nowhere
            repaired = fill.clone()
        else:
            out = self.body(torch.cat(inputs, dim=1)).float()
            base = fill
            if self.context:
                base = fill + torch.sigmoid(out[:, 1:2]) * (between - fill)
            repaired = base + out[:, 0:1]
            if self.isolated_fill:
                # intact pixels among the 3x3 around each (zeros beyond the edge)
                intact_neighbours = 9.0 * F.avg_pool2d(1.0 - mask, 3, stride=1, padding=1)
                repaired = torch.where(intact_neighbours > 7.5, fill, repaired)
        # (a slice with wide holes only, like lost packets, skips the solve)
        if thin is not None and bool(thin.any()):
            exact = exact_fill(centre[single], mask[single], thin)
            repaired[single] = torch.where(thin, exact, repaired[single])
        return centre + mask * (repaired - centre)

    def _single_slices(self, neighbours: torch.Tensor | None, fill: torch.Tensor) -> torch.Tensor | None:
        """Which samples have only copies of the centre's ``fill`` as ``neighbours`` (``(B,)`` bool),
        when :attr:`single_slice_fill` applies; None when it does not."""
        if not (self.single_slice_fill and self.context) or self.training:
            return None
        return (neighbours == fill).flatten(1).all(dim=1)
