"""``--precision auto`` picks bf16 only where torch computes it natively, and the report names the pick.

Where bf16 is emulated it is several times slower than float32 (the bench slice with torch held to
AVX2 on a CPU with AVX512-BF16: 467 against 110 ms), so a CPU without it, or torch held below it
(``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``: the bench's stand-in for such a CPU), runs float32.
Those settings are read when torch starts, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from medinpaint.io import Volume
from medinpaint.repair import repair_volume
from medinpaint.repair.inferer import native_bfloat16_cpu, uses_bfloat16

PROBE = """
import json, numpy as np, torch
from medinpaint.io import Volume
from medinpaint.repair import repair_volume
from medinpaint.repair.inferer import native_bfloat16_cpu
array = (1000 + 100 * np.random.default_rng(0).standard_normal((48, 40, 3))).astype(np.int16)
mask = np.zeros(array.shape, bool)
mask[:, 20:22, 1] = True
report = repair_volume(Volume(array, np.eye(4), meta={"path": "probe"}), mask=mask, device="cpu").report
print(json.dumps({"native": native_bfloat16_cpu(), "picked": report["precision"]}))
"""


def _fresh(**env: str) -> dict:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return json.loads(run.stdout.strip().splitlines()[-1])


def _small() -> tuple[Volume, np.ndarray]:
    array = (1000 + 100 * np.random.default_rng(1).standard_normal((48, 40, 3))).astype(np.int16)
    mask = np.zeros(array.shape, bool)
    mask[10:14, :, 1] = True
    return Volume(array, np.eye(4), meta={"path": "small"}), mask


def test_explicit_precisions_are_taken_as_asked():
    cpu = torch.device("cpu")
    assert uses_bfloat16(cpu, "bfloat16") and not uses_bfloat16(cpu, "float32")
    with pytest.raises(ValueError, match="precision"):
        uses_bfloat16(cpu, "int8")


@pytest.mark.parametrize("precision", ["auto", "float32", "bfloat16"])
def test_the_report_names_the_precision_that_ran(precision):
    volume, mask = _small()
    report = repair_volume(volume, mask=mask, device="cpu", precision=precision).report
    expected = {"auto": "bfloat16" if native_bfloat16_cpu() else "float32"}.get(precision, precision)
    assert report["precision"] == expected


@pytest.mark.parametrize("env", [{"ATEN_CPU_CAPABILITY": "avx2"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"},
                                 {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}])
def test_torch_held_below_native_bf16_runs_float32(env):
    assert _fresh(**env) == {"native": False, "picked": "float32"}


def test_a_cap_that_keeps_bf16_changes_nothing():
    assert _fresh(ONEDNN_MAX_CPU_ISA="AVX512_CORE_AMX") == _fresh()
