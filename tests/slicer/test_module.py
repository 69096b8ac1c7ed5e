"""MedInpaint.py itself, imported on plain MRML (slicer-core, no Qt): its Logic runs real repairs.

The Logic is driven the way the Widget's timer drives it (``poll()`` until it returns False) and starts
the real ``medinpaint repair`` with Slicer's own launcher function. The input is the damaged sample scan
the extension ships, filed in a patient and study of the subject hierarchy.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import numpy as np
import pytest
from MedInpaintLib import proctree
from MedInpaintLib.errors import RepairCancelled, RepairFailed

from tests.conftest import IN_CI, require_tool
from tests.slicer.conftest import launched, running


def _launch(args, env):
    import slicer.util

    return slicer.util.launchConsoleProcess(args, useStartupEnvironment=False, updateEnvironment=dict(env))


@pytest.fixture
def scene(slicer_mrml):
    scene = slicer_mrml.vtkMRMLScene()
    yield scene
    scene.Clear(1)


@pytest.fixture
def study(slicer_mrml, scene, module):
    """The damaged sample scan, loaded with Slicer's reader and filed under a patient and a study."""
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(module.SAMPLE_FILE)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "MRHeadDamaged")
    assert storage.ReadData(volume)
    scene.RemoveNode(storage)
    hierarchy = slicer_mrml.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    patient = hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "Colin")
    study_item = hierarchy.CreateStudyItem(patient, "MR head")
    hierarchy.CreateItem(study_item, volume)
    return volume, hierarchy, study_item


def _data_nodes(scene) -> set[str]:
    nodes = (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
    return {n.GetID() for n in nodes if n.IsA("vtkMRMLVolumeNode") or n.IsA("vtkMRMLSegmentationNode")}


def _drive(logic, timeout: float = 120.0) -> float:
    """Call poll() as the Widget's timer does, until it says there is nothing more; return the seconds."""
    started = time.monotonic()
    while logic.poll():
        assert time.monotonic() - started < timeout, "the repair did not end"
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_module_imports_without_qt_or_the_slicer_application(module):
    assert module.SLICER_APPLICATION is False and module.qt is None
    assert issubclass(module.MedInpaintLogic, module.ScriptedLoadableModuleLogic)
    assert module.MedInpaintLogic().running is False


def test_the_cuda_choice_follows_the_installed_torch(module):
    torch = pytest.importorskip("torch")
    has_cuda = torch.backends.cuda.is_built() and torch.cuda.is_available()
    assert module.MedInpaintLogic.cudaAvailable() is has_cuda
    if "+cpu" in torch.__version__:  # this environment's CPU build: the panel greys "GPU (CUDA)" out
        assert module.MedInpaintLogic.cudaAvailable() is False


def test_the_sample_is_the_documented_damaged_scan(module, sample_data, slicer_mrml):
    from medinpaint.damage.simulate import simulate_volume
    from medinpaint.io import read

    data = open(module.SAMPLE_FILE, "rb").read()
    assert hashlib.sha256(data).hexdigest() == module.SAMPLE_SHA256
    damaged, mask = simulate_volume(read(sample_data / "mr_head.nii.gz"), "transmission", 4)
    np.testing.assert_array_equal(read(module.SAMPLE_FILE).array, damaged.array)
    assert int(np.count_nonzero(mask)) == 476


def test_a_background_run_lands_in_the_study_and_a_rerun_reuses_the_nodes(module, scene, study, repair_cli,
                                                                           tmp_path):
    volume, hierarchy, study_item = study
    before = module.slicer.util.arrayFromVolume(volume).copy()
    completions, progress = [], []
    logic = module.MedInpaintLogic(pythonExecutable=repair_cli, launcher=_launch, temporaryPath=str(tmp_path))

    assert logic.process(volume, device="cpu", waitForCompletion=False, progressCallback=progress.append,
                         completedCallback=lambda result, error: completions.append((result, error))) is None
    assert logic.running
    _drive(logic)

    assert not logic.running and len(completions) == 1
    result, error = completions[0]
    assert error is None and result.warnings == []
    for node in (result.output_node, result.segmentation_node):
        assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(node)) == study_item
    role = result.segmentation_node.GetReferenceImageGeometryReferenceRole()
    assert result.segmentation_node.GetNodeReferenceID(role) == volume.GetID()
    assert result.output_node.GetName() == "MRHeadDamaged repaired"
    assert {"damaged_voxels", "kinds", "seconds"} <= set(result.report)
    assert result.report["damaged_voxels"] > 0 and progress and all(0 <= p.percent <= 100 for p in progress)
    np.testing.assert_array_equal(module.slicer.util.arrayFromVolume(volume), before)  # input untouched
    assert list(tmp_path.iterdir()) == []

    # A re-run with the nodes the panel now holds fills them again and adds nothing to the scene.
    nodes = _data_nodes(scene)
    again = logic.process(volume, outputVolume=result.output_node, segmentationNode=result.segmentation_node,
                          device="cpu")
    assert again.output_node is result.output_node and again.segmentation_node is result.segmentation_node
    assert _data_nodes(scene) == nodes
    assert result.segmentation_node.GetSegmentation().GetNumberOfSegments() == 1
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_file_that_cannot_be_removed_only_warns(module, scene, study, repair_cli, tmp_path):
    """As a file still locked on Windows does: the result is loaded, the panel returns to idle, and the
    leftover is named. (An immutable file stands in for the lock; root may set it, nobody may remove it.)"""
    chattr = require_tool("chattr")
    volume, hierarchy, study_item = study
    completions = []
    logic = module.MedInpaintLogic(pythonExecutable=repair_cli, launcher=_launch, temporaryPath=str(tmp_path))
    logic.process(volume, device="cpu", waitForCompletion=False,
                  completedCallback=lambda result, error: completions.append((result, error)))
    (workspace,) = tmp_path.iterdir()
    locked = workspace / "tmp" / "locked.bin"
    locked.write_bytes(b"in use")
    if subprocess.run([chattr, "+i", str(locked)], capture_output=True).returncode != 0:
        logic.cancel(wait=True)
        reason = "this file system or user cannot make a file immutable (chattr +i)"
        if IN_CI:
            pytest.fail(f"{reason}; required under CI=true")
        pytest.skip(reason)
    try:
        _drive(logic)
    finally:
        subprocess.run([chattr, "-i", str(locked)], check=True)
    (result, error), = completions
    assert error is None and not logic.running
    assert result.output_node.GetImageData() is not None
    (warning,) = result.warnings
    assert "could not be removed" in warning and str(workspace) in warning


