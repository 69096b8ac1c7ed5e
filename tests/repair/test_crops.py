"""The crop path repairs a volume's damaged slices CHUNK at a time, each chunk written before the next is
read (memory bounded by the chunk, issue 23): its output is bit for bit that of one pass over every slice,
in place or not, whatever the chunk, with neighbours that are damaged, re-created or at the edge."""

from __future__ import annotations

import numpy as np
import pytest

from medinpaint.repair import crops as crop_path
from medinpaint.repair import repair_volume
from tests.repair.test_inference_identity import MODELS, SCANS


@pytest.fixture(scope="module")
def mr():
    return SCANS["mr"]()  # 16 slices: lost lines, tiles, blocks, bit errors over consecutive slices


@pytest.mark.parametrize("model", [None, "repair_net_context_2"])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("in_place", [False, True])
def test_any_chunk_gives_the_output_of_one_pass(mr, model, precision, in_place, monkeypatch):
    volume, mask = mr
    options = {"whole_planes": False, "precision": precision, "device": "cpu", "in_place": in_place}
    if model:
        options["model"] = MODELS[model]()
    outputs, calls = {}, {}
    for chunk in (1000, 1, 3):
        monkeypatch.setattr(crop_path, "CHUNK", chunk)
        progress = []
        result = repair_volume(volume.with_array(volume.array.copy(order="K")), mask=mask,
                               progress=lambda fraction, stage, progress=progress: progress.append(fraction),
                               **options)
        outputs[chunk], calls[chunk] = result.volume.array, progress
    assert np.array_equal(outputs[1], outputs[1000]) and np.array_equal(outputs[3], outputs[1000])
    for progress in calls.values():  # crops done out of the volume's, across the chunks
        assert progress == sorted(progress) and progress[-1] == 1.0
