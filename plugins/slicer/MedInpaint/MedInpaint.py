"""MedInpaint: repair damaged scans (dropouts, noise) from inside 3D Slicer.

The module follows Slicer's scripted-module template: Module (registration), Widget (GUI wiring
only), Logic (everything else, usable from the Python console) and Test (runs inside Slicer). The
repair itself never runs in Slicer's process: the Logic exports the volume and starts ``medinpaint
repair`` with Slicer's Python (``PythonSlicer``) through ``slicer.util.launchConsoleProcess``, follows
its progress from a Qt timer, and loads the results back. All of that except Qt and dialogs lives in
the Slicer-free library ``MedInpaintLib`` beside this file, which is tested under plain pytest.
"""

import enum
import importlib.util
import logging
import os
import shutil
from typing import Optional, Union

import qt
import slicer
import vtk
from MedInpaintLib import RepairCancelled, RepairError, RepairOptions
from MedInpaintLib.run import CANCELLED, DONE, FAILED, format_report
from MedInpaintLib.scene import SceneRepair
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

#
# MedInpaint
#


class MedInpaint(ScriptedLoadableModule):
    """Module registration: title, category, help. See Slicer's ScriptedLoadableModule.py."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MedInpaint")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.dependencies = []  # PyTorchUtils (SlicerPyTorch) is needed only on first use
        self.parent.contributors = ["The medinpaint authors"]
        self.parent.helpText = _("""
Repair a damaged scan: lost lines, slices or blocks (dropouts) are detected and filled by a
convolutional neural network, and the volume can also be denoised. The result is a new volume with
the input's exact geometry and voxel type, plus a segmentation of the voxels that were changed.
Voxels outside that mask are left bit-identical. The work runs in a separate process, so Slicer
stays responsive and the run can be cancelled.
""")
        self.parent.acknowledgementText = _("""
Built on MONAI and PyTorch. The module layout follows Slicer's scripted-module template; running the
heavy work in a separate process follows the MONAIAuto3DSeg extension.
""")


class RepairMode(enum.Enum):
    """What to do to the volume; the values are MedInpaintLib's mode names."""

    REPAIR = "repair"
    BOTH = "both"

    @staticmethod
    def label(mode):
        return {RepairMode.REPAIR: _("Repair dropouts"),
                RepairMode.BOTH: _("Repair dropouts and denoise")}[mode]


class ComputeDevice(enum.Enum):
    """Where the network runs; the values are medinpaint's --device names."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"

    @staticmethod
    def label(device):
        return {ComputeDevice.AUTO: _("Automatic (GPU if available)"), ComputeDevice.CPU: _("CPU"),
                ComputeDevice.CUDA: _("GPU (CUDA)")}[device]


#
# MedInpaintParameterNode
#


@parameterNodeWrapper
class MedInpaintParameterNode:
    """
    The user's choices, saved with the scene.

    inputVolume - the scan to repair (never modified).
    maskNode - label map or segmentation of the voxels to repair; none detects damage automatically.
    mode - repair dropouts only, or also denoise.
    device - where the network runs.
    outputVolume - the volume that receives the result; none creates "<input> repaired".
    """

    inputVolume: vtkMRMLScalarVolumeNode
    # typing.Union, not "|": Slicer 5.10's node-combo-box connector recognises only typing.Union.
    maskNode: Optional[Union[vtkMRMLLabelMapVolumeNode, vtkMRMLSegmentationNode]]  # noqa: UP007, UP045
    mode: RepairMode = RepairMode.REPAIR
    device: ComputeDevice = ComputeDevice.AUTO
    outputVolume: vtkMRMLScalarVolumeNode


#
# MedInpaintWidget
#


class MedInpaintWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: wires the .ui file to the Logic and shows progress, report and result."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedInpaint.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = MedInpaintLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self._setRunning(False)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes: end a running repair so nothing outlives Slicer."""
        if self.logic:
            self.logic.cancel()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.logic.cancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode and not firstVolumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: MedInpaintParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Each widget with the dynamic property "SlicerParameterName" in the .ui file is connected.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        if self.logic.running:
            return
        if self._parameterNode and self._parameterNode.inputVolume:
            self.ui.applyButton.toolTip = _("Repair the input volume")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Select an input volume")
            self.ui.applyButton.enabled = False

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.enabled = not running and bool(self._parameterNode
                                                           and self._parameterNode.inputVolume)
        self.ui.cancelButton.enabled = running
        for widget in (self.ui.inputsCollapsibleButton, self.ui.settingsCollapsibleButton,
                       self.ui.outputsCollapsibleButton):
            widget.enabled = not running
        if running:
            self.ui.progressBar.value = 0
            self.ui.reportTextEdit.plainText = ""

    def onApplyButton(self) -> None:
        """Install what is missing (after asking), then start the repair in the background."""
        with slicer.util.tryWithErrorDisplay(_("Failed to install MedInpaint's dependencies."),
                                             waitCursor=True):
            if not self.logic.setupPythonRequirements(askConfirmation=True):
                self.ui.statusLabel.text = _("Dependencies were not installed; nothing was done.")
                return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the repair."), waitCursor=True):
            model = self.ui.modelPathLineEdit.currentPath.strip() or None
            self.logic.process(
                self._parameterNode.inputVolume,
                outputVolume=self._parameterNode.outputVolume,
                maskNode=self._parameterNode.maskNode,
                mode=self._parameterNode.mode.value,
                device=self._parameterNode.device.value,
                model=model,
                waitForCompletion=False,
                progressCallback=self.onProgress,
                completedCallback=self.onCompleted,
            )
            self._setRunning(True)
            self.ui.statusLabel.text = _("Starting...")

    def onCancelButton(self) -> None:
        self.ui.statusLabel.text = _("Cancelling...")
        self.logic.cancel()

    def onProgress(self, progress) -> None:
        self.ui.progressBar.value = progress.percent
        self.ui.statusLabel.text = progress.text

    def onCompleted(self, result, error) -> None:
        self._setRunning(False)
        if error is None:
            self.ui.progressBar.value = 100
            self.ui.statusLabel.text = _("Done in {seconds:.1f} s.").format(seconds=result.seconds)
            self.ui.reportTextEdit.plainText = format_report(result.report)
            logging.info(f"MedInpaint report: {result.report}")
            slicer.util.setSliceViewerLayers(background=result.output_node, fit=True)
            result.segmentation_node.SetDisplayVisibility(True)
        elif isinstance(error, RepairCancelled):
            self.ui.statusLabel.text = _("Cancelled; nothing was changed and no temporary file is left.")
        else:
            self.ui.statusLabel.text = _("Failed.")
            self.ui.reportTextEdit.plainText = "\n".join(getattr(error, "log_tail", []))
            slicer.util.errorDisplay(str(error))


