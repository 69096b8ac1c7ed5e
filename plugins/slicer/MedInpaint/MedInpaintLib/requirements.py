"""What MedInpaint may install into Slicer's Python, decided without touching it.

The extension carries medinpaint itself, as a wheel built into the extension (``Resources/Wheels``), so
no package name the project does not own is ever asked of an index. Everything else follows the wheel's
own declared requirements (its ``Requires-Dist``), checked against what this Slicer already has:

- Slicer's own packages (numpy, SimpleITK) are never installed, upgraded or replaced: if they do not meet
  the requirement, the user is told which Slicer is needed.
- torch comes only from the PyTorch extension's ``installTorch`` (which picks the CUDA or CPU build that
  fits the computer); a torch that is installed but too old is refused with a message, never replaced,
  because other extensions may depend on it.
- every other declared requirement that is missing or too old is installed by pip, with a constraints
  file that pins the installed numpy, SimpleITK and torch, so pip can never change them on the way.
- medinpaint itself is installed from the carried wheel with ``--no-deps``; an older one is upgraded,
  the same version is kept, a newer one (a developer's install) is kept and reported.

Every function here is a pure decision on versions, so it is tested without pip, PyTorchUtils or Slicer.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

try:  # Slicer 5.10+ ships ``packaging``; pip always carries its own copy
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - only on a Python without the packaging distribution
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import InvalidVersion, Version

#: The oldest Python medinpaint runs on, and the first Slicer release that ships one.
MINIMUM_PYTHON = (3, 10)
MINIMUM_SLICER = "5.10"

#: Packages Slicer ships and other modules rely on: checked, never installed or replaced by MedInpaint.
SLICER_OWNED = ("numpy", "simpleitk")
#: Installed only through SlicerPyTorch's ``installTorch``.
TORCH = "torch"
#: The distribution the extension carries.
PROJECT = "medinpaint"

INSTALL, UPGRADE, KEEP = "install", "upgrade", "keep"


def python_problem(version_info: tuple) -> str | None:
    """Why this Python cannot run medinpaint, or None when it can."""
    if tuple(version_info[:2]) >= MINIMUM_PYTHON:
        return None
    have = ".".join(str(v) for v in version_info[:2])
    need = ".".join(str(v) for v in MINIMUM_PYTHON)
    return (f"MedInpaint needs 3D Slicer {MINIMUM_SLICER} or later: medinpaint runs on Python {need} or "
            f"newer, and this Slicer has Python {have}. Please install a newer Slicer.")


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class TorchDecision:
    """``action`` is "ok" (installed and suitable), "install" (through PyTorchUtils) or "refuse"."""

    action: str
    requirement: str
    message: str | None = None


def decide_torch(installed: str | None, requirement: str) -> TorchDecision:
    """What to do about torch, given its installed version (None: not installed) and the requirement."""
    specifier = Requirement(f"{TORCH}{requirement}").specifier
    if installed is None:
        return TorchDecision("install", requirement)
    version = _version(installed)
    if version is not None and specifier.contains(version, prereleases=True):
        return TorchDecision("ok", requirement)
    return TorchDecision("refuse", requirement, (
        f"PyTorch {installed} is installed, but MedInpaint needs PyTorch {requirement}. MedInpaint does "
        f"not replace it, because other extensions may rely on it. To change it, open the 'PyTorch Utils' "
        f"module, uninstall PyTorch, restart Slicer, and install it again with the version requirement "
        f"'{requirement}'."))


def slicer_package_problem(name: str, installed: str | None, requirement: str) -> str | None:
    """Why one of Slicer's own packages does not fit medinpaint, or None when it does."""
    if installed is None:
        return (f"Slicer's own Python package {name} is missing; MedInpaint never installs it. "
                f"Please reinstall 3D Slicer.")
    version = _version(installed)
    specifier = Requirement(f"{name}{requirement}").specifier
    if version is not None and specifier.contains(version, prereleases=True):
        return None
    return (f"This Slicer has {name} {installed}, but medinpaint needs {name} {requirement}. MedInpaint "
            f"never replaces Slicer's own {name}; please use 3D Slicer {MINIMUM_SLICER} or later.")


def decide_project(installed: str | None, carried: str) -> tuple[str, str | None]:
    """("install" | "upgrade" | "keep", note) for medinpaint, given the installed and the carried version."""
    if installed is None:
        return INSTALL, None
    have, want = _version(installed), _version(carried)
    if have is None or want is None or have < want:
        return UPGRADE, f"medinpaint {installed} is older than the module's {carried}: upgrading it."
    if have > want:
        return KEEP, (f"medinpaint {installed} is newer than the module's {carried} and is kept; "
                      f"if the module and it disagree, reinstall the extension.")
    return KEEP, None


