"""The module's data path between the MRML scene and a repair run; MRML only, no Qt and no GUI.

Volumes leave the scene as NRRD files written by Slicer's own volume storage node (the same writer
"Save data" uses) and come back through its reader. The geometry of the result is not trusted to a
text round trip: once the file's grid is checked to agree with the input's (same dimensions, matrix
equal to 1e-5 mm), the output node takes the input node's origin, spacing and axes as stored, and its
parent transform, so its IJK-to-RAS matrix is the input's bit for bit. Its voxel type is the input's;
a file in another type is accepted only when its values convert exactly. The mask comes back as a
segmentation over the result.

This module imports only ``slicer`` MRML classes and ``slicer.util`` array helpers, which the PyPI
package ``slicer-core`` provides too, so the whole path runs in plain pytest against real MRML.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .command import RepairOptions
from .errors import RepairError, ResultMismatch
from .process import Launcher, default_launcher
from .progress import Progress
from .run import CANCELLED, DONE, FAILED, RepairRun
from .workspace import Workspace

MASK_SEGMENT_NAME = "Repaired voxels"
MASK_COLOR = (1.0, 0.55, 0.0)  # orange: reads well over grey-scale scans
_GRID_TOLERANCE_MM = 1e-5


def ijk_to_ras(node) -> np.ndarray:
    """A volume node's 4x4 IJK-to-RAS matrix as a numpy array."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _dimensions(node) -> tuple[int, int, int]:
    image = node.GetImageData()
    return tuple(image.GetDimensions()) if image is not None else (0, 0, 0)


def same_grid(node, reference) -> bool:
    """Whether two volume nodes have the same dimensions and IJK-to-RAS matrix (to 1e-5 mm)."""
    return (_dimensions(node) == _dimensions(reference)
            and np.allclose(ijk_to_ras(node), ijk_to_ras(reference), rtol=0, atol=_GRID_TOLERANCE_MM))


def check_input_volume(node) -> None:
    """Raise ValueError unless ``node`` is a scalar (not label) volume with voxels, in a scene."""
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise ValueError("the input must be a scalar volume node")
    if node.GetScene() is None:
        raise ValueError(f"the volume '{node.GetName()}' is not in a scene")
    image = node.GetImageData()
    if image is None or image.GetNumberOfPoints() == 0:
        raise ValueError(f"the volume '{node.GetName()}' has no voxels")
    if image.GetNumberOfScalarComponents() != 1:
        raise ValueError(f"the volume '{node.GetName()}' has {image.GetNumberOfScalarComponents()} "
                         "components per voxel; only single-component volumes can be repaired")


def _write(node, path: str | os.PathLike) -> None:
    scene = node.GetScene()
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    try:
        storage.SetFileName(os.fspath(path))
        storage.UseCompressionOff()  # the file lives seconds; writing it fast matters more than its size
        if not storage.WriteData(node):
            raise RepairError(f"the volume '{node.GetName()}' could not be written to {os.fspath(path)}")
    finally:
        scene.RemoveNode(storage)


def _read(scene, path: str | os.PathLike, class_name: str):
    """A new temporary node of ``class_name`` holding the file's voxels (the caller removes it)."""
    node = scene.AddNewNodeByClass(class_name, "__MedInpaintTemporary__")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    try:
        storage.SetFileName(os.fspath(path))
        if not storage.ReadData(node):
            scene.RemoveNode(node)
            raise RepairError(f"the file {os.fspath(path)} written by medinpaint could not be read")
    finally:
        scene.RemoveNode(storage)
    return node


def export_volume(node, path: str | os.PathLike) -> None:
    """Write a volume node to an NRRD file with Slicer's own writer."""
    _write(node, path)


