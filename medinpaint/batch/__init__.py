"""Archive-scale batch repair on Ray: ``medinpaint batch SOURCE OUT``.

Every series of a folder tree (or of a CSV of paths) is screened for damage, and the damaged ones are
repaired and written to OUT, on a Ray started for the job on this machine or on an existing cluster.
A SQLite result manifest makes the job exactly-once and resumable. Ray is an optional dependency (the
``scale`` extra): it is imported only when a job runs.
"""

from medinpaint.batch.job import BatchOptions, run_batch
from medinpaint.batch.manifest import MANIFEST_NAME, Manifest
from medinpaint.batch.sources import Item, discover, series_key

__all__ = ["BatchOptions", "run_batch", "Manifest", "MANIFEST_NAME", "Item", "discover", "series_key"]
