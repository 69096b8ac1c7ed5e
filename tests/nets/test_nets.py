"""medinpaint.nets: the seed CNN's shape, the repair net's pass-through, sliding windows, the fill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.inferers import SlidingWindowInferer
from torch import nn

from medinpaint.nets import (
    Denoiser,
    RepairNet,
    SeedCNN,
    SmallUNet,
    build_model,
    classical_fill,
    push_pull_fill,
)
from tests.train.slices import HoleSlices, load_head


@pytest.fixture(scope="module")
def head() -> np.ndarray:
    return load_head()


def test_seed_cnn_is_three_3x3_convolutions_of_64_channels_with_relu_between():
    model = SeedCNN(in_channels=1, out_channels=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 64), (64, 1)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [type(m) for m in model.layers] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.Conv2d]
    assert model(torch.rand(2, 1, 37, 45)).shape == (2, 1, 37, 45)


def test_repair_net_changes_nothing_outside_the_mask(head):
    sample = HoleSlices(head, count=1, patch=48, context=1)[0]
    model = RepairNet(context=1)
    with torch.no_grad():
        for p in model.parameters():  # a trained-looking, non-zero network
            p.add_(0.05 * torch.randn_like(p))
        x = torch.cat([sample["damaged"], sample["mask"]])[None]
        out = model(x)
    keep = sample["mask"][None] == 0
    assert out.shape == (1, 1, 48, 48)
    assert torch.equal(out[keep], sample["damaged"][1:2][None][keep])
    assert not torch.equal(out[~keep], sample["damaged"][1:2][None][~keep])
    with torch.no_grad():  # the engine hands over the in-plane fill it computed already: same result
        given = model(x, fill=model.in_plane_fill(x[:, 1:2], x[:, -1:]))
    assert torch.equal(given, out)


def test_untrained_repair_net_starts_from_its_classical_fill(head):
    sample = HoleSlices(head, count=1, patch=48, context=0)[0]
    x = torch.cat([sample["damaged"], sample["mask"]])[None]
    with torch.no_grad():
        out = RepairNet(context=0)(x)
        fill = classical_fill(sample["damaged"][None], sample["mask"][None])
    assert torch.allclose(out, fill)


def test_biharmonic_relaxation_makes_isolated_missing_pixels_more_exact(head):
    generator = torch.Generator().manual_seed(0)
    pushed = relaxed = 0.0
    for sample in HoleSlices(head, count=4, patch=64, context=0):
        clean = sample["clean"][None]
        mask = (torch.rand(clean.shape, generator=generator) < 0.02).float()  # bit-error-like pixels
        damaged = clean * (1 - mask)
        hole = mask.bool()
        push = push_pull_fill(damaged, mask)
        relax = classical_fill(damaged, mask)
        assert torch.equal(relax[~hole], damaged[~hole])
        pushed += float(((push - clean)[hole] ** 2).sum())
        relaxed += float(((relax - clean)[hole] ** 2).sum())
    assert relaxed < 0.5 * pushed  # measured: 0.24


def test_push_pull_fill_beats_the_mean_on_real_holes(head):
    fill_error = mean_error = 0.0
    for sample in HoleSlices(head, count=6, patch=64, context=0):
        damaged, clean, mask = sample["damaged"][None], sample["clean"][None], sample["mask"][None]
        filled = push_pull_fill(damaged, mask)
        hole = mask.bool()
        assert torch.equal(filled[~hole], damaged[~hole])
        fill_error += float(((filled - clean)[hole] ** 2).sum())
        mean_error += float(((damaged[~hole].mean() - clean[hole]) ** 2).sum())
    assert fill_error < 0.7 * mean_error  # measured: 0.63 (biharmonic: 0.62)


@pytest.mark.parametrize("model", [SeedCNN(4, 1), RepairNet(context=1), Denoiser(context=1)], ids=type)
def test_networks_run_under_sliding_window_inference_on_larger_images(model):
    x = torch.rand(1, 4 if not isinstance(model, Denoiser) else 3, 150, 97)
    x[:, -1] = (x[:, -1] > 0.8).float() if not isinstance(model, Denoiser) else x[:, -1]
    inferer = SlidingWindowInferer(roi_size=(64, 64), sw_batch_size=2, overlap=0.25)
    with torch.no_grad():
        out = inferer(x, model.eval())
    assert out.shape == (1, 1, 150, 97)
    assert torch.isfinite(out).all()


def test_small_unet_keeps_a_full_resolution_level_and_any_input_size():
    net = SmallUNet(3, 2, features=(8, 16, 32))
    first = net.encoders[0][0].conv
    assert first.stride == (1, 1)
    assert net(torch.rand(1, 3, 33, 50)).shape == (1, 2, 33, 50)


def test_denoiser_is_blind_and_starts_as_the_identity():
    x = torch.rand(2, 1, 32, 32)
    model = Denoiser(context=0)
    assert model.in_channels == 1
    assert torch.equal(model(x), x)


@pytest.mark.parametrize("bad", [dict(architecture="UNet3000"), dict(architecture="RepairNet", context=-1)])
def test_bad_arguments_are_value_errors(bad):
    with pytest.raises(ValueError):
        build_model(**bad)


def test_the_bias_free_denoiser_scales_with_the_image():
    torch.manual_seed(0)
    model = Denoiser(context=0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
        x = torch.rand(1, 1, 40, 40)
        assert torch.allclose(model(3.0 * x), 3.0 * model(x), atol=1e-5)
        assert not torch.allclose(model(x), x)


def test_isolated_damaged_pixels_take_the_in_plane_fill_as_it_is(head):
    sample = HoleSlices(head, count=1, patch=48, context=1)[0]
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 10, 10] = mask[..., 30, 20] = 1  # two bit errors
    mask[..., 40, 5:25] = 1  # and a lost line segment
    x = torch.cat([sample["clean"].expand(3, -1, -1)[None] * (1 - mask), mask], dim=1)
    net = RepairNet(context=1)
    torch.nn.init.normal_(net.body.head.weight, std=0.1)  # a trained-looking, non-zero correction
    with torch.no_grad():
        out = net(x)
        fill = classical_fill(x[:, 1:2], mask)
        plain = RepairNet(context=1, isolated_fill=False)
        plain.load_state_dict(net.state_dict())
        unrouted = plain(x)
    isolated = torch.zeros_like(mask, dtype=torch.bool)
    isolated[..., 10, 10] = isolated[..., 30, 20] = True
    assert torch.equal(out[isolated], fill[isolated])
    assert not torch.equal(unrouted[isolated], fill[isolated])
    line = mask.bool() & ~isolated
    assert torch.equal(out[line], unrouted[line])