def export_mask(mask_node, reference, path: str | os.PathLike) -> None:
    """Write a label map or segmentation as a label image on ``reference``'s grid (non-zero = repair).

    A segmentation, or a label map on another grid, is resampled onto the reference grid through a
    temporary segmentation (Slicer's nearest-neighbour segment export).
    """
    import slicer

    scene = reference.GetScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if mask_node.IsA("vtkMRMLLabelMapVolumeNode") and same_grid(mask_node, reference):
        _write(mask_node, path)
        return
    temporary = []
    try:
        segmentation = mask_node
        if not mask_node.IsA("vtkMRMLSegmentationNode"):
            if not mask_node.IsA("vtkMRMLLabelMapVolumeNode"):
                raise ValueError("the mask must be a label map volume or a segmentation")
            segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "__MedInpaintTemporary__")
            temporary.append(segmentation)
            logic.ImportLabelmapToSegmentationNode(mask_node, segmentation)
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__MedInpaintTemporary__")
        temporary.append(labelmap)
        if not logic.ExportVisibleSegmentsToLabelmapNode(segmentation, labelmap, reference):
            raise RepairError(f"the mask '{mask_node.GetName()}' could not be placed on the grid of "
                              f"'{reference.GetName()}'")
        if labelmap.GetImageData() is None or not same_grid(labelmap, reference):
            raise RepairError(f"the mask '{mask_node.GetName()}' has no visible segment inside "
                              f"'{reference.GetName()}'")
        _write(labelmap, path)
    finally:
        for node in temporary:
            scene.RemoveNode(node)


def _voxels_as(node, dtype: np.dtype, what: str) -> np.ndarray:
    import slicer.util

    voxels = slicer.util.arrayFromVolume(node)
    if voxels.dtype == dtype:
        return voxels.copy()
    converted = voxels.astype(dtype)
    if not np.array_equal(converted, voxels):
        raise ResultMismatch(f"{what} came back as {voxels.dtype}, which does not convert exactly to {dtype}")
    return converted


def import_volume(path: str | os.PathLike, reference, output_node) -> None:
    """Load the repaired file into ``output_node`` with ``reference``'s exact geometry and voxel type."""
    import slicer.util

    scene = reference.GetScene()
    loaded = _read(scene, path, "vtkMRMLScalarVolumeNode")
    try:
        if not same_grid(loaded, reference):
            raise ResultMismatch(f"the repaired volume is not on the grid of '{reference.GetName()}' "
                                 f"(dimensions {_dimensions(loaded)} vs {_dimensions(reference)})")
        reference_dtype = slicer.util.arrayFromVolume(reference).dtype
        voxels = _voxels_as(loaded, reference_dtype, "the repaired volume")
    finally:
        scene.RemoveNode(loaded)
    output_node.CopyOrientation(reference)  # origin, spacing and axes as stored: no matrix round trip
    slicer.util.updateVolumeFromArray(output_node, voxels)
    output_node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    if output_node.GetDisplayNode() is None:
        output_node.CreateDefaultDisplayNodes()


def import_mask(path: str | os.PathLike, reference, segmentation_node, source=None) -> None:
    """Show the uint8 mask file as one segment ("Repaired voxels") of ``segmentation_node`` over
    ``reference``.

    ``source`` (default: ``reference``), a volume on the same grid, becomes the segmentation's reference
    image geometry node: DICOM SEG export follows that reference to the series the segment belongs to.
    """
    import slicer
    import slicer.util

    scene = reference.GetScene()
    loaded = _read(scene, path, "vtkMRMLLabelMapVolumeNode")
    try:
        if not same_grid(loaded, reference):
            raise ResultMismatch(f"the repair mask is not on the grid of '{reference.GetName()}'")
        voxels = (slicer.util.arrayFromVolume(loaded) > 0).astype(np.uint8)
        slicer.util.updateVolumeFromArray(loaded, voxels)
        loaded.CopyOrientation(reference)
        segmentation = segmentation_node.GetSegmentation()
        segmentation.RemoveAllSegments()
        if voxels.any():
            slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
                loaded, segmentation_node)
        else:  # nothing repaired: still one (empty) segment, so the result always looks the same
            segment = slicer.vtkSegment()
            segment.AddRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName(),
                                      slicer.vtkOrientedImageData())
            segmentation.AddSegment(segment)
    finally:
        scene.RemoveNode(loaded)
    segment = segmentation.GetNthSegment(0)
    segment.SetName(MASK_SEGMENT_NAME)
    segment.SetColor(*MASK_COLOR)
    geometry_source = reference if source is None else source
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(geometry_source)
    segmentation_node.SetAndObserveTransformNodeID(reference.GetTransformNodeID())
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()


