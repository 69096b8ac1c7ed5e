"""Named points where a crash test can catch the watcher at a known step.

With ``MEDINPAINT_WATCH_FAILPOINT=<name>`` in its environment the watcher, on reaching that point,
prints ``medinpaint failpoint: <name>`` on stderr and waits there until it is killed (SIGKILL). With
``kill:<name>`` it kills itself there (as a decoder segfault or the OOM killer would), with
``raise:<name>`` it raises an exception there; ``@<tag>`` after the name limits either to one series.
Without the variable a failpoint does nothing. The points: ``read`` (build counted, nothing read yet),
``repaired`` (repaired in memory), ``staged`` (result complete in staging), ``published`` (renamed into
OUT, journal not yet updated), ``forward:<n>`` (``n`` instances of a series sent and journaled),
``moved:<n>`` (``n`` inputs moved to the done folder).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

VARIABLE = "MEDINPAINT_WATCH_FAILPOINT"


class FailpointError(RuntimeError):
    """Raised at a failpoint by ``raise:<name>``: an exception no step expects."""


def reached(name: str, tag: str | None = None) -> None:
    """Hold here for ever (or die, or raise) if the crash test asked for ``name``."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    action = "wait"
    if wanted.startswith(("kill:", "raise:")):
        action, _, wanted = wanted.partition(":")
    point, _, only = wanted.partition("@")
    if point != name or (only and only != tag):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "raise":
        raise FailpointError(f"failpoint {name}")
    print(f"medinpaint failpoint: {name}", file=sys.stderr, flush=True)
    threading.Event().wait()
