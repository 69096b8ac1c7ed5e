"""Training for scans the model has never seen (issue 19): samples without neighbours for the repair
network, and white as well as grainy CT noise for the denoiser."""

from __future__ import annotations

import pytest
import torch

from medinpaint.nets import RepairNet
from medinpaint.train.augment import scanner_noise
from medinpaint.train.config import TrainConfig
from medinpaint.train.loop import drop_neighbours


def _batch(count: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    damaged = torch.rand(count, 3, 16, 16, generator=generator)
    mask = torch.zeros(count, 1, 16, 16)
    mask[:, :, 5:9, :] = 1.0
    return damaged, mask


def test_a_share_of_samples_lose_their_neighbours_to_the_centres_fill():
    damaged, mask = _batch()
    model = RepairNet(context=1)
    out = drop_neighbours(model, damaged, mask, 0.5, torch.Generator().manual_seed(1))
    fill = model.in_plane_fill(damaged[:, 1:2], mask)[:, 0]
    assert torch.equal(out[:, 1], damaged[:, 1])  # the centre is never touched
    before = (out[:, 0] == fill).flatten(1).all(1)
    after = (out[:, 2] == fill).flatten(1).all(1)
    kept = (out[:, 0] == damaged[:, 0]).flatten(1).all(1) & (out[:, 2] == damaged[:, 2]).flatten(1).all(1)
    assert bool((before | after | kept).all())
    share = (before | after).float().mean().item()
    both = (before & after).float().mean().item()
    assert 0.4 < share < 0.6 and 0.18 < both < 0.32  # half of them on both sides
    assert torch.equal(drop_neighbours(model, damaged, mask, 0.0, torch.Generator()), damaged)


def test_the_share_is_a_setting_between_0_and_1():
    assert TrainConfig(single_slice_share=0.3).single_slice_share == 0.3
    with pytest.raises(ValueError):
        TrainConfig(single_slice_share=1.5)


def test_ct_training_noise_is_white_as_well_as_grainy():
    clean = torch.zeros(600, 1, 32, 32)
    noisy = scanner_noise(clean, torch.full((600,), 0.05), torch.Generator().manual_seed(2))
    negative = (noisy < 0).flatten(1).any(1)  # Rician noise on 0 is never negative
    lag = (noisy[..., 1:] * noisy[..., :-1]).flatten(1).mean(1) / noisy.pow(2).flatten(1).mean(1)
    white = negative & (lag.abs() < 0.2)
    grainy = negative & (lag > 0.5)
    assert 0.11 < white.float().mean().item() < 0.22  # a sixth: a third of the CT half
    assert 0.27 < grainy.float().mean().item() < 0.40
    assert 0.43 < (~negative).float().mean().item() < 0.57  # Rician
