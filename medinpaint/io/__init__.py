"""Read and write scans with every bit of their metadata: DICOM series, NIfTI, ITK formats.

``read(path)`` gives a :class:`Volume`; ``write(volume, path)`` picks the format from ``path``:
``.nii``/``.nii.gz`` NIfTI, ``.nrrd``/``.nhdr``/``.mha``/``.mhd`` ITK, and a path with no extension or an
existing folder a derived DICOM series (one file per instance). Writes are atomic.
"""

from medinpaint.io.dicom_derived import write_dicom_series
from medinpaint.io.dicom_read import SeriesInfo, list_series, read_dicom, read_header, read_series_files
from medinpaint.io.readwrite import read, write
from medinpaint.io.volume import Volume

__all__ = [
    "Volume", "SeriesInfo", "read", "write", "read_dicom", "read_series_files", "read_header", "list_series",
    "write_dicom_series",
]
