"""The repair model every watcher in these tests uses: an untrained RepairNet, which is exactly its
classical fill (its learned correction starts at zero). Deterministic and fast, and the watcher's
contracts (exactly once, atomic, journaled) do not depend on what the network has learnt."""

from __future__ import annotations

import pytest

from medinpaint.nets import RepairNet, save_model
from tests.watch import runner


@pytest.fixture(scope="session", autouse=True)
def fill_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "fill.safetensors"
    save_model(RepairNet(context=1), path, {"context": 1})
    runner.MODEL = path
    yield path
    runner.MODEL = None
