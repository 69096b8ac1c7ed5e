"""The MONAI bundle: its configs parse, instantiate medinpaint's components, and `monai.bundle run`
trains (tiny) and infers (with the shipped repair model) in real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigParser
from monai.inferers import SlidingWindowInferer

from medinpaint.nets import RepairNet
from medinpaint.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "medinpaint" / "bundle" / "configs"


def _parser(name: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_meta(str(CONFIGS / "metadata.json"))
    parser.read_config(str(CONFIGS / name))
    return parser


def _bundle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "--meta_file", str(CONFIGS / "metadata.json"),
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=cwd)


def test_metadata_describes_the_network_input_and_output():
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["network_data_format"]["inputs"]["image"]["num_channels"] == 4
    assert meta["network_data_format"]["outputs"]["pred"]["num_channels"] == 1
    assert "not for diagnosis" in meta["intended_use"]


def test_train_config_instantiates_medinpaint_components():
    parser = _parser("train.json")
    assert isinstance(parser.get_parsed_content("network_def"), RepairNet)
    config = parser.get_parsed_content("config")
    assert isinstance(config, TrainConfig) and config.model_args["features"] == [8, 16, 32]


def test_inference_config_instantiates_the_shipped_model_and_a_sliding_window_inferer():
    parser = _parser("inference.json")
    assert isinstance(parser.get_parsed_content("network_def"), RepairNet)
    assert isinstance(parser.get_parsed_content("inferer"), SlidingWindowInferer)


def test_bundle_run_trains_a_tiny_model(tmp_path):
    result = _bundle("--config_file", str(CONFIGS / "train.json"), "--bundle_root", str(tmp_path),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "runs" / "bundle-train" / "best.safetensors").exists()
    assert "best score" in result.stdout


def test_bundle_run_repairs_a_real_scan_inside_the_mask_only(tmp_path, mr_head):
    image = nib.load(mr_head)
    array = np.asarray(image.dataobj)[40:120, 40:140, 60:70].copy()
    mask = np.zeros(array.shape, np.uint8)
    mask[30:46, 20:60, 5] = 1
    damaged = array.copy()
    damaged[mask > 0] = 0
    nib.save(nib.Nifti1Image(damaged, image.affine), tmp_path / "damaged.nii.gz")
    nib.save(nib.Nifti1Image(mask, image.affine), tmp_path / "mask.nii.gz")
    result = _bundle(
        "--config_file", str(CONFIGS / "inference.json"), "--input_image", str(tmp_path / "damaged.nii.gz"),
        "--mask_image", str(tmp_path / "mask.nii.gz"),
        "--output_image", str(tmp_path / "out" / "repaired.nii.gz"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    repaired = np.asarray(nib.load(tmp_path / "out" / "repaired.nii.gz").dataobj)
    assert np.array_equal(repaired[mask == 0], damaged[mask == 0])
    inside = mask > 0
    error = np.abs(repaired[inside].astype(float) - array[inside]).mean()
    assert error < np.abs(damaged[inside].astype(float) - array[inside]).mean() / 5


@pytest.mark.parametrize("name", ["metadata.json", "train.json", "inference.json"])
def test_configs_are_valid_json(name):
    assert json.loads((CONFIGS / name).read_text())
