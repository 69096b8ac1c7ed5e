"""MedInpaintLib.command: the `medinpaint repair` command line the Slicer module starts."""

from __future__ import annotations

import sys

import pytest
from MedInpaintLib.command import MODES, NEW_SESSION_SCRIPT, RepairOptions, build_command


def test_default_command_runs_repair_in_a_new_session_with_progress():
    command = build_command("/opt/Slicer/bin/PythonSlicer", "/w/input.nrrd", "/w/output.nrrd",
                            RepairOptions(), mask_out_path="/w/mask-out.nrrd", report_path="/w/report.json")
    assert command[:3] == ["/opt/Slicer/bin/PythonSlicer", str(NEW_SESSION_SCRIPT), "medinpaint.cli"]
    assert command[3:6] == ["repair", "/w/input.nrrd", "/w/output.nrrd"]
    assert "--progress" in command
    assert command[command.index("--device") + 1] == "auto"
    assert command[command.index("--mask-out") + 1] == "/w/mask-out.nrrd"
    assert command[command.index("--report") + 1] == "/w/report.json"
    assert "--mask" not in command and "--denoise" not in command and "--model" not in command


def test_options_map_to_flags():
    command = build_command("py", "in.nrrd", "out.nrrd",
                            RepairOptions(mode="both", device="cpu", model="/m/x.safetensors"),
                            mask_path="mask.nrrd", new_session=False)
    assert command[:3] == ["py", "-m", "medinpaint.cli"]
    assert "--denoise" in command
    assert command[command.index("--device") + 1] == "cpu"
    assert command[command.index("--mask") + 1] == "mask.nrrd"
    assert command[command.index("--model") + 1] == "/m/x.safetensors"


@pytest.mark.parametrize("kwargs", [{"mode": "sharpen"}, {"device": "tpu"}, {"model": "  "}])
def test_bad_options_are_refused_when_made(kwargs):
    with pytest.raises(ValueError):
        RepairOptions(**kwargs)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_real_cli_accepts_every_command_the_module_builds(repair_cli, mode, tmp_path):
    """The contract, checked against medinpaint's own argument parser rather than a copy of it."""
    from medinpaint.cli import build_parser

    command = build_command(sys.executable, tmp_path / "in.nrrd", tmp_path / "out.nrrd",
                            RepairOptions(mode=mode, device="cpu", model=str(tmp_path / "m.safetensors")),
                            mask_path=tmp_path / "mask.nrrd", mask_out_path=tmp_path / "mask-out.nrrd",
                            report_path=tmp_path / "report.json")
    args = build_parser().parse_args(command[3:])
    assert args.command == "repair"
    assert args.progress and args.device == "cpu"
    assert bool(args.denoise) == (mode == "both")
