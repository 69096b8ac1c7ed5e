"""medinpaint.nets.store: safetensors + JSON round trips, no pickle, clear errors, shipped models."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

from medinpaint.errors import InputError
from medinpaint.nets import RepairNet, default_model_path, load_model, read_model_meta, save_model


def _forbid_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_round_trip_gives_identical_outputs_without_unpickling(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = RepairNet(context=1, features=(8, 16, 16)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = save_model(model, tmp_path / "m.safetensors", {"context": 1, "features": [8, 16, 16]},
                      {"damage_preset": "x"})
    _forbid_pickle(monkeypatch)
    loaded, meta = load_model(path)
    x = torch.rand(2, 4, 40, 40)
    x[:, -1] = (x[:, -1] > 0.7).float()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["architecture"] == "RepairNet" and meta["damage_preset"] == "x"
    assert not loaded.training
    header_length = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8 : 8 + header_length])
    assert header["__metadata__"]["format"] == "medinpaint-model"


def test_a_pickled_checkpoint_is_refused_with_the_file_named(tmp_path):
    model = RepairNet(context=0, features=(4, 8))
    path = save_model(model, tmp_path / "m.safetensors", {"context": 0, "features": [4, 8]})
    torch.save(model.state_dict(), path)
    with pytest.raises(InputError, match="m.safetensors"):
        load_model(path)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = save_model(RepairNet(context=0, features=(4, 8)), tmp_path / "m",
                      {"context": 0, "features": [4, 8]})
    meta = read_model_meta(path)
    meta["args"] = {"context": 0, "features": [8, 16]}
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not fit"):
        load_model(path)


@pytest.mark.parametrize("name", ["repair", "denoise"])
def test_shipped_models_load_and_are_small(name):
    path = default_model_path(name)
    assert path.stat().st_size < 20 * 2**20
    model, meta = load_model(path)
    assert meta["metrics"] and meta["damage_preset"]
    channels = model.in_channels
    with torch.no_grad():
        out = model(torch.zeros(1, channels, 64, 64))
    assert out.shape == (1, 1, 64, 64)
