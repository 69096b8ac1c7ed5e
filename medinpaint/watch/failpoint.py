"""Named points where a crash test can catch the watcher and kill it (SIGKILL) at a known step.

With ``MEDINPAINT_WATCH_FAILPOINT=<name>`` in its environment the watcher, on reaching that point,
prints ``medinpaint failpoint: <name>`` on stderr and waits there until it is killed. Without the
variable a failpoint does nothing. The points: ``read`` (series marked repairing, nothing read yet),
``repaired`` (repaired in memory), ``staged`` (result complete in staging), ``published`` (renamed into
OUT, journal not yet updated), ``forward:<n>`` (``n`` instances of a series sent), ``moved:<n>``
(``n`` inputs moved to the done folder).
"""

from __future__ import annotations

import os
import sys
import threading

VARIABLE = "MEDINPAINT_WATCH_FAILPOINT"


def reached(name: str) -> None:
    """Hold here for ever if the crash test asked for ``name``."""
    if os.environ.get(VARIABLE) != name:
        return
    print(f"medinpaint failpoint: {name}", file=sys.stderr, flush=True)
    threading.Event().wait()