def repaired_mask_array(segmentation_node, reference) -> np.ndarray:
    """The segmentation's visible segments as a uint8 array on ``reference``'s grid (k, j, i order)."""
    import slicer
    import slicer.util

    scene = reference.GetScene()
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__MedInpaintTemporary__")
    try:
        slicer.vtkSlicerSegmentationsModuleLogic.ExportVisibleSegmentsToLabelmapNode(
            segmentation_node, labelmap, reference)
        if labelmap.GetImageData() is None:
            return np.zeros(tuple(reversed(_dimensions(reference))), np.uint8)
        return (slicer.util.arrayFromVolume(labelmap) > 0).astype(np.uint8)
    finally:
        scene.RemoveNode(labelmap)


def _hierarchy_item(hierarchy, node) -> int:
    item = hierarchy.GetItemByDataNode(node)
    if not item:  # no subject hierarchy plugin watches this scene (plain MRML): add the node's item here
        item = hierarchy.CreateItem(hierarchy.GetSceneItemID(), node)
    return item


def place_in_hierarchy(source, nodes, created=()) -> int:
    """Put result ``nodes`` beside ``source`` in the subject hierarchy (its study, folder or the scene).

    Nodes in ``created`` always move there; a node the user chose moves only when it sits at the top of
    the hierarchy, where Slicer puts new nodes; one the user filed elsewhere stays. Returns the parent item.
    """
    import slicer

    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(source.GetScene())
    top = hierarchy.GetSceneItemID()
    parent = hierarchy.GetItemParent(_hierarchy_item(hierarchy, source)) or top
    for node in nodes:
        item = _hierarchy_item(hierarchy, node)
        if any(node is new for new in created) or hierarchy.GetItemParent(item) == top:
            hierarchy.SetItemParent(item, parent)
    return parent


@dataclass
class SceneResult:
    """The nodes a run filled in, medinpaint's report, the run's wall time, and anything worth a warning."""

    output_node: object
    segmentation_node: object
    report: dict
    seconds: float
    warnings: list[str] = field(default_factory=list)


