"""Repair outputs pinned bit for bit: the repaired voxels, the mask and the report of a fixed corpus.

A refactor of the repair engine must not change a single output bit. Each case below damages a crop
of a sample scan with the ``transmission`` preset's random damage at fixed seeds and repairs it with
the shipped models on the CPU, through the crop path and the whole-plane path, in float32 and in
bfloat16, with the mask given and with detection (and once with the denoiser). The sha256 of the
repaired array, of the mask, of the report (as canonical JSON, without its timing) and of the progress
calls must equal those in ``inference_reference.json``, recorded with the engine of commit b80e80f,
before its split into one inferer base with a crop path and a whole-plane path (issue 17).

The network's arithmetic depends on the CPU's kernels (AVX512, AVX2, ...), on its maker and family (an
AMD EPYC and an Intel Xeon, both AVX512, round a bfloat16 and a float32 repair differently, and so do
AMD's Zen 4 and Zen 5) and on torch's version, so the reference holds one set of digests per machine
kind it was recorded on (its ``fingerprint``), and a machine checks against its own; on a kind with
none the test skips, and a case left out of its kind's set (an output change recorded on another kind
only) skips on it. Torch runs on one thread here: a convolution's sums may be split, and so rounded,
differently with another thread count. To record this machine kind's set again (only when a change of
output is intended):
``MEDINPAINT_RECORD_REFERENCE=1 pytest tests/repair/test_inference_identity.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from medinpaint.damage.presets import TRANSMISSION
from medinpaint.damage.transmission import (
    RandBitErrors,
    RandCorruptBlocks,
    RandLostLines,
    RandLostSlices,
    RandPacketLoss,
)
from medinpaint.io import read
from medinpaint.nets import RepairNet, SeedCNN
from medinpaint.repair import repair_volume

REFERENCE = Path(__file__).with_name("inference_reference.json")
RECORD = os.environ.get("MEDINPAINT_RECORD_REFERENCE") == "1"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
IN_PLANE = (RandLostLines, RandPacketLoss, RandCorruptBlocks, RandBitErrors)


def fingerprint() -> dict:
    return {"torch": torch.__version__.split("+")[0], "cpu": torch.backends.cpu.get_cpu_capability(),
            "vendor": cpu_info("vendor_id"), "family": cpu_info("cpu family"), "threads": 1}


def cpu_info(field: str) -> str:
    """A field of the first CPU as the kernel names it (``vendor_id``: ``GenuineIntel``, ``AuthenticAMD``;
    ``cpu family``: 25 for AMD's Zen 3 and 4, 26 for Zen 5, which round 2 of 28 repairs differently
    from Zen 4), or ``unknown``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _damaged(volume, kinds, seed: int, order: str = "K"):
    """``volume`` damaged by each of ``kinds`` in turn (the preset's ranges, seeds from ``seed``), and
    the union of their masks."""
    array, mask = volume.array, np.zeros(volume.shape, dtype=bool)
    for n, cls in enumerate(kinds):
        transform = cls(**TRANSMISSION[cls])
        transform.set_random_state(seed + n)
        damaged, changed = transform(array[np.newaxis])
        array = np.asarray(damaged)[0]
        mask |= np.asarray(changed)[0].astype(bool)
    return volume.with_array(np.array(array, order=order)), mask


def _mr():
    """133 x 151 x 16 of the MR head (uint8, Fortran order, as NIfTI stores it): odd sizes, and lost
    lines, tiles, blocks and bit errors over consecutive slices beside a lost slice."""
    clean = read(SAMPLES / "mr_head.nii.gz")
    crop = clean.with_array(np.asfortranarray(clean.array[24:157, 28:179, 12:28]))
    return _damaged(crop, IN_PLANE + (RandLostSlices,), seed=7, order="F")


def _ct_slice():
    """One CT slice (int16, rescale to HU, a stored range): in-plane damage only."""
    return _damaged(read(SAMPLES / "ct_slice.dcm"), IN_PLANE[:3], seed=3)


