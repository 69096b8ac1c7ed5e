"""The ``medinpaint repair`` command line, built in one place from the module's options.

The module never talks to medinpaint through Python imports: it starts ``python -m medinpaint.cli
repair`` with Slicer's own Python, so a crash, a CUDA out-of-memory or a long model load never takes
Slicer down or freezes it. This file is the whole contract between the two sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: What the user can ask for, and the repair flags each choice adds.
MODES = {
    "repair": (),  # find and fill dropouts (lost lines, slices, blocks)
    "both": ("--denoise",),  # fill dropouts, then denoise the whole volume
}
DEVICES = ("auto", "cpu", "cuda")

#: Runs a module as the leader of a new process group, so that cancelling ends the whole tree.
NEW_SESSION_SCRIPT = Path(__file__).resolve().with_name("newsession.py")


@dataclass(frozen=True)
class RepairOptions:
    """The user's choices for one run.

    Args:
        mode: one of :data:`MODES`: ``"repair"`` fills dropouts only, ``"both"`` also denoises.
        device: ``"auto"`` (CUDA when the installed torch sees a GPU), ``"cpu"`` or ``"cuda"``.
        model: a ``.safetensors`` file to use instead of the models shipped with medinpaint.
    """

    mode: str = "repair"
    device: str = "auto"
    model: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, not {self.mode!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {list(DEVICES)}, not {self.device!r}")
        if self.model is not None and not str(self.model).strip():
            raise ValueError("model must be a file path or None (the shipped models)")


def build_command(
    python: str | os.PathLike,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    options: RepairOptions,
    *,
    mask_path: str | os.PathLike | None = None,
    mask_out_path: str | os.PathLike | None = None,
    report_path: str | os.PathLike | None = None,
    new_session: bool = True,
) -> list[str]:
    """The argument list that repairs ``input_path`` into ``output_path``.

    Args:
        python: the interpreter that has medinpaint installed (in Slicer: ``PythonSlicer``).
        input_path, output_path: scans; the format follows the extension (the module uses ``.nrrd``).
        options: mode, device and model.
        mask_path: a label image on the input's grid whose non-zero voxels are repaired; ``None``
            lets medinpaint detect the damage itself.
        mask_out_path: where medinpaint writes the uint8 mask of the voxels it changed.
        report_path: where medinpaint writes its JSON report.
        new_session: start the run through :data:`NEW_SESSION_SCRIPT`, so it leads its own process
            group (POSIX) and cancelling can end every process it started.
    """
    command = [os.fspath(python)]
    if new_session:
        command += [os.fspath(NEW_SESSION_SCRIPT), "medinpaint.cli"]
    else:
        command += ["-m", "medinpaint.cli"]
    command += ["repair", os.fspath(input_path), os.fspath(output_path), "--progress",
                "--device", options.device]
    command += list(MODES[options.mode])
    if mask_path is not None:
        command += ["--mask", os.fspath(mask_path)]
    if mask_out_path is not None:
        command += ["--mask-out", os.fspath(mask_out_path)]
    if report_path is not None:
        command += ["--report", os.fspath(report_path)]
    if options.model is not None:
        command += ["--model", os.fspath(options.model)]
    return command