class SceneRepair:
    """Repair a volume node of a scene: export, run ``medinpaint repair`` apart, import, clean up.

    The heavy work never runs in this process. :meth:`start` returns at once; a GUI then calls
    :meth:`poll` from a timer and :meth:`finish` when it reports ``"done"`` or ``"failed"``; a script
    calls :meth:`run`. The temporary folder is removed in every case: success, failure and cancel.

    Args:
        input_node: the scalar volume to repair (it is never modified).
        options: mode, device, model.
        python: the interpreter with medinpaint installed (in Slicer: ``PythonSlicer``).
        output_node: the volume to fill; None creates "<input> repaired" on success.
        mask_node: a label map or segmentation of the voxels to repair; None detects damage.
        segmentation_node: the segmentation to show the mask in; None creates "<input> repair mask".
        launcher: starts the process (``slicer.util.launchConsoleProcess`` in Slicer).
        workspace_root: where the temporary folder goes (in Slicer: ``slicer.app.temporaryPath``).
        on_progress, on_log: see :class:`~MedInpaintLib.run.RepairRun`.
    """

    def __init__(self, input_node, options: RepairOptions, python: str, *, output_node=None, mask_node=None,
                 segmentation_node=None, launcher: Launcher = default_launcher, workspace_root=None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_log: Callable[[str], None] | None = None):
        check_input_volume(input_node)
        if output_node is not None and (not output_node.IsA("vtkMRMLScalarVolumeNode")
                                        or output_node is input_node):
            raise ValueError("the output must be a scalar volume node other than the input")
        self.input_node = input_node
        self.options = options
        self.python = python
        self.output_node = output_node
        self.mask_node = mask_node
        self.segmentation_node = segmentation_node
        self.launcher = launcher
        self.workspace_root = workspace_root
        self.on_progress = on_progress
        self.on_log = on_log
        self.workspace: Workspace | None = None
        self.repair_run: RepairRun | None = None
        #: Why the temporary folder could not be removed (e.g. a file locked on Windows), when it could not.
        self.cleanup_problem: str | None = None

    def _cleanup(self) -> None:
        """Remove the temporary folder; a failure is recorded, never raised over the run's own outcome."""
        if self.workspace is None:
            return
        try:
            self.workspace.cleanup()
        except OSError as exc:
            self.cleanup_problem = f"the temporary folder {self.workspace.path} could not be removed: {exc}"

    def start(self) -> None:
        """Export the input (and mask) and start the run; on any error nothing is left behind."""
        self.workspace = Workspace(self.workspace_root)
        try:
            export_volume(self.input_node, self.workspace.input)
            if self.mask_node is not None:
                export_mask(self.mask_node, self.input_node, self.workspace.mask)
            names = {self.workspace.input.name: f"the volume '{self.input_node.GetName()}'"}
            if self.mask_node is not None:
                names[self.workspace.mask.name] = f"the mask '{self.mask_node.GetName()}'"
            self.repair_run = RepairRun(self.workspace, self.options, self.python,
                                        has_mask=self.mask_node is not None, launcher=self.launcher,
                                        on_progress=self.on_progress, on_log=self.on_log, names=names)
            self.repair_run.start()
        except BaseException:
            self._cleanup()
            raise

    def poll(self) -> str:
        """Handle new output; return "running", "done", "failed" or "cancelled". Never blocks."""
        return self.repair_run.poll()

    @property
    def ended(self) -> bool:
        return self.repair_run is not None and self.repair_run.state in (DONE, FAILED, CANCELLED)

    def finish(self) -> SceneResult:
        """After the run ended: load the results into the scene, remove the temporary folder.

        Raises the run's :class:`~MedInpaintLib.errors.RepairError` when it failed or was cancelled, or
        when the input left the scene meanwhile. The results go beside the input in the subject hierarchy,
        and the segmentation refers to the input volume. A temporary folder that cannot be removed does not
        undo a good result: the result carries a warning instead (see :attr:`cleanup_problem`).
        """
        try:
            outcome = self.repair_run.outcome()
            scene = self.input_node.GetScene()
            name = self.input_node.GetName()
            if scene is None:
                raise RepairError(f"the volume '{name}' was removed from the scene during its repair; "
                                  "nothing was loaded")
            created = []
            try:
                if self.output_node is None:
                    self.output_node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode",
                                                               scene.GenerateUniqueName(f"{name} repaired"))
                    created.append(self.output_node)
                import_volume(outcome.output, self.input_node, self.output_node)
                if self.segmentation_node is None:
                    self.segmentation_node = scene.AddNewNodeByClass(
                        "vtkMRMLSegmentationNode", scene.GenerateUniqueName(f"{name} repair mask"))
                    created.append(self.segmentation_node)
                import_mask(outcome.mask, self.output_node, self.segmentation_node, source=self.input_node)
                place_in_hierarchy(self.input_node, (self.output_node, self.segmentation_node), created)
            except BaseException:
                for node in created:
                    scene.RemoveNode(node)
                raise
        finally:
            self._cleanup()
        warnings = [self.cleanup_problem] if self.cleanup_problem else []
        return SceneResult(self.output_node, self.segmentation_node, outcome.report, outcome.seconds,
                           warnings)

    def run(self, timeout: float | None = None) -> SceneResult:
        """Start, wait (the callbacks fire from this thread) and finish: for scripts and tests."""
        self.start()
        try:
            self.repair_run.wait(timeout)
        except BaseException:
            self.cancel()
            raise
        return self.finish()

    def cancel(self, timeout: float = 10.0) -> list[int]:
        """End every process of the run and remove its temporary folder; return the ended pids."""
        try:
            return self.repair_run.cancel(timeout) if self.repair_run is not None else []
        finally:
            self._cleanup()
