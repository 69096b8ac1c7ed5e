"""Damaged/clean slice-pair datasets built from the volumes of docs/data.md.

:class:`SlicePairDataset` gives samples ``{"damaged", "clean", "mask", "subject", "kind", "norm"}``;
:mod:`medinpaint.data.sources` says where each scan comes from and which subjects are held out;
``python -m medinpaint.data.fetch DIR`` (``make data``) fetches them with the package managers.

The datasets are exported on first use: they import MONAI (seconds), and the repair engine, which
needs only :mod:`medinpaint.data.normalise`, should not wait for it.
"""

from importlib import import_module

from medinpaint.data.normalise import denormalise, normalisation, normalise
from medinpaint.data.sources import SOURCES, VALIDATION_SUBJECTS, Source, available_sources, find_source

_LAZY = {"SlicePairDataset": "medinpaint.data.dataset", "select_split": "medinpaint.data.dataset"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SlicePairDataset", "select_split", "normalisation", "normalise", "denormalise",
    "SOURCES", "VALIDATION_SUBJECTS", "Source", "available_sources", "find_source",
]
