"""medinpaint: repair damaged medical scans with a convolutional neural network.

The package reads top-down: ``io`` (scans in and out, one :class:`~medinpaint.io.Volume` type),
``damage`` (MONAI transforms that simulate damage), ``data`` (slice-pair datasets), ``nets`` and
``train`` (the CNNs and their MSE training), ``repair`` (detection and the repair engine), ``watch``
(the folder watcher service) and ``cli`` (the ``medinpaint`` command).
"""

__version__ = "0.1.0"

from medinpaint.errors import (  # noqa: E402
    InputError,
    MedinpaintError,
    OutputError,
    SeriesError,
    UnsupportedError,
)

__all__ = [
    "__version__",
    "MedinpaintError",
    "InputError",
    "UnsupportedError",
    "SeriesError",
    "OutputError",
]
