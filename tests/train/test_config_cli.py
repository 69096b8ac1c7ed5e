"""Training settings from a file and options, the augmentation's consistency, and `medinpaint train`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from medinpaint.errors import InputError
from medinpaint.train import TrainConfig, collate
from medinpaint.train.augment import augment, grainy, reference_noise, rician_noise, scored, validation_noise
from tests.train.slices import HoleSlices, load_head


def test_options_override_the_config_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "Denoiser", "epochs": 3, "preset": "noise"}))
    config = TrainConfig.from_file(path, epochs=5, batch_size=None)
    assert (config.model, config.epochs, config.batch_size, config.task) == ("Denoiser", 5, 16, "denoise")


def test_an_unknown_setting_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(InputError, match="run.json.*epoch"):
        TrainConfig.from_file(path)


def test_augmentation_moves_image_target_and_mask_together():
    batch = collate([HoleSlices(load_head(), count=6, patch=40)[i] for i in range(6)])
    damaged, clean, mask = augment(batch["damaged"], batch["clean"], batch["mask"],
                                   torch.Generator().manual_seed(3))
    keep = mask[:, 0] == 0
    assert torch.allclose(damaged[:, 1][keep], clean[:, 0][keep])
    assert torch.equal(mask.sum(dim=(1, 2, 3)), batch["mask"].sum(dim=(1, 2, 3)))
    assert not torch.allclose(clean, batch["clean"])


def test_medinpaint_train_help_and_a_clear_error_for_a_bad_config(tmp_path):
    shown = subprocess.run([sys.executable, "-m", "medinpaint.cli", "train", "--help"], capture_output=True,
                           text=True)
    assert shown.returncode == 0
    for option in ("--config", "--model", "--preset", "--sources", "--epochs", "--batch-size", "--device",
                   "--output", "--resume"):
        assert option in shown.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    failed = subprocess.run([sys.executable, "-m", "medinpaint.cli", "train", "--config", str(bad)],
                            capture_output=True, text=True)
    assert failed.returncode == 2
    assert "bad.json" in failed.stderr and "Traceback" not in failed.stderr


def test_denoiser_training_noise_has_the_level_asked_for():
    clean = torch.full((4, 1, 64, 64), 0.5)
    noisy = rician_noise(clean, torch.Generator().manual_seed(0), (0.02, 0.02))
    assert float((noisy - clean).std()) == pytest.approx(0.02, rel=0.1)
    with pytest.raises(ValueError, match="sigma_range"):
        rician_noise(clean, torch.Generator(), (0.0, 0.1))


def test_the_noise_floor_is_shared_by_damaged_centre_and_target_only():
    clean = torch.full((2, 1, 32, 32), 0.5)
    damaged = torch.full((2, 3, 32, 32), 0.5)
    out_damaged, out_clean, _ = augment(damaged, clean, torch.zeros_like(clean),
                                        torch.Generator().manual_seed(1), gamma=False, noise_floor=0.05)
    assert torch.allclose(out_damaged[:, 1:2], out_clean)
    assert not torch.allclose(out_damaged[:, 0:1], out_clean)


def test_a_reference_is_scored_only_at_noise_well_above_its_own():
    head = torch.from_numpy(load_head()[:, :, 90].copy())[None, None]  # Colin27: an average of 27 scans
    own = reference_noise(head)
    noisier = head + 0.04 * torch.randn(head.shape, generator=torch.Generator().manual_seed(0))
    assert reference_noise(noisier) == pytest.approx((own**2 + 0.04**2) ** 0.5, rel=0.15)
    assert scored(head, 0.02) and not scored(noisier, 0.05) and scored(noisier, 0.1)
    first, sigma = validation_noise(head, 4)
    again, _ = validation_noise(head, 4)
    assert sigma == 0.05 and torch.equal(first, again)  # the same noisy slice at every validation


def test_ct_training_noise_is_grainy_at_the_level_asked_for():
    clean = torch.full((3, 1, 96, 96), 0.5)
    sigma = torch.tensor([0.01, 0.03, 0.1])
    noise = grainy(clean, sigma, torch.tensor([0.7, 1.0, 1.5]), torch.Generator().manual_seed(0)) - clean
    assert torch.allclose(noise.flatten(1).std(1), sigma, rtol=0.01)
    beside = (noise[..., 1:, :] * noise[..., :-1, :]).flatten(1).mean(1) / noise.flatten(1).var(1)
    assert bool((beside > 0.5).all())  # neighbours share the grain (white noise: about 0)
