"""Loss and quality measures on normalised images (intensities about [0, 1])."""

from __future__ import annotations

import torch

_EPS = 1e-12


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error averaged over each sample's masked pixels, then over the samples.

    Averaging per sample keeps a sample with a few hundred bit errors as heavy in the loss as one
    with a lost slice (a batch-wide average lets large holes drown small ones). A sample with an
    empty mask, or ``mask=None``, is averaged over the whole image instead. ``weight``: one factor
    per sample on its mean (the denoiser weighs each sample by 1 / its noise variance).
    """
    error = (prediction.float() - target.float()) ** 2
    per_sample = error.flatten(1).mean(1)
    if mask is not None:
        pixels = mask.float().expand_as(error)
        counts = pixels.flatten(1).sum(1)
        masked = (error * pixels).flatten(1).sum(1) / counts.clamp_min(1.0)
        per_sample = torch.where(counts > 0, masked, per_sample)
    if weight is not None:
        per_sample = per_sample * weight.to(error.device)
    return per_sample.mean()


def psnr(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
         data_range: float = 1.0) -> torch.Tensor:
    """Per-sample PSNR in dB, over the masked pixels where ``mask`` is given (NaN for an empty mask)."""
    error = (prediction.float() - target.float()) ** 2
    if mask is None:
        mse = error.flatten(1).mean(1)
    else:
        weight = mask.float().expand_as(error)
        counts = weight.flatten(1).sum(1)
        mse = (error * weight).flatten(1).sum(1) / counts
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(_EPS))


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-sample SSIM of ``(B, 1, H, W)`` images (MONAI's SSIM, 11x11 Gaussian window)."""
    from monai.metrics.regression import compute_ssim_and_cs

    value, _ = compute_ssim_and_cs(
        prediction.float(), target.float(), spatial_dims=2, kernel_size=(11, 11), kernel_sigma=(1.5, 1.5),
        data_range=data_range, kernel_type="gaussian", k1=0.01, k2=0.03,
    )
    return value.flatten(1).mean(1)
