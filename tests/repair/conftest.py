"""Fixtures for the repair tests: a repair model file and damaged copies of real scans."""

import pytest

from medinpaint.nets import RepairNet, save_model


@pytest.fixture(scope="session")
def fill_model(tmp_path_factory):
    """An untrained RepairNet: its correction starts at zero, so it is exactly its classical fill
    (push-pull and biharmonic relaxation in-plane). Deterministic and fast; the engine's contracts do not
    depend on training."""
    path = tmp_path_factory.mktemp("model") / "fill.safetensors"
    save_model(RepairNet(context=1), path, {"context": 1})
    return path
