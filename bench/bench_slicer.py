"""What the Slicer module adds around a repair, measured on real MRML (slicer-core) and a real process.

For each volume: export from the scene (Slicer's NRRD writer), the separate ``medinpaint repair``
process (wall time, time to its first progress line, and the repair's own time from its report),
import of the volume and the mask segmentation, and the longest single ``poll()`` (what the GUI
thread spends per timer tick). Then cancellation: a run on the full head is cancelled at its first
progress line and the time until every process of its tree is verified gone is taken.

    nice -n 10 .venv/bin/python bench/bench_slicer.py [--model PATH] [--repeats 3]

Prints JSON, then a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins" / "slicer" / "MedInpaint"))

import slicer  # noqa: E402
import slicer.util  # noqa: E402
from MedInpaintLib import proctree  # noqa: E402
from MedInpaintLib.command import RepairOptions  # noqa: E402
from MedInpaintLib.run import RUNNING, RepairRun  # noqa: E402
from MedInpaintLib.scene import export_volume, import_mask, import_volume  # noqa: E402
from MedInpaintLib.workspace import Workspace  # noqa: E402

from medinpaint.data.sources import find_source  # noqa: E402
from medinpaint.io import read  # noqa: E402


def launch(args, env):
    return slicer.util.launchConsoleProcess(args, useStartupEnvironment=False, updateEnvironment=dict(env))


def volumes() -> dict[str, np.ndarray]:
    """Real MR heads as int16 (k, j, i), each with two lost lines in one slice."""
    slab = read(REPO / "sample_data" / "mr_head.nii.gz").array
    head = read(find_source("ch2").path()).array
    out = {}
    for name, array in (("MR block 96x96x8", slab[40:136, 60:156, 20:28]), ("MR head 181x217x181", head)):
        voxels = np.ascontiguousarray(np.transpose(array).astype(np.int16) * 4)
        k = voxels.shape[0] // 2
        voxels[k, voxels.shape[1] // 2:voxels.shape[1] // 2 + 2, :] = 0
        out[name] = voxels
    return out


def node_for(scene, voxels: np.ndarray):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "input")
    matrix = np.diag([0.9, 0.9, 1.5, 1.0])
    matrix[:3, 3] = [-80.0, -100.0, 40.0]
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(matrix))
    slicer.util.updateVolumeFromArray(node, voxels)
    return node


def one_run(scene, node, options: RepairOptions, root: Path) -> dict:
    ws = Workspace(root)
    t0 = time.perf_counter()
    export_volume(node, ws.input)
    t_export = time.perf_counter() - t0
    first = {}
    run = RepairRun(ws, options, sys.executable, launcher=launch,
                    on_progress=lambda p: first.setdefault("t", time.perf_counter()))
    t1 = time.perf_counter()
    run.start()
    longest_poll = 0.0
    while True:
        p0 = time.perf_counter()
        state = run.poll()
        longest_poll = max(longest_poll, time.perf_counter() - p0)
        if state != RUNNING:
            break
        time.sleep(0.2)  # the module's timer interval
    t_process = time.perf_counter() - t1
    outcome = run.outcome()
    t2 = time.perf_counter()
    out = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "out")
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mask")
    import_volume(outcome.output, node, out)
    import_mask(outcome.mask, out, seg)
    t_import = time.perf_counter() - t2
    ws.cleanup()
    return {"export_s": t_export, "process_s": t_process, "first_progress_s": first.get("t", t1) - t1,
            "repair_s": float(outcome.report["seconds"]), "import_s": t_import,
            "longest_poll_ms": 1000 * longest_poll, "damaged_voxels": int(outcome.report["damaged_voxels"])}


def cancel_latency(scene, node, options: RepairOptions, root: Path) -> dict:
    ws = Workspace(root)
    export_volume(node, ws.input)
    seen = []
    run = RepairRun(ws, options, sys.executable, launcher=launch, on_progress=seen.append)
    run.start()
    while not seen and run.poll() == RUNNING:
        time.sleep(0.01)
    tree = proctree.descendants(run.process.pid)
    t0 = time.perf_counter()
    ended = run.cancel()
    ws.cleanup()
    latency = time.perf_counter() - t0
    assert proctree.alive(tree) == [] and not ws.exists
    return {"cancel_ms": 1000 * latency, "processes_ended": len(ended)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="repair model instead of the shipped one")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    options = RepairOptions(device="cpu", model=args.model)
    root = Path(tempfile.mkdtemp(prefix="bench-slicer-"))
    results = {}
    try:
        for name, voxels in volumes().items():
            scene = slicer.vtkMRMLScene()
            node = node_for(scene, voxels)
            runs = [one_run(scene, node, options, root) for _ in range(args.repeats)]
            results[name] = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
            if "181" in name:
                cancels = [cancel_latency(scene, node, options, root) for _ in range(args.repeats)]
                results[name].update({key: float(np.median([c[key] for c in cancels])) for key in cancels[0]})
            scene.Clear(1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=2))
    keys = ["export_s", "first_progress_s", "repair_s", "process_s", "import_s", "longest_poll_ms",
            "cancel_ms", "processes_ended"]
    print("| volume | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for name, values in results.items():
        cells = [f"{values[k]:.3g}" if k in values else "-" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