def _ct_series():
    """The 16 x 16 x 5 CT series: slices 0 (at the edge) and 2 damaged, 3 and 4 lost."""
    kinds = (RandCorruptBlocks, RandLostLines, RandLostSlices)
    return _damaged(read(SAMPLES / "ct_head_series"), kinds, seed=1)


def _as(dtype, order: str):
    def build():
        volume, mask = _mr()
        values = volume.array.astype(np.float64) * 200 + (0.3 if np.dtype(dtype).kind == "f" else 7)
        if np.dtype(dtype) == np.int64:
            values += 2**40
        return volume.with_array(np.array(values.astype(dtype), order=order)), mask

    return build


def _four_d():
    """Two time points of a smaller MR crop, damaged differently."""
    volume, mask = _mr()
    other, other_mask = _damaged(volume.with_array(np.asfortranarray(volume.array[::-1])), IN_PLANE, seed=19)
    array = np.stack([volume.array, other.array], axis=-1)[:64, :80, :8]
    return volume.with_array(np.asfortranarray(array)), np.stack([mask, other_mask], axis=-1)[:64, :80, :8]


SCANS = {"mr": _mr, "ct_slice": _ct_slice, "ct_series": _ct_series, "mr_uint16_c": _as(np.uint16, "C"),
         "mr_float32": _as(np.float32, "F"), "mr_int64": _as(np.int64, "F"), "mr_big_endian": _as(">i2", "F"),
         "mr_4d": _four_d}