@dataclass
class RequirementsPlan:
    """Everything setup will do, decided before anything is done.

    Attributes:
        problems: reasons to stop; when not empty, nothing is installed.
        torch: what to do about torch.
        pip: requirement strings pip installs (never torch, numpy, SimpleITK or medinpaint).
        constraints: ``name==version`` lines that pin what pip must not change.
        project: "install", "upgrade" or "keep" for medinpaint from the carried wheel.
        notes: things worth telling the user that do not stop the setup.
    """

    problems: list[str] = field(default_factory=list)
    torch: TorchDecision | None = None
    pip: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    project: str = KEEP
    notes: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return (not self.problems and not self.pip and self.project == KEEP
                and (self.torch is None or self.torch.action == "ok"))


def plan_requirements(declared: list[str], installed: dict[str, str], carried_version: str,
                      python_version: tuple, environment: dict | None = None) -> RequirementsPlan:
    """Decide what setup must do.

    Args:
        declared: the carried wheel's ``Requires-Dist`` lines (extras and markers allowed).
        installed: canonical distribution name -> installed version, for every name that matters.
        carried_version: the version of the wheel the extension carries.
        python_version: ``sys.version_info`` of Slicer's Python.
        environment: marker environment (default: this interpreter's).
    """
    plan = RequirementsPlan()
    problem = python_problem(python_version)
    if problem:
        plan.problems.append(problem)
        return plan
    env = dict(default_environment() if environment is None else environment)
    env.setdefault("extra", "")
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue  # an extra, or a requirement for another platform or Python
        name = canonicalize_name(requirement.name)
        have = installed.get(name)
        wanted = str(requirement.specifier)
        if name == TORCH:
            plan.torch = decide_torch(have, wanted)
            if plan.torch.action == "refuse":
                plan.problems.append(plan.torch.message)
            continue
        if name in SLICER_OWNED:
            problem = slicer_package_problem(requirement.name, have, wanted)
            if problem:
                plan.problems.append(problem)
            continue
        version = _version(have)
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            plan.pip.append(f"{requirement.name}{extras}{wanted}")
    plan.constraints = [f"{name}=={installed[name]}" for name in (*SLICER_OWNED, TORCH) if name in installed]
    plan.project, note = decide_project(installed.get(PROJECT), carried_version)
    if note:
        plan.notes.append(note)
    if plan.problems:
        plan.pip = []
    return plan


@dataclass(frozen=True)
class CarriedWheel:
    """The medinpaint wheel inside the extension: where it is, its version, what it declares."""

    path: Path
    version: str
    requires: list[str]


_WHEEL_NAME = re.compile(r"(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-py3-none-any\.whl")


def read_wheel(path: str | Path) -> CarriedWheel:
    """The version and ``Requires-Dist`` lines of a medinpaint wheel, read from its METADATA."""
    path = Path(path)
    match = _WHEEL_NAME.fullmatch(path.name)
    if match is None or canonicalize_name(match.group("name")) != PROJECT:
        raise ValueError(f"{path.name} is not a medinpaint wheel")
    with zipfile.ZipFile(path) as wheel:
        metadata_name = f"{match.group('name')}-{match.group('version')}.dist-info/METADATA"
        metadata = Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    return CarriedWheel(path, metadata["Version"], list(metadata.get_all("Requires-Dist") or []))


def find_wheel(folder: str | Path) -> CarriedWheel:
    """The one medinpaint wheel in ``folder`` (the extension's ``Resources/Wheels``)."""
    folder = Path(folder)
    wheels = sorted(folder.glob("medinpaint-*.whl")) if folder.is_dir() else []
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "none"
        raise FileNotFoundError(f"the extension should carry exactly one medinpaint wheel in {folder} "
                                f"(found: {found}); build the extension, or reinstall it")
    return read_wheel(wheels[0])


def installed_versions(names) -> dict[str, str]:
    """Canonical name -> version of each of ``names`` that is installed in this Python."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[canonicalize_name(name)] = version(name)
        except PackageNotFoundError:
            continue
    return found


def names_of(declared: list[str]) -> list[str]:
    """The distribution names in requirement lines, plus torch, numpy, SimpleITK and medinpaint."""
    names = {Requirement(line).name for line in declared}
    return sorted(names | {TORCH, "numpy", "SimpleITK", PROJECT})
