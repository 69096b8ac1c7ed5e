"""MedInpaint: repair damaged scans (dropouts, noise) from inside 3D Slicer.

The module follows Slicer's scripted-module template: Module (registration), Widget (GUI wiring
only), Logic (everything else, usable from the Python console) and Test (runs inside Slicer). The
repair itself never runs in Slicer's process: the Logic exports the volume and starts ``medinpaint
repair`` with Slicer's Python (``PythonSlicer``) through ``slicer.util.launchConsoleProcess``; the
Widget's Qt timer calls :meth:`MedInpaintLogic.poll`, which follows the run and loads the results back.
The Logic needs no Qt: it also runs on plain MRML (the PyPI package ``slicer-core``), which is how it is
tested. Everything Slicer-free lives in the library ``MedInpaintLib`` beside this file.

The module imports on Slicer 5.8's Python 3.9 (annotations are never evaluated at run time); medinpaint
itself needs Python 3.10, so on Slicer 5.8 Apply says that Slicer 5.10 or later is needed.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
from typing import Optional, Union

import slicer
import vtk
from MedInpaintLib import RepairCancelled, RepairOptions
from MedInpaintLib import requirements as req
from MedInpaintLib.run import format_report
from MedInpaintLib.scene import SceneRepair
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.util import VTKObservationMixin

try:  # the Slicer application
    import qt
    from slicer.i18n import tr as _
    from slicer.i18n import translate
    from slicer.parameterNodeWrapper import parameterNodeWrapper
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )

    SLICER_APPLICATION = True
except ImportError:  # plain MRML without the application (slicer-core): the Logic and the Test still work
    import unittest

    qt = None
    SLICER_APPLICATION = False

    def _(text):
        return text

    def translate(context, text):
        return text

    def parameterNodeWrapper(cls):
        return cls

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            self.moduleName = "MedInpaint"

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=1000):
            logging.info(message)


MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Where the build puts the medinpaint wheel the extension carries (see CMake/build_medinpaint_wheel.py).
WHEEL_DIR = os.path.join(MODULE_DIR, "Resources", "Wheels")
#: The damaged sample scan (Colin27 slab from sample_data/ with seeded lost lines and blocks).
SAMPLE_FILE = os.path.join(MODULE_DIR, "Resources", "SampleData", "MRHeadDamaged.nii.gz")
SAMPLE_SHA256 = "834e6b0e8e88575778fce5f6bb0bc02e331070d92af6313581d5679c2eaf9602"

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
the input's exact geometry and voxel type, plus a segmentation of the voxels that were changed, both
placed in the input's study. Voxels outside that mask are left bit-identical. The work runs in a
separate process, so Slicer stays responsive and the run can be cancelled.
""")
        self.parent.acknowledgementText = _("""
Built on MONAI and PyTorch. The module layout follows Slicer's scripted-module template; running the
heavy work in a separate process follows the MONAIAuto3DSeg extension.
""")
        if SLICER_APPLICATION:
            slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Add the damaged sample scan to the Sample Data module (it ships with the extension: no download)."""
    import pathlib

    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="MedInpaint",
        sampleName="MRHeadDamaged",
        thumbnailFileName=os.path.join(MODULE_DIR, "Resources", "Icons", "MedInpaint.png"),
        uris=pathlib.Path(SAMPLE_FILE).as_uri(),
        fileNames="MRHeadDamaged.nii.gz",
        nodeNames="MRHeadDamaged",
        checksums=f"SHA256:{SAMPLE_SHA256}",
        loadFileTypes="VolumeFile",
    )


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
    outputSegmentation - the segmentation of the repaired voxels; none creates "<input> repair mask".
    """

    inputVolume: vtkMRMLScalarVolumeNode
    # typing.Union, not "|": Slicer 5.10's node-combo-box connector recognises only typing.Union.
    maskNode: Optional[Union[vtkMRMLLabelMapVolumeNode, vtkMRMLSegmentationNode]]  # noqa: UP007, UP045
    mode: RepairMode = RepairMode.REPAIR
    device: ComputeDevice = ComputeDevice.AUTO
    outputVolume: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode


