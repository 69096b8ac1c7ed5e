"""The seed CNN: the three-layer baseline every other medinpaint network is measured against."""

from __future__ import annotations

import torch
from torch import nn


class SeedCNN(nn.Module):
    """Three 3x3 convolutions (``in -> 64 -> 64 -> out``), ReLU between them, 'same' padding.

    This is the project's starting point, kept unchanged so that gains are measured against it.
    It sees the damaged image (and whatever extra channels it is given, e.g. the mask) and
    predicts the clean image directly.

    Args:
        in_channels: input channels (the damaged slice or 2.5D stack, plus the mask when used).
        out_channels: output channels (1: the restored centre slice).
        features: width of the two hidden layers (64 in the seed).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, features: int = 64):
        super().__init__()
        if in_channels < 1 or out_channels < 1 or features < 1:
            raise ValueError("in_channels, out_channels and features must be positive")
        self.in_channels = in_channels
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, out_channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
