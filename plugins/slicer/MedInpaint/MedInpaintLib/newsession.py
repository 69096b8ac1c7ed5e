"""Run a Python module as the leader of a new session: ``python newsession.py MODULE ARGS...``.

Slicer starts helper processes with ``slicer.util.launchConsoleProcess``, which keeps them in
Slicer's own process group; and ``PythonSlicer`` is a launcher whose real Python is a child of it,
so killing the launcher would leave the work running. This small script, run by that real Python,
moves itself into a new session first: every process the run starts then shares one process group,
which :mod:`MedInpaintLib.proctree` ends in one go on cancel. On Windows there are no sessions and
the tree is ended by ``taskkill /T`` instead.
"""

import os
import runpy
import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: newsession.py MODULE [ARGS...]")
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except PermissionError:  # already a group leader: its group is already its own
            pass
    # Drop this folder from the import path so its modules cannot shadow the run's imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