#
# MedInpaintWidget
#


class MedInpaintWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: wires the .ui file to the Logic, owns the timer that drives it, shows the outcome."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._timer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedInpaint.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = MedInpaintLogic()
        # The Logic has no timer of its own: this one drives it while a repair runs or is being cancelled.
        self._timer = qt.QTimer()
        self._timer.setInterval(MedInpaintLogic.POLL_INTERVAL_MS)
        self._timer.connect("timeout()", self._onTimer)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self._setRunning(False)

        self.initializeParameterNode()
        self._offerDevices()

    def cleanup(self) -> None:
        """Called when the application closes: end a running repair so nothing outlives Slicer."""
        if self._timer:
            self._timer.stop()
        if self.logic:
            self.logic.cancel(wait=True)
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.logic.cancel()  # returns at once; the timer reports the end
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

    def setParameterNode(self, inputParameterNode: Optional[MedInpaintParameterNode]) -> None:  # noqa: UP045
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Each widget with the dynamic property "SlicerParameterName" in the .ui file is connected.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _offerDevices(self) -> None:
        """Offer "GPU (CUDA)" only where the installed torch has CUDA and sees a GPU."""
        try:
            cuda = self.logic.cudaAvailable()
            index = list(ComputeDevice).index(ComputeDevice.CUDA)
            item = self.ui.deviceComboBox.model().item(index)
            item.setEnabled(cuda)
            item.setToolTip("" if cuda else _("The installed PyTorch has no CUDA, or sees no GPU."))
            if not cuda and self._parameterNode and self._parameterNode.device == ComputeDevice.CUDA:
                self._parameterNode.device = ComputeDevice.AUTO
        except Exception:  # the choice stays; medinpaint then says that CUDA is not available
            logging.exception("MedInpaint: could not check for CUDA")

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
        hasInput = bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.applyButton.enabled = not running and hasInput
        self.ui.cancelButton.enabled = running
        for widget in (self.ui.inputsCollapsibleButton, self.ui.settingsCollapsibleButton,
                       self.ui.outputsCollapsibleButton):
            widget.enabled = not running
        if running:
            self.ui.progressBar.value = 0
            self.ui.reportTextEdit.plainText = ""

    def onApplyButton(self) -> None:
        """Install what is missing (after asking), then start the repair in the background."""
        with slicer.util.tryWithErrorDisplay(_("MedInpaint cannot set up its Python packages."),
                                             waitCursor=True):
            ready = self.logic.setupPythonRequirements(askConfirmation=True)
            self._offerDevices()
            if not ready:
                self.ui.statusLabel.text = _("Nothing was installed, and nothing was done.")
                return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the repair."), waitCursor=True):
            model = self.ui.modelPathLineEdit.currentPath.strip() or None
            self.logic.process(
                self._parameterNode.inputVolume,
                outputVolume=self._parameterNode.outputVolume,
                segmentationNode=self._parameterNode.outputSegmentation,
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
            self._timer.start()

    def _onTimer(self) -> None:
        try:
            busy = self.logic.poll()
        except Exception:  # poll reports through onCompleted; this only guards the timer itself
            logging.exception("MedInpaint: the repair could not be followed")
            busy = False
        if not busy:
            self._timer.stop()
            self._setRunning(False)  # idle even if no completion arrived

    def onCancelButton(self) -> None:
        self.ui.statusLabel.text = _("Cancelling...")
        self.ui.cancelButton.enabled = False
        self.logic.cancel()  # returns at once; the processes are ended in the background

    def onProgress(self, progress) -> None:
        self.ui.progressBar.value = progress.percent
        self.ui.statusLabel.text = progress.text

    def onCompleted(self, result, error) -> None:
        """The run ended: the panel goes back to idle first, whatever happens while showing the outcome."""
        self._setRunning(False)
        try:
            if error is None:
                self._showResult(result)
            elif isinstance(error, RepairCancelled):
                self.ui.statusLabel.text = _("Cancelled; nothing was changed and no temporary file is left.")
            else:
                self.ui.statusLabel.text = _("Failed.")
                self.ui.reportTextEdit.plainText = "\n".join(getattr(error, "log_tail", []) or [str(error)])
                slicer.util.errorDisplay(str(error))
        except Exception:
            logging.exception("MedInpaint: the outcome could not be shown")

    def _showResult(self, result) -> None:
        self.ui.progressBar.value = 100
        self.ui.statusLabel.text = _("Done in {seconds:.1f} s.").format(seconds=result.seconds)
        self.ui.reportTextEdit.plainText = "\n".join([format_report(result.report), *result.warnings])
        logging.info(f"MedInpaint report: {result.report}")
        # The next run reuses these nodes unless the user picks "Create new ..." again.
        if self._parameterNode:
            self._parameterNode.outputVolume = result.output_node
            self._parameterNode.outputSegmentation = result.segmentation_node
        slicer.util.setSliceViewerLayers(background=result.output_node, fit=True)
        result.segmentation_node.SetDisplayVisibility(True)
        for warning in result.warnings:
            logging.warning(f"MedInpaint: {warning}")


#
# MedInpaintLogic
#


class MedInpaintLogic(ScriptedLoadableModuleLogic):
    """Repair volume nodes with ``medinpaint repair`` in a separate process. Needs no Qt.

    Usable without the Widget, e.g. from the Python console::

        logic = slicer.util.getModuleLogic("MedInpaint")
        logic.setupPythonRequirements()
        result = logic.process(getNode("MRHead"))  # blocks until done
        result.output_node, result.segmentation_node, result.report

    In the background (``waitForCompletion=False``) someone must call :meth:`poll` until it returns
    False: the Widget does it from its Qt timer, a script or test from a loop.

    Args:
        pythonExecutable: the interpreter that runs ``medinpaint repair`` (default: Slicer's PythonSlicer).
        launcher: ``launcher(args, environmentUpdates) -> Popen`` (default: slicer.util.launchConsoleProcess).
        temporaryPath: where runs keep their files (default: Slicer's temporary folder).
    """

    #: How often the Widget's timer calls :meth:`poll` (the reader thread never blocks the GUI).
    POLL_INTERVAL_MS = 200

    def __init__(self, pythonExecutable=None, launcher=None, temporaryPath=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._pythonExecutable = pythonExecutable
        self._launcher = launcher
        self._temporaryPath = temporaryPath
        self._repair = None
        self._completedCallback = None
        self._cancelThread = None
        self._cancelOutcome = None
        self._cancelledRepair = None

    def getParameterNode(self):
        return MedInpaintParameterNode(super().getParameterNode())

    @property
    def running(self) -> bool:
        """True while a repair runs or is being cancelled."""
        return self._repair is not None or self._cancelThread is not None

    # --- dependencies ---------------------------------------------------------------------------

    def pythonExecutable(self) -> str:
        """The interpreter of the repair process: Slicer's own Python launcher unless one was given."""
        if self._pythonExecutable:
            return self._pythonExecutable
        path = shutil.which("PythonSlicer")
        if not path:
            raise RuntimeError(_("Slicer's Python (PythonSlicer) was not found."))
        return path

    @staticmethod
    def carriedWheel():
        """The medinpaint wheel this extension carries (built into it at build time)."""
        return req.find_wheel(WHEEL_DIR)

    @staticmethod
    def planRequirements(wheel=None):
        """What setup would do on this Slicer, decided without installing anything.

        See :func:`MedInpaintLib.requirements.plan_requirements`.
        """
        wheel = wheel or MedInpaintLogic.carriedWheel()
        installed = req.installed_versions(req.names_of(wheel.requires))
        return req.plan_requirements(wheel.requires, installed, wheel.version, sys.version_info)

    @staticmethod
    def cudaAvailable() -> bool:
        """Whether the installed torch was built with CUDA and sees a GPU (False without torch)."""
        if importlib.util.find_spec("torch") is None:
            return False
        import torch

        return bool(torch.backends.cuda.is_built() and torch.cuda.is_available())

    def setupPythonRequirements(self, askConfirmation: bool = True) -> bool:
        """Make medinpaint runnable in Slicer's Python; False if the user declined an installation.

        Raises RuntimeError with the reason when it must not go on (an old torch, an unsuitable Slicer).
        The order follows :func:`MedInpaintLib.requirements.plan_requirements`: torch through
        SlicerPyTorch, the other declared dependencies through pip with Slicer's packages pinned, and
        medinpaint itself from the carried wheel with ``--no-deps``.
        """
        problem = req.python_problem(sys.version_info)
        if problem:
            raise RuntimeError(problem)
        wheel = self.carriedWheel()
        plan = self.planRequirements(wheel)
        if plan.problems:
            raise RuntimeError("\n\n".join(plan.problems))
        for note in plan.notes:
            logging.info(f"MedInpaint: {note}")
        if plan.torch is not None and plan.torch.action == "install":
            try:
                import PyTorchUtils
            except ModuleNotFoundError:
                raise RuntimeError(_("MedInpaint needs the PyTorch extension (SlicerPyTorch). Install "
                                     "'PyTorch' from the Extensions Manager, restart Slicer, and try again.")
                                   ) from None
            torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
                askConfirmation=askConfirmation, torchVersionRequirement=plan.torch.requirement)
            if torch is None:
                return False
            importlib.invalidate_caches()
            plan = self.planRequirements(wheel)  # torch is in now: pin it for pip
            if plan.problems:
                raise RuntimeError("\n\n".join(plan.problems))
        if plan.pip or plan.project != req.KEEP:
            packages = list(plan.pip)
            if plan.project != req.KEEP:
                packages.append(f"medinpaint {wheel.version} (carried by the extension)")
            if askConfirmation and not slicer.util.confirmOkCancelDisplay(
                    _("MedInpaint will install these Python packages into Slicer: {packages}. numpy, "
                      "SimpleITK and PyTorch are left as they are. This may take a few minutes. Go on?")
                    .format(packages=", ".join(packages))):
                return False
            if plan.pip:
                self._pipInstallPinned(plan.pip, plan.constraints)
            if plan.project != req.KEEP:
                slicer.util.pip_install([str(wheel.path), "--no-deps", "--force-reinstall"])
            importlib.invalidate_caches()
        return True

    def _pipInstallPinned(self, requirements, constraints) -> None:
        folder = tempfile.mkdtemp(prefix="MedInpaint-pip-", dir=self._workspaceRoot())
        path = os.path.join(folder, "constraints.txt")
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(constraints) + "\n")
            slicer.util.pip_install([*requirements, "-c", path])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # --- processing -----------------------------------------------------------------------------

    def _workspaceRoot(self) -> str:
        if self._temporaryPath:
            return self._temporaryPath
        app = getattr(slicer, "app", None)
        return app.temporaryPath if app is not None else tempfile.gettempdir()

    def _launch(self, args, environmentUpdates):
        logging.debug(f"MedInpaint: launching {args}")
        if self._launcher is not None:
            return self._launcher(args, dict(environmentUpdates))
        # Outside the application there is no launcher environment to leave: this process's own is used.
        inApplication = getattr(slicer, "app", None) is not None
        return slicer.util.launchConsoleProcess(args, useStartupEnvironment=inApplication,
                                                updateEnvironment=dict(environmentUpdates))

    def process(self, inputVolume, outputVolume=None, maskNode=None, mode="repair", device="auto",
                model=None, waitForCompletion=True, progressCallback=None, logCallback=None,
                completedCallback=None, segmentationNode=None):
        """Repair ``inputVolume`` into ``outputVolume`` (None: a new "<input> repaired" volume).

        :param maskNode: label map or segmentation of the voxels to repair; None detects damage.
        :param mode: "repair" (dropouts) or "both" (dropouts, then denoise).
        :param device: "auto", "cpu" or "cuda".
        :param model: a ``.safetensors`` file instead of the shipped models.
        :param segmentationNode: the segmentation that receives the repaired voxels (None: a new one).
        :param waitForCompletion: True blocks and returns the result (for scripts and tests); False
          returns at once, and :meth:`poll` then calls ``completedCallback(result, error)`` at the end.
        :param progressCallback: called with each progress report (``.percent``, ``.text``).
        :param logCallback: called with every other output line (default: the application log).
        :return: a ``SceneResult`` (``output_node``, ``segmentation_node``, ``report``, ``seconds``,
          ``warnings``) when waiting, else None. The results are placed in the input's study.
        """
        if self.running:
            raise RuntimeError(_("A repair is already running."))
        repair = SceneRepair(
            inputVolume, RepairOptions(mode=mode, device=device, model=model), self.pythonExecutable(),
            output_node=outputVolume, mask_node=maskNode, segmentation_node=segmentationNode,
            launcher=self._launch, workspace_root=self._workspaceRoot(), on_progress=progressCallback,
            on_log=logCallback or (lambda line: logging.info(f"medinpaint: {line}")))
        if waitForCompletion:
            return repair.run()
        repair.start()
        self._completedCallback = completedCallback
        self._repair = repair
        return None

    def poll(self) -> bool:
        """Follow the background run: handle its output, and at its end load the results and report.

        Never blocks and never raises: every failure, whatever its kind, ends the run (its processes are
        ended in the background, as by :meth:`cancel`), removes what it left, and goes to
        ``completedCallback(None, error)``. Returns True while there is more to follow.
        """
        if self._cancelThread is not None:
            if self._cancelThread.is_alive():
                return True
            error, self._cancelOutcome = self._cancelOutcome, None
            repair, self._cancelledRepair = self._cancelledRepair, None
            self._cancelThread = None
            if repair is not None and repair.cleanup_problem:
                logging.warning(f"MedInpaint: {repair.cleanup_problem}")
            self._complete(None, error)
            return False
        repair = self._repair
        if repair is None:
            return False
        try:
            if repair.poll() not in ("done", "failed", "cancelled"):
                return True
            self._repair = None
            result = repair.finish()
        except Exception as exc:  # whatever went wrong: no process and no temporary file may stay
            self._repair = None
            self._endInBackground(repair, exc)
            return True
        if repair.cleanup_problem:
            logging.warning(f"MedInpaint: {repair.cleanup_problem}")
        self._complete(result, None)
        return False

    def cancel(self, wait: bool = False) -> None:
        """End the running repair's whole process tree and remove its temporary files.

        Returns at once: the processes are ended by a background thread, and the next :meth:`poll`
        after it is done reports ``RepairCancelled`` (or the error that stopped the cancel). With
        ``wait=True`` (used when Slicer quits) it blocks until the processes are gone and reports then.
        """
        repair, self._repair = self._repair, None
        if repair is not None:
            self._endInBackground(repair, None)
        if wait and self._cancelThread is not None:
            self._cancelThread.join()
            self.poll()

    def _endInBackground(self, repair, error) -> None:
        """End ``repair``'s processes and files in a thread; report ``error``, or RepairCancelled if None."""
        # Nothing from the ending thread may reach the GUI: the callbacks stay with the GUI thread.
        if repair.repair_run is not None:
            repair.repair_run.on_progress = None
            repair.repair_run.on_log = None

        def end() -> None:
            try:
                ended = repair.cancel()
                logging.info(f"MedInpaint: ended processes {ended}")
                self._cancelOutcome = error if error is not None else RepairCancelled(ended)
            except Exception as exc:
                if error is not None:
                    logging.error(f"MedInpaint: cleaning up after a failure: {exc}")
                self._cancelOutcome = error if error is not None else exc

        self._cancelledRepair = repair
        self._cancelThread = threading.Thread(target=end, name="MedInpaint-end", daemon=True)
        self._cancelThread.start()

    def _complete(self, result, error) -> None:
        callback, self._completedCallback = self._completedCallback, None
        if callback is None:
            if error is not None and not isinstance(error, RepairCancelled):
                logging.error(f"MedInpaint: {error}")
            return
        try:
            callback(result, error)
        except Exception:
            logging.exception("MedInpaint: the completion callback failed")


