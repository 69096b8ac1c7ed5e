"""MedInpaintLib.scene with real MRML (slicer-core): the Logic's data path from a volume node to a
repaired volume node and a mask segmentation, through a real `medinpaint repair` process.

The volume is a real MR head block as int16 on an oblique, anisotropic grid with a non-zero origin;
the output node must have the input's IJK-to-RAS matrix exactly, the input's voxel type, and voxels
bit-identical to the input outside the repair mask.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from MedInpaintLib import proctree
from MedInpaintLib.command import RepairOptions
from MedInpaintLib.errors import RepairFailed, ResultMismatch
from MedInpaintLib.scene import (
    MASK_SEGMENT_NAME,
    SceneRepair,
    export_mask,
    export_volume,
    ijk_to_ras,
    import_volume,
    repaired_mask_array,
)
from MedInpaintLib.workspace import Workspace

from tests.slicer.conftest import launched, oblique_ijk_to_ras, running


@pytest.fixture
def scene(slicer_mrml):
    scene = slicer_mrml.vtkMRMLScene()
    yield scene
    scene.Clear(1)


def _volume(slicer, scene, voxels: np.ndarray, matrix: np.ndarray, name: str = "MR head",
            class_name: str = "vtkMRMLScalarVolumeNode"):
    node = scene.AddNewNodeByClass(class_name, name)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(matrix))
    slicer.util.updateVolumeFromArray(node, voxels)
    return node


def _launch(args, env):
    """Slicer's own launcher function (from slicer-core's slicer.util), outside the application."""
    import slicer.util

    return slicer.util.launchConsoleProcess(args, useStartupEnvironment=False, updateEnvironment=dict(env))


def _data_nodes(scene) -> set[str]:
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())
            if scene.GetNthNode(i).IsA("vtkMRMLVolumeNode")
            or scene.GetNthNode(i).IsA("vtkMRMLSegmentationNode")}


def test_a_volume_leaves_and_returns_with_exact_geometry_and_type(slicer_mrml, scene, mr_slab_int16,
                                                                  tmp_path):
    from medinpaint.io import read

    matrix = oblique_ijk_to_ras()
    node = _volume(slicer_mrml, scene, mr_slab_int16, matrix)
    with Workspace(tmp_path) as ws:
        export_volume(node, ws.input)
        exported = read(ws.input)  # what medinpaint will see: (i, j, k) voxels, voxel -> RAS affine
        np.testing.assert_array_equal(np.transpose(exported.array), mr_slab_int16)
        np.testing.assert_allclose(exported.affine, matrix, rtol=0, atol=1e-9)

        back = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "back")
        import_volume(ws.input, node, back)
    assert np.array_equal(ijk_to_ras(back), ijk_to_ras(node))  # exact, not just close
    result = slicer_mrml.util.arrayFromVolume(back)
    assert result.dtype == np.int16
    np.testing.assert_array_equal(result, mr_slab_int16)
    assert list(tmp_path.iterdir()) == []


def test_a_result_on_another_grid_is_refused(slicer_mrml, scene, mr_slab_int16, tmp_path):
    matrix = oblique_ijk_to_ras()
    node = _volume(slicer_mrml, scene, mr_slab_int16, matrix)
    shifted = matrix.copy()
    shifted[0, 3] += 0.5
    other = _volume(slicer_mrml, scene, mr_slab_int16, shifted, "shifted")
    with Workspace(tmp_path) as ws:
        export_volume(other, ws.output)
        with pytest.raises(ResultMismatch, match="not on the grid"):
            import_volume(ws.output, node, scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "out"))


def test_a_result_in_another_type_comes_back_only_when_exact(slicer_mrml, scene, mr_slab_int16, tmp_path):
    matrix = oblique_ijk_to_ras()
    node = _volume(slicer_mrml, scene, mr_slab_int16, matrix)
    out = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "out")
    with Workspace(tmp_path) as ws:
        export_volume(_volume(slicer_mrml, scene, mr_slab_int16.astype(np.float32), matrix, "f"), ws.output)
        import_volume(ws.output, node, out)
        assert slicer_mrml.util.arrayFromVolume(out).dtype == np.int16
        export_volume(_volume(slicer_mrml, scene, mr_slab_int16 + np.float32(0.5), matrix, "g"), ws.output)
        with pytest.raises(ResultMismatch, match="does not convert exactly"):
            import_volume(ws.output, node, out)


def test_a_segmentation_mask_is_placed_on_the_input_grid(slicer_mrml, scene, mr_slab_int16, tmp_path):
    from medinpaint.io import read

    matrix = oblique_ijk_to_ras()
    node = _volume(slicer_mrml, scene, mr_slab_int16, matrix)
    lost = np.zeros(mr_slab_int16.shape, np.uint8)
    lost[2:4, 30:33, 10:80] = 1
    labelmap = _volume(slicer_mrml, scene, lost, matrix, "lost", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lost lines")
    slicer_mrml.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    with Workspace(tmp_path) as ws:
        export_mask(segmentation, node, ws.mask)
        written = read(ws.mask)
    assert written.array.shape == mr_slab_int16.shape[::-1]
    np.testing.assert_allclose(written.affine, matrix, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.transpose(written.array) > 0, lost > 0)


def test_the_logic_data_path_repairs_through_a_real_process(slicer_mrml, scene, mr_slab_int16, repair_cli,
                                                            tmp_path):
    matrix = oblique_ijk_to_ras()
    damaged = mr_slab_int16.copy()
    damaged[3, 40:42, :] = 0  # two lost lines in one slice
    node = _volume(slicer_mrml, scene, damaged, matrix)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    node.SetAndObserveTransformNodeID(transform.GetID())
    progress = []

    result = SceneRepair(node, RepairOptions(device="cpu"), repair_cli, launcher=_launch,
                         workspace_root=tmp_path, on_progress=progress.append).run(timeout=120)

    out = result.output_node
    assert out.GetName() == "MR head repaired" and out is not node
    assert np.array_equal(ijk_to_ras(out), ijk_to_ras(node))
    np.testing.assert_allclose(ijk_to_ras(out), matrix, rtol=0, atol=1e-12)
    assert out.GetTransformNodeID() == transform.GetID()
    repaired = slicer_mrml.util.arrayFromVolume(out)
    assert repaired.dtype == np.int16 and repaired.shape == damaged.shape
    np.testing.assert_array_equal(slicer_mrml.util.arrayFromVolume(node), damaged)  # input untouched

    segmentation = result.segmentation_node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    assert segmentation.GetNthSegment(0).GetName() == MASK_SEGMENT_NAME
    mask = repaired_mask_array(result.segmentation_node, out)
    assert mask.shape == damaged.shape
    np.testing.assert_array_equal(repaired[mask == 0], damaged[mask == 0])  # bit-identical outside the mask
    assert int(mask.sum()) == int(result.report["damaged_voxels"])
    assert progress and progress[-1].percent <= 100
    assert list(tmp_path.iterdir()) == []  # the run's temporary folder is gone


def test_a_given_mask_is_what_gets_repaired(slicer_mrml, scene, mr_slab_int16, repair_cli, tmp_path):
    matrix = oblique_ijk_to_ras()
    lost = np.zeros(mr_slab_int16.shape, np.uint8)
    lost[5, 50:52, 20:76] = 1
    damaged = np.where(lost > 0, 0, mr_slab_int16).astype(np.int16)
    node = _volume(slicer_mrml, scene, damaged, matrix)
    labelmap = _volume(slicer_mrml, scene, lost, matrix, "lost", "vtkMRMLLabelMapVolumeNode")
    output = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chosen output")

    result = SceneRepair(node, RepairOptions(device="cpu"), repair_cli, output_node=output,
                         mask_node=labelmap, launcher=_launch, workspace_root=tmp_path).run(timeout=120)

    assert result.output_node is output
    repaired = slicer_mrml.util.arrayFromVolume(output)
    np.testing.assert_array_equal(repaired[lost == 0], damaged[lost == 0])
    assert np.abs(repaired[lost > 0].astype(float) - mr_slab_int16[lost > 0]).mean() < \
        np.abs(damaged[lost > 0].astype(float) - mr_slab_int16[lost > 0]).mean()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_adds_no_node_and_leaves_no_file(slicer_mrml, scene, mr_slab_int16, repair_cli,
                                                      tmp_path):
    damaged = mr_slab_int16.copy()
    damaged[3, 40:42, :] = 0  # damage, so that the repair has to load its model
    node = _volume(slicer_mrml, scene, damaged, oblique_ijk_to_ras())
    before = _data_nodes(scene)
    missing_model = tmp_path / "models" / "nothing-here.safetensors"
    repair = SceneRepair(node, RepairOptions(device="cpu", model=str(missing_model)), repair_cli,
                         launcher=_launch, workspace_root=tmp_path / "work")
    with pytest.raises(RepairFailed) as failure:
        repair.run(timeout=120)
    assert failure.value.exit_code == 2 and "nothing-here.safetensors" in failure.value.message
    assert _data_nodes(scene) == before
    assert list((tmp_path / "work").iterdir()) == []


def test_cancelling_the_data_path_adds_no_node_and_leaves_nothing_behind(slicer_mrml, scene, mr_head,
                                                                         repair_cli, tmp_path):
    from medinpaint.io import read

    head = np.ascontiguousarray(np.transpose(read(mr_head).array).astype(np.int16))
    node = _volume(slicer_mrml, scene, head, oblique_ijk_to_ras(), "Colin27")
    before = _data_nodes(scene)
    progress = []
    repair = SceneRepair(node, RepairOptions(device="cpu"), repair_cli, workspace_root=tmp_path,
                         launcher=lambda args, env: _launch(launched(args), env), on_progress=progress.append)
    repair.start()
    deadline = time.monotonic() + 90
    while not progress and repair.poll() == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert progress and repair.poll() == "running"
    tree = proctree.descendants(repair.repair_run.process.pid)

    ended = repair.cancel()

    assert running(tree) == [] and set(ended) >= tree
    assert _data_nodes(scene) == before
    assert list(tmp_path.iterdir()) == []
