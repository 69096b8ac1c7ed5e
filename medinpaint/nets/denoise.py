"""The blind denoiser: predicts the noise from the image alone, no noise level given."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medinpaint.nets.unet import SmallUNet


class Denoiser(nn.Module):
    """Residual denoiser for scanner noise (MR Rician, CT low-dose).

    Input ``(B, 2k+1, H, W)``: the noisy slice with ``k`` neighbours on each side (the noisy slice
    in the middle). Output ``(B, 1, H, W)``: the centre slice minus the predicted noise. Being
    trained on a range of noise levels, it estimates the level itself, as DnCNN does; without bias
    terms (the default) it is scale-equivariant, which Mohan et al. (ICLR 2020) found makes such
    denoisers hold at noise levels outside their training range.

    Args:
        context: ``k``, neighbours on each side of the centre slice.
        features: channels per U-Net level, finest first.
        bias: give the layers additive bias terms (False: bias-free, scale-equivariant).
    """

    def __init__(self, context: int = 0, features: Sequence[int] = (32, 48, 64, 96), bias: bool = False):
        super().__init__()
        if context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        self.context = int(context)
        self.body = SmallUNet(2 * self.context + 1, 1, features, bias=bias)
        nn.init.zeros_(self.body.head.weight)

    @property
    def in_channels(self) -> int:
        return 2 * self.context + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} channels, got {x.shape[1]}")
        return x[:, self.context : self.context + 1] - self.body(x)
