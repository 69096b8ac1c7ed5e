"""A small U-Net that keeps a full-resolution level, built from blocks laid out as MONAI's convolutions.

MONAI's ``UNet`` downsamples in its first block, so no layer sees the image at full resolution;
a probe on this project found that it filled isolated missing pixels worse than a 3x3 mean.
``BasicUNet`` keeps full resolution but is wide (tens of thousands of multiply-adds per pixel).
This one keeps a thin full-resolution level and spends its width at coarse levels, where it is
cheap, to reach a receptive field large enough for 16x16 lost packets and longer bursts.

Its blocks are plain torch with the layout of ``monai.networks.blocks.Convolution`` (a ``conv`` layer,
then an ``adn`` block holding the activation as ``A``), so the state-dict keys, the weights of every
saved model and the outputs are those of the MONAI-built network, and running a model does not import
MONAI (whose import costs seconds: ``medinpaint repair`` on one slice waited for it, issue 23).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.1  # of the leaky ReLU after every 3x3 convolution


class Convolution(nn.Sequential):
    """A 3x3 convolution (padding 1, so ``strides`` alone sets the output size) and a leaky ReLU: what
    ``monai.networks.blocks.Convolution(2, in, out, strides=strides, kernel_size=3, act=("leakyrelu",
    {"negative_slope": 0.1, "inplace": True}), norm=None, bias=bias)`` builds, under the same names."""

    def __init__(self, in_channels: int, out_channels: int, strides: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=strides, padding=1, bias=bias)
        self.adn = nn.Sequential()
        self.adn.add_module("A", nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True))


def _conv(in_channels: int, out_channels: int, strides: int = 1, bias: bool = True) -> Convolution:
    return Convolution(in_channels, out_channels, strides=strides, bias=bias)


class SmallUNet(nn.Module):
    """U-Net with ``len(features)`` levels; level 0 runs at full resolution.

    Args:
        in_channels: input channels.
        out_channels: output channels (a final 1x1 convolution, no activation).
        features: channels per level, finest first; each further level halves the resolution.
        bias: with False, no layer has an additive term, so the network is positively homogeneous
            (``f(a x) = a f(x)`` for ``a > 0``): its output scales with the image's intensity, which a
            denoiser needs to hold on intensities and noise levels it was not trained on.

    Inputs of any size are padded (edge values repeated) to a multiple of ``2**(levels-1)`` and
    the output cropped back, so the network runs on whole slices and under sliding windows.
    """

    def __init__(
        self, in_channels: int, out_channels: int, features: Sequence[int] = (16, 32, 64, 64),
        bias: bool = True,
    ):
        super().__init__()
        features = tuple(int(f) for f in features)
        if in_channels < 1 or out_channels < 1:
            raise ValueError("in_channels and out_channels must be positive")
        if len(features) < 2 or min(features) < 1:
            raise ValueError(f"features needs at least two positive widths, got {features}")
        self.features = features
        self.encoders = nn.ModuleList()
        previous = in_channels
        for level, width in enumerate(features):
            first = _conv(previous, width, strides=1 if level == 0 else 2, bias=bias)
            self.encoders.append(nn.Sequential(first, _conv(width, width, bias=bias)))
            previous = width
        self.decoders = nn.ModuleList(
            _conv(features[level + 1] + features[level], features[level], bias=bias)
            for level in range(len(features) - 1)
        )
        self.head = nn.Conv2d(features[0], out_channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2 ** (len(self.features) - 1)
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        x = skips.pop()
        for level in reversed(range(len(self.decoders))):
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.decoders[level](torch.cat([x, skip], dim=1))
        return self.head(x)[..., :height, :width]
