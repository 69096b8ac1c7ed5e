"""MedInpaintLib.process/proctree/run: a separate process tree that can be followed and cancelled.

Cancellation is tested on real process trees started the way Slicer starts them (a launcher process
in front of the real Python, as PythonSlicer is): a stand-in tree with an orphaned worker, and a real
`medinpaint repair` on a real head scan. Afterwards no process of the tree may run and the run's
temporary folder must be gone.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from MedInpaintLib import proctree
from MedInpaintLib.command import NEW_SESSION_SCRIPT, RepairOptions
from MedInpaintLib.errors import RepairCancelled, RepairFailed
from MedInpaintLib.process import BackgroundProcess
from MedInpaintLib.run import RepairRun
from MedInpaintLib.workspace import Workspace

from tests.slicer.conftest import launched, running

REPO = Path(__file__).resolve().parents[2]


def _launcher_via(stand_in: bool):
    """A launcher that puts a PythonSlicer-like process in front of the command."""
    from MedInpaintLib.process import default_launcher

    def launch(args, env):
        return default_launcher(launched(args) if stand_in else args, env)

    return launch


def _wait_for(predicate, timeout: float = 60.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"nothing happened within {timeout} s")


def test_output_is_read_without_blocking_and_ends_with_the_exit_status():
    code = ("import sys; print('hello'); print('PROGRESS 50 half', file=sys.stderr, flush=True); "
            "print('medinpaint: error: broken', file=sys.stderr); sys.exit(2)")
    process = BackgroundProcess([sys.executable, "-c", code])
    assert process.poll() == []  # nothing started, nothing to read, no blocking
    process.start()
    events = process.wait(30)
    lines = [value for kind, value in events if kind == "line"]
    assert sorted(lines) == sorted(["hello", "PROGRESS 50 half", "medinpaint: error: broken"])
    assert events[-1] == ("exit", 2) and process.returncode == 2


def test_cancel_ends_a_tree_with_a_launcher_and_an_orphaned_worker():
    env = {"PYTHONPATH": str(REPO)}
    process = BackgroundProcess(launched([sys.executable, str(NEW_SESSION_SCRIPT), "tests.slicer.busy_tree"]),
                                env)
    process.start()
    lines = []

    def tree_started():
        lines.extend(value for kind, value in process.poll() if kind == "line")
        return [line for line in lines if line.startswith("PIDS ")]

    orphan, worker = (int(p) for p in _wait_for(tree_started)[0].split()[1:])
    _wait_for(lambda: tree_started() and any(line.startswith("PROGRESS") for line in lines))
    tree = proctree.descendants(process.pid) | {orphan}
    assert {process.pid, worker, orphan} <= tree and len(tree) >= 4  # launcher, python, worker, orphan
    assert orphan not in proctree.descendants(process.pid)  # the orphan is no longer below the launcher

    ended = process.cancel(timeout=10)

    assert running(tree) == []
    assert set(ended) >= tree
    assert process.returncode is not None and not process.running


def test_a_plain_kill_of_the_launcher_would_leave_the_work_running():
    """Why the tree is ended: the launcher's child survives a kill of the launcher (then we clean up)."""
    env = {"PYTHONPATH": str(REPO)}
    process = BackgroundProcess(launched([sys.executable, str(NEW_SESSION_SCRIPT), "tests.slicer.busy_tree"]),
                                env)
    process.start()
    _wait_for(lambda: len(proctree.descendants(process.pid)) >= 3)
    children = proctree.descendants(process.pid) - {process.pid}
    process.proc.kill()
    process.proc.wait(10)
    try:
        time.sleep(0.2)
        assert running(children), "the launcher's children should have survived a plain kill"
    finally:
        survivors = running(children)
        if survivors:
            table = proctree.process_table()
            proctree.end_tree(survivors[0], {table[pid].pgid for pid in survivors} - {os.getpgrp()})
        assert running(children) == []


@pytest.fixture(scope="module")
def head_nrrd(tmp_path_factory, mr_head) -> Path:
    """The full Colin27 head (181 x 217 x 181) as NRRD, big enough to be still running when cancelled."""
    from medinpaint.io import read, write

    path = tmp_path_factory.mktemp("head") / "head.nrrd"
    write(read(mr_head), path)
    return path


def _workspace_with(input_path: Path, root: Path) -> Workspace:
    ws = Workspace(root)
    ws.input.write_bytes(input_path.read_bytes())
    return ws


def test_cancel_ends_a_real_repair_and_leaves_nothing_behind(repair_cli, head_nrrd, tmp_path):
    ws = _workspace_with(head_nrrd, tmp_path)
    progress = []
    run = RepairRun(ws, RepairOptions(device="cpu"), repair_cli, launcher=_launcher_via(stand_in=True),
                    on_progress=progress.append)
    run.start()
    _wait_for(lambda: run.poll() and progress, timeout=90)
    tree = proctree.descendants(run.process.pid)
    assert len(tree) >= 2  # the launcher and the real Python at least
    assert run.process.proc.poll() is None  # still at work when cancelled

    ended = run.cancel(timeout=10)
    ws.cleanup()

    assert running(tree) == [] and set(ended) >= tree
    if os.name == "posix":
        assert run.process.returncode == -signal.SIGKILL
    assert run.state == "cancelled"
    with pytest.raises(RepairCancelled):
        run.outcome()
    assert list(tmp_path.iterdir()) == []


def test_a_bad_input_file_gives_exit_2_and_medinpaints_message_names_the_node(repair_cli, tmp_path):
    ws = Workspace(tmp_path)
    ws.input.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10\n\n")  # broken header
    run = RepairRun(ws, RepairOptions(device="cpu"), repair_cli, names={"input.nrrd": "the volume 'Broken'"})
    run.start()
    with pytest.raises(RepairFailed) as failure:
        run.wait(120)
    ws.cleanup()
    assert failure.value.exit_code == 2
    assert failure.value.message.startswith("the volume 'Broken'")
    assert str(ws.path) not in failure.value.message
    assert any(line.startswith("medinpaint: error: ") for line in failure.value.log_tail)
    assert list(tmp_path.iterdir()) == []
