"""medinpaint.train: the loss, one step, overfitting, checkpoints and resume, on real MR slices."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from medinpaint.errors import InputError
from medinpaint.nets import SeedCNN, load_model
from medinpaint.train import TrainConfig, Trainer, collate, masked_mse, model_input, psnr
from medinpaint.train.loop import learning_rate
from tests.train.slices import HoleSlices, load_head


@pytest.fixture(scope="module")
def head() -> np.ndarray:
    return load_head()


def _config(tmp_path, **changes) -> TrainConfig:
    values = dict(
        model="RepairNet", model_args={"features": [8, 16, 16]}, context=1, epochs=1, steps_per_epoch=4,
        batch_size=4, num_workers=0, output=str(tmp_path / "run"), val_samples=3, warmup_steps=2, lr=3e-3,
        device="cpu",
        augment=False, threads=1,
    )
    values.update(changes)
    return TrainConfig(**values)


def test_masked_mse_weighs_every_sample_equally_whatever_its_hole_size():
    clean = torch.zeros(2, 1, 8, 8)
    prediction = clean.clone()
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, :1, :1] = 1  # one damaged pixel, error 1
    mask[1] = 1  # whole image damaged, error 0
    prediction[0, 0, 0, 0] = 1.0
    assert float(masked_mse(prediction, clean, mask)) == pytest.approx(0.5)
    assert float(psnr(prediction, clean, mask)[0]) == pytest.approx(0.0)
    # the denoiser's weights: one factor per sample on its whole-image mean
    assert float(masked_mse(prediction, clean, None, torch.tensor([2.0, 5.0]))) == pytest.approx(2.0 / 64 / 2)
    # ... and on the per-sample means over the mask when there is one
    assert (float(masked_mse(prediction, clean, mask, torch.tensor([2.0, 5.0])))
            == pytest.approx(2.0 * 1.0 / 2))


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(lr=1e-3, warmup_steps=10)
    rates = [learning_rate(s, config, 100) for s in range(100)]
    assert rates[9] == pytest.approx(1e-3) and rates[0] < rates[5] < rates[9]
    assert rates[50] < rates[10] and rates[-1] == pytest.approx(2e-5, rel=0.1)
    config.max_minutes = 10.0  # a run past its time budget anneals to the floor whatever its step
    assert learning_rate(20, config, 100, time_fraction=1.0) == pytest.approx(2e-5)


def test_one_optimisation_step_lowers_the_loss_on_real_slices(head, tmp_path):
    trainer = Trainer(_config(tmp_path, lr=1e-3, warmup_steps=0), HoleSlices(head, count=4, patch=48))
    trainer._setup()
    batch = collate([trainer.train_dataset[i] for i in range(4)])

    def loss() -> float:
        with torch.no_grad():
            x = model_input(trainer.model, batch["damaged"], batch["mask"])
            return float(masked_mse(trainer.model(x), batch["clean"], batch["mask"]))

    before = loss()
    trainer.train_step(batch, step=0, total_steps=1)
    assert loss() < before


def test_the_seed_cnn_overfits_one_batch(head, tmp_path):
    torch.manual_seed(0)
    config = _config(tmp_path, model="SeedCNN", model_args={"features": 16}, lr=3e-3, warmup_steps=0)
    trainer = Trainer(config, HoleSlices(head, count=4, patch=32))
    trainer._setup()
    batch = collate([trainer.train_dataset[i] for i in range(4)])
    losses = [trainer.train_step(batch, step=s, total_steps=10**6) for s in range(150)]
    assert losses[-1] < losses[0] / 20


def test_training_writes_metrics_and_a_best_checkpoint_that_reloads_identically(head, tmp_path):
    config = _config(tmp_path)
    summary = Trainer(config, HoleSlices(head, count=8, patch=32),
                      HoleSlices(head, count=3, patch=32, seed=9)).run()
    run = tmp_path / "run"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 1 and float(rows[0]["val_psnr_mask"]) > 10
    assert json.loads((run / "metrics.json").read_text())[0]["val"]["hole"]["n"] == 3
    model, meta = load_model(run / "best.safetensors")
    assert meta["training"]["model"] == "RepairNet" and meta["damage_preset"] == "transmission"
    assert meta["metrics"]["all"]["psnr_mask"] == pytest.approx(summary["best_score"])
    sample = collate([HoleSlices(head, count=1, patch=32, seed=9)[0]])
    x = model_input(model, sample["damaged"], sample["mask"])
    with torch.no_grad():
        assert torch.equal(model(x), load_model(run / "best.json")[0](x))


def test_resume_continues_from_the_last_checkpoint(head, tmp_path):
    data, val = HoleSlices(head, count=8, patch=32), HoleSlices(head, count=2, patch=32, seed=9)
    Trainer(_config(tmp_path, epochs=2, max_minutes=1e-9), data, val).run()  # out of time after one step
    first = json.loads((tmp_path / "run" / "last.json").read_text())
    assert first["epoch"] == 1 and first["step"] == 1
    summary = Trainer(_config(tmp_path, epochs=2, resume=True), data, val).run()
    assert summary["epochs"] == 2 and summary["steps"] == 5
    assert [h["epoch"] for h in summary["history"]] == [1, 2]


def test_model_input_adds_the_mask_only_where_the_model_has_a_channel_for_it():
    damaged, mask = torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)
    assert model_input(SeedCNN(in_channels=4), damaged, mask).shape[1] == 4
    assert model_input(SeedCNN(in_channels=3), damaged, mask).shape[1] == 3
    with pytest.raises(ValueError):
        model_input(SeedCNN(in_channels=1), damaged, mask)


def test_bad_settings_are_value_errors():
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l1")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_validation_leaves_out_samples_whose_neighbour_is_the_answer(head, tmp_path):
    samples = [HoleSlices(head, count=2, patch=32, seed=4)[i] for i in range(2)]
    samples[1]["damaged"][0] = samples[1]["clean"][0]  # an edge slice repeated as its own neighbour
    trainer = Trainer(_config(tmp_path), HoleSlices(head, count=4, patch=32), samples)
    trainer._setup()
    assert trainer.validate()["all"]["n"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none; run on a lent GPU)")
@pytest.mark.parametrize("compiled", ["off", "on"])
def test_cuda_bf16_training_learns_and_its_checkpoint_loads_on_the_cpu(head, tmp_path, compiled):
    config = _config(tmp_path, device="cuda", amp="on", compile=compiled, lr=3e-3, warmup_steps=0)
    trainer = Trainer(config, HoleSlices(head, count=4, patch=32),
                      HoleSlices(head, count=3, patch=32, seed=9))
    trainer._setup()
    assert trainer.amp and next(trainer.model.parameters()).is_cuda
    batch = collate([trainer.train_dataset[i] for i in range(4)])
    losses = [trainer.train_step(batch, step=s, total_steps=10**6) for s in range(60)]
    assert losses[-1] < losses[0] / 2
    trainer.run()
    model, _ = load_model(tmp_path / "run" / "best.safetensors", device="cpu")
    assert not next(model.parameters()).is_cuda


def test_fine_tuning_starts_from_the_saved_weights_and_refuses_another_architecture(head, tmp_path):
    data, val = HoleSlices(head, count=8, patch=32), HoleSlices(head, count=2, patch=32, seed=9)
    Trainer(_config(tmp_path / "first"), data, val).run()
    saved = tmp_path / "first" / "run" / "best.safetensors"
    # with a learning rate of 0 the weights stay where they started: the saved ones, not a new draw
    Trainer(_config(tmp_path / "tuned", init=str(saved), lr=0.0, seed=5), data, val).run()
    start = load_model(saved)[0].state_dict()
    tuned = load_model(tmp_path / "tuned" / "run" / "best.safetensors")[0].state_dict()
    assert start.keys() == tuned.keys() and all(torch.equal(start[k], tuned[k]) for k in start)
    other = _config(tmp_path / "other", init=str(saved), model_args={"features": [8, 16, 32]})
    with pytest.raises(InputError, match="cannot start from its weights") as error:
        Trainer(other, data, val).run()
    assert str(saved) in str(error.value)
