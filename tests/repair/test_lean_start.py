"""`medinpaint repair` imports only what it uses: no MONAI (seconds to import), no evaluation packages.

A user repairing one slice, and the Slicer module that starts a process per repair, wait for the
imports (issue 23). The repair runs in a fresh interpreter, and its ``sys.modules`` is checked after.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np

from medinpaint.damage import BitErrors, CorruptBlocks, LostLines, LostSlices, PacketLoss, Truncation
from medinpaint.repair.detection import KINDS

HEAVY = ("monai", "matplotlib", "skimage", "cv2", "SimpleITK", "pandas", "sklearn")
PROBE = """
import json, sys
from medinpaint.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def _repair_modules(*argv: str) -> tuple[int, set[str]]:
    run = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    record = json.loads(run.stdout.strip().splitlines()[-1])
    return record["status"], {name.split(".")[0] for name in record["modules"]}


def _small_scan(folder) -> tuple[str, str]:
    """A 96x80x3 uint16 NIfTI with a few lost lines in the middle slice, and their mask."""
    rng = np.random.default_rng(0)
    array = (1000 + 200 * rng.standard_normal((96, 80, 3))).astype(np.uint16)
    mask = np.zeros(array.shape, dtype=np.uint8)
    mask[:, 30:33, 1] = 1
    array[mask.astype(bool)] = 0
    nib.save(nib.Nifti1Image(array, np.eye(4)), folder / "scan.nii")
    nib.save(nib.Nifti1Image(mask, np.eye(4)), folder / "mask.nii.gz")
    return str(folder / "scan.nii"), str(folder / "mask.nii.gz")


def test_repair_with_detection_imports_no_monai(tmp_path):
    scan, _ = _small_scan(tmp_path)
    status, top_level = _repair_modules("repair", scan, str(tmp_path / "out.nii"),
                                        "--report", str(tmp_path / "report.json"))
    assert status == 0
    assert json.loads((tmp_path / "report.json").read_text())["damaged_voxels"] > 0
    assert "torch" in top_level and not top_level & set(HEAVY)


def test_repair_with_a_mask_imports_no_monai(tmp_path):
    scan, mask = _small_scan(tmp_path)
    status, top_level = _repair_modules("repair", scan, str(tmp_path / "out.nii.gz"), "--mask", mask,
                                        "--precision", "float32")
    assert status == 0 and not top_level & set(HEAVY)


def test_detection_names_the_kinds_as_the_damage_transforms_do():
    transforms = (LostSlices, LostLines, PacketLoss, Truncation, CorruptBlocks, BitErrors)
    assert KINDS == tuple(damage.kind for damage in transforms)


def test_the_monai_transforms_are_still_exported_where_they_were():
    from medinpaint.damage import RandLostLinesd
    from medinpaint.data import SlicePairDataset
    from medinpaint.repair import Repair, Repaird

    assert Repair.__name__ == "Repair" and Repaird.__name__ == "Repaird"
    assert RandLostLinesd.__name__ == "RandLostLinesd" and SlicePairDataset.__name__ == "SlicePairDataset"
