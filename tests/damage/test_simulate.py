"""Damaging whole scans: ``simulate_volume`` and ``medinpaint simulate`` on real DICOM and NIfTI files.
The same seed gives bit-identical output, another seed other damage, nothing changes outside the mask,
and the files written keep the input's format, header and geometry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import medinpaint.damage as damage_module
from medinpaint.cli import build_parser, main
from medinpaint.damage import PRESETS, make_damage, simulate_volume
from medinpaint.damage.presets import CT_ARTIFACTS, MR_ARTIFACTS, preset_ranges
from medinpaint.io import read


@pytest.fixture(scope="module")
def scans(sample_data):
    return {
        "ct-series": read(sample_data / "ct_head_series"),
        "ct-slice": read(sample_data / "ct_slice.dcm"),
        "mr-slice": read(sample_data / "mr_slice.dcm"),
        "mr-head": read(sample_data / "mr_head.nii.gz"),
    }


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("scan", ["ct-series", "ct-slice", "mr-slice", "mr-head"])
def test_simulate_volume_damages_only_inside_the_mask_reproducibly(scans, scan, preset):
    volume = scans[scan]
    damaged, mask = simulate_volume(volume, preset, seed=4)
    assert damaged.array.dtype == volume.array.dtype and damaged.array.shape == volume.array.shape
    assert mask.dtype == np.uint8 and mask.shape == volume.array.shape
    outside = mask == 0
    assert damaged.array[outside].tobytes() == volume.array[outside].tobytes()
    np.testing.assert_array_equal(damaged.affine, volume.affine)
    assert damaged.meta.keys() == volume.meta.keys() and damaged.slope == volume.slope

    again, again_mask = simulate_volume(volume, preset, seed=4)
    assert again.array.tobytes() == damaged.array.tobytes() and np.array_equal(again_mask, mask)
    others = [simulate_volume(volume, preset, seed=s) for s in (5, 6)]
    assert any(o.array.tobytes() != damaged.array.tobytes() or not np.array_equal(m, mask) for o, m in others)


def test_damage_stays_within_the_bits_a_dicom_file_stores(pydicom_data_files, tmp_path):
    # I/O test on a reserved file (12 bits stored in 16): never used to fit or choose a model
    from medinpaint.io import write

    volume = read(pydicom_data_files / "emri_small.dcm")
    assert volume.meta["stored_range"] == (0, 4095)
    for seed in range(12):
        damaged, mask = simulate_volume(volume, "all", seed=seed)
        assert 0 <= damaged.array.min() and damaged.array.max() <= 4095
        assert damaged.array[mask == 0].tobytes() == volume.array[mask == 0].tobytes()
    flipped = damage_module.BitErrors(rate=0.05, top_bits=4, seed=0)(volume.array[None])[0][0]
    assert flipped.max() > 4095  # what the clip above is for
    write(damaged, tmp_path / "out")
    assert read(tmp_path / "out").array.tobytes() == damaged.array.tobytes()


def test_simulate_volume_refuses_bad_presets_and_seeds(scans):
    with pytest.raises(ValueError, match="preset"):
        simulate_volume(scans["ct-slice"], "everything", seed=0)
    with pytest.raises(ValueError, match="seed"):
        simulate_volume(scans["ct-slice"], "all", seed=-1)


def test_presets_keep_artifacts_to_their_modality():
    assert not set(preset_ranges("all", "CT")) & set(MR_ARTIFACTS)
    assert not set(preset_ranges("all", "MR")) & set(CT_ARTIFACTS)
    assert set(preset_ranges("all", None)) == set(PRESETS["all"])
    # an explicit artifact preset is honoured whatever the modality
    assert set(preset_ranges("mr-artifacts", "CT")) == set(MR_ARTIFACTS)
    assert len(make_damage("transmission", exclude=("lost-slices",)).transforms) == 5
    with pytest.raises(ValueError, match="exclude"):
        make_damage("all", exclude=("meteor-strike",))


def test_cli_choices_are_the_preset_names():
    simulate = build_parser()._subparsers._group_actions[0].choices["simulate"]
    damage_action = next(a for a in simulate._actions if a.dest == "damage")
    assert sorted(damage_action.choices) == sorted(PRESETS)


def _simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medinpaint.cli", "simulate", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_simulate_on_a_dicom_series_writes_a_series_and_its_mask(sample_data, tmp_path):
    src = sample_data / "ct_head_series"
    runs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        # in-process: the subprocess tests below cover the installed command itself
        assert main(["simulate", str(src), str(tmp_path / name), "--damage", "all", "--seed", seed,
                     "--mask-out", str(tmp_path / f"{name}_mask.nii.gz")]) == 0
        runs.append((read(tmp_path / name), read(tmp_path / f"{name}_mask.nii.gz")))
    clean = read(src)
    (a, mask_a), (b, mask_b), (c, mask_c) = runs
    assert a.format == "dicom" and a.modality == "CT"
    assert a.array.tobytes() == b.array.tobytes() and mask_a.array.tobytes() == mask_b.array.tobytes()
    assert a.array.tobytes() != c.array.tobytes() or mask_a.array.tobytes() != mask_c.array.tobytes()
    outside = mask_a.array == 0
    assert a.array[outside].tobytes() == clean.array[outside].tobytes()
    np.testing.assert_allclose(a.affine, clean.affine, atol=1e-4)
    np.testing.assert_allclose(mask_a.affine, clean.affine, atol=1e-4)
    assert mask_a.array.shape == clean.array.shape


def test_cli_simulate_on_nifti_keeps_the_header(sample_data, tmp_path):
    src = sample_data / "mr_head.nii.gz"
    run = _simulate(str(src), str(tmp_path / "out.nii.gz"), "--damage", "transmission", "--seed", "3",
                    "--mask-out", str(tmp_path / "mask.nii.gz"))
    assert run.returncode == 0, run.stderr
    clean, out, mask = read(src), read(tmp_path / "out.nii.gz"), read(tmp_path / "mask.nii.gz")
    assert out.array.dtype == clean.array.dtype
    assert out.array[mask.array == 0].tobytes() == clean.array[mask.array == 0].tobytes()
    assert mask.array.any()
    np.testing.assert_array_equal(out.affine, clean.affine)
    np.testing.assert_array_equal(mask.affine, clean.affine)
    assert out.meta["nifti_header"]["sform_code"] == clean.meta["nifti_header"]["sform_code"]


def test_cli_simulate_refuses_another_output_format(sample_data, tmp_path, capsys):
    code = main(["simulate", str(sample_data / "mr_head.nii.gz"), str(tmp_path / "out"), "--damage", "all",
                 "--mask-out", str(tmp_path / "mask.nii.gz")])
    assert code == 2 and "input's format" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "mask.nii.gz").exists()
    code = main(["simulate", str(sample_data / "mr_head.nii.gz"), str(tmp_path / "out.nii.gz"),
                 "--damage", "all", "--mask-out", str(tmp_path / "mask_folder")])
    assert code == 2 and "DICOM mask" in capsys.readouterr().err and not (tmp_path / "out.nii.gz").exists()
