"""The U-Net body is plain torch laid out as MONAI's blocks: every saved model loads into it under the
same state-dict keys and gives, bit for bit, the output of the body built from
``monai.networks.blocks.Convolution`` (as it was until issue 23)."""

from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import Convolution as MonaiConvolution

from medinpaint.nets import Denoiser, RepairNet, default_model_path, load_model, read_model_meta
from medinpaint.nets import unet as unet_module


def _monai_conv(in_channels: int, out_channels: int, strides: int = 1, bias: bool = True):
    return MonaiConvolution(2, in_channels, out_channels, strides=strides, kernel_size=3,
                            act=("leakyrelu", {"negative_slope": 0.1, "inplace": True}), norm=None, bias=bias)


def _monai_built(cls, monkeypatch, **args):
    with monkeypatch.context() as patch:
        patch.setattr(unet_module, "_conv", _monai_conv)
        return cls(**args)


@pytest.mark.parametrize("name, cls", [("repair", RepairNet), ("denoise", Denoiser)])
def test_the_shipped_models_load_into_both_bodies_and_give_identical_outputs(name, cls, monkeypatch):
    plain, meta = load_model(default_model_path(name))
    args = read_model_meta(default_model_path(name)).get("args", {})
    reference = _monai_built(cls, monkeypatch, **args)
    assert isinstance(reference.body.encoders[0][0], MonaiConvolution)
    assert list(plain.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(plain.state_dict(), strict=True)
    reference.eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, plain.in_channels, 75, 97, generator=generator)
    if name == "repair":
        x[:, -1] = (x[:, -1] > 0.8).float()  # the mask channel
    for memory_format in (torch.contiguous_format, torch.channels_last):
        plain.to(memory_format=memory_format), reference.to(memory_format=memory_format)
        with torch.inference_mode():
            assert torch.equal(plain(x.contiguous(memory_format=memory_format)),
                               reference(x.contiguous(memory_format=memory_format)))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                assert torch.equal(plain(x), reference(x))


def test_a_random_body_matches_its_monai_twin_with_and_without_bias(monkeypatch):
    for bias in (True, False):
        torch.manual_seed(1)
        plain = unet_module.SmallUNet(3, 2, features=(8, 16, 32), bias=bias)
        torch.manual_seed(1)
        reference = _monai_built(unet_module.SmallUNet, monkeypatch, in_channels=3, out_channels=2,
                                 features=(8, 16, 32), bias=bias)
        assert list(plain.state_dict()) == list(reference.state_dict())
        for a, b in zip(plain.state_dict().values(), reference.state_dict().values(), strict=True):
            assert torch.equal(a, b)  # same initialisation, drawn in the same order
        x = torch.randn(2, 3, 40, 33)
        with torch.inference_mode():
            assert torch.equal(plain.eval()(x), reference.eval()(x))