def test_cancel_returns_at_once_and_the_run_ends_as_cancelled(module, scene, study, repair_cli, tmp_path):
    volume, _, _ = study
    before = _data_nodes(scene)
    completions = []
    logic = module.MedInpaintLogic(pythonExecutable=repair_cli, temporaryPath=str(tmp_path),
                                   launcher=lambda args, env: _launch(launched(args), env))
    logic.process(volume, device="cpu", waitForCompletion=False,
                  completedCallback=lambda result, error: completions.append((result, error)))
    time.sleep(0.5)  # the launcher and medinpaint's Python are up
    tree = proctree.descendants(logic._repair.repair_run.process.pid)

    started = time.monotonic()
    logic.cancel()
    assert time.monotonic() - started < 1.0  # the GUI thread is not held while the tree is ended
    assert logic.running and completions == []
    _drive(logic, timeout=30)

    (result, error), = completions
    assert result is None and isinstance(error, RepairCancelled)
    assert running(tree) == [] and set(error.ended_pids) >= tree
    assert not logic.running and _data_nodes(scene) == before
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_is_reported_once_even_when_the_callback_itself_fails(module, scene, study, repair_cli,
                                                                          tmp_path):
    volume, _, _ = study
    before = _data_nodes(scene)
    completions = []

    def completed(result, error):
        completions.append((result, error))
        raise RuntimeError("a broken panel")  # must not stop the Logic from returning to idle

    logic = module.MedInpaintLogic(pythonExecutable=repair_cli, launcher=_launch, temporaryPath=str(tmp_path))
    logic.process(volume, device="cpu", model=str(tmp_path / "missing.safetensors"), waitForCompletion=False,
                  completedCallback=completed)
    (workspace,) = tmp_path.iterdir()
    _drive(logic)

    (result, error), = completions
    assert result is None and isinstance(error, RepairFailed) and error.exit_code == 2
    assert "missing.safetensors" in error.message
    assert not logic.running and logic.poll() is False
    assert _data_nodes(scene) == before and not workspace.exists()


def test_the_module_self_test_runs_on_plain_mrml(module, repair_cli):
    """The test Slicer runs on build machines: light and offline, the repair only where medinpaint is."""
    assert repair_cli == sys.executable
    test = module.MedInpaintTest("runTest")
    test.setUp()
    test.test_MedInpaint_requirement_decisions()
    test.setUp()
    test.test_MedInpaint_repairs_the_sample_when_medinpaint_is_installed()
    test.scene.Clear(1)


def test_an_exception_while_following_the_run_ends_it_and_is_reported(module, scene, study, repair_cli,
                                                                       tmp_path):
    """A panel that breaks on a progress report (while medinpaint still runs) does not leave it running."""
    volume, _, _ = study
    before = _data_nodes(scene)
    completions, tree = [], set()
    logic = module.MedInpaintLogic(pythonExecutable=repair_cli, temporaryPath=str(tmp_path),
                                   launcher=lambda args, env: _launch(launched(args), env))

    def broken_progress(progress):
        tree.update(proctree.descendants(logic._repair.repair_run.process.pid))
        raise ValueError("a broken progress bar")

    logic.process(volume, device="cpu", waitForCompletion=False, progressCallback=broken_progress,
                  completedCallback=lambda result, error: completions.append((result, error)))
    _drive(logic)

    (result, error), = completions
    assert result is None and isinstance(error, ValueError)
    assert len(tree) >= 2 and running(tree) == []
    assert not logic.running and _data_nodes(scene) == before
    assert list(tmp_path.iterdir()) == []