#
# MedInpaintLogic
#


class MedInpaintLogic(ScriptedLoadableModuleLogic):
    """Repair volume nodes with ``medinpaint repair`` in a separate process.

    Usable without the Widget, e.g. from the Python console::

        logic = slicer.util.getModuleLogic("MedInpaint")
        logic.setupPythonRequirements()
        result = logic.process(getNode("MRHead"))  # blocks until done
        result.output_node, result.segmentation_node, result.report
    """

    #: How often the GUI drains the process output (the reader thread never blocks the GUI).
    POLL_INTERVAL_MS = 200
    #: What ``pip`` installs for the repair process; a wheel path or URL works too.
    MEDINPAINT_REQUIREMENT = "medinpaint"
    MINIMUM_TORCH_VERSION = "2.2"

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._repair = None
        self._completedCallback = None
        self._timer = qt.QTimer()
        self._timer.setInterval(self.POLL_INTERVAL_MS)
        self._timer.connect("timeout()", self._poll)

    def getParameterNode(self):
        return MedInpaintParameterNode(super().getParameterNode())

    @property
    def running(self) -> bool:
        return self._repair is not None

    # --- dependencies ---------------------------------------------------------------------------

    @staticmethod
    def pythonExecutable() -> str:
        """Slicer's own Python launcher, which has the packages installed with pip_install."""
        path = shutil.which("PythonSlicer")
        if not path:
            raise RuntimeError(_("Slicer's Python (PythonSlicer) was not found."))
        return path

    @staticmethod
    def medinpaintInstalled() -> bool:
        return importlib.util.find_spec("medinpaint") is not None

    def setupPythonRequirements(self, askConfirmation: bool = True) -> bool:
        """Install PyTorch (through SlicerPyTorch) and medinpaint if missing; False if the user declined.

        PyTorch comes from the PyTorch extension's ``installTorch``, which picks the CUDA or CPU build
        that fits this computer; medinpaint and its other dependencies come from ``pip_install``.
        """
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            raise RuntimeError(_("MedInpaint needs the PyTorch extension (SlicerPyTorch). Install 'PyTorch' "
                                 "from the Extensions Manager, restart Slicer, and try again.")) from None
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if not torchLogic.torchInstalled():
            torch = torchLogic.installTorch(askConfirmation=askConfirmation,
                                            torchVersionRequirement=f">={self.MINIMUM_TORCH_VERSION}")
            if torch is None:
                return False
        if not self.medinpaintInstalled():
            if askConfirmation and not slicer.util.confirmOkCancelDisplay(
                    _("MedInpaint needs the Python package '{requirement}' (with MONAI, pydicom, nibabel "
                      "and SimpleITK). Download and install it now? This may take a few minutes.")
                    .format(requirement=self.MEDINPAINT_REQUIREMENT)):
                return False
            slicer.util.pip_install(self.MEDINPAINT_REQUIREMENT)
            importlib.invalidate_caches()
        return True

    # --- processing -----------------------------------------------------------------------------

    def _launch(self, args, environmentUpdates):
        logging.debug(f"MedInpaint: launching {args}")
        return slicer.util.launchConsoleProcess(args, updateEnvironment=dict(environmentUpdates))

    def process(self, inputVolume, outputVolume=None, maskNode=None, mode="repair", device="auto",
                model=None, waitForCompletion=True, progressCallback=None, logCallback=None,
                completedCallback=None):
        """Repair ``inputVolume`` into ``outputVolume`` (None: a new "<input> repaired" volume).

        :param maskNode: label map or segmentation of the voxels to repair; None detects damage.
        :param mode: "repair" (dropouts) or "both" (dropouts, then denoise).
        :param device: "auto", "cpu" or "cuda".
        :param model: a ``.safetensors`` file instead of the shipped models.
        :param waitForCompletion: True blocks and returns the result (for scripts and tests); False
          returns at once and calls ``completedCallback(result, error)`` from the GUI thread later.
        :param progressCallback: called with each progress report (``.percent``, ``.text``).
        :param logCallback: called with every other output line (default: the application log).
        :return: a ``SceneResult`` (``output_node``, ``segmentation_node``, ``report``, ``seconds``)
          when waiting, else None.
        """
        if self.running:
            raise RuntimeError(_("A repair is already running."))
        repair = SceneRepair(
            inputVolume, RepairOptions(mode=mode, device=device, model=model), self.pythonExecutable(),
            output_node=outputVolume, mask_node=maskNode, launcher=self._launch,
            workspace_root=slicer.app.temporaryPath, on_progress=progressCallback,
            on_log=logCallback or (lambda line: logging.info(f"medinpaint: {line}")))
        if waitForCompletion:
            with slicer.util.WaitCursor():
                return repair.run()
        self._completedCallback = completedCallback
        repair.start()
        self._repair = repair
        self._timer.start()
        return None

    def _poll(self) -> None:
        repair = self._repair
        if repair is None:
            self._timer.stop()
            return
        state = repair.poll()
        if state not in (DONE, FAILED, CANCELLED):
            return
        self._timer.stop()
        self._repair = None
        try:
            result, error = repair.finish(), None
        except RepairError as exc:
            result, error = None, exc
        self._complete(result, error)

    def cancel(self) -> None:
        """End the running repair's whole process tree and remove its temporary files."""
        repair, self._repair = self._repair, None
        self._timer.stop()
        if repair is None:
            return
        try:
            ended = repair.cancel()
            logging.info(f"MedInpaint: cancelled; ended processes {ended}")
            error = RepairCancelled(ended)
        except RepairError as exc:
            error = exc
        self._complete(None, error)

    def _complete(self, result, error) -> None:
        callback, self._completedCallback = self._completedCallback, None
        if callback is not None:
            callback(result, error)
        elif error is not None and not isinstance(error, RepairCancelled):
            logging.error(str(error))


