"""medinpaint: repair damaged medical scans with a convolutional neural network.

The package reads top-down: ``io`` (scans in and out, one :class:`~medinpaint.io.Volume` type),
``damage`` (MONAI transforms that simulate damage), ``data`` (slice-pair datasets), ``nets`` and
``train`` (the CNNs and their MSE training), ``repair`` (detection and the repair engine), ``watch``
(the folder watcher service) and ``cli`` (the ``medinpaint`` command).
"""

from medinpaint.errors import (  # noqa: E402
    InputError,
    MedinpaintError,
    OutputError,
    SeriesError,
    UnsupportedError,
)
from medinpaint.version import __version__


def repair_volume(volume, **options):
    """Detect and repair damage in a :class:`~medinpaint.io.Volume`; see
    :func:`medinpaint.repair.repair_volume` (every option is a keyword).

    (Imported on first use, so ``import medinpaint`` stays light: the engine loads torch and MONAI.)"""
    from medinpaint.repair import repair_volume as _repair_volume

    return _repair_volume(volume, **options)


__all__ = [
    "__version__",
    "repair_volume",
    "MedinpaintError",
    "InputError",
    "UnsupportedError",
    "SeriesError",
    "OutputError",
]