#
# MedInpaintTest
#


class MedInpaintTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (and, for the Logic, on plain MRML). Light and offline: it never downloads or
    installs anything. The repair itself runs only where torch and medinpaint are already installed."""

    def setUp(self):
        self.scene = getattr(slicer, "mrmlScene", None)
        if self.scene is None:  # plain MRML (slicer-core): a scene of our own
            self.scene = slicer.vtkMRMLScene()
        self.scene.Clear(0)

    def runTest(self):
        self.setUp()
        self.test_MedInpaint_requirement_decisions()
        self.setUp()
        self.test_MedInpaint_repairs_the_sample_when_medinpaint_is_installed()

    def test_MedInpaint_requirement_decisions(self):
        """The install decisions on this Slicer, without installing anything."""
        self.delayDisplay("Checking the requirement decisions")
        refusal = req.plan_requirements(["torch>=2.2,<3"], {"torch": "2.1.0"}, "0.1.0", (3, 12))
        self.assertEqual(refusal.pip, [])
        self.assertTrue(refusal.problems and "PyTorch 2.1.0 is installed" in refusal.problems[0])
        if os.path.isdir(WHEEL_DIR):  # a built extension carries its medinpaint wheel
            wheel = MedInpaintLogic.carriedWheel()
            plan = MedInpaintLogic.planRequirements(wheel)
            for line in plan.pip:
                self.assertNotRegex(line.lower(), r"^(torch|numpy|simpleitk|medinpaint)\b")
        self.delayDisplay("Requirement decisions checked")

    def _loadSample(self):
        import numpy as np

        if os.path.isfile(SAMPLE_FILE):
            storage = self.scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
            volume = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "MRHeadDamaged")
            storage.SetFileName(SAMPLE_FILE)
            self.assertTrue(storage.ReadData(volume))
            self.scene.RemoveNode(storage)
            return volume
        voxels = np.zeros((8, 64, 64), np.int16)  # a source checkout without the sample: a small phantom
        voxels[:, 16:48, 16:48] = 400
        voxels[4, 30:32, :] = 0
        volume = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "phantom")
        slicer.util.updateVolumeFromArray(volume, voxels)
        return volume

    def test_MedInpaint_repairs_the_sample_when_medinpaint_is_installed(self):
        import numpy as np

        if importlib.util.find_spec("medinpaint") is None or importlib.util.find_spec("torch") is None:
            self.delayDisplay("medinpaint or torch is not installed: the repair test is skipped (nothing is "
                              "installed by a test)")
            return
        self.delayDisplay("Repairing the damaged sample")
        damaged = self._loadSample()
        before = slicer.util.arrayFromVolume(damaged).copy()
        logic = MedInpaintLogic(pythonExecutable=None if SLICER_APPLICATION else sys.executable)
        result = logic.process(damaged, device="cpu")
        repaired = slicer.util.arrayFromVolume(result.output_node)
        self.assertEqual(repaired.dtype, before.dtype)
        self.assertTrue(np.array_equal(slicer.util.arrayFromVolume(damaged), before))  # input untouched
        self.assertEqual(result.segmentation_node.GetSegmentation().GetNumberOfSegments(), 1)
        role = result.segmentation_node.GetReferenceImageGeometryReferenceRole()
        self.assertEqual(result.segmentation_node.GetNodeReferenceID(role), damaged.GetID())
        leftovers = [n for n in os.listdir(logic._workspaceRoot()) if n.startswith("MedInpaint-")]
        self.assertEqual(leftovers, [])
        self.delayDisplay(f"Test passed: {result.report.get('damaged_voxels')} voxels repaired")
