"""MedInpaintLib.requirements: what the module may install into Slicer's Python, as pure decisions.

pip and PyTorchUtils stay out of reach here: these tests state, for given installed versions, what the
setup decides (install through SlicerPyTorch, pip with Slicer's packages pinned, refuse with a message),
and then check the decision for this machine's real packages against the wheel the extension carries.
"""

from __future__ import annotations

import sys
import zipfile

import pytest
from MedInpaintLib import requirements as req

DECLARED = [
    "numpy>=1.24",
    "torch>=2.2,<3",
    "monai>=1.4,<2",
    "SimpleITK>=2.3,<3",
    "safetensors>=0.4",
    "tomli>=2; python_version < '3.11'",
    "pytest>=8; extra == \"test\"",
]
SLICER_5_10 = {"numpy": "1.26.4", "simpleitk": "2.4.0", "torch": "2.5.1+cu121", "monai": "1.4.0",
               "safetensors": "0.4.5", "medinpaint": "0.1.0"}
PY312 = {"python_version": "3.12", "python_full_version": "3.12.10", "sys_platform": "linux",
         "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
         "implementation_name": "cpython", "platform_python_implementation": "CPython",
         "platform_release": "", "platform_version": "", "implementation_version": "3.12.10", "extra": ""}


def plan(installed, carried="0.1.0", python=(3, 12, 10), environment=PY312):
    return req.plan_requirements(DECLARED, installed, carried, python, environment)


def test_everything_in_place_means_nothing_to_do():
    decision = plan(SLICER_5_10)
    assert decision.nothing_to_do and decision.problems == [] and decision.pip == []
    assert decision.torch.action == "ok" and decision.project == req.KEEP


def test_an_older_torch_is_refused_with_a_message_and_nothing_is_installed():
    installed = dict(SLICER_5_10, torch="2.1.0+cu118")
    del installed["monai"]  # even with something else missing: no half installation
    decision = plan(installed)
    assert decision.torch.action == "refuse"
    assert decision.problems == [
        "PyTorch 2.1.0+cu118 is installed, but MedInpaint needs PyTorch <3,>=2.2. MedInpaint does not "
        "replace it, because other extensions may rely on it. To change it, open the 'PyTorch Utils' "
        "module, uninstall PyTorch, restart Slicer, and install it again with the version requirement "
        "'<3,>=2.2'."]
    assert decision.pip == []


def test_torch_3_is_refused_too():
    assert plan(dict(SLICER_5_10, torch="3.0.0")).torch.action == "refuse"


def test_a_missing_torch_goes_to_slicerpytorch_never_to_pip():
    installed = dict(SLICER_5_10)
    del installed["torch"]
    decision = plan(installed)
    assert decision.torch == req.TorchDecision("install", "<3,>=2.2")
    assert decision.problems == [] and not any(line.startswith("torch") for line in decision.pip)
    assert not any(line.startswith("torch") for line in decision.constraints)


@pytest.mark.parametrize("name,version", [("simpleitk", "2.2.1"), ("numpy", "1.23.5")])
def test_slicers_own_packages_are_never_replaced(name, version):
    decision = plan(dict(SLICER_5_10, **{name: version}))
    assert decision.pip == []
    (problem,) = decision.problems
    assert f"This Slicer has {'SimpleITK' if name == 'simpleitk' else name} {version}" in problem
    assert "MedInpaint never replaces Slicer's own" in problem and "3D Slicer 5.10 or later" in problem


def test_a_missing_slicer_package_is_not_installed_either():
    installed = dict(SLICER_5_10)
    del installed["simpleitk"]
    (problem,) = plan(installed).problems
    assert "SimpleITK is missing; MedInpaint never installs it" in problem


def test_missing_or_old_third_party_packages_go_to_pip_with_slicers_packages_pinned():
    installed = dict(SLICER_5_10, monai="1.3.2")
    del installed["safetensors"]
    decision = plan(installed)
    assert decision.pip == ["monai<2,>=1.4", "safetensors>=0.4"]
    assert decision.constraints == ["numpy==1.26.4", "simpleitk==2.4.0", "torch==2.5.1+cu121"]


def test_markers_decide_for_the_python_at_hand():
    installed = dict(SLICER_5_10)
    py310 = dict(PY312, python_version="3.10", python_full_version="3.10.14")
    assert plan(installed, python=(3, 10, 14), environment=py310).pip == ["tomli>=2"]
    assert plan(installed).pip == []  # Python 3.12 has tomllib; the test extra is never installed


def test_slicer_5_8_python_3_9_is_told_which_slicer_it_needs():
    decision = plan(SLICER_5_10, python=(3, 9, 10))
    assert decision.problems == [
        "MedInpaint needs 3D Slicer 5.10 or later: medinpaint runs on Python 3.10 or newer, and this "
        "Slicer has Python 3.9. Please install a newer Slicer."]
    assert decision.pip == [] and decision.torch is None


@pytest.mark.parametrize("installed,action,note", [
    (None, req.INSTALL, None),
    ("0.0.9", req.UPGRADE, "medinpaint 0.0.9 is older than the module's 0.1.0: upgrading it."),
    ("0.1.0", req.KEEP, None),
    ("0.2.0.dev3", req.KEEP, "medinpaint 0.2.0.dev3 is newer than the module's 0.1.0 and is kept; "
                             "if the module and it disagree, reinstall the extension."),
])
def test_medinpaint_comes_from_the_carried_wheel_and_an_older_one_is_upgraded(installed, action, note):
    assert req.decide_project(installed, "0.1.0") == (action, note)


def test_the_carried_wheel_declares_exactly_what_pyproject_declares(carried_wheel):
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    from tests.slicer.conftest import REPOSITORY

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wheel = req.read_wheel(carried_wheel)
    assert wheel.version == project["version"]
    runtime = [line for line in wheel.requires if "extra ==" not in line]
    assert runtime == project["dependencies"]
    assert req.find_wheel(carried_wheel.parent) == wheel


def test_exactly_one_wheel_is_expected(carried_wheel, tmp_path):
    with pytest.raises(FileNotFoundError, match="exactly one medinpaint wheel"):
        req.find_wheel(tmp_path)
    for version in ("0.1.0", "0.2.0"):
        with zipfile.ZipFile(tmp_path / f"medinpaint-{version}-py3-none-any.whl", "w"):
            pass
    with pytest.raises(FileNotFoundError, match="found: medinpaint-0.1.0"):
        req.find_wheel(tmp_path)


def test_on_this_machine_the_carried_wheel_needs_nothing_installed(carried_wheel):
    """The real decision for the real packages of this environment, where medinpaint's own dependencies
    are installed: nothing for pip, torch suitable, medinpaint kept or installed from the wheel."""
    wheel = req.read_wheel(carried_wheel)
    installed = req.installed_versions(req.names_of(wheel.requires))
    assert {"numpy", "simpleitk", "torch", "monai"} <= set(installed)
    decision = req.plan_requirements(wheel.requires, installed, wheel.version, sys.version_info)
    assert decision.problems == [] and decision.pip == [] and decision.torch.action == "ok"
    assert decision.project in (req.KEEP, req.INSTALL, req.UPGRADE)
    assert f"torch=={installed['torch']}" in decision.constraints