def _scrambled(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every weight drawn at a fixed seed (an untrained RepairNet is its fill alone:
    random weights make every input channel, each neighbour included, count)."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model.eval()


MODELS = {"seed_cnn": lambda: _scrambled(SeedCNN(in_channels=2, features=8)),
          "repair_net_context_2": lambda: _scrambled(RepairNet(context=2, features=(8, 16)))}

# name: (scan, mask given, options); a "model" option names one of MODELS (a loaded module)
CASES = {
    "mr-given-crops-f32": ("mr", True, {"whole_planes": False, "precision": "float32"}),
    "mr-given-crops-bf16": ("mr", True, {"whole_planes": False, "precision": "bfloat16"}),
    "mr-given-planes-f32": ("mr", True, {"whole_planes": True, "precision": "float32"}),
    "mr-given-planes-bf16": ("mr", True, {"whole_planes": True, "precision": "bfloat16"}),
    "mr-detected-crops-f32": ("mr", False, {"whole_planes": False, "precision": "float32"}),
    "mr-detected-planes-bf16": ("mr", False, {"whole_planes": True, "precision": "bfloat16"}),
    "mr-given-default-path-denoise": ("mr", True, {"precision": "float32", "denoise": True}),
    "mr-given-planes-in-place": ("mr", True, {"whole_planes": True, "precision": "float32",
                                               "in_place": True}),
    "ct_slice-given-crops-f32": ("ct_slice", True, {"whole_planes": False, "precision": "float32"}),
    "ct_slice-given-planes-bf16": ("ct_slice", True, {"whole_planes": True, "precision": "bfloat16"}),
    "ct_slice-detected-crops-bf16": ("ct_slice", False, {"whole_planes": False, "precision": "bfloat16"}),
    "ct_slice-detected-planes-f32": ("ct_slice", False, {"whole_planes": True, "precision": "float32"}),
    "ct_series-given-crops-f32": ("ct_series", True, {"whole_planes": False, "precision": "float32"}),
    "ct_series-given-planes-f32": ("ct_series", True, {"whole_planes": True, "precision": "float32"}),
    "ct_series-detected-crops-bf16": ("ct_series", False, {"whole_planes": False, "precision": "bfloat16"}),
    "mr_uint16_c-given-planes-f32": ("mr_uint16_c", True, {"whole_planes": True, "precision": "float32"}),
    "mr_float32-given-planes-bf16": ("mr_float32", True, {"whole_planes": True, "precision": "bfloat16"}),
    "mr_float32-given-crops-f32": ("mr_float32", True, {"whole_planes": False, "precision": "float32"}),
    "mr_int64-given-planes-f32": ("mr_int64", True, {"whole_planes": True, "precision": "float32"}),
    "mr_big_endian-given-planes-f32": ("mr_big_endian", True, {"whole_planes": True, "precision": "float32"}),
    "mr_4d-given-crops-f32": ("mr_4d", True, {"whole_planes": False, "precision": "float32"}),
    "mr_4d-given-planes-bf16": ("mr_4d", True, {"whole_planes": True, "precision": "bfloat16"}),
    "mr-given-crops-f32-seed_cnn": ("mr", True, {"whole_planes": False, "precision": "float32",
                                                  "model": "seed_cnn"}),
    "mr-given-planes-f32-seed_cnn": ("mr", True, {"whole_planes": True, "precision": "float32",
                                                   "model": "seed_cnn"}),
    "mr-given-crops-f32-context_2": ("mr", True, {"whole_planes": False, "precision": "float32",
                                                   "model": "repair_net_context_2"}),
    "mr-given-planes-bf16-context_2": ("mr", True, {"whole_planes": True, "precision": "bfloat16",
                                                     "model": "repair_net_context_2"}),
    "ct_series-given-crops-f32-context_2": ("ct_series", True, {"whole_planes": False, "precision": "float32",
                                                                "model": "repair_net_context_2"}),
    "ct_series-given-planes-f32-context_2": ("ct_series", True, {"whole_planes": True, "precision": "float32",
                                                                 "model": "repair_net_context_2"}),
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_digest(array: np.ndarray) -> dict:
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    return {"sha256": _sha(np.ascontiguousarray(array).tobytes()), "dtype": array.dtype.str,
            "shape": list(array.shape), "order": order}


def run_case(name: str, scans: dict) -> dict:
    """The digest of one case's repair: array, mask, report (less its seconds) and progress calls."""
    scan, given, options = CASES[name]
    volume, mask = scans[scan]
    if "model" in options:
        options = dict(options, model=MODELS[options["model"]]())
    calls = []
    result = repair_volume(volume.with_array(volume.array.copy(order="K")), mask=mask if given else None,
                           device="cpu", progress=lambda fraction, stage: calls.append([fraction, stage]),
                           **options)
    report = {k: v for k, v in result.report.items() if k != "seconds"}
    return {"array": _array_digest(result.volume.array), "mask": _array_digest(result.mask),
            "report": _sha(json.dumps(report, sort_keys=True, separators=(",", ":")).encode()),
            "progress": _sha(json.dumps(calls).encode()), "damaged_voxels": report["damaged_voxels"]}


@pytest.fixture(scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scans():
    return {name: build() for name, build in SCANS.items()}


@pytest.fixture(scope="module")
def reference():
    machines = json.loads(REFERENCE.read_text())["machines"]
    ours = next((m for m in machines if m["fingerprint"] == fingerprint()), None)
    if RECORD:  # this machine kind's set, recorded anew; the other kinds' kept
        recorded = {"fingerprint": fingerprint(), "cases": {}}
        yield recorded
        others = [m for m in machines if m["fingerprint"] != fingerprint()]
        REFERENCE.write_text(json.dumps({"machines": others + [recorded]}, indent=1, sort_keys=True) + "\n")
        return
    if ours is None:
        pytest.skip(f"reference recorded on {[m['fingerprint'] for m in machines]}, this machine is "
                    f"{fingerprint()}")
    yield ours


@pytest.mark.parametrize("name", list(CASES))
def test_repair_outputs_are_bit_identical_to_the_reference(name, scans, reference, one_thread):
    if not RECORD and name not in reference["cases"]:
        pytest.skip(f"{name}: its output changed since this machine kind's set was recorded")
    digest = run_case(name, scans)
    if RECORD:
        reference["cases"][name] = digest
        return
    assert digest == reference["cases"][name]


@pytest.mark.skipif(RECORD, reason="recording")
def test_every_case_is_in_the_reference():
    machines = json.loads(REFERENCE.read_text())["machines"]
    assert any(set(m["cases"]) == set(CASES) for m in machines)  # one kind holds them all
    assert all(set(m["cases"]) <= set(CASES) for m in machines)
