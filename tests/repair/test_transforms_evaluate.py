"""Repair inside a MONAI Compose keeps MetaTensor meta; evaluate writes its report and figures."""

import json

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

from medinpaint.cli import main
from medinpaint.io import read, write
from medinpaint.repair import Repair, Repaird


def test_repaird_in_a_compose_keeps_meta(sample_data, tmp_path, fill_model):
    volume = read(sample_data / "mr_head.nii.gz")
    damaged = volume.array.copy()
    damaged[:, 100:103, 25] = 0
    write(volume.with_array(damaged), tmp_path / "damaged.nii.gz")
    pipeline = Compose([LoadImaged(keys="image", image_only=True), EnsureChannelFirstd(keys="image"),
                        Repaird(keys="image", mask_out_key="repaired", model=fill_model, device="cpu")])
    out = pipeline({"image": str(tmp_path / "damaged.nii.gz")})
    image = out["image"]
    assert isinstance(image, MetaTensor) and image.shape == (1, 181, 217, 48)
    assert np.allclose(image.affine.numpy(), volume.affine)
    assert out["repaired"].sum() == 181 * 3
    changed = image[0].numpy() != damaged
    assert changed.any() and not changed[out["repaired"][0] == 0].any()


def test_repair_array_transform_on_a_2d_tensor(pydicom_files, fill_model):
    ct = read(pydicom_files / "CT_small.dcm").physical()[:, :, 0]
    damaged = ct.copy()
    damaged[40:56, 40:56] = -1024  # a lost 16x16 packet at the image's fill (stored 0)
    mask = np.zeros((1,) + ct.shape, dtype=np.uint8)
    mask[0, 40:56, 40:56] = 1
    out = Repair(model=fill_model, device="cpu")(torch.as_tensor(damaged[np.newaxis]), mask=mask)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 128, 128)
    error = np.abs(out[0].numpy()[40:56, 40:56] - ct[40:56, 40:56]).mean()
    assert error < np.abs(-1024 - ct[40:56, 40:56]).mean() / 3


def test_evaluate_writes_report_and_figures(sample_data, tmp_path, fill_model):
    assert main(["evaluate", str(sample_data / "ct_slice.dcm"), "--out", str(tmp_path),
                 "--model", str(fill_model)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    kinds = set(report["summary"])
    assert {"lost-lines", "packet-loss", "corrupted-blocks", "bit-errors"} <= kinds
    methods = set(report["summary"]["lost-lines"])
    assert {"medinpaint", "medinpaint (detected)", "biharmonic", "telea", "median"} <= methods
    assert "| damage | method |" in (tmp_path / "report.md").read_text()
    assert "| lost-lines, 2D image | medinpaint |" in (tmp_path / "report.md").read_text()
    figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "ct_slice_lost-lines.png" in figures


def test_evaluate_skips_damage_that_leaves_nothing_to_repair_from(pydicom_files, fill_model):
    """A long packet burst covers the whole 64x64 one-slice MR_small at seed 3: the engine rightly
    refuses it, and evaluate scores the other kinds instead of stopping."""
    from medinpaint.repair.evaluate import evaluate_volume

    rows = evaluate_volume(read(pydicom_files / "MR_small.dcm"), "mr_small", seed=3, model=fill_model)
    kinds = {row["kind"] for row in rows}
    assert "packet-loss" not in kinds and {"lost-lines", "bit-errors"} <= kinds


def test_evaluate_reports_2d_images_and_volumes_apart():
    from medinpaint.repair.evaluate import summarise

    rows = [{"kind": "lost-lines", "group": group, "method": "medinpaint", "psnr_mask": v, "psnr": v,
             "ssim": 1.0} for group, v in (("2D image", 20.0), ("volume", 30.0))]
    assert summarise(rows)["lost-lines"]["medinpaint"]["n"] == 2
    summary = summarise(rows, by_group=True)
    assert summary["lost-lines, 2D image"]["medinpaint"]["psnr_mask"] == 20.0
    assert summary["lost-lines, volume"]["medinpaint"]["psnr_mask"] == 30.0
