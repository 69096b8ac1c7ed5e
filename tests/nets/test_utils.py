"""medinpaint.nets' helpers for running networks: the device chosen one way for all, a model named as a
file, a module or nothing (the shipped one), and channels-last weights converted once."""

from __future__ import annotations

import pytest
import torch

from medinpaint.errors import InputError
from medinpaint.nets import (
    RepairNet,
    SeedCNN,
    channels_last,
    default_model_path,
    pick_device,
    resolve_model,
    save_model,
)


def test_auto_is_cuda_where_a_gpu_is_present_and_anything_else_is_taken_as_it_is():
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device() == pick_device("auto")
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)  # named, not checked: torch fails on first use


def test_no_model_named_is_the_shipped_one():
    model, meta, name = resolve_model(None, default="repair", device="cpu")
    assert isinstance(model, RepairNet) and not model.training
    assert name == default_model_path("repair").name and meta["architecture"] == "RepairNet"
    denoiser, _, denoise_name = resolve_model("", default="denoise")
    assert denoise_name == default_model_path("denoise").name and not denoiser.training


def test_a_model_file_is_loaded_and_reported_by_its_name(tmp_path):
    path = save_model(RepairNet(context=0, features=(4, 8)), tmp_path / "mine.safetensors",
                      {"context": 0, "features": [4, 8]})
    model, meta, name = resolve_model(str(path), default="repair")
    assert isinstance(model, RepairNet) and model.context == 0
    assert name == "mine.safetensors" and meta["args"] == {"context": 0, "features": [4, 8]}


def test_a_module_is_used_as_it_is_in_eval_mode():
    module = RepairNet(context=2, features=(4, 8)).train()
    model, meta, name = resolve_model(module, default="repair", device="cpu")
    assert model is module and not model.training
    assert meta == {"architecture": "RepairNet", "args": {"context": 2}} and name == "RepairNet"
    seed, seed_meta, _ = resolve_model(SeedCNN(in_channels=2), default="repair")
    assert seed_meta == {"architecture": "SeedCNN", "args": {}}  # no context: a single slice and its mask


def test_a_missing_model_file_is_an_input_error_that_names_it(tmp_path):
    with pytest.raises(InputError, match="model file not found") as caught:
        resolve_model(tmp_path / "absent.safetensors", default="repair")
    assert "absent.safetensors" in str(caught.value)


def test_channels_last_converts_the_weights_once():
    model = SeedCNN(in_channels=2, features=8)
    assert channels_last(model) is model
    weights = [p for p in model.parameters() if p.dim() == 4]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    before = [w.data_ptr() for w in weights]
    channels_last(model)  # already channels-last: nothing is copied again
    assert [w.data_ptr() for w in model.parameters() if w.dim() == 4] == before


def test_small_work_runs_on_one_thread_and_the_setting_is_put_back():
    from medinpaint.nets.utils import FILL_WORK, SMALL_WORK, threads_for

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threads_for(128 * 128):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with threads_for(SMALL_WORK):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), threads_for(10):
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        with threads_for(512 * 512, small=FILL_WORK):  # the in-plane fill of a plane: one thread
            assert torch.get_num_threads() == 1
        with threads_for(FILL_WORK, small=FILL_WORK):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_module_in_place_is_taken_as_it_is_and_one_in_training_is_put_in_eval_mode():
    net = RepairNet(context=1, features=(8, 16))
    assert net.training
    module, _, _ = resolve_model(net, default="repair", device="cpu")
    assert module is net and not any(m.training for m in module.modules())
    weights = [p.data_ptr() for p in module.parameters()]
    again, _, _ = resolve_model(module, default="repair", device="cpu")
    assert again is module and [p.data_ptr() for p in again.parameters()] == weights