#
# MedInpaintTest
#


class MedInpaintTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: damage a sample scan, repair it with the module's Logic, check the result."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_MedInpaint_repairs_dropouts()

    def test_MedInpaint_repairs_dropouts(self):
        import numpy as np
        import SampleData

        self.delayDisplay("Loading sample data")
        original = SampleData.downloadSample("MRHead")
        clean = slicer.util.arrayFromVolume(original).copy()
        ijkToRAS = vtk.vtkMatrix4x4()
        original.GetIJKToRASMatrix(ijkToRAS)

        self.delayDisplay("Damaging it: three lost lines in every slice of a slab")
        damaged = clean.copy()
        lost = np.zeros(clean.shape, dtype=np.uint8)
        lost[50:70, 120:123, :] = 1
        damaged[lost > 0] = 0
        damagedVolume = slicer.util.addVolumeFromArray(damaged, ijkToRAS, "MRHead damaged")
        maskVolume = slicer.util.addVolumeFromArray(lost, ijkToRAS, "lost lines",
                                                    nodeClassName="vtkMRMLLabelMapVolumeNode")

        self.delayDisplay("Repairing")
        logic = MedInpaintLogic()
        self.assertTrue(logic.setupPythonRequirements(askConfirmation=False))
        result = logic.process(damagedVolume, maskNode=maskVolume, device="cpu")

        repaired = slicer.util.arrayFromVolume(result.output_node)
        outMatrix = vtk.vtkMatrix4x4()
        result.output_node.GetIJKToRASMatrix(outMatrix)
        self.assertEqual(slicer.util.arrayFromVTKMatrix(outMatrix).tolist(),
                         slicer.util.arrayFromVTKMatrix(ijkToRAS).tolist())
        self.assertEqual(repaired.dtype, damaged.dtype)
        self.assertTrue(np.array_equal(repaired[lost == 0], damaged[lost == 0]))
        before = np.abs(damaged[lost > 0].astype(float) - clean[lost > 0]).mean()
        after = np.abs(repaired[lost > 0].astype(float) - clean[lost > 0]).mean()
        self.assertLess(after, before)
        self.assertEqual(result.segmentation_node.GetSegmentation().GetNumberOfSegments(), 1)
        leftovers = [name for name in os.listdir(slicer.app.temporaryPath) if name.startswith("MedInpaint-")]
        self.assertEqual(leftovers, [])
        self.delayDisplay(f"Test passed: error in the lost lines {before:.1f} -> {after:.1f}")
