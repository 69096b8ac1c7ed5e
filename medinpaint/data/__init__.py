"""Damaged/clean slice-pair datasets built from the volumes of docs/data.md.

:class:`SlicePairDataset` gives samples ``{"damaged", "clean", "mask", "subject", "kind", "norm"}``;
:mod:`medinpaint.data.sources` says where each scan comes from and which subjects are held out;
``python -m medinpaint.data.fetch DIR`` (``make data``) fetches them with the package managers.
"""

from medinpaint.data.dataset import SlicePairDataset, select_split
from medinpaint.data.normalise import denormalise, normalisation, normalise
from medinpaint.data.sources import SOURCES, VALIDATION_SUBJECTS, Source, available_sources, find_source

__all__ = [
    "SlicePairDataset", "select_split", "normalisation", "normalise", "denormalise",
    "SOURCES", "VALIDATION_SUBJECTS", "Source", "available_sources", "find_source",
]
